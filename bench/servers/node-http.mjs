// Baseline: node:http serving the same application logic (see apps.mjs).
import http from 'node:http';
import { node } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const app = node[process.argv[3] || 'hello'];
const server = http.createServer(app);
server.keepAliveTimeout = 300_000;
server.headersTimeout = 310_000;
server.maxHeadersCount = 0;
server.listen({ port, host: '127.0.0.1', backlog: 2048 }, () =>
  console.log(`listening http://127.0.0.1:${server.address().port}`),
);
process.on('SIGTERM', () => process.exit(0));
// bench/memory.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
