#!/usr/bin/env node
// System calls per request (a count, not a timing: meaningful on a busy machine too). Starts
// servers/gunicorn-ts-serve.mjs (one process), sends WARM keep-alive requests, attaches `strace -c -f`
// to the server, sends N more over 8 connections (one request in flight on each), detaches and prints
// the calls per request by name. Kernel work the instruction counts of callgrind.mjs do not see (a
// StatsD datagram, a timer's wake-up) shows here.
//   node bench/syscalls.mjs [--workload hello] [--ops 1|statsd|prometheus] [--warm 20000] [--n 20000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadKeepAlive, option, sleep, startServer, stopServer } from './harness.mjs';

const here = import.meta.dirname;
const workload = option('workload', 'hello');
const OPS = option('ops', '');
const WARM = Number(option('warm', 20000));
const N = Number(option('n', 20000));
const REQ = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

const { child, port } = await startServer(
  process.execPath,
  [path.join(here, 'servers/gunicorn-ts-serve.mjs'), '0', workload],
  { env: { ...process.env, GTS_BENCH_OPS: OPS }, name: 'servers/gunicorn-ts-serve.mjs' },
);

// 8 keep-alive connections, one request in flight on each; at most 60 s
const load = (n) => loadKeepAlive(n, { port, req: REQ });

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
  await stopServer(child);
}
