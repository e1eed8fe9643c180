// Request smuggling and response splitting, beyond the corpus. Every attack is
// answered with a 4xx/501 and Connection: close, and never reaches the app.
import t from 'tap';

import { exchange, request } from './helpers/client.mjs';
import { startServer } from './helpers/server.mjs';

let calls = 0;
const app = async (environ, start_response) => {
  calls++;
  const body = await environ['wsgi.input'].read();
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [
    `${environ.REQUEST_METHOD} ${environ.RAW_URI} ${body.length} host=${environ.HTTP_HOST ?? '-'} cl=${environ.CONTENT_LENGTH ?? '-'}`,
  ];
};

const { port } = await startServer(t, app);

/** a raw POST / with Host: a, then the `headers` lines, then `body` */
const post = (headers, body = '') =>
  `POST / HTTP/1.1\r\nHost: a\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
/** a raw chunked POST / whose body (chunks, trailers) is `body` */
const chunked = (body) => post(['Transfer-Encoding: chunked'], body);

// [name, raw request, expected status]
const rejected = [
  // CL.TE: front end uses Content-Length, back end chunked (RFC 9112 §6.3 rule 3)
  ['CL.TE', post(['Content-Length: 13', 'Transfer-Encoding: chunked'], '0\r\n\r\nSMUGGLED'), 400],
  // TE.CL: the same headers in the other order
  ['TE.CL', post(['Transfer-Encoding: chunked', 'Content-Length: 3'], '8\r\nSMUGGLED\r\n0\r\n\r\n'), 400],
  // TE.TE obfuscations: a coding only one side understands
  ['TE.TE unknown coding', post(['Transfer-Encoding: xchunked'], '0\r\n\r\n'), 501],
  ['TE.TE chunked twice in one field', post(['Transfer-Encoding: chunked, chunked'], '0\r\n\r\n'), 400],
  [
    'TE.TE chunked twice in two fields',
    post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
    400,
  ],
  ['TE.TE chunked not last', post(['Transfer-Encoding: chunked, identity'], '0\r\n\r\n'), 400],
  ['TE.TE space before colon', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE.TE vertical tab', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n', 400],
  ['TE.TE folded value', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE.TE trailing comma', post(['Transfer-Encoding: chunked,'], '0\r\n\r\n'), 501],
  ['TE in HTTP/1.0 (chunked undefined there)', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  // CVE-2023-30589: a bare CR ends a header line in llhttp 8.1, hiding a second field
  [
    'CVE-2023-30589 bare CR in a value',
    'POST / HTTP/1.1\r\nHost: a\r\nX-A: b\rTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    400,
  ],
  ['bare CR in a field name', 'GET / HTTP/1.1\r\nHost: a\r\nX\r-A: b\r\n\r\n', 400],
  // CVE-2024-27982: obs-fold before Content-Length, read by llhttp 8.1 as a real Content-Length
  [
    'CVE-2024-27982 obs-fold before Content-Length',
    'POST / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n Content-Length: 8\r\n\r\nSMUGGLED',
    400,
  ],
  // bare LF line endings (a parser disagreement vector)
  ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 400],
  ['bare LF after a header', 'GET / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\nhello', 400],
  ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 400],
  // Content-Length that parsers read differently
  ['CL duplicated (same value)', post(['Content-Length: 5', 'Content-Length: 5'], 'hello'), 400],
  ['CL list', post(['Content-Length: 5, 5'], 'hello'), 400],
  ['CL with sign', post(['Content-Length: +5'], 'hello'), 400],
  ['CL negative', post(['Content-Length: -1']), 400],
  ['CL hex', post(['Content-Length: 0x5'], 'hello'), 400],
  ['CL with inner space', post(['Content-Length: 1 2'], 'hello'), 400],
  ['CL overflow', post(['Content-Length: 99999999999999999999999'], 'hello'), 400],
  // chunk framing
  ['chunk size overflow', chunked('10000000000000005\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk size with 0x', chunked('0x5\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk size with trailing space, no extension', chunked('5 \r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk extension with bare CR', chunked('5;a=b\rX\r\nhello\r\n0\r\n\r\n'), 400],
  ['chunk extension with bare LF', chunked('5;a\nb\r\nhello\r\n0\r\n\r\n'), 400],
  // llhttp 8.1 skips the CRLF check after chunk data: bytes there must not be swallowed
  ['chunk data not followed by CRLF', chunked('5\r\nhelloXX0\r\n\r\n'), 400],
  ['chunk data longer than its size', chunked('3\r\nhello\r\n0\r\n\r\n'), 400],
  ['forbidden trailer Content-Length', chunked('0\r\nContent-Length: 5\r\n\r\n'), 400],
  // NUL bytes
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n', 400],
  ['NUL in the target', 'GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['NUL in the method', 'G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  // target forms (RFC 9112 §3.2)
  ['authority-form outside CONNECT', 'GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['asterisk-form outside OPTIONS', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['relative target', 'GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['broken IPv6 authority', 'GET http://[::1/x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  // Host
  ['duplicate Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['expectation other than 100-continue', post(['Expect: 200-ok', 'Content-Length: 1'], 'x'), 417],
  ['HTTP/2.0 in a request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 400],
  ['whitespace before the request line', ' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
];

const bodyPhase = (raw) =>
  /Transfer-Encoding: chunked\r\n\r\n/.test(raw) &&
  !/Content-Length|HTTP\/1\.0|chunked, |chunked\r\nTransfer/.test(raw.split('\r\n\r\n')[0]);

for (const [name, raw, status] of rejected) {
  t.test(name, async (t) => {
    const before = calls;
    for (const pieces of ['whole', 1]) {
      const r = await exchange(port, raw, { pieces, halfClose: false, timeoutMs: 2000 });
      const resp = r.responses[0];
      t.ok(resp, `an answer (${pieces})`);
      if (!resp) continue;
      t.equal(resp.status, status, `status (${pieces})`);
      t.equal(resp.get('connection'), 'close', 'Connection: close');
      t.equal(r.responses.length, 1, 'nothing smuggled behind it is answered');
      t.ok(r.closed, 'connection closed after the error');
    }
    // Head errors never reach the application. Chunked-body errors are found
    // after dispatch (as in Gunicorn): the app's read() fails and nothing it
    // produces is sent (checked above: the only answer is the error).
    if (!bodyPhase(raw)) t.equal(calls, before, 'the application never ran');
  });
}

t.test('accepted edge cases are parsed as one message each', async (t) => {
  // absolute-form: the path comes from the target, Host stays as sent
  let r = await request(port, { path: 'http://example.com/p?q=1' });
  t.equal(r.status, 200);
  t.match(r.body.toString(), /^GET http:\/\/example.com\/p\?q=1 0/);
  // leading zeros in a chunk size are not an overflow
  r = (await exchange(port, chunked('0000000000000000005\r\nhello\r\n0\r\n\r\n'))).responses[0];
  t.equal(r.status, 200);
  t.match(r.body.toString(), / 5 host=a/);
  // missing Host is accepted, as Gunicorn does
  r = (await exchange(port, 'GET / HTTP/1.1\r\n\r\n')).responses[0];
  t.equal(r.status, 200);
  // CONNECT in authority-form reaches the application (Gunicorn)
  r = (await exchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')).responses[0];
  t.equal(r.status, 200);
  // a CL.TE payload split over many packets is still one rejected message
  const split = await exchange(
    port,
    post(['Content-Length: 4', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /x HTTP/1.1\r\n\r\n'),
    { pieces: 3 },
  );
  t.equal(split.responses.length, 1);
  t.equal(split.responses[0].status, 400);
});

t.test('obs-fold is joined, never reinterpreted, when permit_obsolete_folding is on', async (t) => {
  const { port: p2 } = await startServer(t, app, { permit_obsolete_folding: true });
  const r = await exchange(
    p2,
    'POST / HTTP/1.1\r\nHost: a\r\n Content-Length: 8\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    { expect: 2 },
  );
  // The fold belongs to Host: there is no Content-Length, so the request has no
  // body and "GET /smuggled" is a second, separate request.
  t.equal(r.responses[0].status, 200);
  t.match(r.responses[0].body.toString(), /^POST \/ 0 host=a Content-Length: 8 cl=-$/);
  t.equal(r.responses.length, 2);
  t.match(r.responses[1].body.toString(), /^GET \/smuggled 0/);
});

// ---- response splitting: the application's status and headers ----

const splitting = [
  ['CRLF in a header value', () => ['200 OK', [['X-A', 'ok\r\nSet-Cookie: evil=1']]]],
  ['LF in a header value', () => ['200 OK', [['X-A', 'ok\nSet-Cookie: evil=1']]]],
  ['NUL in a header value', () => ['200 OK', [['X-A', 'a\0b']]]],
  ['non-latin-1 that truncates to LF', () => ['200 OK', [['X-A', 'a\u010aSet-Cookie: evil=1']]]],
  ['separator injection in a name', () => ['200 OK', [['X-A\0Set-Cookie', 'evil=1']]]],
  ['space in a header name', () => ['200 OK', [['X A', 'b']]]],
  ['CRLF in the status line', () => ['200 OK\r\nSet-Cookie: evil=1', []]],
  ['status without a code', () => ['OK', []]],
  ['invalid Content-Length from the app', () => ['200 OK', [['Content-Length', '12abc']]]],
];

t.test('response splitting from the application never reaches the wire', async (t) => {
  let which = null;
  const bad = (environ, start_response) => {
    const [status, headers] = which();
    start_response(status, headers);
    return ['body'];
  };
  const { port: p3 } = await startServer(t, bad);
  for (const [name, fn] of splitting) {
    which = fn;
    // twice: a rejected head must never be remembered as valid (lib/http/head-cache.ts)
    for (const round of ['first', 'repeated']) {
      const r = await exchange(p3, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      t.equal(r.responses[0]?.status, 500, `${name} (${round}): 500`);
      t.notOk(/evil/.test(r.buf.toString('latin1')), `${name} (${round}): injected text not sent`);
      t.equal(r.responses.length, 1, `${name} (${round}): one response`);
    }
  }
});
