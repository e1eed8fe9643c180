// permessage-deflate (RFC 7692) in the native WebSocket (native/src/ws_deflate.cc, websocket_compression):
// Autobahn|Testsuite's sections 12 and 13, each case named by its Autobahn number and judged as Autobahn
// does (test/helpers/autobahn.mjs), in `dedicated` and in `shared` mode, through the CLI with the echo
// example. Autobahn sends 1,000 messages per case (a performance figure); these runs send 20 per case
// (compressionCount), the case definitions (data, sizes, fragmentation, offers and the response checks) being
// Autobahn's. Then: the negotiated parameters for offers Autobahn does not make, a decompression bomb (close
// 1009, the worker's memory bounded by the limit, not by the bomb), bad compressed data and compressed
// invalid UTF-8 (1007), RSV1 without negotiation (1002), what the server compresses (not below 128 bytes, not
// with send(data, isBinary, false)), and two independent clients that offer permessage-deflate: the `ws` npm
// client and Python's websockets (Debian's python3-websockets).
import fs from 'node:fs';
import zlib from 'node:zlib';
import t from 'tap';
import WebSocket from 'ws';

import { autobahnCases, checkCase, limitCases } from './helpers/autobahn.mjs';
import { startOneWorker } from './helpers/gts.mjs';
import { OP, connect, deflateOffer, havePython, pythonClient } from './helpers/ws-client.mjs';

const MiB = 1024 * 1024;
const MODES = ['dedicated', 'shared'];
const ECHO = 'examples.websocket_echo:application';
const APP = 'test.fixtures.apps.ws_deflate:application';
const PROFILE = { timeScale: 3, compressionCount: 20, maxMessageSize: 16 * MiB, maxFragments: 0, strict: [/^6\.4\./] };

const start = startOneWorker;

t.setTimeout(600_000);

/** VmRSS/VmHWM of a process in KiB */
function mem(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]) };
}

/** a compressed message (without the 00 00 ff ff tail) that inflates to `size` zero bytes */
function bomb(size) {
  const z = zlib.deflateRawSync(Buffer.alloc(size), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
}

// Per mode: Autobahn 12.x and 13.x, then the 9.x limits with a compressed bomb, then what the server compresses.
for (const mode of MODES) {
  t.test(`Autobahn 12.x and 13.x against the native WebSocket, websocket_compression ${mode}`, async (t) => {
    const { g, port } = await start(t, ['--websocket-compression', mode, ECHO]);
    const cases = autobahnCases(PROFILE).filter((k) => k.section === 12 || k.section === 13);
    t.equal(cases.length, 216, '90 cases of section 12 and 126 of section 13');
    let passed = 0;
    for (const kase of cases) {
      if ((await checkCase(t, kase, { port, path: `/autobahn/${kase.id}` }, PROFILE)).passed) passed++;
    }
    t.comment(`${passed}/${cases.length} passed (${mode})`);
    t.notMatch(g.stderr, /Error|exited with code/, 'the worker logged no errors');
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  });

  t.test(`${mode}: a decompression bomb gets 1009 and the worker's memory stays bounded by the limit`, async (t) => {
    const { g, port, pid } = await start(t, [
      '--websocket-compression',
      mode,
      '--websocket-max-message-size',
      String(MiB),
      APP,
    ]);
    for (const kase of limitCases(MiB).filter((k) => k.offer)) await checkCase(t, kase, { port }, PROFILE);
    const before = mem(pid);
    const payload = bomb(64 * MiB); // ~64 KB that would inflate to 64 MiB
    for (let i = 0; i < 3; i++) {
      const c = await connect({ port, extensions: deflateOffer() });
      await c.sendFrame({ opcode: OP.BINARY, payload, rsv: 4 });
      await c.closed;
      t.equal(c.remoteCloseCode, 1009, `a ${payload.length}-byte bomb of 64 MiB: close 1009 (${i + 1})`);
      t.notOk(
        c.events.some((e) => e.type === 'message'),
        'nothing delivered',
      );
    }
    const after = mem(pid);
    t.ok(
      after.hwm - before.rss < 24 * 1024,
      `worker peak RSS grew ${after.hwm - before.rss} KiB over ${before.rss} KiB (< 24 MiB for three 64 MiB bombs)`,
    );
    // a message just under the limit still echoes, compressed both ways
    const c = await connect({ port, extensions: deflateOffer() });
    const big = Buffer.alloc(MiB, 'a');
    await c.sendMessage(big);
    const m = await c.next('message', 20_000);
    t.ok(m.data.equals(big) && m.compressed, '1 MiB (exactly the limit) echoes compressed');
    c.sendClose(1000);
    await c.closed;
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  });

  t.test(`${mode}: what the server compresses`, async (t) => {
    const { g, port } = await start(t, ['--websocket-compression', mode, APP]);
    const c = await connect({ port, extensions: deflateOffer() });
    const text = 'compress me '.repeat(100);
    for (const [msg, compressed, what] of [
      [text, true, '1,200 bytes of text: compressed'],
      ['short', false, '5 bytes: sent uncompressed (below 128)'],
      [`plain:${text}`, false, 'send(data, isBinary, false): uncompressed'],
      ['', false, 'an empty message'],
      [text, true, 'the same text again (context takeover in dedicated mode)'],
    ]) {
      await c.sendMessage(msg);
      const m = await c.next('message');
      t.equal(m.data.toString(), msg, `echo: ${what}`);
      t.equal(m.compressed, compressed, what);
    }
    // a client message sent uncompressed (RSV1 = 0) is fine too
    await c.sendMessage(text, { compress: false });
    t.equal(
      (await c.next('message')).data.toString(),
      text,
      'an uncompressed client message on a compressed connection',
    );
    // publish: every subscriber gets the compressed message (once deflated in shared mode)
    const c2 = await connect({ port, extensions: deflateOffer() });
    const c3 = await connect({ port });
    const pub = `publish:${'to everyone '.repeat(40)}`;
    await c.sendMessage(pub);
    const [m1, m2, m3] = await Promise.all([c.next('message'), c2.next('message'), c3.next('message')]);
    t.ok(m1.data.toString() === pub && m2.data.toString() === pub && m3.data.toString() === pub, 'published to all');
    t.ok(m1.compressed && m2.compressed, 'compressed to the subscribers that negotiated it');
    t.notOk(m3.compressed, 'and plain to the one that did not');
    t.same(c.protocolErrors, [], 'no protocol errors seen by the client');
    for (const x of [c, c2, c3]) x.sendClose(1000);
    await Promise.all([c.closed, c2.closed, c3.closed]);
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  });
}

/** the Sec-WebSocket-Extensions the server answers to `offer` ('' when none) */
async function negotiated(port, offer) {
  const c = await connect({ port, extensions: offer });
  const ext = c.response.headers['sec-websocket-extensions'] ?? '';
  c.socket.destroy();
  return ext;
}

t.test('negotiation: offers skipped, window bits, shared mode answers no context takeover', async (t) => {
  const d = await start(t, ['--websocket-compression', 'dedicated', '--websocket-compression-window-bits', '12', APP]);
  const s = await start(t, ['--websocket-compression', 'shared', APP]);
  const off = await start(t, [APP]);
  const cases = [
    [d, 'permessage-deflate', 'permessage-deflate; server_max_window_bits=12'],
    [
      d,
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    ],
    [d, 'permessage-deflate; client_max_window_bits=10', 'permessage-deflate; server_max_window_bits=12'],
    [d, 'permessage-deflate; server_max_window_bits=9', 'permessage-deflate; server_max_window_bits=9'],
    [d, 'permessage-deflate; server_max_window_bits="14"', 'permessage-deflate; server_max_window_bits=12'],
    [
      d,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12',
    ],
    // skipped offers: window 8 (zlib cannot deflate raw with it), an unknown parameter, a duplicate, a bad value
    [
      d,
      'permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover',
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=12',
    ],
    [d, 'permessage-deflate; x_custom, permessage-deflate', 'permessage-deflate; server_max_window_bits=12'],
    [d, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', ''],
    [d, 'permessage-deflate; server_max_window_bits=16', ''],
    [d, 'permessage-deflate; server_max_window_bits=09', ''],
    [d, 'permessage-deflate; server_max_window_bits', ''],
    [d, 'x-webkit-deflate-frame', ''],
    [
      s,
      'permessage-deflate; client_max_window_bits',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    [
      s,
      'permessage-deflate; server_max_window_bits=10',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10',
    ],
    [off, 'permessage-deflate; client_max_window_bits', ''],
  ];
  for (const [srv, offer, want] of cases) {
    const mode = srv === d ? 'dedicated, window bits 12' : srv === s ? 'shared' : 'off';
    t.equal(await negotiated(srv.port, offer), want, `${mode}: "${offer}" -> "${want}"`);
  }
  // ws.extensions in the application is the negotiated value
  const c = await connect({ port: d.port, extensions: 'permessage-deflate' });
  await c.sendMessage('extensions?');
  t.equal((await c.next('message')).data.toString(), 'permessage-deflate; server_max_window_bits=12', 'ws.extensions');
  c.sendClose(1000);
  await c.closed;
  for (const srv of [d, s, off]) {
    srv.g.kill('SIGTERM');
    t.equal((await srv.g.exit).code, 0);
  }
});

t.test('bad compressed data and compressed invalid UTF-8: 1007; RSV1 without negotiation: 1002', async (t) => {
  const { g, port } = await start(t, ['--websocket-compression', 'dedicated', APP]);
  // BTYPE 11 is reserved: zlib's "invalid block type"
  let c = await connect({ port, extensions: deflateOffer() });
  await c.sendFrame({ opcode: OP.BINARY, payload: Buffer.from([0xff, 0xff, 0xff, 0xff]), rsv: 4 });
  await c.closed;
  t.equal(c.remoteCloseCode, 1007, 'bad deflate data: close 1007');
  // bad data after good messages, in the second frame of a fragmented message
  c = await connect({ port, extensions: deflateOffer() });
  await c.sendMessage('hello '.repeat(50));
  t.equal((await c.next('message')).data.toString(), 'hello '.repeat(50), 'a good message first');
  const good = zlib.deflateRawSync(Buffer.from('x'.repeat(300)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  await c.sendFrame({ opcode: OP.TEXT, payload: good.subarray(0, 4), rsv: 4, fin: false });
  await c.sendFrame({ opcode: OP.CONT, payload: Buffer.from([0x07, 0xff, 0x00, 0x13]) });
  await c.closed;
  t.equal(c.remoteCloseCode, 1007, 'bad data in a continuation frame: close 1007');
  // valid deflate of invalid UTF-8 in a text message
  c = await connect({ port, extensions: deflateOffer() });
  const bad = zlib.deflateRawSync(Buffer.from([0x61, 0xc0, 0x80, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  await c.sendFrame({ opcode: OP.TEXT, payload: bad.subarray(0, bad.length - 4), rsv: 4 });
  await c.closed;
  t.equal(c.remoteCloseCode, 1007, 'invalid UTF-8 after inflation: close 1007');
  // compression on, but the client did not offer it: RSV1 still fails the connection
  c = await connect({ port });
  await c.sendFrame({ opcode: OP.TEXT, payload: good.subarray(0, good.length - 4), rsv: 4 });
  await c.closed;
  t.equal(c.remoteCloseCode, 1002, 'RSV1 without permessage-deflate: close 1002');
  // RSV1 on a continuation frame with the extension negotiated: 1002 (RFC 7692 §6.1)
  c = await connect({ port, extensions: deflateOffer() });
  await c.sendFrame({ opcode: OP.TEXT, payload: good.subarray(0, 4), rsv: 4, fin: false });
  await c.sendFrame({ opcode: OP.CONT, payload: good.subarray(4, good.length - 4), rsv: 4 });
  await c.closed;
  t.equal(c.remoteCloseCode, 1002, 'RSV1 on a continuation frame: close 1002');
  t.notMatch(g.stderr, /Error|exited with code/, 'the worker logged no errors');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('the ws npm client (permessage-deflate on) gets compressed echoes', async (t) => {
  for (const mode of MODES) {
    const { g, port } = await start(t, ['--websocket-compression', mode, ECHO]);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
    const messages = [];
    ws.on('message', (d, isBinary) => messages.push({ d, isBinary }));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    t.match(ws.extensions, /^permessage-deflate/, `${mode}: negotiated "${ws.extensions}"`);
    const text = JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => ({ i, name: `item ${i}` })) });
    const bin = Buffer.alloc(300 * 1024);
    for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) & 0xff;
    ws.send(text);
    ws.send(bin);
    ws.send('tiny');
    const end = Date.now() + 20_000;
    while (messages.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    t.equal(messages.length, 3, `${mode}: three echoes`);
    t.ok(messages[0]?.d.toString() === text && !messages[0].isBinary, `${mode}: ${text.length} bytes of JSON text`);
    t.ok(messages[1]?.d.equals(bin) && messages[1].isBinary, `${mode}: 300 KiB binary`);
    t.equal(messages[2]?.d.toString(), 'tiny', `${mode}: a short message`);
    const closed = new Promise((r) => ws.on('close', (code) => r(code)));
    ws.close(1000);
    t.equal(await closed, 1000, `${mode}: close handshake`);
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  }
});

t.test('Python websockets (its default permessage-deflate offer) gets compressed echoes', async (t) => {
  if (!havePython(t)) return;
  for (const mode of MODES) {
    const { g, port } = await start(t, ['--websocket-compression', mode, ECHO]);
    const r = await pythonClient(t, `ws://127.0.0.1:${port}/py`);
    t.match(
      r.extensions,
      /^permessage-deflate\b/,
      `${mode}: negotiated "${r.extensions}" with websockets ${r.version}`,
    );
    t.same(r.echoes, [true, true, true, true], `${mode}: text, binary, 1 MiB text and 64 KiB binary echoed`);
    t.equal(r.pong, true, 'ping answered');
    t.same(r.close, [1000, 'bye'], 'close handshake');
    t.equal(r.plain_extensions, null, 'no extension when none is offered');
    t.equal(r.too_big, 1009, 'a message of 16 MiB + 1 gets close 1009');
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  }
});
