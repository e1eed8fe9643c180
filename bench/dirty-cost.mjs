#!/usr/bin/env node
// CPU cost of one dirty call (issue 15): CPU time (utime + stime from /proc, so
// what other processes do on the machine does not count) of the master, the
// request worker and the dirty worker over N keep-alive requests that each make
// one small dirty call (GET /call/...tools/add), against N plain requests (/ping).
//   node bench/dirty-cost.mjs [--n 3000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 3000);
const TOOLS = 'test.fixtures.apps.dirty_jobs:tools';
const g = spawn(
  process.execPath,
  [
    'bin/gunicorn-ts.js',
    '-b',
    '127.0.0.1:0',
    '-w',
    '1',
    '--control-socket',
    '',
    '--dirty-workers',
    '1',
    '--dirty-app',
    TOOLS,
    'test.fixtures.apps.dirty_web',
  ],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GUNICORN_CMD_ARGS: '' } },
);
let log = '';
g.stderr.on('data', (d) => (log += d));
const until = async (re) => {
  for (let i = 0; i < 400 && !re.test(log); i++) await new Promise((r) => setTimeout(r, 50));
  const m = re.exec(log);
  if (!m) throw new Error(`no ${re} in:\n${log}`);
  return m;
};
const port = Number((await until(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/))[1]);
const worker = Number((await until(/Booting worker with pid: (\d+)/))[1]);
const dirty = Number((await until(/Booting dirty worker with pid: (\d+)/))[1]);
const cpu = (pid) => {
  const f = fs
    .readFileSync(`/proc/${pid}/stat`, 'utf8')
    .slice(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // ms (USER_HZ 100)
};
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (p) =>
  new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
const call = `/call/${encodeURIComponent(TOOLS)}/add?args=${encodeURIComponent('[2,3]')}`;
async function measure(p) {
  for (let i = 0; i < 500; i++) await get(p); // warm-up
  const before = [g.pid, worker, dirty].map(cpu);
  for (let i = 0; i < N; i++) await get(p);
  return [g.pid, worker, dirty].map((pid, i) => ((cpu(pid) - before[i]) * 1000) / N); // µs per request
}
const plain = await measure('/ping');
const withCall = await measure(call);
const names = ['master', 'request worker', 'dirty worker'];
console.log(`CPU µs per request over ${N} keep-alive requests (one connection):`);
for (let i = 0; i < 3; i++)
  console.log(
    `  ${names[i].padEnd(15)} /ping ${plain[i].toFixed(0).padStart(5)}   with a dirty call ${withCall[i].toFixed(0).padStart(5)}`,
  );
const sum = (a) => a.reduce((x, y) => x + y, 0);
console.log(
  `  one dirty call adds ${(sum(withCall) - sum(plain)).toFixed(0)} µs of CPU in all (10 ms clock ticks: ±${((3 * 10 * 1000) / N).toFixed(0)} µs)`,
);
g.kill('SIGTERM');
await new Promise((r) => g.on('exit', r));
