// Fetch-style applications and the native core's request_timeout and 103 Early Hints (the same as the
// WSGI path's: test/timeouts.test.mjs, test/early-hints.test.mjs), over real sockets; curl sees the 103.
import t from 'tap';

import { earlyHints } from '../dist/index.js';
import { rawText } from './helpers/client.mjs';
import { curlVerbose, hasCurl, headerText } from './helpers/curl.mjs';
import { startServer } from './helpers/server.mjs';

const start = (t, app, settings = {}) => startServer(t, app, { worker_class: 'fetch', ...settings });

/** one raw request; resolves the whole response text when the server closes */
const raw = (port, text) => rawText(port, text);

async function hinting(request) {
  earlyHints(request, [
    ['Link', '</style.css>; rel=preload; as=style'],
    ['Link', '</app.js>; rel=preload; as=script'],
  ]);
  await new Promise((r) => setTimeout(r, 30));
  if (new URL(request.url).pathname === '/bad') {
    try {
      earlyHints(request, [['Bad Name', 'x']]);
    } catch (e) {
      return new Response(`refused: ${e.message}`);
    }
  }
  return new Response('page\n');
}

t.test(
  'earlyHints(request, headers): curl -v sees 103 with the Link lines before the 200',
  { skip: !hasCurl && 'no curl' },
  async (t) => {
    const { port } = await start(t, hinting);
    const r = await curlVerbose(`http://127.0.0.1:${port}/`, [], { timeoutMs: 10000 });
    t.equal(r.stdout, 'page\n');
    const i103 = r.heads.findIndex((h) => /^HTTP\/1.1 103 Early Hints/.test(h.statusLine));
    const i200 = r.heads.findIndex((h) => /^HTTP\/1.1 200 OK/.test(h.statusLine));
    t.ok(i103 >= 0 && i200 > i103, '103 before the 200');
    t.match(headerText(r.heads.slice(i103, i200)), /^Link: <\/style.css>; rel=preload; as=style\nLink: <\/app.js>/m);
  },
);

t.test('earlyHints: none for HTTP/1.0; an invalid header throws; Headers and records are taken', async (t) => {
  const { port } = await start(t, hinting);
  const r10 = await raw(port, 'GET / HTTP/1.0\r\n\r\n');
  t.notMatch(r10, /103/, 'no 103 for an HTTP/1.0 client');
  t.match(r10, /^HTTP\/1.[01] 200 OK/);
  const bad = await raw(port, 'GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(bad, /^HTTP\/1.1 103 Early Hints\r\n/);
  t.match(bad, /refused: Invalid early hints header/);
  const { port: p2 } = await start(t, (request) => {
    earlyHints(request, new Headers({ link: '</a.css>; rel=preload' }));
    earlyHints(request, { Link: '</b.css>; rel=preload' });
    return new Response('ok');
  });
  const r2 = await raw(p2, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(
    r2,
    /^HTTP\/1.1 103 Early Hints\r\nlink: <\/a.css>; rel=preload\r\n\r\nHTTP\/1.1 103 Early Hints\r\nLink: <\/b.css>/i,
  );
  t.doesNotThrow(
    () => earlyHints(new Request('http://x/'), [['Link', '</x>']]),
    'a Request not made by gunicorn-ts: ignored',
  );
});

t.test('request_timeout: a hung fetch handler gets 503, its request.signal aborts, the server goes on', async (t) => {
  let aborted = null;
  const { port } = await start(
    t,
    async (request) => {
      if (new URL(request.url).pathname === '/hang') {
        request.signal.addEventListener('abort', () => (aborted = true));
        await new Promise(() => {});
      }
      return new Response('fine');
    },
    { request_timeout: 1 },
  );
  const t0 = Date.now();
  const r = await raw(port, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(r, /^HTTP\/1.1 503 Service Unavailable\r\n/);
  t.match(r, /[Cc]onnection: close/);
  t.ok(Date.now() - t0 < 10000, `answered after ${Date.now() - t0} ms`);
  t.equal(aborted, true, 'request.signal aborted');
  const ok = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(ok, /\r\n\r\nfine$/);
});
