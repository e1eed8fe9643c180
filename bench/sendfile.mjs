#!/usr/bin/env node
// Large-file responses: gunicorn-ts serve() returning a wsgi.file_wrapper over a regular file (sent with
// sendfile(2) by the native core), the same with `sendfile: false` (the block path: the file read through
// JavaScript), and node:http piping fs.createReadStream, all the same file with a Content-Length.
//
//   node bench/sendfile.mjs                          5 interleaved rounds of 5 s, 1 MiB responses
//   options: --rounds N --duration S (whole seconds) --size BYTES --connections N --servers a,b
//   node bench/sendfile.mjs --rounds 1 --duration 1  a check that it runs (figures meaningless)
//
// Method (as bench/run.mjs): each server is one process pinned to CPU 1 (taskset -c 1), wrk (1 thread,
// keep-alive) pinned to CPU 0; runs of the servers are interleaved round by round, each run starts a fresh
// server, checks one response byte for byte, warms up 1 s, then measures. Reported: responses per server
// CPU-second and server CPU µs per response, split user + kernel (utime/stime from /proc during the
// measured run), and MiB served per server CPU-second; medians over rounds with min-max. Loopback only;
// every run is bounded in time (wrk's -d and a kill timeout; server start-up at most ~5 s).
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { CLK_TCK, cpuTicks, median } from './proc.mjs';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

// The servers, run as `node bench/sendfile.mjs --serve KIND PORT FILE` (a fresh process per run).
const SERVERS = {
  'gunicorn-ts file_wrapper (sendfile)': 'gts-sendfile',
  'gunicorn-ts file_wrapper, sendfile off': 'gts-blocks',
  'node:http fs.createReadStream().pipe(res)': 'node-stream',
};

async function serveKind(kind, port, file) {
  const size = fs.statSync(file).size;
  if (kind === 'node-stream') {
    const srv = http.createServer({ keepAliveTimeout: 300000 }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
      fs.createReadStream(file).pipe(res);
    });
    srv.maxRequestsPerSocket = 0;
    await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  } else {
    const { serve } = await import('../dist/index.js');
    await serve(
      (environ, start_response) => {
        start_response('200 OK', [
          ['Content-Type', 'application/octet-stream'],
          ['Content-Length', String(size)],
        ]);
        return new environ['wsgi.file_wrapper'](fs.openSync(file, 'r')); // closed by the server when sent
      },
      {
        bind: `127.0.0.1:${port}`,
        keepalive: 300,
        worker_connections: 20000,
        errorlog: '/dev/null',
        sendfile: kind === 'gts-sendfile',
      },
    );
  }
  console.log(`listening ${port}`);
  process.on('SIGTERM', () => process.exit(0));
}

function fetchOnce(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer(kind, port, file) {
  const child = spawn(
    'taskset',
    ['-c', '1', process.execPath, path.join(here, 'sendfile.mjs'), '--serve', kind, String(port), file],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode}: ${out.trim()}`);
    if (out.includes('listening')) return child; // taskset execs node: the child's pid is the server's
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} did not start: ${out.trim()}`);
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  for (let i = 0; i < 40 && child.exitCode === null; i++) await sleep(50);
  if (child.exitCode === null) child.kill('SIGKILL');
}

function wrk(url, seconds, connections) {
  const text = execFileSync(
    'taskset',
    ['-c', '0', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', url],
    { encoding: 'utf8', timeout: (seconds + 15) * 1000 },
  );
  const num = (re) => Number(re.exec(text)?.[1] ?? NaN);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: errs ? errs.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
  };
}

async function runOne(kind, port, file, data, { duration, connections }) {
  const child = await startServer(kind, port, file);
  try {
    const r = await fetchOnce(port);
    if (r.status !== 200 || !r.body.equals(data))
      throw new Error(`${kind}: unexpected response ${r.status}, ${r.body.length} bytes (want ${data.length})`);
    const url = `http://127.0.0.1:${port}/`;
    wrk(url, 1, connections); // warm-up
    const [u0, s0] = cpuTicks(child.pid);
    const res = wrk(url, duration, connections);
    const [u1, s1] = cpuTicks(child.pid);
    const user = (u1 - u0) / CLK_TCK;
    const sys = (s1 - s0) / CLK_TCK;
    return {
      ...res,
      perCpuSec: res.requests / (user + sys),
      mibPerCpuSec: (res.requests * data.length) / 2 ** 20 / (user + sys),
      userUs: (1e6 * user) / res.requests,
      sysUs: (1e6 * sys) / res.requests,
    };
  } finally {
    await stopServer(child);
  }
}

async function main() {
  const rounds = Number(opt('rounds', 5));
  const duration = Math.max(1, Math.round(Number(opt('duration', 5))));
  const size = Number(opt('size', 1 << 20));
  const connections = Number(opt('connections', 8));
  const port = 18900 + (process.pid % 1000);
  const names = opt('servers') ? opt('servers').split(',') : Object.keys(SERVERS);
  for (const n of names) if (!(n in SERVERS)) throw new Error(`unknown server ${JSON.stringify(n)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-bench-sendfile-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data.bin');
  const data = crypto.randomBytes(size);
  fs.writeFileSync(file, data);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 1; round <= rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]); // interleaved
    for (const n of order) {
      const r = await runOne(SERVERS[n], port, file, data, { duration, connections });
      results[n].push(r);
      process.stdout.write(
        `round ${round} ${n.padEnd(42)} ${r.perCpuSec.toFixed(0).padStart(7)} resp/CPU-s  ${(r.userUs + r.sysUs).toFixed(0).padStart(6)} µs/resp${r.non2xx || r.socketErrors ? `  ERRORS non2xx=${r.non2xx} socket=${r.socketErrors}` : ''}\n`,
      );
    }
  }
  let failed = false;
  const rows = names.map((n) => {
    const runs = results[n];
    const m = (k) => median(runs.map((r) => r[k]));
    const range = (k) =>
      `${Math.min(...runs.map((r) => r[k])).toFixed(0)}–${Math.max(...runs.map((r) => r[k])).toFixed(0)}`;
    const errors = runs.reduce((a, r) => a + r.non2xx + r.socketErrors, 0);
    if (errors) failed = true;
    return `| ${n} | ${m('perCpuSec').toFixed(0)} (${range('perCpuSec')}) | ${m('userUs').toFixed(0)} + ${m('sysUs').toFixed(0)} | ${m('mibPerCpuSec').toFixed(0)} | ${errors} |`;
  });
  process.stdout.write(
    [
      '',
      `node bench/sendfile.mjs ${args.join(' ')}`.trim(),
      `${(size / 2 ** 20).toFixed(2)} MiB responses, ${connections} keep-alive connections, ${rounds} rounds of ${duration} s; ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}`,
      '',
      '| server | responses per server CPU-s, median (min–max) | server CPU µs/response: user + kernel | MiB per server CPU-s | errors |',
      '|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
  if (failed) {
    process.stdout.write('bench: FAIL (errors)\n');
    process.exitCode = 1;
  }
}

if (args[0] === '--serve') {
  await serveKind(args[1], Number(args[2]), args[3]);
} else {
  await main();
}
