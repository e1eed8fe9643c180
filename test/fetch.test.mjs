// Fetch-style applications, (request: Request) => Response, served in this
// process by serve() over real sockets: every body kind both ways, streaming
// with backpressure in both directions, the abort signal, HEAD, errors, and the
// URL's scheme and host under the forwarded-header rules.
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { serve } from '../dist/index.js';
import { exchange, rawText } from './helpers/client.mjs';
import { startServer } from './helpers/server.mjs';
import { makeCerts } from './helpers/tls.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-fetch-'));

const start = startServer;

/** one raw request over a fresh connection, half-closed; resolves the whole response text when the server closes */
const raw = (port, text) => rawText(port, text, { halfClose: true });

t.test('the application shape: an object with fetch is detected; a function needs worker_class fetch', async (t) => {
  const { url } = await start(t, { fetch: (req) => new Response(`obj ${req.method}`) });
  t.equal(await (await fetch(url)).text(), 'obj GET');
  const f = await start(t, (req) => new Response(`fn ${req instanceof Request}`), { worker_class: 'fetch' });
  t.equal(await (await fetch(f.url)).text(), 'fn true', 'the Request is a Request');
  const express = (req, res, next) => next();
  express.use = () => {};
  express.handle = () => {};
  const next3 = (req, res, next) => next();
  await t.rejects(serve(next3, '127.0.0.1:0'), /Express-style .*run it with -k node/);
  await t.rejects(serve(express, { bind: '127.0.0.1:0', worker_class: 'fetch' }), /-k node/);
  await t.rejects(serve({ nope: 1 }, '127.0.0.1:0'), /application must be a function/);
});

t.test('response bodies of every kind', async (t) => {
  const enc = new TextEncoder();
  const routes = {
    '/string': () => new Response('a string'),
    '/bytes': () => new Response(enc.encode('some bytes'), { headers: { 'Content-Type': 'application/octet-stream' } }),
    '/arraybuffer': () => new Response(enc.encode('an arraybuffer').buffer),
    '/stream': () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(enc.encode('str'));
            c.enqueue(enc.encode('eam'));
            c.close();
          },
        }),
      ),
    '/blob': () => new Response(new Blob(['a ', 'blob'], { type: 'text/x-blob' })),
    '/formdata': () => {
      const fd = new FormData();
      fd.append('field', 'value');
      return new Response(fd);
    },
    '/params': () => new Response(new URLSearchParams({ a: '1', b: 'two' })),
    '/null': () => new Response(null, { status: 204 }),
    '/empty': () => new Response(),
    '/json': () => Response.json({ ok: true }, { status: 201, headers: { 'X-Made': 'json' } }),
    '/redirect': () => Response.redirect('http://example.test/elsewhere', 307),
    // a response whose headers are changed after it was made
    '/mutated': () => {
      const r = new Response('mutated', { headers: { 'X-One': '1' } });
      r.headers.set('X-Two', '2');
      r.headers.append('Set-Cookie', 'a=1');
      r.headers.append('Set-Cookie', 'b=2');
      return r;
    },
    '/status': () => new Response('teapot', { status: 418, statusText: 'Short And Stout' }),
    '/async': async () => {
      await sleep(5);
      return new Response('later');
    },
  };
  const { url, port } = await start(t, { fetch: (req) => routes[new URL(req.url).pathname]() });
  const get = (p) => fetch(url + p);
  let r = await get('/string');
  t.equal(await r.text(), 'a string');
  t.equal(r.headers.get('content-type'), 'text/plain;charset=UTF-8', "a string body's default type");
  t.equal(r.headers.get('content-length'), '8');
  r = await get('/bytes');
  t.equal(await r.text(), 'some bytes');
  t.equal(r.headers.get('content-type'), 'application/octet-stream');
  t.equal(await (await get('/arraybuffer')).text(), 'an arraybuffer');
  r = await get('/stream');
  t.equal(await r.text(), 'stream');
  t.equal(r.headers.get('transfer-encoding'), 'chunked', 'a stream of unknown length goes chunked');
  r = await get('/blob');
  t.equal(await r.text(), 'a blob');
  t.equal(r.headers.get('content-type'), 'text/x-blob');
  t.equal(r.headers.get('content-length'), '6', 'a Blob has a known length');
  r = await get('/formdata');
  t.match(r.headers.get('content-type'), /^multipart\/form-data; boundary=/);
  t.equal((await r.formData()).get('field'), 'value', 'the client parses the multipart body');
  r = await get('/params');
  t.equal(await r.text(), 'a=1&b=two');
  t.equal(r.headers.get('content-type'), 'application/x-www-form-urlencoded;charset=UTF-8');
  r = await get('/null');
  t.equal(r.status, 204);
  t.equal(await r.text(), '');
  r = await get('/empty');
  t.equal([r.status, await r.text(), r.headers.get('content-length')].join('|'), '200||0');
  r = await get('/json');
  t.equal(r.status, 201);
  t.equal(r.headers.get('x-made'), 'json');
  t.same(await r.json(), { ok: true });
  r = await fetch(`${url}/redirect`, { redirect: 'manual' });
  t.equal(r.status, 307);
  t.equal(r.headers.get('location'), 'http://example.test/elsewhere');
  // raw: both Set-Cookie fields, and the status text as given
  const text = await raw(port, 'GET /mutated HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(text, /\r\nx-one: 1\r\n/i);
  t.match(text, /\r\nx-two: 2\r\n/i);
  t.match(text, /\r\nset-cookie: a=1\r\n/i);
  t.match(text, /\r\nset-cookie: b=2\r\n/i);
  t.match(text, /\r\n\r\nmutated$/);
  t.match(
    await raw(port, 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    /^HTTP\/1\.1 418 Short And Stout\r\n/,
  );
  t.equal(await (await get('/async')).text(), 'later');
});

t.test('request bodies, read every way', async (t) => {
  const app = {
    async fetch(req) {
      const how = new URL(req.url).searchParams.get('how');
      let out;
      if (how === 'text') out = await req.text();
      else if (how === 'json') out = JSON.stringify(await req.json());
      else if (how === 'arrayBuffer') out = `${(await req.arrayBuffer()).byteLength} bytes`;
      else if (how === 'bytes') out = `${(await req.bytes()).length} bytes`;
      else if (how === 'blob') {
        const b = await req.blob();
        out = `${b.type} ${b.size} ${await b.text()}`;
      } else if (how === 'formData') {
        const fd = await req.formData();
        out = `${fd.get('name')} ${(await fd.get('file').text()).length}`;
      } else if (how === 'stream') {
        let n = 0;
        let chunks = 0;
        for await (const c of req.body) {
          n += c.length;
          chunks++;
        }
        out = `${n} bytes in ${chunks > 0 ? 'chunks' : 'none'}`;
      } else if (how === 'twice') {
        await req.text();
        try {
          await req.text();
          out = 'read twice?';
        } catch (e) {
          out = `${e.constructor.name} ${req.bodyUsed}`;
        }
      } else if (how === 'none') out = `${req.body === null} ${await req.text()}|`;
      return new Response(out);
    },
  };
  const { url } = await start(t, app);
  const post = async (how, body, headers = {}) =>
    (await fetch(`${url}/?how=${how}`, { method: 'POST', body, headers, duplex: 'half' })).text();
  t.equal(await post('text', 'héllo'), 'héllo', 'utf-8 text');
  t.equal(await post('json', '{"a":[1,2]}', { 'Content-Type': 'application/json' }), '{"a":[1,2]}');
  t.equal(await post('arrayBuffer', Buffer.alloc(3000, 1)), '3000 bytes');
  t.equal(await post('bytes', Buffer.alloc(70000, 2)), '70000 bytes');
  t.equal(await post('blob', 'blobby', { 'Content-Type': 'text/x-test' }), 'text/x-test 6 blobby');
  const fd = new FormData();
  fd.append('name', 'gts');
  fd.append('file', new Blob(['x'.repeat(5000)]), 'f.txt');
  t.equal(await post('formData', fd), 'gts 5000', 'multipart/form-data from a real client');
  t.equal(await post('stream', Buffer.alloc(1 << 20, 3)), `${1 << 20} bytes in chunks`, 'a 1 MB body as a stream');
  // a chunked upload (a stream body: no Content-Length)
  const chunked = new ReadableStream({
    start(c) {
      for (let i = 0; i < 10; i++) c.enqueue(Buffer.alloc(1000, 65 + i));
      c.close();
    },
  });
  t.equal(await post('stream', chunked), '10000 bytes in chunks', 'chunked transfer coding');
  t.equal(await post('twice', 'x'), 'TypeError true', 'a body reads once');
  t.equal(await (await fetch(`${url}/?how=none`)).text(), 'true |', 'GET: no body');
});

t.test('request headers, URL, method, and the rest of Request', async (t) => {
  const app = {
    fetch(req) {
      const h = {};
      for (const [k, v] of req.headers) h[k] = v;
      return Response.json({
        url: req.url,
        method: req.method,
        h,
        // members that come from a real Request built on demand
        mode: req.mode,
        cache: req.cache,
        clone: req.clone().url,
      });
    },
  };
  const { port } = await start(t, app);
  const j = (text) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  const r = j(
    await raw(
      port,
      'PATCH /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: ua/1\r\nX-Custom-Thing: one\r\nX-Custom-Thing: two\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    ),
  );
  t.equal(r.url, 'http://example.test:8080/a/b%20c?x=1&y=%2F', 'the raw target, undecoded, on Host');
  t.equal(r.method, 'PATCH');
  t.equal(r.h['user-agent'], 'ua/1');
  t.equal(r.h['x-custom-thing'], 'one, two', 'a repeated header joined');
  t.equal(r.h.host, 'example.test:8080');
  t.equal(r.mode, 'cors');
  t.equal(r.cache, 'default');
  t.equal(r.clone, r.url);
  // HTTP/1.0 without Host: the listener's address
  const r10 = j(await raw(port, 'GET /ten HTTP/1.0\r\n\r\n'));
  t.equal(r10.url, `http://127.0.0.1:${port}/ten`);
  // absolute-form
  const abs = j(
    await raw(port, 'GET http://other.test/abs?q HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n'),
  );
  t.equal(abs.url, 'http://other.test/abs?q');
  // a Host no URL can carry
  t.match(await raw(port, 'GET / HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
});

t.test('the scheme: secure_scheme_headers from trusted peers only, conflicts are a 400', async (t) => {
  const app = { fetch: (req) => new Response(req.url) };
  const trusted = await start(t, app); // forwarded_allow_ips defaults to 127.0.0.1
  const body = (text) => text.slice(text.indexOf('\r\n\r\n') + 4);
  const req = (extra) => `GET /p HTTP/1.1\r\nHost: h.test\r\n${extra}Connection: close\r\n\r\n`;
  t.equal(body(await raw(trusted.port, req(''))), 'http://h.test/p');
  t.equal(body(await raw(trusted.port, req('X-Forwarded-Proto: https\r\n'))), 'https://h.test/p');
  t.equal(body(await raw(trusted.port, req('X-Forwarded-Ssl: on\r\n'))), 'https://h.test/p');
  t.equal(body(await raw(trusted.port, req('X-Forwarded-Proto: http\r\n'))), 'http://h.test/p');
  t.match(
    await raw(trusted.port, req('X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n')),
    /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Contradictory scheme headers/,
  );
  const untrusted = await start(t, app, { forwarded_allow_ips: '10.9.9.9' });
  t.equal(
    body(await raw(untrusted.port, req('X-Forwarded-Proto: https\r\n'))),
    'http://h.test/p',
    'an untrusted peer does not set the scheme',
  );
  const custom = await start(t, app, { secure_scheme_headers: { 'X-Scheme': 'secure' } });
  t.equal(body(await raw(custom.port, req('X-Scheme: secure\r\n'))), 'https://h.test/p');
  t.equal(body(await raw(custom.port, req('X-Forwarded-Proto: https\r\n'))), 'http://h.test/p');
});

t.test('HEAD: the GET head without a body', async (t) => {
  const enc = new TextEncoder();
  const app = {
    fetch(req) {
      if (new URL(req.url).pathname === '/stream')
        return new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(enc.encode('never sent'));
            },
          }),
          { headers: { 'X-Kind': 'stream' } },
        );
      return new Response('twelve bytes', { headers: { 'X-Method': req.method } });
    },
  };
  const { port } = await start(t, app);
  const get = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const head = await raw(port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(get, /content-length: 12\r\n/i);
  t.match(head, /content-length: 12\r\n/i, 'HEAD: the same Content-Length');
  t.match(head, /x-method: HEAD\r\n/i, 'the app saw HEAD');
  t.ok(head.endsWith('\r\n\r\n'), 'HEAD: no body');
  const hs = await raw(port, 'HEAD /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(hs, /^HTTP\/1\.1 200 OK\r\n[\s\S]*x-kind: stream\r\n/i);
  t.ok(hs.endsWith('\r\n\r\n'), 'HEAD of a stream: no body, the stream is not read');
});

t.test('errors in the application: a 500 with the error page, logged', async (t) => {
  const log = path.join(tmp(), 'error.log');
  const app = {
    async fetch(req) {
      const p = new URL(req.url).pathname;
      if (p === '/reject') throw new Error('async failure');
      if (p === '/not-a-response') return 'just a string';
      if (p === '/bad-header') return new Response('x', { headers: [['X-Bad', 'a\u0001b']] });
      if (p === '/stream-fails')
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('partial'));
            },
            pull() {
              throw new Error('stream failure');
            },
          }),
        );
      return new Response('ok');
    },
  };
  const sync = (req) => {
    if (new URL(req.url).pathname === '/throw') throw new Error('sync failure');
    return app.fetch(req);
  };
  const { url, port } = await start(t, sync, { worker_class: 'fetch', errorlog: log });
  for (const p of ['/throw', '/reject', '/not-a-response', '/bad-header']) {
    const r = await fetch(url + p);
    t.equal(r.status, 500, `${p}: 500`);
    t.match(await r.text(), /<h1><p>Internal Server Error<\/p><\/h1>/, `${p}: the error page`);
  }
  // headers out already: the connection closes, the response is not complete
  const text = await raw(port, 'GET /stream-fails HTTP/1.1\r\nHost: x\r\n\r\n');
  t.notMatch(text, /0\r\n\r\n$/, 'no final chunk: a truncated response never looks complete');
  t.equal((await fetch(url)).status, 200, 'the server goes on');
  const logged = fs.readFileSync(log, 'utf8');
  t.match(logged, /\[ERROR\] Error handling request GET \/throw\nError: sync failure/);
  t.match(logged, /Error handling request GET \/reject\nError: async failure/);
  t.match(logged, /Error handling request GET \/not-a-response\nTypeError: the fetch handler must return a Response/);
  t.match(logged, /Error handling request GET \/bad-header\nError: Invalid response from the application/);
  t.match(logged, /Error handling request GET \/stream-fails\nError: stream failure/);
});

t.test('an async handler that returns without waiting: answered from its fulfilled promise, in order', async (t) => {
  const handler = async (req) => {
    const p = new URL(req.url).pathname;
    if (p === '/wait') await sleep(5);
    if (p === '/nothing') return 'not a Response';
    return new Response(p, { headers: { 'X-Path': p } });
  };
  const { port, url } = await start(t, handler, { worker_class: 'fetch' });
  const r = await exchange(
    port,
    'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /wait HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n',
    { expect: 3, timeoutMs: 3000 },
  );
  t.same(
    r.responses.map((x) => `${x.status} ${x.get('x-path')} ${x.body}`),
    ['200 /a /a', '200 /wait /wait', '200 /b /b'],
  );
  t.equal((await fetch(url + '/nothing')).status, 500);
  t.equal(await (await fetch(url + '/c')).text(), '/c');
});

t.test('request.signal aborts when the client disconnects', async (t) => {
  let seen = null;
  let cancelled = null;
  let streamSignal = null;
  const app = {
    fetch(req) {
      if (new URL(req.url).pathname === '/stream') {
        req.signal.addEventListener('abort', () => (streamSignal = req.signal.reason?.name));
        return new Response(
          new ReadableStream({
            pull: async (c) => {
              await sleep(10);
              c.enqueue(new Uint8Array(1024));
            },
            cancel: () => {
              cancelled = Date.now();
            },
          }),
        );
      }
      return new Promise((resolve) => {
        req.signal.addEventListener('abort', () => {
          seen = { at: Date.now(), reason: req.signal.reason?.name };
          resolve(new Response('too late'));
        });
      });
    },
  };
  const { port } = await start(t, app);
  // before the response starts a FIN may be a half-close (as in Gunicorn): a reset is a disconnect
  const s = net.connect(port, '127.0.0.1', () => s.write('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n'));
  await sleep(200);
  t.equal(seen, null, 'not aborted while the client waits');
  const closedAt = Date.now();
  s.resetAndDestroy();
  for (let i = 0; i < 100 && seen === null; i++) await sleep(20);
  t.ok(seen !== null && seen.at - closedAt < 2000, 'aborted after the reset');
  t.equal(seen?.reason, 'AbortError');
  // a streaming response to a client that closes: the signal aborts and the stream is cancelled
  const s2 = net.connect(port, '127.0.0.1', () => s2.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
  await new Promise((r) => s2.once('data', r));
  s2.destroy();
  for (let i = 0; i < 100 && cancelled === null; i++) await sleep(20);
  t.ok(cancelled !== null, 'the response stream was cancelled');
  t.equal(streamSignal, 'AbortError', "that request's signal aborted");
});

t.test('a large upload read slowly by the app is not buffered unboundedly', async (t) => {
  const TOTAL = 256 * 1024 * 1024;
  let readByApp = 0;
  let release;
  const slow = new Promise((r) => (release = r));
  const app = {
    async fetch(req) {
      const reader = req.body.getReader();
      // slowly: 64 KB every 20 ms until released, then as fast as it comes
      let fast = false;
      void slow.then(() => (fast = true));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        readByApp += value.length;
        if (!fast) await sleep(20);
      }
      return new Response(String(readByApp));
    },
  };
  const { port } = await start(t, app);
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${TOTAL}\r\nConnection: close\r\n\r\n`);
  const chunk = Buffer.alloc(256 * 1024, 7);
  let written = 0;
  let response = '';
  s.on('data', (d) => (response += d));
  const ended = new Promise((r) => s.on('end', r));
  const pump = (async () => {
    while (written < TOTAL) {
      written += chunk.length;
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
    }
  })();
  await sleep(1500);
  // what left the client's socket is in the kernel's buffers, the server's input, or read by the app
  const inFlight = s.bytesWritten - readByApp;
  t.ok(readByApp > 0, `the app read (${readByApp} bytes so far)`);
  t.ok(inFlight < 24 * 1024 * 1024, `at most ~24 MB accepted but not read (${inFlight} bytes)`);
  t.ok(s.bytesWritten < TOTAL / 4, `the client was held back (${s.bytesWritten} of ${TOTAL} bytes sent)`);
  release();
  await pump;
  await ended;
  t.match(response, new RegExp(`\\r\\n\\r\\n${TOTAL}$`), 'then the whole body arrived');
});

t.test('a streaming response to a slow reader: pulled as the client reads', async (t) => {
  const CHUNK = 64 * 1024;
  const TOTAL = 64 * 1024 * 1024;
  let pulled = 0;
  const app = {
    fetch() {
      return new Response(
        new ReadableStream(
          {
            pull(c) {
              if (pulled >= TOTAL) return c.close();
              pulled += CHUNK;
              c.enqueue(new Uint8Array(CHUNK).fill(pulled / CHUNK));
            },
          },
          { highWaterMark: 0 },
        ),
        { headers: { 'Content-Length': String(TOTAL) } },
      );
    },
  };
  const { port } = await start(t, app);
  const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  let got = 0;
  s.once('data', (d) => {
    got += d.length;
    s.pause();
  });
  await sleep(1500);
  t.ok(
    pulled < 24 * 1024 * 1024,
    `the app's stream was held back while the client did not read (${pulled} bytes pulled)`,
  );
  s.on('data', (d) => (got += d.length));
  s.resume();
  await new Promise((r) => s.on('end', r));
  t.equal(pulled, TOTAL, 'then all of it');
  t.ok(got > TOTAL, `the client got the body and the head (${got} bytes)`);
});

t.test('keep-alive, pipelining, and the in-process limits', async (t) => {
  const { port } = await start(
    t,
    { fetch: (req) => new Response(new URL(req.url).pathname) },
    {
      limit_request_line: 100,
    },
  );
  const r = await exchange(
    port,
    'GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  t.same(
    r.responses.map((x) => x.body.toString()),
    ['/one', '/two', '/three'],
    'pipelined requests answered in order',
  );
  t.match(
    await raw(port, `GET /${'x'.repeat(200)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*limit_request_line|^HTTP\/1\.1 400 /,
    'limit_request_line: 400, as for WSGI apps',
  );
});

t.test('serve() with Prometheus metrics counts fetch-style requests', async (t) => {
  // a free port for the metrics endpoint (serve() does not report the one it got for :0)
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const mport = probe.address().port;
  await new Promise((r) => probe.close(r));
  const { url } = await start(
    t,
    { fetch: (req) => new Response(req.method) },
    {
      metrics_bind: `127.0.0.1:${mport}`,
    },
  );
  for (let i = 0; i < 3; i++) t.equal((await fetch(url)).status, 200);
  t.equal((await fetch(url, { method: 'POST', body: 'x' })).status, 200);
  const body = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
  t.match(body, /^gunicorn_ts_requests_total\{method="GET",status="2xx"\} 3$/m);
  t.match(body, /^gunicorn_ts_requests_total\{method="POST",status="2xx"\} 1$/m);
});

t.test('over TLS the URL is https', async (t) => {
  const certs = makeCerts();
  const { port } = await start(
    t,
    { fetch: (req) => new Response(req.url) },
    {
      certfile: certs.server.cert,
      keyfile: certs.server.key,
    },
  );
  const body = await new Promise((resolve, reject) => {
    https
      .get(
        { host: '127.0.0.1', port, path: '/tls?x', ca: fs.readFileSync(certs.ca.cert), servername: 'localhost' },
        (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(b));
        },
      )
      .on('error', reject);
  });
  t.equal(body, `https://127.0.0.1:${port}/tls?x`);
});
