#!/usr/bin/env node
// System calls per request (a count, not a timing: meaningful on a busy machine too). Starts
// servers/gunicorn-ts-serve.mjs (one process), sends WARM keep-alive requests, attaches `strace -c -f`
// to the server, sends N more over 8 connections (one request in flight on each), detaches and prints
// the calls per request by name. Kernel work the instruction counts of callgrind.mjs do not see (a
// StatsD datagram, a timer's wake-up) shows here.
//   node bench/syscalls.mjs [--workload hello] [--ops 1|statsd|prometheus] [--warm 20000] [--n 20000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : d;
};
const workload = opt('workload', 'hello');
const OPS = opt('ops', '');
const WARM = Number(opt('warm', 20000));
const N = Number(opt('n', 20000));
const PORT = 19800 + (process.pid % 90);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REQ = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

const child = spawn(process.execPath, [path.join(here, 'servers/gunicorn-ts-serve.mjs'), String(PORT), workload], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, GTS_BENCH_OPS: OPS },
});
let log = '';
child.stdout.on('data', (d) => (log += d));
for (let i = 0; i < 300 && !/listening/.test(log); i++) await sleep(100);
if (!/listening/.test(log)) {
  child.kill('SIGKILL');
  throw new Error(`server did not start:\n${log}`);
}

// 8 keep-alive connections, one request in flight on each; at most 60 s
function load(n) {
  const per = Math.ceil(n / 8);
  return Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise((resolve, reject) => {
          const s = net.connect(PORT, '127.0.0.1');
          const timer = setTimeout(() => reject(new Error('load: 60 s passed')), 60000);
          let left = per;
          let buf = '';
          s.on('connect', () => s.write(REQ));
          s.on('data', (d) => {
            buf += d;
            for (;;) {
              const he = buf.indexOf('\r\n\r\n');
              if (he < 0) return;
              const m = /content-length: (\d+)/i.exec(buf.slice(0, he));
              const end = he + 4 + Number(m ? m[1] : 0);
              if (buf.length < end) return;
              buf = buf.slice(end);
              if (--left === 0) {
                clearTimeout(timer);
                s.destroy();
                resolve();
                return;
              }
              s.write(REQ);
            }
          });
          s.on('error', reject);
        }),
    ),
  );
}

try {
  await load(WARM);
  const out = path.join(os.tmpdir(), `syscalls.${process.pid}.txt`);
  const st = spawn('strace', ['-c', '-f', '-o', out, '-p', String(child.pid)], { stdio: 'ignore' });
  await sleep(500); // attached
  await load(N);
  st.kill('SIGINT');
  await new Promise((r) => st.on('exit', r));
  const rows = [];
  let total = 0;
  for (const l of fs.readFileSync(out, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(l);
    if (!m || m[2] === 'total') continue;
    total += Number(m[1]);
    rows.push(`${m[2]} ${m[1]} (${(Number(m[1]) / N).toFixed(4)})`);
  }
  fs.rmSync(out, { force: true });
  console.log(
    `servers/gunicorn-ts-serve.mjs ${workload}${OPS ? ` (GTS_BENCH_OPS=${OPS})` : ''}: ${(total / N).toFixed(3)} system calls per request (${N} requests after ${WARM}; the 0.5 s before them included)`,
  );
  console.log(`  ${rows.join(', ')}`);
} finally {
  child.kill('SIGTERM');
}
