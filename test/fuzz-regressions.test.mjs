// Fuzz findings that a client can reach over a socket, replayed against serve()
// whole, one byte at a time and in random pieces: the answer must not depend on
// how TCP split the bytes. The raw inputs are also in test/native/regressions/
// (replayed against the pure parser by test/native-parser.test.mjs).
import t from 'tap';

import { exchange } from './helpers/client.mjs';
import { echoApp, startServer } from './helpers/server.mjs';

async function everySplit(t, port, raw, check) {
  for (const pieces of ['whole', 1, 'random']) {
    const r = await exchange(port, raw, { pieces, expect: 1, settleMs: 100, timeoutMs: 3000 });
    check(r, `[${pieces}]`);
  }
}

t.test('over-long header line with a bare CR: 431 however the bytes arrive', async (t) => {
  // test/native/regressions/split-field-limit-vs-bare-cr.bin: was 400 (bare CR)
  // when the line arrived whole, 431 (too long) when it arrived in pieces.
  const { port } = await startServer(t, echoApp, { limit_request_field_size: 80 });
  const raw = `GET / HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(100)}\rb\r\n\r\n`;
  await everySplit(t, port, raw, (r, label) => {
    t.equal(r.responses[0]?.status, 431, `${label} 431`);
    t.equal(r.responses.length, 1, `${label} one answer`);
  });
});

t.test('over-long request line with a bare CR: one verdict however the bytes arrive', async (t) => {
  // test/native/regressions/split-limit-vs-bare-cr.bin (same status, 400, but
  // the logged reason depended on the split; now always LimitRequestLine).
  const { port } = await startServer(t, echoApp, { limit_request_line: 64 });
  const raw = `GET /${'a'.repeat(100)}\r HTTP/1.1\r\nHost: x\r\n\r\n`;
  const bodies = new Set();
  await everySplit(t, port, raw, (r, label) => {
    t.equal(r.responses[0]?.status, 400, `${label} 400`);
    bodies.add(r.responses[0]?.body.toString('latin1'));
  });
  t.equal(bodies.size, 1, 'the same error page every time');
});

t.test('endless BWS after a chunk size is refused, not consumed for ever', async (t) => {
  // test/native/regressions/chunk-size-endless-bws.bin: the spaces between a
  // chunk size and ';' were not counted toward the size line's bound.
  const { port } = await startServer(t, echoApp, { limit_request_field_size: 80 });
  const raw = `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5${' '.repeat(200)};x\r\nhello\r\n0\r\n\r\n`;
  const r = await exchange(port, raw, { expect: 1, settleMs: 100, timeoutMs: 3000 });
  const finals = r.responses.filter((x) => x.status >= 200);
  t.equal(finals.length, 1, 'one answer');
  t.equal(finals[0]?.status, 400, '400');
  t.ok(r.closed, 'connection closed');
});
