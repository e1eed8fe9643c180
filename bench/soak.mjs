#!/usr/bin/env node
// Soak: gunicorn-ts (CLI, 2 workers) under mixed full load for a bounded time:
// hello and POST 4 KB, keep-alive and Connection: close, four wrk processes at
// once. Samples RSS of master + workers every 10 s; reports growth after the
// warm-up, and open fds of each process before the load and after it stops.
//   node bench/soak.mjs [--minutes 10] [--warmup 60]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const here = import.meta.dirname;
const root = path.join(here, '..');
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : d; };
const MINUTES = Number(opt('minutes', 10));
const WARMUP = Number(opt('warmup', 60));
const PORT = 19700 + (process.pid % 90);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = spawn(process.execPath, [path.join(root, 'bin', 'gunicorn-ts.js'), '-w', '2', '-b', `127.0.0.1:${PORT}`,
  '--keep-alive', '30', '--error-logfile', '/dev/null', `${path.join(here, 'servers', 'cli-apps.mjs')}:soak`], { stdio: 'ignore' });
const children = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch { return []; }
};
const procs = () => [server.pid, ...children(server.pid)];
const rss = (pid) => { try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024; } catch { return 0; } };
const fds = (pid) => { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; } };
const ok = () => new Promise((resolve) => {
  const r = http.get({ host: '127.0.0.1', port: PORT, path: '/', agent: false }, (res) => { res.resume(); resolve(res.statusCode === 200); });
  r.on('error', () => resolve(false));
});
for (let i = 0; i < 100 && !(await ok()); i++) await sleep(100);
await sleep(1000);
const fdsBefore = Object.fromEntries(procs().map((p) => [p, fds(p)]));

const seconds = MINUTES * 60;
const url = `http://127.0.0.1:${PORT}/`;
const loads = [
  ['hello keep-alive', []],
  ['POST 4 KB keep-alive', ['-s', path.join(here, 'wrk', 'post4k.lua')]],
  ['hello close', ['-s', path.join(here, 'wrk', 'close.lua')]],
  ['POST 4 KB close', ['-s', path.join(here, 'wrk', 'post4k-close.lua')]],
].map(([name, extra]) => {
  const p = spawn('wrk', ['-t1', '-c16', `-d${seconds}s`, '--timeout', '5s', ...extra, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  return { name, p, out: () => out, done: new Promise((r) => p.on('exit', r)) };
});

const samples = [];
const t0 = Date.now();
while (Date.now() - t0 < seconds * 1000) {
  await sleep(10_000);
  const ps = procs();
  samples.push({ t: Math.round((Date.now() - t0) / 1000), total: ps.reduce((a, p) => a + rss(p), 0), perProcess: ps.map((p) => [p, rss(p)]) });
  const s = samples.at(-1);
  console.log(`t=${String(s.t).padStart(4)} s  RSS total ${(s.total / 2 ** 20).toFixed(1)} MiB  (${s.perProcess.map(([p, r]) => `${p}:${(r / 2 ** 20).toFixed(1)}`).join(' ')})`);
}
await Promise.all(loads.map((l) => l.done));
await sleep(5000);
const fdsAfter = Object.fromEntries(procs().map((p) => [p, fds(p)]));
const base = samples.find((s) => s.t >= WARMUP) ?? samples[0];
const last = samples.at(-1);
const growth = (100 * (last.total - base.total)) / base.total;
const summary = {
  date: new Date().toISOString(), command: `node bench/soak.mjs ${args.join(' ')}`.trim(), minutes: MINUTES,
  rssAfterWarmup: base.total, rssEnd: last.total, growthPercent: growth, fdsBefore, fdsAfter,
  loads: loads.map((l) => ({ name: l.name, requests: Number(/(\d+) requests in/.exec(l.out())?.[1] ?? NaN), errors: /Socket errors.*|Non-2xx.*/g.exec(l.out())?.[0] ?? 'none' })),
  samples,
};
console.log(`RSS after ${base.t} s warm-up: ${(base.total / 2 ** 20).toFixed(1)} MiB; at the end: ${(last.total / 2 ** 20).toFixed(1)} MiB; growth ${growth.toFixed(2)} %`);
console.log(`open fds before the load: ${JSON.stringify(fdsBefore)}; after: ${JSON.stringify(fdsAfter)}`);
for (const l of summary.loads) console.log(`${l.name}: ${l.requests} requests, errors: ${l.errors}`);
fs.writeFileSync(path.join(here, 'soak.json'), `${JSON.stringify(summary, null, 2)}\n`);
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
const fdsOk = Object.keys(fdsBefore).every((p) => fdsAfter[p] === undefined || fdsAfter[p] <= fdsBefore[p]);
process.exit(growth <= 5 && fdsOk ? 0 : 1);
