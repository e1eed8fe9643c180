// The fetch-style benchmark applications, (request) => Response: the same
// bytes as apps.mjs's hello (Content-Type text/plain, a 12-byte body), served
// by gunicorn-ts (serve(), the CLI) and by Hono's @hono/node-server on node:http.
//   fetch-hello  a bare fetch handler, as `export default { fetch }`
//   fetch-hello-async  the same handler as an async function (bench/callgrind.mjs only)
//   hono-hello   a Hono application (its router, its Context, c.text())
import { Hono } from 'hono';

import { BODY_HELLO } from './apps.mjs';

const HEADERS = { 'Content-Type': 'text/plain' };
const hono = new Hono();
hono.get('/', (c) => c.text(BODY_HELLO));

export const fetchApps = {
  'fetch-hello': { fetch: () => new Response(BODY_HELLO, { headers: HEADERS }) },
  // the same handler as an async function
  'fetch-hello-async': { fetch: async () => new Response(BODY_HELLO, { headers: HEADERS }) },
  'hono-hello': hono,
};
