// Hono's Node.js adapter, @hono/node-server, on node:http: what fetch-style
// applications run on today. Serves the same apps as gunicorn-ts (fetch-apps.mjs).
import { serve } from '@hono/node-server';

import { fetchApps } from './fetch-apps.mjs';

const port = Number(process.argv[2] || 0);
const app = fetchApps[process.argv[3] || 'fetch-hello'];
const server = serve({ fetch: app.fetch.bind(app), port, hostname: '127.0.0.1' }, (info) =>
  console.log(`listening http://127.0.0.1:${info.port}`),
);
server.keepAliveTimeout = 300_000;
server.headersTimeout = 310_000;
server.maxHeadersCount = 0;
process.on('SIGTERM', () => process.exit(0));
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
