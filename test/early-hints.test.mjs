// wsgi.early_hints (Gunicorn 25): a 103 Early Hints head before the response,
// seen by a real client (curl -v); HTTP/1.0 clients get none.
import net from 'node:net';
import t from 'tap';

import { curlVerbose, hasCurl, headerText } from './helpers/curl.mjs';
import { startServer } from './helpers/server.mjs';

async function app(environ, start_response) {
  environ['wsgi.early_hints']([
    ['Link', '</style.css>; rel=preload; as=style'],
    ['Link', '</app.js>; rel=preload; as=script'],
  ]);
  await new Promise((r) => setTimeout(r, 50)); // the hints leave while the application works
  if (environ.PATH_INFO === '/bad') {
    try {
      environ['wsgi.early_hints']([['Bad Name', 'x']]);
    } catch (e) {
      start_response('200 OK', [['Content-Type', 'text/plain']]);
      return [`refused: ${e.message}`];
    }
  }
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  environ['wsgi.early_hints']([['Link', '</late.css>; rel=preload']]); // after start_response, before the head: sent
  return ['page\n'];
}

t.test(
  'curl -v sees 103 Early Hints with the Link headers, then the 200',
  { skip: !hasCurl && 'no curl' },
  async (t) => {
    const { port } = await startServer(t, app);
    const r = await curlVerbose(`http://127.0.0.1:${port}/`, [], { timeoutMs: 10000 });
    t.equal(r.stdout, 'page\n');
    const i103 = r.heads.findIndex((h) => /^HTTP\/1.1 103 Early Hints/.test(h.statusLine));
    const i200 = r.heads.findIndex((h) => /^HTTP\/1.1 200 OK/.test(h.statusLine));
    t.ok(i103 >= 0, '103 Early Hints');
    t.ok(i200 > i103, 'before the 200');
    const hints = headerText(r.heads.slice(i103, i200));
    t.match(hints, /^Link: <\/style.css>; rel=preload; as=style$/m);
    t.match(hints, /^Link: <\/app.js>; rel=preload; as=script$/m);
    t.match(hints, /^Link: <\/late.css>; rel=preload$/m);
  },
);

t.test('the hints leave before the response (while the application still works)', async (t) => {
  const { port } = await startServer(t, app);
  const s = net.connect(port, '127.0.0.1');
  let data = '';
  const firstAt = new Promise((r) => s.once('data', () => r(Date.now())));
  s.on('data', (d) => (data += d));
  await new Promise((r) => s.on('connect', r));
  const t0 = Date.now();
  s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await firstAt;
  t.match(data, /^HTTP\/1.1 103 Early Hints\r\nLink: <\/style.css>; rel=preload; as=style\r\nLink: [^\r]*\r\n\r\n/);
  t.notMatch(data, /200 OK/, 'the first bytes are the hints alone');
  await new Promise((r) => s.on('close', r));
  t.match(data, /\r\n\r\nHTTP\/1.1 200 OK\r\n[^]*\r\n\r\npage\n$/);
  t.ok(Date.now() - t0 < 10000);
});

t.test('HTTP/1.0 clients get no 103; an invalid header throws to the application', async (t) => {
  const { port } = await startServer(t, app);
  const s = net.connect(port, '127.0.0.1');
  let data = '';
  s.on('data', (d) => (data += d));
  s.write('GET / HTTP/1.0\r\n\r\n');
  await new Promise((r) => s.on('close', r));
  t.match(data, /^HTTP\/1.0 200 OK\r\n/, 'the response comes first');
  t.notMatch(data, /103/);
  const b = net.connect(port, '127.0.0.1');
  let bad = '';
  b.on('data', (d) => (bad += d));
  b.write('GET /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise((r) => b.on('close', r));
  t.match(bad, /refused: Invalid early hints header/);
});

t.test("pipelined requests on one connection: each one's hints come before its own response", async (t) => {
  // a synchronous app and an async one, the function called as a plain function (not a method of environ)
  const paths = [];
  const { port } = await startServer(t, async (environ, start_response) => {
    const hints = environ['wsgi.early_hints'];
    paths.push(environ.PATH_INFO);
    if (environ.PATH_INFO === '/b') await new Promise((r) => setTimeout(r, 20));
    hints([['Link', `<${environ.PATH_INFO}.css>; rel=preload`]]);
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [`page ${environ.PATH_INFO}\n`];
  });
  const s = net.connect(port, '127.0.0.1');
  let data = '';
  s.on('data', (d) => (data += d));
  s.write(
    'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  await new Promise((r) => s.on('close', r));
  t.same(paths, ['/a', '/b', '/c']);
  const heads = [
    ...data.matchAll(/HTTP\/1.1 (103 Early Hints\r\nLink: <(\/\w)\.css>|200 OK\r\n[^]*?page (\/\w)\n)/g),
  ].map((m) => m[2] ?? `200 ${m[3]}`);
  t.same(heads, ['/a', '200 /a', '/b', '200 /b', '/c', '200 /c']);
});
