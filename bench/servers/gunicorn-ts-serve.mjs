// gunicorn-ts through serve(), one process, serving the apps in apps.mjs.
import { serve } from '../../dist/index.js';
import { wsgi } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const app = wsgi[process.argv[3] || 'hello'];
// HTTPS when BENCH_TLS_CERT/BENCH_TLS_KEY are set (bench/tls-cert.mjs)
const tls = process.env.BENCH_TLS_CERT
  ? { certfile: process.env.BENCH_TLS_CERT, keyfile: process.env.BENCH_TLS_KEY }
  : {};
const srv = await serve(app, {
  bind: `127.0.0.1:${port}`,
  keepalive: 300,
  worker_connections: 20000,
  errorlog: '/dev/null',
  ...tls,
});
console.log(`listening ${srv.url}`);
process.on('SIGTERM', () => process.exit(0));
// bench/memory.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
