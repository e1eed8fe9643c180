// Issue 16's native WebSocket with real clients and the application API (environ['gunicorn.websocket']):
// the `ws` npm client and Python's websockets (Debian's python3-websockets, /usr/bin/python3) against the
// echo example; the handshake answers the core gives itself (400, 426); the API: subprotocol, extra 101
// headers, user data, a throwing handler (1011), ws.end(), ws.close(), send() results under backpressure,
// an async upgrade; graceful stop (close 1001); worker_connections counting WebSocket connections.
import crypto from 'node:crypto';
import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';

import { sleep, until, startOneWorker } from './helpers/gts.mjs';
import { makeCerts, tlsArgs } from './helpers/tls.mjs';
import { havePython, openWs as open, pythonClient, rawRequest, upgradeRequest, waitFor } from './helpers/ws-client.mjs';

const start = startOneWorker;

async function closes(port) {
  const r = await fetch(`http://127.0.0.1:${port}/closes`);
  return r.json();
}

t.test('the ws client against the echo example: text, binary, 1 MiB, ping, close handshake', async (t) => {
  const { g, port } = await start(t, ['--access-logfile', '-', 'examples.websocket_echo:application']);
  const { ws, messages, closed } = await open(`ws://127.0.0.1:${port}/any/path?q=1`);
  const big = crypto.randomBytes(1 << 20);
  ws.send('héllo κόσμε');
  ws.send(Buffer.from([0, 1, 254, 255]));
  ws.send(big);
  ws.send('x'.repeat(70000));
  let pong = null;
  ws.on('pong', (d) => (pong = d.toString()));
  ws.ping('are you there');
  t.ok(await waitFor(() => messages.length === 4 && pong !== null), 'four echoes and a pong');
  t.same(
    messages.map((m) => m.isBinary),
    [false, true, true, false],
    'text as text, binary as binary',
  );
  t.equal(messages[0].data.toString(), 'héllo κόσμε');
  t.same([...messages[1].data], [0, 1, 254, 255]);
  t.ok(messages[2].data.equals(big), '1 MiB binary echoed intact');
  t.equal(messages[3].data.length, 70000);
  t.equal(pong, 'are you there', 'auto-pong with the ping payload');
  ws.close(1000, 'bye');
  t.same(await closed, { code: 1000, reason: 'bye' }, 'close code and reason echoed');
  // a plain request gets the app's 426
  const r = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(r.status, 426);
  t.equal(r.headers.get('sec-websocket-version'), '13');
  await r.text();
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.match(g.stdout, /"GET \/any\/path\?q=1 HTTP\/1\.1" 101 /, 'the upgrade request is logged with status 101');
});

t.test('Python websockets against the echo example', async (t) => {
  if (!havePython(t)) return;
  const { g, port } = await start(t, ['examples.websocket_echo:application']);
  const r = await pythonClient(t, `ws://127.0.0.1:${port}/py`);
  t.equal(r.extensions, null, `no extension negotiated with websockets ${r.version} (no permessage-deflate yet)`);
  t.same(r.echoes, [true, true, true, true], 'text, binary, 1 MiB text and 64 KiB binary echoed');
  t.equal(r.pong, true, 'ping answered');
  t.same(r.close, [1000, 'bye'], 'close handshake');
  t.equal(r.plain_extensions, null);
  t.equal(r.too_big, 1009, 'a message of 16 MiB + 1 gets close 1009');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('the core answers broken handshakes itself: 400, and 426 for another version', async (t) => {
  const { g, port } = await start(t, ['examples.websocket_echo:application']);
  const ask = (opts) => rawRequest(port, upgradeRequest({ path: '/ws', ...opts }));
  const badKey = await ask({ key: 'short==' });
  t.match(badKey, /^HTTP\/1\.1 400 /, 'a bad key: 400');
  const noKey = await ask({ key: null });
  t.match(noKey, /^HTTP\/1\.1 400 /, 'no key: 400');
  const post = await ask({ method: 'POST', headers: { 'Content-Length': '0' } });
  t.match(post, /^HTTP\/1\.1 400 /, 'POST: 400');
  const v8 = await ask({ version: '8' });
  t.match(v8, /^HTTP\/1\.1 426 Upgrade Required\r\n/, 'version 8: 426');
  t.match(v8, /\r\nSec-WebSocket-Version: 13\r\n/i, 'naming version 13');
  t.match(g.stderr, /GTS_ERR_BAD_WEBSOCKET_HANDSHAKE/);
  t.match(g.stderr, /GTS_ERR_WEBSOCKET_VERSION/);
  // Upgrade: websocket without Connection: upgrade is no handshake: an ordinary request (the app's 426)
  const plain = await ask({ connection: 'close' });
  t.match(plain, /^HTTP\/1\.1 426 .*\r\n[^]*this is a WebSocket echo server/, 'the app decides');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('the API: subprotocol, 101 headers, user data, end(), close(), a throwing handler, async upgrade', async (t) => {
  const { g, port } = await start(t, ['test.fixtures.apps.ws_api:application']);
  const base = `ws://127.0.0.1:${port}`;
  {
    const { ws, messages, closed } = await open(`${base}/proto`, ['chat', 'superchat']);
    t.equal(ws.protocol, 'superchat', 'the chosen subprotocol');
    t.equal(ws.upgradeHeaders['x-extra'], 'yes', 'an extra header in the 101');
    t.ok(await waitFor(() => messages.length === 1));
    t.same(JSON.parse(messages[0].data.toString()), {
      data: { path: '/proto', user: 'u1' },
      protocol: 'superchat',
      remote: '127.0.0.1',
    });
    ws.close(4001, 'client done');
    t.same(await closed, { code: 4001, reason: 'client done' });
  }
  {
    const r = await fetch(`http://127.0.0.1:${port}/closes`);
    t.equal(r.status, 200);
    await r.text();
    const c = await rawRequest(
      port,
      upgradeRequest({ path: '/badproto', headers: { 'Sec-WebSocket-Protocol': 'chat' } }),
    );
    t.match(c, /^HTTP\/1\.1 400 [^]*TypeError: gunicorn.websocket\(\): the client did not offer the subprotocol/);
  }
  {
    const { ws, closed } = await open(`${base}/throw`);
    ws.send('boom');
    t.equal((await closed).code, 1011, 'a throwing handler: close 1011');
    t.match(g.stderr, /Error handling WebSocket[^]*handler failed on purpose/, 'logged');
  }
  {
    const { ws, messages, closed } = await open(`${base}/end`);
    ws.send('please end');
    t.same(await closed, { code: 4000, reason: 'done' }, "the server's close handshake");
    t.same(messages, [], 'nothing sent after end()');
  }
  {
    const { ws, closed } = await open(`${base}/close`);
    ws.send('drop me');
    t.equal((await closed).code, 1006, 'ws.close(): the connection drops');
  }
  {
    const { ws, messages, closed } = await open(`${base}/async`);
    ws.send('after an await');
    t.ok(await waitFor(() => messages.length === 1));
    t.equal(messages[0].data.toString(), 'after an await');
    ws.close();
    await closed;
  }
  await sleep(100);
  const seen = await closes(port);
  const by = (p) => seen.filter((c) => c.path === p);
  t.same(by('/proto'), [{ path: '/proto', code: 4001, reason: 'client done' }], "the app's close: the peer's code");
  t.same(by('/throw'), [{ path: '/throw', code: 1011, reason: 'internal error' }], 'a throwing handler: 1011 echoed');
  t.equal(by('/end')[0]?.code, 4000, 'end(): the echoed code');
  t.same(by('/close'), [{ path: '/close', code: 1006, reason: '' }], 'close(): 1006');
  t.equal(by('/async')[0]?.code, 1005, 'a close without a code: 1005');
  t.notMatch(g.stderr, /exited with code/);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('a message an app keeps stays intact: views into slabs that are never reused', async (t) => {
  const { g, port } = await start(t, ['test.fixtures.apps.ws_api:application']);
  const { ws, messages, closed } = await open(`ws://127.0.0.1:${port}/keep`);
  // small ones share slabs (64 KiB each, so several slabs), big ones (> 16 KiB) get their own; some
  // fragmented (assembled natively, then copied)
  const sent = [];
  for (let i = 0; i < 3000; i++) {
    const size = i % 500 === 7 ? 20000 + i : i % 97 === 3 ? 16384 : 1 + (i % 200);
    const b = crypto.randomBytes(size);
    sent.push(b);
    if (i % 61 === 5) (ws.send(b, { fin: false }), ws.send(Buffer.alloc(0), { fin: true }));
    else ws.send(b, { binary: true });
  }
  ws.send('check');
  t.ok(await waitFor(() => messages.length === 1, 20000), 'the check answered');
  const h = crypto.createHash('sha256');
  for (const b of sent) h.update(b);
  t.same(JSON.parse(messages[0].data.toString()), { count: sent.length, sha: h.digest('hex') });
  ws.close();
  await closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('backpressure: a client that never reads gets send() -1 then 0; drain once it reads', async (t) => {
  const { g, port } = await start(t, [
    '--websocket-max-backpressure',
    String(2 << 20),
    'test.fixtures.apps.ws_api:application',
  ]);
  const { ws, closed } = await open(`ws://127.0.0.1:${port}/flood`);
  ws.pause(); // stop reading the socket
  ws.send('go');
  let r;
  for (let i = 0; i < 50 && r === undefined; i++) {
    await sleep(100);
    r = (await closes(port)).find((c) => c.path === '/flood-results');
  }
  t.ok(r, 'the app sent 40 × 256 KiB');
  const results = r.results.slice(0, 40);
  t.ok(results.includes(-1), `some sends said -1 (queued over 64 KiB): ${results.join(' ')}`);
  t.ok(results.includes(0), 'sends above websocket_max_backpressure dropped (0)');
  const firstDrop = results.indexOf(0);
  t.ok(
    firstDrop > 0 && results.slice(firstDrop).every((x) => x === 0),
    'queued (-1) until the limit, dropped (0) from then on',
  );
  t.ok(r.results[40] > 64 * 1024, `buffered amount ${r.results[40]} reported`);
  t.ok(r.results[40] < (2 << 20) + 2 * 256 * 1024, 'bounded by the backpressure limit plus one message');
  ws.resume();
  let drained = false;
  for (let i = 0; i < 50 && !drained; i++) {
    await sleep(100);
    drained = (await closes(port)).some((c) => c.path === '/flood-drain');
  }
  t.ok(drained, 'drain(ws) once everything queued left');
  ws.close();
  await closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('big and small sends interleaved arrive whole and in order, to a reading and to a paused client', async (t) => {
  const { SEQUENCE_SIZES } = await import('./fixtures/apps/ws_api.mjs');
  const { g, port } = await start(t, ['test.fixtures.apps.ws_api:application']);
  for (const paused of [false, true]) {
    const { ws, messages, closed } = await open(`ws://127.0.0.1:${port}/sequence`);
    // paused: the kernel takes part of a big frame, the rest is queued behind it (and the small ones after)
    if (paused) ws.pause();
    ws.send('go');
    if (paused) {
      await sleep(300);
      ws.resume();
    }
    t.ok(await waitFor(() => messages.some((m) => !m.isBinary), 20000), `'done' arrived (paused: ${paused})`);
    const bin = messages.filter((m) => m.isBinary);
    t.equal(bin.length, SEQUENCE_SIZES.length * 8, 'every message arrived');
    let bad = -1;
    for (let i = 0; i < bin.length && bad < 0; i++) {
      const d = bin[i].data;
      const want = Buffer.alloc(SEQUENCE_SIZES[i % SEQUENCE_SIZES.length], i % 251);
      if (want.length >= 4) want.writeUInt32BE(i, 0);
      if (!d.equals(want)) bad = i;
    }
    t.equal(bad, -1, 'each message has its size and its bytes, in the order sent');
    t.equal(messages[messages.length - 1].data.toString(), 'done', "'done' came last");
    ws.close();
    await closed;
  }
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('graceful stop: open WebSockets get close 1001, the worker exits', async (t) => {
  const { g, port } = await start(t, ['examples.websocket_echo:application']);
  const a = await open(`ws://127.0.0.1:${port}/a`);
  const b = await open(`ws://127.0.0.1:${port}/b`);
  g.kill('SIGTERM');
  const [ca, cb] = await Promise.all([a.closed, b.closed]);
  t.same(ca, { code: 1001, reason: 'server shutting down' });
  t.equal(cb.code, 1001);
  t.equal((await g.exit).code, 0);
});

t.test('worker_connections counts WebSocket connections', async (t) => {
  const { g, port } = await start(t, ['--worker-connections', '2', 'examples.websocket_echo:application']);
  const a = await open(`ws://127.0.0.1:${port}/a`);
  const b = await open(`ws://127.0.0.1:${port}/b`);
  let third = null;
  const c = open(`ws://127.0.0.1:${port}/c`).then((x) => (third = x));
  await sleep(700);
  t.equal(third, null, 'a third connection waits while two WebSockets hold the slots');
  a.ws.close();
  await a.closed;
  await c;
  t.ok(third, 'served once one closed');
  third.ws.close();
  b.ws.close();
  await Promise.all([third.closed, b.closed]);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test("a 101 through start_response is refused: 500, the log names environ['gunicorn.websocket']", async (t) => {
  const { g, port } = await start(t, ['test.fixtures.apps.ws_api:switching']);
  const r = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(r.status, 500);
  await r.text();
  t.ok(await waitFor(() => /use environ\['gunicorn\.websocket'\] to accept a WebSocket/.test(g.stderr)), 'logged');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('websocket_ping_interval: a silent peer gets pings; one that never answers is closed (1006)', async (t) => {
  const { g, port } = await start(t, ['--websocket-ping-interval', '0.5', 'test.fixtures.apps.ws_api:application']);
  // the ws client answers pings by itself: it stays open
  const alive = await open(`ws://127.0.0.1:${port}/async`);
  let pings = 0;
  alive.ws.on('ping', () => pings++);
  // a raw client that completes the handshake and then never sends a byte
  const t0 = Date.now();
  const raw = net.connect(port, '127.0.0.1');
  let got = Buffer.alloc(0);
  raw.on('data', (d) => (got = Buffer.concat([got, d])));
  raw.on('error', () => {});
  const rawClosed = new Promise((r) => raw.on('close', r));
  raw.write(upgradeRequest({ path: '/end' }));
  await rawClosed;
  const took = Date.now() - t0;
  t.match(got.toString('latin1'), /^HTTP\/1\.1 101 /, 'handshake done');
  t.ok(got.includes(Buffer.from([0x89, 0x00])), 'it was pinged');
  t.ok(took >= 900 && took < 4000, `closed after two intervals without an answer (${took} ms)`);
  // a ping is due once a connection has been silent for an interval, found by a sweep every interval: the
  // second one may come up to two intervals after the first (longer on a loaded machine)
  await until(() => pings >= 2, { timeoutMs: 10000, everyMs: 100 });
  t.ok(pings >= 2, `the answering client was pinged (${pings}) and is still open`);
  t.equal(alive.ws.readyState, WebSocket.OPEN);
  const seen = await closes(port);
  t.ok(
    seen.some((c) => c.code === 1006),
    "the app's close handler got 1006 for the deaf one",
  );
  alive.ws.close();
  await alive.closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('wss://: the same WebSocket over TLS (certfile), with the ws client', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.cleanup());
  const { g, port } = await start(t, [...tlsArgs(certs), 'examples.websocket_echo:application']);
  const { ws, messages, closed } = await open(`wss://127.0.0.1:${port}/tls`, undefined, { rejectUnauthorized: false });
  const big = crypto.randomBytes(300_000);
  ws.send('over tls');
  ws.send(big);
  t.ok(await waitFor(() => messages.length === 2), 'both echoed');
  t.equal(messages[0].data.toString(), 'over tls');
  t.ok(messages[1].data.equals(big), '300 KB binary echoed intact');
  ws.close(1000, 'tls bye');
  t.same(await closed, { code: 1000, reason: 'tls bye' }, 'close handshake over TLS');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});
