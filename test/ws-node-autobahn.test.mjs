// Autobahn|Testsuite's cases 1–7, 9 (and limits as configured) and 12–13 (permessage-deflate), each named by
// its Autobahn number (test/helpers/autobahn.mjs), against the WebSocket path that gunicorn-ts has today:
// `-k node` serving an http.Server on which the `ws` library handles the upgrade, over real sockets; plus
// Python's websockets (Debian's python3-websockets) against the same server, and a check that the cases can
// fail (servers that break the protocol on purpose).
//
// The server under test is SERVER below. Issue 16's native WebSocket runs the same table in
// test/websocket-autobahn.test.mjs (sections 1–7, 9) and test/websocket-deflate.test.mjs (12–13, in dedicated
// and shared mode); pointing SERVER at SERVERS.native runs all 516 here against it too.
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { WebSocketServer } from 'ws';

import {
  SECTIONS,
  autobahnCases,
  checkCase,
  checkExactlyAtLimit,
  describeResult as describe,
  limitCases,
  runCase,
  runSections,
} from './helpers/autobahn.mjs';
import { startOneWorker } from './helpers/gts.mjs';
import { acceptKey, havePython, pythonClient } from './helpers/ws-client.mjs';

const MiB = 1024 * 1024;

/**
 * Each server: how to start it (gunicorn-ts arguments) for the main cases and for section 9's limits as
 * configured (a 1 MiB message limit), and its profile, i.e. what it may legitimately do differently from the
 * design's native server (docs/design/websocket.md §5):
 *   maxMessageSize  configured message limit (9.x above it: close 1009 as soon as the header crosses it)
 *   maxFragments    fragments per message the server accepts (0: no limit; above: close 1008)
 *   strict          case ids where only Autobahn's OK counts, not its NON-STRICT
 */
const SERVERS = {
  // `ws` 8 on node:http under -k node (test/fixtures/apps/node/ws_autobahn.mjs): perMessageDeflate on,
  // maxPayload 16 MiB (the design's default limit). It validates UTF-8 at the end of a message, so 6.4.x
  // (fail fast on invalid UTF-8 inside a message) are Autobahn's NON-STRICT; its maxFragments default
  // (16,384) closes 9.3.1/9.4.1 (65,536 fragments of 64 B) with 1008.
  'ws-node': {
    args: ['-k', 'node', 'test.fixtures.apps.node.ws_autobahn:server'],
    limitedArgs: ['-k', 'node', 'test.fixtures.apps.node.ws_autobahn:limited'],
    profile: { maxMessageSize: 16 * MiB, maxFragments: 16384, strict: [] },
  },
  // Issue 16's native server (design §5): the echo example with compression on and the
  // default 16 MiB limit; fail-fast UTF-8 is required (6.4.x must be Autobahn's OK).
  native: {
    args: ['--websocket-compression', 'shared', 'examples.websocket_echo:application'],
    limitedArgs: [
      '--websocket-compression',
      'shared',
      '--websocket-max-message-size',
      String(MiB),
      'examples.websocket_echo:application',
    ],
    profile: { maxMessageSize: 16 * MiB, maxFragments: 0, strict: [/^6\.4\./] },
  },
};
const SERVER = SERVERS['ws-node'];
const PROFILE = { timeScale: 3, compressionCount: 20, ...SERVER.profile };

const start = startOneWorker;

const cases = autobahnCases(PROFILE);

t.setTimeout(900_000);

t.test('Autobahn cases 1–7, 9, 12, 13 against gunicorn-ts -k node + ws', async (t) => {
  const { g, port } = await start(t, SERVER.args);
  const counts = await runSections(t, port, cases, SECTIONS, PROFILE);
  t.equal(counts.cases, 516, 'all 516 numbered cases ran');
  t.comment(
    `${counts.passed}/${counts.cases} passed; NON-STRICT: ${counts.nonStrict.join(' ') || 'none'}; ` +
      `INFORMATIONAL: ${counts.informational.join(' ') || 'none'}`,
  );
  t.notMatch(g.stderr, /Error|exited with code/, 'the worker logged no errors');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('Autobahn 9.x with the limits as configured (1 MiB): close 1009 before the message is through', async (t) => {
  const { g, port } = await start(t, SERVER.limitedArgs);
  for (const kase of limitCases(MiB)) await checkCase(t, kase, { port }, PROFILE);
  // and a message just under the limit still echoes
  await checkExactlyAtLimit(t, port, PROFILE);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('Python websockets against the same server: compression, big messages, ping, close, 1009', async (t) => {
  if (!havePython(t)) return;
  const { g, port } = await start(t, SERVER.args);
  const r = await pythonClient(t, `ws://127.0.0.1:${port}/py`);
  t.match(r.extensions, /^permessage-deflate\b/, `compression negotiated with websockets ${r.version}`);
  t.same(r.echoes, [true, true, true, true], 'text, binary, 1 MiB text and 64 KiB binary echoed');
  t.equal(r.pong, true, 'ping answered');
  t.same(r.close, [1000, 'bye'], 'close handshake');
  t.equal(r.plain_extensions, null, 'no extension when none is offered');
  t.equal(r.too_big, 1009, 'a message of 16 MiB + 1 gets close 1009');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

// The cases must be able to fail: servers that get the protocol wrong on purpose.
t.test('the cases fail against servers that break the protocol', async (t) => {
  const wsServer = async (opts) => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, ...opts });
    wss.on('connection', (ws) => {
      ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
      ws.on('error', () => {});
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const c of wss.clients) c.terminate();
      server.close();
    });
    return server.address().port;
  };
  // 1. `ws` told not to validate UTF-8 (skipUTF8Validation): the invalid-UTF-8 cases must fail
  const wsPort = await wsServer({ skipUTF8Validation: true });
  const byId = new Map(autobahnCases(PROFILE).map((k) => [k.id, k]));
  for (const id of ['6.3.1', '6.8.1', '6.20.1']) {
    const r = await runCase(byId.get(id), { port: wsPort }, PROFILE);
    t.notOk(r.passed, `${id} fails when the server skips UTF-8 validation (${describe(r)})`);
  }
  t.ok((await runCase(byId.get('6.5.1'), { port: wsPort }, PROFILE)).passed, 'valid UTF-8 still passes');

  // 2. a raw server that completes the handshake and then ignores every frame (never echoes, never closes)
  const mute = net.createServer((s) => {
    let head = '';
    s.on('data', (d) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
      if (head.includes('\r\n\r\n')) {
        s.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
        );
      }
    });
    s.on('error', () => {});
  });
  await new Promise((r) => mute.listen(0, '127.0.0.1', r));
  t.teardown(() => mute.close());
  const mutePort = mute.address().port;
  for (const id of ['1.1.1', '2.1', '3.1', '5.18', '7.3.1', '7.9.1']) {
    const r = await runCase(byId.get(id), { port: mutePort }, { ...PROFILE, timeScale: 0.5 });
    t.notOk(r.passed, `${id} fails against a server that ignores frames (${describe(r)})`);
  }
  // 3. strictness: the native profile demands fail-fast UTF-8 (6.4.x OK), which `ws` does not give
  const strict = { ...PROFILE, strict: [/^6\.4\./] };
  const plainPort = await wsServer({});
  t.ok((await runCase(byId.get('6.4.1'), { port: plainPort }, PROFILE)).passed, '6.4.1 passes as NON-STRICT');
  const r = await runCase(byId.get('6.4.1'), { port: plainPort }, strict);
  t.notOk(r.passed, `6.4.1 under a strict profile fails for a server that validates at message end (${describe(r)})`);
});
