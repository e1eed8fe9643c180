// gunicorn-ts through serve(), one process, serving the apps in apps.mjs.
// GTS_BENCH_OPS=1 (or a third argument 1): with StatsD (to a UDP sink in a separate process) and the
// Prometheus endpoint on, to measure what the operations features cost
// (GTS_BENCH_OPS=statsd or =prometheus: one of them).
// GTS_BENCH_H2=1: HTTP/2 as well (http_protocols h2,h1; ALPN h2 with TLS, h2c by prior knowledge without).
import { spawn } from 'node:child_process';

import { serve } from '../../dist/index.js';
import { wsgi } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const workload = process.argv[3] || 'hello';
// fetch-style workloads: an object with a fetch method (detected as fetch-style)
// ws-echo64 / ws-echo16k (bench/callgrind.mjs): the WebSocket echo example
const app = workload.startsWith('ws-')
  ? (await import('../../examples/websocket_echo.mjs')).application
  : workload in wsgi
    ? wsgi[workload]
    : (await import('./fetch-apps.mjs')).fetchApps[workload];
const ops = {};
const OPS = process.argv[4] ?? process.env.GTS_BENCH_OPS ?? ''; // argv: bench/run.mjs's 'gunicorn-ts serve() +ops'
if (OPS === '1' || OPS === 'statsd') {
  const sink = spawn(
    process.execPath,
    [
      '-e',
      "const s = require('dgram').createSocket('udp4'); s.on('message', () => {}); s.bind(0, '127.0.0.1', () => console.log(s.address().port));",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const sinkPort = await new Promise((resolve) => sink.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  process.on('exit', () => sink.kill());
  ops.statsd_host = `127.0.0.1:${sinkPort}`;
}
if (OPS === '1' || OPS === 'prometheus') ops.metrics_bind = '127.0.0.1:0';
// HTTPS when BENCH_TLS_CERT/BENCH_TLS_KEY are set (bench/tls-cert.mjs)
const tls = process.env.BENCH_TLS_CERT
  ? { certfile: process.env.BENCH_TLS_CERT, keyfile: process.env.BENCH_TLS_KEY }
  : {};
const h2 = process.env.GTS_BENCH_H2
  ? { http_protocols: 'h2,h1', ...(process.env.BENCH_TLS_CERT ? {} : { http2_cleartext: 'prior-knowledge' }) }
  : {};
const srv = await serve(app, {
  bind: `127.0.0.1:${port}`,
  keepalive: 300,
  worker_connections: 20000,
  errorlog: '/dev/null',
  ...ops,
  ...tls,
  ...h2,
});
console.log(`listening ${srv.url}`);
process.on('SIGTERM', () => process.exit(0));
// bench/memory.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
