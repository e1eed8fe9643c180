// gunicorn-ts's node worker class in one process: serve() of node:http's own
// (req, res) apps (apps.mjs `node`) with worker_class 'node', the same request
// path a -k node worker runs (lib/workers/node-server.ts). Against
// servers/node-http.mjs it measures what -k node adds to node:http.
import { serve } from '../../dist/index.js';
import { node } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const app = node[process.argv[3] || 'hello'];
const srv = await serve(app, {
  bind: `127.0.0.1:${port}`,
  worker_class: 'node',
  keepalive: 300,
  errorlog: '/dev/null',
});
console.log(`listening ${srv.url}`);
process.on('SIGTERM', () => process.exit(0));
// bench/memory.mjs: collect garbage before a memory reading (node --expose-gc)
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
