// The `ws` library's echo server on node:http, as its documentation writes it (perMessageDeflate off, which is
// also ws's default; maxPayload 16 MiB), for bench/ws.mjs:
//   node --expose-gc bench/servers/ws-echo-node.mjs PORT            the `ws` row (standalone node:http)
//   gunicorn-ts -k node -w 1 bench/servers/ws-echo-node.mjs:server  the `-k node` + ws row
// GET /__gc runs a full garbage collection when node runs with --expose-gc (memory per idle connection).
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { WebSocketServer } from 'ws';

export const server = http.createServer((req, res) => {
  if (req.url === '/__gc' && typeof globalThis.gc === 'function') {
    globalThis.gc();
    res.end('gc\n');
    return;
  }
  res.writeHead(426, { 'Sec-WebSocket-Version': '13' });
  res.end('a WebSocket echo server\n');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  server.listen({ port: Number(process.argv[2] || 0), host: '127.0.0.1', backlog: 2048 }, () =>
    console.log(`listening ws://127.0.0.1:${server.address().port}`),
  );
  process.on('SIGTERM', () => process.exit(0));
}
