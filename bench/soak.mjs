#!/usr/bin/env node
// Soak: gunicorn-ts (CLI, 2 workers) under mixed full load for a bounded time:
// hello and POST 4 KB, keep-alive and Connection: close, four wrk processes at
// once. Samples RSS of master + workers every 10 s; reports growth over the
// measured minutes that follow the warm-up, and open fds of each process before
// the load and after it stops.
//   node bench/soak.mjs [--minutes 10] [--warmup 300] [--node-args '--expose-gc']
//
// Why a 5-minute warm-up: under this load V8 grows each worker's young
// generation in steps (new space 4 -> 7 -> 13.5 -> 27 MiB of RSS, up to its
// 16 MiB semi-space cap) at moments that depend on how many bytes survived
// scavenges so far (seen between 40 s and 290 s), and the malloc heap grows with
// it (ArrayBuffer stores of request bodies die later when scavenges are rarer).
// Each worker writes its V8 heap spaces and its brk/anonymous RSS every 10 s
// (GTS_SOAK_MEMLOG, see servers/cli-apps.mjs), and the report shows them at the
// baseline and at the end, so a step of heap sizing can be told from a leak.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const here = import.meta.dirname;
const root = path.join(here, '..');
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : d;
};
const MINUTES = Number(opt('minutes', 10));
const WARMUP = Number(opt('warmup', 300));
const PORT = 19700 + (process.pid % 90);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = (x) => (x / 2 ** 20).toFixed(1);
const MEMLOG = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-soak-'));

// --node-args '...': flags for node itself (the workers inherit them), e.g. V8 heap sizing
const NODE_ARGS = opt('node-args', '').split(' ').filter(Boolean);
const server = spawn(
  process.execPath,
  [
    ...NODE_ARGS,
    path.join(root, 'bin', 'gunicorn-ts.js'),
    '-w',
    '2',
    '-b',
    `127.0.0.1:${PORT}`,
    '--keep-alive',
    '30',
    '--error-logfile',
    '/dev/null',
    `${path.join(here, 'servers', 'cli-apps.mjs')}:soak`,
  ],
  { stdio: 'ignore', env: { ...process.env, GTS_SOAK_MEMLOG: MEMLOG } },
);
const children = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const procs = () => [server.pid, ...children(server.pid)];
const rss = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return 0;
  }
};
const fds = (pid) => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
};
const ok = () =>
  new Promise((resolve) => {
    const r = http.get({ host: '127.0.0.1', port: PORT, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    r.on('error', () => resolve(false));
  });
for (let i = 0; i < 100 && !(await ok()); i++) await sleep(100);
await sleep(1000);
const fdsBefore = Object.fromEntries(procs().map((p) => [p, fds(p)]));

const seconds = WARMUP + MINUTES * 60;
const url = `http://127.0.0.1:${PORT}/`;
const loads = [
  ['hello keep-alive', []],
  ['POST 4 KB keep-alive', ['-s', path.join(here, 'wrk', 'post4k.lua')]],
  ['hello close', ['-s', path.join(here, 'wrk', 'close.lua')]],
  ['POST 4 KB close', ['-s', path.join(here, 'wrk', 'post4k-close.lua')]],
].map(([name, extra]) => {
  const p = spawn('wrk', ['-t1', '-c16', `-d${seconds}s`, '--timeout', '5s', ...extra, url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d) => {
    out += d;
  });
  return { name, p, out: () => out, done: new Promise((r) => p.on('exit', r)) };
});

const samples = [];
const t0 = Date.now();
// a full GC in each worker 20 s before the baseline sample (see servers/cli-apps.mjs; needs --expose-gc)
let gcAsked = false;
while (Date.now() - t0 < seconds * 1000) {
  await sleep(10_000);
  if (!gcAsked && Date.now() - t0 >= (WARMUP - 20) * 1000) {
    fs.writeFileSync(path.join(MEMLOG, 'gc.1'), '');
    gcAsked = true;
  }
  const ps = procs();
  samples.push({
    t: Math.round((Date.now() - t0) / 1000),
    total: ps.reduce((a, p) => a + rss(p), 0),
    perProcess: ps.map((p) => [p, rss(p)]),
  });
  const s = samples.at(-1);
  console.log(
    `t=${String(s.t).padStart(4)} s  RSS total ${MiB(s.total)} MiB  (${s.perProcess.map(([p, r]) => `${p}:${MiB(r)}`).join(' ')})`,
  );
}
await Promise.all(loads.map((l) => l.done));
await sleep(5000);
fs.writeFileSync(path.join(MEMLOG, 'gc.2'), '');
await sleep(2000);
const fdsAfter = Object.fromEntries(procs().map((p) => [p, fds(p)]));
const base = samples.find((s) => s.t >= WARMUP) ?? samples[0];
const last = samples.at(-1);
const growth = (100 * (last.total - base.total)) / base.total;
const summary = {
  date: new Date().toISOString(),
  command: `node bench/soak.mjs ${args.join(' ')}`.trim(),
  minutes: MINUTES,
  rssAfterWarmup: base.total,
  rssEnd: last.total,
  growthPercent: growth,
  fdsBefore,
  fdsAfter,
  loads: loads.map((l) => ({
    name: l.name,
    requests: Number(/(\d+) requests in/.exec(l.out())?.[1] ?? NaN),
    errors: /Socket errors.*|Non-2xx.*/g.exec(l.out())?.[0] ?? 'none',
  })),
  samples,
};
console.log(
  `RSS after ${base.t} s warm-up: ${MiB(base.total)} MiB; at the end: ${MiB(last.total)} MiB; growth ${growth.toFixed(2)} %`,
);
console.log(`open fds before the load: ${JSON.stringify(fdsBefore)}; after: ${JSON.stringify(fdsAfter)}`);
for (const l of summary.loads) console.log(`${l.name}: ${l.requests} requests, errors: ${l.errors}`);
// each worker's own view of its memory at the baseline and at the end
summary.workers = {};
for (const f of fs.readdirSync(MEMLOG)) {
  if (!f.endsWith('.jsonl')) continue;
  const pid = f.replace(/\D/g, '');
  const all = fs
    .readFileSync(path.join(MEMLOG, f), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const rows = all.filter((r) => r.gc === undefined);
  const afterGc = all.filter((r) => r.gc !== undefined);
  const at = (t) => rows.reduce((best, r) => (Math.abs(r.t - t) < Math.abs(best.t - t) ? r : best), rows[0]);
  const pick = (r) => ({
    t: r.t,
    rss: r.mem.rss,
    newSpace: r.spaces.new_space,
    oldSpace: r.spaces.old_space,
    code: r.spaces.code_space,
    external: r.mem.external,
    brk: r.smaps.brk,
  });
  const w = {
    baseline: pick(at(base.t)),
    end: pick(rows.at(-1)),
    liveAfterFullGc: afterGc.map((r) => ({
      t: r.t,
      heapUsed: r.mem.heapUsed,
      external: r.mem.external,
      arrayBuffers: r.mem.arrayBuffers,
    })),
  };
  summary.workers[pid] = w;
  for (const k of ['baseline', 'end']) {
    const r = w[k];
    console.log(
      `worker ${pid} ${k.padEnd(8)} t=${String(r.t).padStart(4)} s: RSS ${MiB(r.rss)} MiB = V8 new space ${MiB(r.newSpace)}, old ${MiB(r.oldSpace)}, code ${MiB(r.code)}; external ${MiB(r.external)}; malloc heap (brk) ${MiB(r.brk)}`,
    );
  }
  for (const g of w.liveAfterFullGc) {
    console.log(
      `worker ${pid} after a full GC at t=${String(g.t).padStart(4)} s: live JS heap ${MiB(g.heapUsed)} MiB, external ${MiB(g.external)} MiB`,
    );
  }
}
fs.rmSync(MEMLOG, { recursive: true, force: true });
fs.writeFileSync(path.join(here, 'soak.json'), `${JSON.stringify(summary, null, 2)}\n`);
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
const fdsOk = Object.keys(fdsBefore).every((p) => fdsAfter[p] === undefined || fdsAfter[p] <= fdsBefore[p]);
process.exit(growth <= 5 && fdsOk ? 0 : 1);
