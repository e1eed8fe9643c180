// serve(): bind forms, several listeners, option validation, graceful close.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { parseBind, serve } from '../dist/index.js';
import { exchange, request } from './helpers/client.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hello = (env, sr) => {
  sr('200 OK', [['Content-Type', 'text/plain']]);
  return [`${env.SERVER_NAME}|${env.SERVER_PORT}|${env.REMOTE_ADDR}`];
};
const quiet = { errorlog: '/dev/null' };

t.test('bind parsing follows Gunicorn', async (t) => {
  t.same(parseBind('127.0.0.1:8000'), { kind: 'tcp', host: '127.0.0.1', port: 8000, spec: '127.0.0.1:8000' });
  t.match(parseBind('localhost'), { kind: 'tcp', host: 'localhost', port: 8000 });
  t.match(parseBind('[::1]:9000'), { kind: 'tcp', host: '::1', port: 9000 });
  t.match(parseBind(':8080'), { kind: 'tcp', host: '0.0.0.0', port: 8080 });
  t.match(parseBind('unix:/tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
  t.match(parseBind('unix:///tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
  t.match(parseBind('fd://3'), { kind: 'fd', fd: 3 });
  t.throws(() => parseBind('127.0.0.1:http'), /'http' is not a valid port number/);
  t.throws(() => parseBind('127.0.0.1:70000'), /not a valid port number/);
  t.throws(() => parseBind('::1:80'), /brackets/);
  t.throws(() => parseBind('unix:'), /empty unix socket path/);
});

t.test('TCP (port 0), IPv6, a name, and a unix socket at once', async (t) => {
  const sockPath = path.join(os.tmpdir(), `gts-test-${process.pid}.sock`);
  const srv = await serve(hello, { bind: ['127.0.0.1:0', '[::1]:0', 'localhost:0', `unix:${sockPath}`], ...quiet });
  t.equal(srv.addresses.length, 4);
  const [v4, v6, named, unix] = srv.addresses;
  t.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(v6.url, /^http:\/\/\[::1\]:\d+$/);
  t.equal(named.host, '127.0.0.1', 'names bind over IPv4, as Gunicorn does');
  t.equal(unix.url, `unix:${sockPath}`);
  t.equal((await request(v4.port)).body.toString(), `127.0.0.1|${v4.port}|127.0.0.1`);
  t.equal((await request(v6.port, { host: '::1' })).body.toString(), `::1|${v6.port}|::1`);
  const u = await exchange(0, 'GET / HTTP/1.1\r\nHost: example.com:81\r\n\r\n', { path: sockPath });
  t.equal(
    u.responses[0].body.toString(),
    'example.com|81|',
    'unix socket: SERVER_NAME/PORT from Host, empty REMOTE_ADDR',
  );
  t.ok(fs.statSync(sockPath).isSocket());
  await srv.close();
  t.notOk(fs.existsSync(sockPath), 'the socket file is removed on close');
  await t.rejects(
    request(v4.port, { timeoutMs: 500 }).then((r) => {
      if (r.status === 0) throw new Error('refused');
    }),
    /refused/,
  );
});

t.test('fd://N adopts an inherited listening socket', async (t) => {
  const { native } = await import('../dist/native.js');
  const fd = native.listenTcp('127.0.0.1', 0, 16, false);
  const srv = await serve(hello, { bind: `fd://${fd}`, ...quiet });
  t.equal(srv.addresses[0].host, '127.0.0.1');
  t.equal((await request(srv.addresses[0].port)).status, 200);
  await srv.close();
});

t.test('bad options are refused with a message naming them', async (t) => {
  await t.rejects(
    serve(hello, { bind: '127.0.0.1:0', keepalivee: 2 }),
    /Invalid value for keepalivee: 2 \(unknown setting\)/,
  );
  await t.rejects(serve(hello, { bind: '127.0.0.1:0', keepalive: 'soon' }), /Invalid value for keepalive: soon/);
  await t.rejects(serve(hello, { bind: '127.0.0.1:0', header_map: 'maybe' }), /header_map/);
  await t.rejects(serve(hello, { bind: '127.0.0.1:0', forwarded_allow_ips: '10.0.0.300' }), /forwarded_allow_ips/);
  await t.rejects(serve(hello, { bind: 'nonsense:port' }), /not a valid port number/);
  await t.rejects(serve(hello, { bind: '127.0.0.1:0', workers: 'two' }), /Invalid value for workers: two/); // workers > 1: test/arbiter-app.test.mjs
  await t.rejects(serve('not a function', '127.0.0.1:0'), /application must be a function/);
  // a port in use is reported like Gunicorn
  const taken = await serve(hello, { bind: '127.0.0.1:0', ...quiet });
  await t.rejects(
    serve(hello, { bind: `127.0.0.1:${taken.addresses[0].port}`, ...quiet }),
    /Connection in use: \('127\.0\.0\.1', \d+\)/,
  );
  await taken.close();
});

t.test('graceful close: in-flight requests finish, idle connections close, new ones are refused', async (t) => {
  let release;
  const slow = async (env, sr) => {
    if (env.PATH_INFO === '/slow') await new Promise((r) => (release = r));
    sr('200 OK', []);
    return [env.PATH_INFO];
  };
  const srv = await serve(slow, { bind: '127.0.0.1:0', ...quiet });
  const port = srv.addresses[0].port;
  // an idle keep-alive connection
  const idle = net.connect(port, '127.0.0.1');
  idle.resume();
  await new Promise((r) => idle.on('connect', r));
  idle.write('GET /idle HTTP/1.1\r\nHost: a\r\n\r\n');
  await sleep(50);
  const inflight = request(port, { path: '/slow', timeoutMs: 5000 });
  await sleep(50);
  const closing = srv.close();
  const idleClosed = new Promise((r) => idle.on('close', r));
  await idleClosed;
  t.pass('idle keep-alive connection closed at once');
  const refused = await new Promise((r) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', (e) => r(e.code));
    s.on('connect', () => {
      s.destroy();
      r('connected');
    });
  });
  t.equal(refused, 'ECONNREFUSED', 'no new connections');
  release();
  const r = await inflight;
  t.equal(r.status, 200, 'the in-flight request completed');
  t.equal(r.body.toString(), '/slow');
  t.equal(r.get('connection'), 'close', 'with Connection: close');
  await closing;
  t.pass('close() resolved once the last request finished');
});

t.test('close() forces remaining connections after graceful_timeout', async (t) => {
  const srv = await serve(() => new Promise(() => {}), { bind: '127.0.0.1:0', graceful_timeout: 0.3, ...quiet });
  const pending = request(srv.addresses[0].port, { timeoutMs: 3000 });
  await sleep(50);
  const t0 = Date.now();
  await srv.close();
  t.ok(Date.now() - t0 < 2000, 'closed after the graceful timeout');
  const r = await pending;
  t.equal(r.status, 0, 'the stuck request got no response');
  t.ok(r.closed);
});

t.test('graceful close does not reset a request already sent on a fresh or idle connection', async (t) => {
  const srv = await serve(
    (env, sr) => {
      sr('200 OK', []);
      return [env.PATH_INFO];
    },
    { bind: '127.0.0.1:0', ...quiet },
  );
  const port = srv.addresses[0].port;
  const conns = [];
  for (let i = 0; i < 20; i++) {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = new Promise((resolve) => {
      s.on('data', (d) => {
        buf += d;
      });
      s.on('error', (e) => resolve({ error: e.code, buf }));
      s.on('close', () => resolve({ buf }));
    });
    await new Promise((r) => s.on('connect', r));
    conns.push({ s, done, i });
  }
  // half of them have already served a request (idle keep-alive), half are fresh
  for (const c of conns.slice(10)) c.s.write(`GET /warm HTTP/1.1\r\nHost: a\r\n\r\n`);
  for (let i = 0; i < 100 && srv.connections() < 20; i++) await sleep(10);
  await sleep(100);
  t.equal(srv.connections(), 20, 'all 20 accepted');
  // the requests leave now; the server is told to stop in the same tick
  for (const c of conns) c.s.write(`GET /last${c.i} HTTP/1.1\r\nHost: a\r\n\r\n`);
  const closing = srv.close();
  const results = await Promise.all(conns.map((c) => c.done));
  results.forEach((r, i) => {
    t.notOk(r.error, `connection ${i}: no reset`);
    t.match(r.buf, new RegExp(`/last${i}$`), `connection ${i}: its last request was answered`);
    t.match(r.buf.split('HTTP/1.1 200 OK').pop(), /Connection: close/, `connection ${i}: with Connection: close`);
  });
  await closing;
});

t.test('graceful close: a silent connection is closed after a short grace', async (t) => {
  const srv = await serve(hello, { bind: '127.0.0.1:0', ...quiet });
  const s = net.connect(srv.addresses[0].port, '127.0.0.1');
  s.resume();
  await new Promise((r) => s.on('connect', r));
  for (let i = 0; i < 100 && srv.connections() < 1; i++) await sleep(10);
  const t0 = Date.now();
  await srv.close();
  const took = Date.now() - t0;
  t.ok(took >= 700 && took < 3000, `closed after ${took} ms`);
});
