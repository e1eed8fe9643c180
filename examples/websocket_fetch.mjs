// A WebSocket chat in a fetch-style app, written the way Bun's are: `fetch(request, server)` accepts the
// handshake with server.upgrade(), and the `websocket` handlers beside `fetch` serve the connection.
//   gunicorn-ts -w 1 examples.websocket_fetch          (the default export: { fetch, websocket })
// ws://host/chat?name=alice joins the room: every message goes to everyone in it (server.publish).
// POST /notify with a text body broadcasts it from an ordinary HTTP request, through the package's publish()
// (it works the same from a WSGI-style or any other handler in the worker). Anything else: a short page.
// Differences from Bun: `message` gets a Buffer and isBinary (Bun gives text messages as strings), and
// server.publish(topic, data, isBinary?, compress?) takes isBinary before compress (uWebSockets.js' order).
// Topics are per worker process: with -w 2 a client hears only the subscribers of its own worker; across
// workers and machines, relay through a broker (see examples/websocket_chat.mjs).
import { publish } from 'gunicorn-ts';

const ROOM = 'room';

export default {
  async fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === '/chat') {
      const name = /^[\w-]{1,32}$/.exec(url.searchParams.get('name') ?? '')?.[0];
      if (name === undefined) return new Response('?name=NAME (letters, digits, - and _)\n', { status: 400 });
      // a subprotocol the client offers, if it offers `chat`
      const offered = (request.headers.get('sec-websocket-protocol') ?? '').split(/\s*,\s*/);
      const protocol = offered.includes('chat') ? 'chat' : undefined;
      if (server.upgrade(request, { data: { name }, protocol })) return; // the 101 is the response
      return new Response('connect a WebSocket here\n', { status: 426, headers: { 'Sec-WebSocket-Version': '13' } });
    }
    if (url.pathname === '/notify' && request.method === 'POST') {
      const n = publish(ROOM, `* ${await request.text()}`);
      return Response.json({ recipients: n });
    }
    return new Response('WebSocket chat: ws://HOST/chat?name=NAME; POST /notify broadcasts\n');
  },
  websocket: {
    open(ws) {
      ws.subscribe(ROOM);
      ws.publish(ROOM, `* ${ws.data.name} joined`);
      ws.send(`* welcome, ${ws.data.name}`);
    },
    message(ws, data, isBinary) {
      if (isBinary) return;
      const line = `${ws.data.name}: ${data.toString()}`;
      ws.publish(ROOM, line);
      ws.send(line);
    },
    close(ws) {
      // unsubscribed by now: tell the others
      ws.publish(ROOM, `* ${ws.data.name} left`);
    },
  },
};
