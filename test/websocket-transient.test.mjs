// transientMessages: a message Buffer valid only while message() runs (lib/http/websocket.ts, the native
// Bridge's ArrayBuffer per message, detached after the call). Over real sockets with the `ws` client: the
// echo is exact for every size and path (whole frame, fragmented, compressed), and what the app kept is
// empty afterwards; bad values are refused in one line naming the option.
import crypto from 'node:crypto';
import t from 'tap';
import WebSocket from 'ws';

import { serve } from '../dist/index.js';

import { fetchBad } from './fixtures/apps/ws_transient.mjs';
import { startOneWorker } from './helpers/gts.mjs';

function open(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const messages = [];
    const waiters = [];
    ws.on('message', (d, isBinary) => {
      messages.push({ data: d, isBinary });
      while (waiters.length > 0 && waiters[0].n <= messages.length) waiters.shift().resolve();
    });
    const next = (n) =>
      n <= messages.length ? Promise.resolve() : new Promise((r) => waiters.push({ n, resolve: r }));
    const closed = new Promise((r) => ws.on('close', (code) => r(code)));
    ws.once('open', () => resolve({ ws, messages, next, closed }));
    ws.once('error', reject);
  });
}

// 5 B to 300 KB: the slab's quarter (16 KiB) and the direct write (8 KiB) on both sides
const SIZES = [0, 5, 64, 8191, 9000, 16384, 16385, 70000, 300000];

for (const compression of ['off', 'dedicated']) {
  t.test(`WSGI-style app, websocket_compression ${compression}: echoes exact, kept Buffers empty after`, async (t) => {
    const { g, port } = await startOneWorker(t, [
      '--websocket-compression',
      compression,
      'test.fixtures.apps.ws_transient:application',
    ]);
    const { ws, messages, next, closed } = await open(`ws://127.0.0.1:${port}/`, {
      perMessageDeflate: compression !== 'off',
    });
    if (compression !== 'off') t.match(ws.extensions, /permessage-deflate/, 'compression negotiated');
    const sent = [];
    for (const n of SIZES) {
      const b = crypto.randomBytes(n);
      sent.push({ data: b, isBinary: true });
      ws.send(b, { binary: true });
    }
    // a fragmented text message (assembled natively, then copied once into its ArrayBuffer)
    ws.send('frag-', { fin: false });
    ws.send('ment', { fin: true });
    sent.push({ data: Buffer.from('frag-ment'), isBinary: false });
    await next(sent.length);
    for (let i = 0; i < sent.length; i++) {
      const m = messages[i];
      t.ok(m.data.equals(sent[i].data) && m.isBinary === sent[i].isBinary, `message ${i} (${sent[i].data.length} B)`);
    }
    ws.send('async');
    await next(sent.length + 1);
    const a = JSON.parse(messages[sent.length].data.toString());
    t.equal(a.afterAwait, 0, 'an async message() sees an empty Buffer after awaiting the next loop turn');
    ws.send('report');
    await next(sent.length + 2);
    const r = JSON.parse(messages[sent.length + 1].data.toString());
    t.same(
      r.kept,
      sent.map(() => 0),
      'every Buffer the app kept is empty once message() returned',
    );
    ws.close();
    t.equal(await closed, 1005);
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  });
}

t.test('fetch-style app: websocket: { transientMessages: true }', async (t) => {
  const { g, port } = await startOneWorker(t, ['test.fixtures.apps.ws_transient:fetchApp']);
  const { ws, messages, next, closed } = await open(`ws://127.0.0.1:${port}/`);
  const big = crypto.randomBytes(20000);
  ws.send(big);
  ws.send('hello');
  await next(2);
  t.ok(messages[0].data.equals(big), 'binary echoed');
  t.equal(messages[1].data.toString(), 'hello', 'text echoed');
  ws.send('report');
  await next(3);
  t.same(JSON.parse(messages[2].data.toString()).kept, [0, 0], 'kept Buffers are empty');
  ws.close();
  await closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('bad transientMessages values are refused, naming the option', async (t) => {
  const { g, port } = await startOneWorker(t, ['test.fixtures.apps.ws_transient:application']);
  const r = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/bad`);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.on('error', () => {});
    ws.on('open', () => reject(new Error('upgraded')));
  });
  t.equal(r.status, 500);
  t.match(r.body, /handlers\.transientMessages must be a boolean, got 'yes'/);
  g.kill('SIGTERM');
  await g.exit;
  await t.rejects(
    serve(fetchBad, '127.0.0.1:0'),
    /websocket\.transientMessages must be a boolean, got 1/,
    'a fetch app with a bad websocket.transientMessages does not start',
  );
});
