#!/usr/bin/env node
// User-space instructions per request (callgrind counts instructions, not time:
// repeatable whatever else the machine does). Starts a server under valgrind,
// sends WARM keep-alive requests (JIT and caches warm up), zeroes the counters
// (callgrind_control -z), sends N more and dumps: the count / N is the cost of
// one request in steady state. --top K also prints the K costliest functions
// (self cost per request) and the cost per object file.
//   node bench/callgrind.mjs [--server servers/gunicorn-ts-serve.mjs] [--workload hello] [--warm 20000] [--n 10000] [--top 40]
// Workloads: hello, hello-async, hello-await (GET /), environ, post4k (the apps in servers/apps.mjs);
// fetch-hello, fetch-hello-async, hono-hello (GET /: servers/fetch-apps.mjs; also with --server servers/hono-node-server.mjs).
// --ops 1|statsd|prometheus: with StatsD and/or Prometheus on (GTS_BENCH_OPS in servers/gunicorn-ts-serve.mjs).
// Request durations are then timed for 1 in k requests, k from the rate (lib/metrics/recorder.ts): under
// valgrind the server is slow, k small (4 to 32), and the figure higher than at a real rate.
// --tls: over HTTPS (a P-256 certificate from bench/tls-cert.mjs; servers/node-http.mjs is then
// node:https). --close: a new connection per request (Connection: close; with --tls a full TLS 1.3
// handshake each), 4 at a time; use a smaller --warm/--n (e.g. --warm 300 --n 400).
// h2c-hello: GET / over h2c (prior knowledge) driven by h2load with a fixed count (-n, 8 connections x 32
// concurrent streams); gunicorn-ts serve() with GTS_BENCH_H2=1, or --server servers/node-http2.mjs
// (node:http2) for the baseline: node bench/callgrind.mjs --workload h2c-hello [--server servers/node-http2.mjs]
// ws-echo64, ws-echo16k: WebSocket echo of 64-byte / 16 KiB binary messages (examples/websocket_echo.mjs
// through serve(); the `ws` library on node:http with --server servers/ws-echo-node.mjs): 8 handshaken
// connections, one masked message in flight on each; the figure is per message (one echoed message).
//   node bench/callgrind.mjs --workload ws-echo64 [--server servers/ws-echo-node.mjs] [--warm 20000 --n 10000]
// Request ids pass 2^31 after 2,048 requests per connection (about 16,400 of the warm-up): the code
// holding them deoptimizes once and is compiled again. If that compilation lands in the measured window
// (clone/start_thread and v8::internal::compiler functions in --top), warm up longer (--warm 30000).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';

import { OP, encodeFrame, handshake } from '../test/helpers/ws-client.mjs';
import { flag, loadKeepAlive, option as opt, startServer, stopServer } from './harness.mjs';
import { benchCert } from './tls-cert.mjs';

const here = import.meta.dirname;
const server = opt('server', 'servers/gunicorn-ts-serve.mjs');
const workload = opt('workload', 'hello');
const H2 = workload === 'h2c-hello';
const WS = { 'ws-echo64': 64, 'ws-echo16k': 16384 }[workload] ?? 0;
const WARM = Number(opt('warm', 20000));
const N = Number(opt('n', 10000));
const TOP = Number(opt('top', 0));
const TLS = flag('tls');
const CLOSE = flag('close');
const OPS = opt('ops', process.env.GTS_BENCH_OPS ?? '');
const cert = TLS ? benchCert() : null;
let PORT = 0; // the kernel's pick: the server listens on port 0 and names its port (startServer below)
const connect = () =>
  TLS
    ? tls.connect({ port: PORT, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    : net.connect(PORT, '127.0.0.1');
const REQ =
  workload === 'environ'
    ? 'GET /echo/path?x=1&y=two HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: session=0123456789abcdef\r\nReferer: http://127.0.0.1/previous\r\nX-Request-Id: 3f0c5a8e-9d1b-4c2e\r\nX-Forwarded-For: 203.0.113.7\r\nCache-Control: no-cache\r\n\r\n'
    : workload === 'post4k'
      ? `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4096\r\n\r\n${'p'.repeat(4096)}`
      : 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

// a new connection per request, `Connection: close`, 4 at a time
async function loadClose(n) {
  const req = REQ.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
  let left = n;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left-- > 0) {
        await new Promise((resolve, reject) => {
          const s = connect();
          s.on(TLS ? 'secureConnect' : 'connect', () => s.write(req));
          s.on('data', () => {});
          s.on('end', () => {
            s.destroy();
            resolve();
          });
          s.on('error', reject);
        });
      }
    }),
  );
}

// HTTP/2: h2load, a fixed number of requests
function loadH2(n) {
  const outText = execFileSync(
    'h2load',
    ['-n', String(n), '-c', '8', '-m', '32', '-t', '1', `http://127.0.0.1:${PORT}/`],
    { encoding: 'utf8', timeout: 600000 },
  );
  const ok = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(outText);
  if (!ok || Number(ok[1]) !== n) throw new Error(`h2load: not every request succeeded:\n${outText}`);
}

// WebSocket echo: 8 connections (handshake checked: test/helpers/ws-client.mjs), a masked binary message of WS
// bytes in flight on each, the next sent when its echo is whole
function wsFrame(size) {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = i & 0xff;
  return encodeFrame({ opcode: OP.BINARY, payload, maskKey: Buffer.from([0x12, 0x34, 0x56, 0x78]) });
}
let wsConns = null;
function openWs() {
  return Promise.all(
    Array.from({ length: 8 }, async () => {
      // under valgrind the server may take long to answer its first handshakes
      const { socket, rest } = await handshake({ port: PORT, timeoutMs: 300_000 });
      if (rest.length) throw new Error('data after the 101');
      socket.on('error', () => {}); // errors fail the load that is running (loadWs)
      return socket;
    }),
  );
}
async function loadWs(n) {
  wsConns ??= await openWs();
  const frame = wsFrame(WS);
  const echoLen = WS + (WS < 126 ? 2 : 4);
  const per = Math.ceil(n / wsConns.length);
  await Promise.all(
    wsConns.map(
      (s) =>
        new Promise((resolve, reject) => {
          let left = per;
          let got = 0;
          const onData = (d) => {
            got += d.length;
            while (got >= echoLen) {
              got -= echoLen;
              if (--left === 0) {
                if (got !== 0) reject(new Error('more bytes than echoed'));
                s.off('data', onData);
                s.off('error', reject);
                resolve();
                return;
              }
              s.write(frame);
            }
          };
          s.on('data', onData);
          s.on('error', reject);
          s.write(frame);
        }),
    ),
  );
}

// under valgrind a load of 20,000 requests takes minutes: at most 30
const LOAD_MS = 30 * 60_000;

function load(n) {
  if (H2) return loadH2(n);
  if (WS) return loadWs(n);
  if (CLOSE) return loadClose(n);
  // 8 keep-alive connections, one request in flight on each
  return loadKeepAlive(n, { req: REQ, connect, connectEvent: TLS ? 'secureConnect' : 'connect', timeoutMs: LOAD_MS });
}

const out = path.join(os.tmpdir(), `callgrind.${process.pid}.out`);
// node under valgrind starts in tens of seconds, minutes on a loaded machine
const { child, port } = await startServer(
  'valgrind',
  [
    '--tool=callgrind',
    `--callgrind-out-file=${out}`,
    '--smc-check=all',
    process.execPath,
    '--max-semi-space-size=8',
    path.join(here, server),
    '0',
    H2 ? 'hello' : workload,
  ],
  {
    env: { ...process.env, GTS_BENCH_OPS: OPS, ...(H2 ? { GTS_BENCH_H2: '1' } : {}), ...(cert?.env ?? {}) },
    timeoutMs: 300_000,
    name: `${server} under valgrind`,
  },
);
PORT = port;
await load(WARM);
execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
await load(N);
execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
for (const s of wsConns ?? []) s.destroy();
await stopServer(child);
const dumps = fs
  .readdirSync(os.tmpdir())
  .filter((f) => f.startsWith(`callgrind.${process.pid}.out.`))
  .map((f) => path.join(os.tmpdir(), f));
const dump = dumps.sort().at(0);
const total = Number(/summary: (\d+)/.exec(fs.readFileSync(dump, 'utf8'))?.[1] ?? NaN);
console.log(
  `${server} ${workload}${TLS ? ' over TLS' : ''}${CLOSE ? ' (a new connection per request)' : ''}${OPS ? ` (GTS_BENCH_OPS=${OPS})` : ''}: ${(total / N).toFixed(0)} instructions per ${WS ? 'message' : 'request'} (user space, steady state: ${N} ${WS ? 'messages' : 'requests'} after ${WARM})`,
);
// Scavenges come every few MB of allocation, so a window of N requests holds a whole number of them: the
// same server gives figures a few hundred instructions apart run to run (2 or 4 scavenges of ~1.4M each in
// 10,000 requests). The figure without them (Heap::CollectGarbage, inclusive) compares better; GC cost per
// request is better read from the number of scavenges in a long run (node --trace-gc).
{
  const incl = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', dump], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const gc = Number(/^\s*([\d,]+) .*Heap::CollectGarbage\(/m.exec(incl)?.[1]?.replaceAll(',', '') ?? 0);
  console.log(
    `  of which GC ${(gc / N).toFixed(0)}; without GC: ${((total - gc) / N).toFixed(0)} instructions per request`,
  );
}
if (TOP > 0) {
  const ann = execFileSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', dump], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const fns = [];
  const objs = new Map();
  for (const line of ann.split('\n')) {
    const m = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2].includes('PROGRAM TOTALS')) continue;
    const ir = Number(m[1].replaceAll(',', '')) / N;
    // callgrind_annotate also lists a few frames with the whole program's cost (main, below main)
    if (ir >= 0.5 * (total / N)) continue;
    const obj = /\[([^\]]+)\]$/.exec(m[2])?.[1] ?? '(JIT code)';
    objs.set(obj, (objs.get(obj) ?? 0) + ir);
    fns.push([ir, m[2].replace(/^\?\?\?:/, '').slice(0, 140)]);
  }
  for (const [o, ir] of [...objs].sort((a, b) => b[1] - a[1]).slice(0, 8))
    console.log(`${ir.toFixed(0).padStart(8)}  ${o}`);
  for (const [ir, f] of fns.slice(0, TOP)) console.log(`${ir.toFixed(0).padStart(8)}  ${f}`);
}
if (process.env.KEEP_CALLGRIND) console.log(`kept ${dumps.join(' ')}`);
else for (const f of [out, ...dumps]) fs.rmSync(f, { force: true });
