// Baseline for the HTTP/2 rows: node:http2 serving the same application logic as node-http.mjs (apps.mjs,
// through node:http2's compatibility API: the same (req, res) handlers). h2c (prior knowledge) by default;
// with BENCH_TLS_CERT/BENCH_TLS_KEY (bench/tls-cert.mjs) http2.createSecureServer with ALPN h2, the same
// certificate as the other TLS rows. Settings as gunicorn-ts's defaults (100 streams, 64 KiB windows).
//   node bench/servers/node-http2.mjs PORT [hello|post4k|...]
import fs from 'node:fs';
import http2 from 'node:http2';
import { node } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const app = node[process.argv[3] || 'hello'];
const settings = { maxConcurrentStreams: 100 };
const server = process.env.BENCH_TLS_CERT
  ? http2.createSecureServer(
      {
        cert: fs.readFileSync(process.env.BENCH_TLS_CERT),
        key: fs.readFileSync(process.env.BENCH_TLS_KEY),
        ALPNProtocols: ['h2'],
        settings,
      },
      app,
    )
  : http2.createServer({ settings }, app);
server.on('sessionError', () => {});
server.listen({ port, host: '127.0.0.1', backlog: 2048 }, () =>
  console.log(`listening ${process.env.BENCH_TLS_CERT ? 'https' : 'http'}://127.0.0.1:${server.address().port} (h2)`),
);
process.on('SIGTERM', () => process.exit(0));
// bench/memory-h2.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
