// node:cluster with N workers serving the node:http apps (apps.mjs).
import cluster from 'node:cluster';
import http from 'node:http';
import { node } from './apps.mjs';

const port = Number(process.argv[2] || 0);
const workload = process.argv[3] || 'hello';
const workers = Number(process.argv[4] || 2);

if (cluster.isPrimary) {
  let up = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  // the address the workers share (with port 0, the one the kernel picked)
  cluster.on('listening', (worker, address) => {
    if (++up === workers) console.log(`listening http://127.0.0.1:${address.port}`);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGKILL');
    process.exit(0);
  });
} else {
  const app =
    workload === 'whoami'
      ? (req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Worker': String(process.pid) });
          res.end('Hello, World');
        }
      : node[workload];
  const server = http.createServer(app);
  server.keepAliveTimeout = 300_000;
  server.listen({ port, host: '127.0.0.1', backlog: 2048 });
}
