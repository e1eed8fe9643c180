// Issue 16's native WebSocket (native/src/ws_*.cc, environ['gunicorn.websocket']) against Autobahn|Testsuite's
// cases, each named by its Autobahn number (test/helpers/autobahn.mjs, the same table and raw-socket client,
// test/helpers/ws-client.mjs, that test/ws-node-autobahn.test.mjs runs against `-k node` + the `ws` library):
// sections 1–7 and 9, and section 9's limits as configured (websocket_max_message_size 1 MiB: close 1009 as
// soon as a header crosses it). Fail-fast UTF-8 is required (6.4.x must be Autobahn's OK, not NON-STRICT). The
// server is the echo example through the CLI, with websocket_compression at its default (off): a
// permessage-deflate offer gets a 101 without the extension. Sections 12–13 (permessage-deflate) run in
// test/websocket-deflate.test.mjs.
import t from 'tap';

import {
  SECTIONS,
  autobahnCases,
  checkCase,
  checkExactlyAtLimit,
  limitCases,
  runSections,
} from './helpers/autobahn.mjs';
import { startOneWorker } from './helpers/gts.mjs';
import { connect, deflateOffer } from './helpers/ws-client.mjs';

const MiB = 1024 * 1024;
const APP = 'examples.websocket_echo:application';
const PROFILE = { timeScale: 3, compressionCount: 20, maxMessageSize: 16 * MiB, maxFragments: 0, strict: [/^6\.4\./] };

const start = startOneWorker;

const sections = SECTIONS.filter(([, n]) => n < 12); // 12–13: test/websocket-deflate.test.mjs

t.setTimeout(900_000);

t.test('Autobahn cases 1–7 and 9 against the native WebSocket', async (t) => {
  const { g, port } = await start(t, [APP]);
  const counts = await runSections(t, port, autobahnCases(PROFILE), sections, PROFILE);
  t.equal(counts.cases, 300, 'all 300 numbered cases of sections 1–7 and 9 ran');
  t.comment(`${counts.passed}/${counts.cases} passed; NON-STRICT: ${counts.nonStrict.join(' ') || 'none'}`);
  t.notMatch(g.stderr, /Error|exited with code/, 'the worker logged no errors');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('Autobahn 9.x with websocket_max_message_size 1 MiB: close 1009 before the message is through', async (t) => {
  const { g, port } = await start(t, ['--websocket-max-message-size', String(MiB), APP]);
  // (the compressed bomb: test/websocket-deflate.test.mjs)
  const cases = limitCases(MiB).filter((k) => !k.offer);
  t.equal(cases.length, 2, '9.1.4 and 9.3.1 with the limit');
  for (const kase of cases) await checkCase(t, kase, { port }, PROFILE);
  await checkExactlyAtLimit(t, port, PROFILE);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('websocket_compression off (the default): a permessage-deflate offer is declined', async (t) => {
  const { g, port } = await start(t, [APP]);
  const c = await connect({ port, extensions: deflateOffer() });
  t.same(c.extensions, [], 'no Sec-WebSocket-Extensions in the 101');
  c.socket.destroy();
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});
