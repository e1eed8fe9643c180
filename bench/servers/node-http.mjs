// Baseline: node:http serving the same application logic (see apps.mjs); node:https
// when BENCH_TLS_CERT/BENCH_TLS_KEY are set (bench/tls-cert.mjs), with the same
// certificate and, like gunicorn-ts, ALPN http/1.1.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { node } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const app = node[process.argv[3] || 'hello'];
const server = process.env.BENCH_TLS_CERT
  ? https.createServer(
      {
        cert: fs.readFileSync(process.env.BENCH_TLS_CERT),
        key: fs.readFileSync(process.env.BENCH_TLS_KEY),
        ALPNProtocols: ['http/1.1'],
      },
      app,
    )
  : http.createServer(app);
server.keepAliveTimeout = 300_000;
server.headersTimeout = 310_000;
server.maxHeadersCount = 0;
server.listen({ port, host: '127.0.0.1', backlog: 2048 }, () =>
  console.log(`listening ${process.env.BENCH_TLS_CERT ? 'https' : 'http'}://127.0.0.1:${server.address().port}`),
);
process.on('SIGTERM', () => process.exit(0));
// bench/memory.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
