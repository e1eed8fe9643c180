#!/usr/bin/env node
// Memory per idle HTTP/2 connection: server RSS with N idle h2c sessions open (each has completed one GET),
// gunicorn-ts serve() with http_protocols h2,h1 and h2c by prior knowledge vs node:http2 (the same hello app).
//   bash -c 'ulimit -n 4096 && node bench/memory-h2.mjs [--sessions 1000] [--servers node:http2,...]'
// Method as bench/memory.mjs: warm up (200 sessions x N/200 requests, then closed), full GC in the server
// (node --expose-gc, SIGUSR2), read RSS; open N node:http2 client sessions with one GET each and keep them
// open, full GC, read RSS; the difference divided by N. RSS is user-space memory (kernel socket buffers are
// not in it). Writes bench/memory-h2.json (bench/out/ with --ci).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('sessions', 1000));
const PORT = 19800 + (process.pid % 90);
const SERVERS = {
  'node:http2': { script: 'servers/node-http2.mjs', env: {} },
  'gunicorn-ts serve() h2c': { script: 'servers/gunicorn-ts-serve.mjs', env: { GTS_BENCH_H2: '1' } },
};
const names = opt('servers') ? opt('servers').split(',') : Object.keys(SERVERS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

/** one GET on a session; resolves with the status */
function get(session) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/' });
    let status = 0;
    req.on('response', (h) => {
      status = h[':status'];
    });
    req.resume();
    req.on('end', () => resolve(status));
    req.on('error', reject);
    req.setTimeout(10000, () => req.close(http2.constants.NGHTTP2_CANCEL));
  });
}

/** n sessions, each with `requests` GETs (sequential); the sessions stay open */
async function openSessions(n, requests = 1) {
  const sessions = [];
  const batch = 200;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async () => {
        const s = http2.connect(`http://127.0.0.1:${PORT}`);
        s.on('error', () => {});
        sessions.push(s);
        for (let k = 0; k < requests; k++) {
          const status = await get(s);
          if (status !== 200) throw new Error(`status ${status}`);
        }
      }),
    );
  }
  return sessions;
}

async function measure(name) {
  const s = SERVERS[name];
  const child = spawn(process.execPath, ['--expose-gc', path.join(here, s.script), String(PORT), 'hello'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...s.env },
  });
  const settledRss = async () => {
    child.kill('SIGUSR2'); // full GC in the server
    await sleep(1000);
    return rss(child.pid);
  };
  try {
    await Promise.race([
      new Promise((r) => child.stdout.on('data', (d) => /listening/.test(d) && r())),
      new Promise((_, reject) => child.on('exit', (c) => reject(new Error(`${name} exited with ${c}`)))),
      sleep(30000).then(() => {
        throw new Error(`${name} did not start`);
      }),
    ]);
    const warm = await openSessions(200, Math.ceil(N / 200));
    for (const x of warm) x.destroy();
    await sleep(1500);
    const idle = await settledRss();
    const t0 = Date.now();
    const sessions = await openSessions(N);
    const openMs = Date.now() - t0;
    await sleep(2000);
    const withSessions = await settledRss();
    for (const x of sessions) x.destroy();
    await sleep(500);
    return { name, idleRss: idle, rssWithSessions: withSessions, perSession: (withSessions - idle) / N, openMs };
  } finally {
    child.kill('SIGKILL');
  }
}

const results = [];
for (const name of names) {
  const r = await measure(name);
  results.push(r);
  console.log(
    `${name.padEnd(24)} idle RSS ${(r.idleRss / 2 ** 20).toFixed(1)} MiB, with ${N} idle h2c sessions ${(r.rssWithSessions / 2 ** 20).toFixed(1)} MiB -> ${r.perSession.toFixed(0)} bytes per session`,
  );
}
const out = path.join(here, args.includes('--ci') ? 'out' : '', 'memory-h2.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), sessions: N, command: `node bench/memory-h2.mjs ${args.join(' ')}`.trim(), results }, null, 2)}\n`,
);
