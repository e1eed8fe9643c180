#!/usr/bin/env node
// User-space instructions per request (callgrind counts instructions, not time:
// repeatable whatever else the machine does). Runs a server under valgrind
// twice, with N1 and N2 keep-alive requests; the difference / (N2 - N1) is the
// marginal cost of one request after warm-up.
//   node bench/callgrind.mjs [--server servers/gunicorn-ts-serve.mjs] [--workload hello]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : d; };
const server = opt('server', 'servers/gunicorn-ts-serve.mjs');
const workload = opt('workload', 'hello');
const N1 = Number(opt('n1', 2000));
const N2 = Number(opt('n2', 6000));
const PORT = 19900 + (process.pid % 90);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REQ = workload === 'environ'
  ? 'GET /echo/path?x=1&y=two HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: session=0123456789abcdef\r\nReferer: http://127.0.0.1/previous\r\nX-Request-Id: 3f0c5a8e-9d1b-4c2e\r\nX-Forwarded-For: 203.0.113.7\r\nCache-Control: no-cache\r\n\r\n'
  : 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

async function load(n) {
  // 8 keep-alive connections, one request in flight on each
  const per = Math.ceil(n / 8);
  await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve, reject) => {
    const s = net.connect(PORT, '127.0.0.1');
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
        if (--left === 0) { s.destroy(); resolve(); return; }
        s.write(REQ);
      }
    });
    s.on('error', reject);
  })));
}

async function measure(n) {
  const out = path.join(os.tmpdir(), `callgrind.${process.pid}.${n}.out`);
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all',
    process.execPath, '--max-semi-space-size=8', path.join(here, server), String(PORT), workload], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 600 && !/listening/i.test(log); i++) await sleep(100);
  if (!/listening/i.test(log)) throw new Error(`server did not start under valgrind:\n${log}`);
  await load(n);
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const total = Number(/summary: (\d+)/.exec(fs.readFileSync(out, 'utf8'))?.[1] ?? NaN);
  if (process.env.KEEP_CALLGRIND) console.log(`kept ${out}`); else fs.rmSync(out, { force: true });
  return total;
}

const a = await measure(N1);
const b = await measure(N2);
const per = (b - a) / (N2 - N1);
console.log(`${server} ${workload}: ${per.toFixed(0)} instructions per request (user space; ${N1} -> ${N2} requests: ${a} -> ${b})`);
