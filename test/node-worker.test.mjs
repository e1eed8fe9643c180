// The node worker class (-k node) through the CLI: real Express, Koa and
// Fastify apps from the npm registry, served by node:http in pre-forked
// workers, with the arbiter's HUP, max_requests, graceful stop, timeout,
// hooks and access log. Loads are bounded in time and stay on 127.0.0.1.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { alive, get, httpRequest, load, run, sleep, until } from './helpers/gts.mjs';
import { makeCerts, tlsArgs } from './helpers/tls.mjs';

const APP = 'test.fixtures.apps.node';
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-node-'));

/** One request; resolves {status, headers, body} or {error}. */
const request = (port, { method = 'GET', path: p = '/', headers = {}, body, agent = false } = {}) =>
  httpRequest({ port, method, path: p, headers, agent }, body);

const postJson = (port, p, obj) =>
  request(port, {
    method: 'POST',
    path: p,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(obj),
  });

t.test('an Express app (auto-selected): JSON bodies, static files, cookies, access log', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', '--access-logfile', '-', `${APP}.express_app:app`]);
  const port = await g.port();
  await g.waitFor(/Using worker: node \(auto-selected: '[^']*express_app:app' is an Express app/, { count: 2 });
  const hello = await get(port, '/');
  t.equal(hello.status, 200);
  t.match(hello.body, /^hello from express \d+$/);
  const j = await postJson(port, '/json', { a: [1, 'two'] });
  t.same(JSON.parse(j.body), { got: { a: [1, 'two'] }, type: 'application/json' }, 'express.json() parsed the body');
  const st = await get(port, '/static/hello.txt');
  t.equal(st.status, 200);
  t.equal(st.body, 'static hello\n', 'express.static served the file');
  t.match(st.headers['content-type'], /^text\/plain/);
  t.ok(st.headers.etag, 'with an ETag');
  const again = await get(port, '/static/hello.txt', { headers: { 'If-None-Match': st.headers.etag } });
  t.equal(again.status, 304, 'conditional GET: 304');
  const c = await get(port, '/cookie', { headers: { Cookie: 'seen=4; other=x' } });
  t.same(JSON.parse(c.body), { cookies: { seen: '4', other: 'x' } }, 'cookie-parser read the cookies');
  t.match(c.headers['set-cookie'][0], /^seen=5; Path=\/; HttpOnly$/);
  const missing = await get(port, '/nope');
  t.equal(missing.status, 404);
  await get(port, '/static/hello.txt?x=1', { headers: { 'User-Agent': 'tap "agent"', Referer: 'http://r/' } });
  // Gunicorn's default access_log_format; the URI as received (not Express's rewritten req.url)
  const line = await g.waitFor(/^.*GET \/static\/hello\.txt\?x=1 .*$/m, { from: 'stdout' });
  t.match(
    line[0],
    /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/static\/hello\.txt\?x=1 HTTP\/1\.1" 200 13 "http:\/\/r\/" "tap \\"agent\\""$/,
  );
  // each worker writes its own lines, after its response has closed: wait for them
  const logged = (re) =>
    g.waitFor(re, { from: 'stdout' }).then(
      () => true,
      () => false,
    );
  t.ok(await logged(/"POST \/json HTTP\/1\.1" 200 \d+ "-"/), 'the POST');
  t.ok(await logged(/"GET \/static\/hello\.txt HTTP\/1\.1" 304 0 /), '304: no body bytes');
  t.ok(await logged(/"GET \/nope HTTP\/1\.1" 404 \d+ /), 'the 404');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('access_log_format atoms under -k node', async (t) => {
  const g = run(t, [
    '-k',
    'node',
    '-b',
    '127.0.0.1:0',
    '--access-logfile',
    '-',
    '--access-logformat',
    '%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(B)s|%({x-test}o)s|%({x-in}i)s|%(D)s|%(L)s|%(p)s',
    `${APP}.express_app:app`,
  ]);
  const port = await g.port();
  const r = await get(port, '/header?a=%20b', { headers: { 'X-In': 'inbound' } });
  t.equal(r.status, 201);
  const line = (await g.waitFor(/^GET\|.*$/m, { from: 'stdout' }))[0];
  const f = line.split('|');
  t.same(f.slice(0, 9), ['GET', '/header', 'a=%20b', 'HTTP/1.1', '201', '7', '7', 'yes', 'inbound']);
  t.match(f[9], /^\d+$/, '%(D)s microseconds');
  t.match(f[10], /^\d+\.\d{6}$/, '%(L)s seconds');
  t.match(f[11], /^<\d+>$/, '%(p)s pid');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('a Koa app with -k node: app.callback(), @koa/router, koa-body, cookies', async (t) => {
  const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', `${APP}.koa_app:app`]);
  const port = await g.port();
  await g.waitFor(/Serving '[^']*koa_app:app' with node:http: a Koa app, served as app\.callback\(\)/);
  t.match((await get(port, '/')).body, /^hello from koa \d+$/);
  const j = await postJson(port, '/json', { k: 'v' });
  t.same(JSON.parse(j.body), { got: { k: 'v' } }, 'koa-body parsed the body');
  const c = await get(port, '/cookie', { headers: { Cookie: 'seen=2' } });
  t.same(JSON.parse(c.body), { seen: 2 });
  t.match(c.headers['set-cookie'][0], /^seen=3; path=\/; httponly$/);
  t.equal((await get(port, '/nope')).status, 404);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('a Fastify instance (auto-selected): routing after ready()', async (t) => {
  const g = run(t, ['-b', '127.0.0.1:0', `${APP}.fastify_app:app`]);
  const port = await g.port();
  await g.waitFor(/auto-selected: '[^']*fastify_app:app' is a Fastify instance/);
  t.match((await get(port, '/')).body, /^hello from fastify \d+$/);
  t.same(JSON.parse((await postJson(port, '/json', { f: 1 })).body), { got: { f: 1 } });
  const p = await get(port, '/params/42');
  t.same([JSON.parse(p.body), p.headers['x-id']], [{ id: '42' }, '42']);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('a plain (req, res) function with -k node; an object that is no app is refused in one line', async (t) => {
  const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', `${APP}.plain:handler`]);
  const port = await g.port();
  const r = await request(port, { method: 'POST', path: '/p?q', body: 'x'.repeat(1000) });
  t.same([r.status, r.body], [200, 'plain POST /p?q 1000\n']);
  g.kill('SIGTERM');
  await g.exit;
  t.notMatch(g.stderr, /do not apply/, 'no setting changed: no warning');

  const bad = run(t, ['-k', 'node', '-b', '127.0.0.1:0', `${APP}.plain:notAnApp`]);
  const { code } = await bad.exit;
  t.not(code, 0, 'the master stops');
  t.match(
    bad.stderr,
    /-k node needs a \(req, res\) function, an Express, Koa or Fastify app or an http.Server; '[^']*plain:notAnApp' is an object without a \(req, res\) entry point\n/,
  );
  t.match(bad.stderr, /App failed to load/);
});

t.test('native-core settings that node:http cannot honour are named at boot, never silently ignored', async (t) => {
  const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', '--worker-connections', '5', `${APP}.plain:handler`]);
  const port = await g.port();
  const line = await g.waitFor(/-k node: .*these settings do not apply: (.*)\n/);
  t.same(line[1].split(', '), ['worker_connections']);
  const r = await request(port, { path: '/x' });
  t.equal(r.status, 200, 'and the worker serves');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('HUP under load (Express, -w 2): new workers serve, zero failed requests', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', `${APP}.express_app:app`]);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  await until(async () => (await get(port, '/')).status === 200);
  const oldWorkers = g.workers();
  const l = load(port, { concurrency: 4 });
  await sleep(500);
  g.kill('SIGHUP');
  await g.waitFor(/Hang up: Master/);
  t.ok(await until(() => oldWorkers.every((p) => !alive(p)), { timeoutMs: 15000 }), 'the old workers stopped');
  await sleep(500);
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.ok(stats.ok > 20, `load ran (${stats.ok})`);
  const pids = new Set([...stats.bodies.keys()].map((b) => Number(b.split(' ').pop())));
  t.ok(
    [...pids].some((p) => !oldWorkers.includes(p)),
    'new workers served during the load',
  );
  t.notMatch(g.stderr, /Error handling request|exited with code/);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('max_requests under -k node: workers recycle with zero failed requests', async (t) => {
  const g = run(t, ['-w', '2', '-k', 'node', '--max-requests', '20', '-b', '127.0.0.1:0', `${APP}.express_app:app`]);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  const l = load(port, { concurrency: 4 });
  await g.waitFor(/Booting worker/, { count: 5, timeoutMs: 20000 });
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.match(g.stderr, /\[INFO\] Autorestarting worker after current request\.\n/);
  t.notMatch(g.stderr, /exited with code/, 'recycled workers exit 0');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('graceful TERM: the slow request in flight finishes; its keep-alive connection is closed', async (t) => {
  const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', `${APP}.express_app:app`]);
  const port = await g.port();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await request(port, { path: '/', agent });
  t.equal(first.headers.connection, 'keep-alive', 'a keep-alive connection');
  const slow = request(port, { path: '/slow?ms=1500', agent });
  await sleep(400);
  const t0 = Date.now();
  g.kill('SIGTERM');
  const r = await slow;
  t.equal(r.status, 200);
  t.match(r.body, /^slow done \d+$/);
  t.equal(r.headers.connection, 'close', 'answered with Connection: close');
  const { code } = await g.exit;
  t.equal(code, 0);
  t.ok(Date.now() - t0 < 10000, 'and the server stopped');
  t.match(g.stderr, /Handling signal: term/);
});

t.test('timeout: a worker whose event loop is blocked is killed and replaced', async (t) => {
  const g = run(t, ['-w', '2', '-k', 'node', '-t', '2', '-b', '127.0.0.1:0', `${APP}.express_app:app`]);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  void get(port, '/block', { timeoutMs: 20000 });
  const m = await g.waitFor(/\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\)/, { timeoutMs: 15000 });
  const stuck = Number(m[1]);
  const r = await get(port, '/');
  t.ok(r.status === 200 && !r.body.endsWith(` ${stuck}`), 'the other worker serves');
  await g.waitFor(/Booting worker/, { count: 3, timeoutMs: 15000 });
  t.ok(await until(() => !alive(stuck)), 'the stuck worker is gone');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('pre_request / post_request hooks get the request, environ and response', async (t) => {
  const dir = tmp();
  const out = path.join(dir, 'hooks.log');
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    `import fs from 'node:fs';
export const worker_class = 'node';
export function pre_request(worker, req) {
  fs.appendFileSync(${JSON.stringify(out)}, JSON.stringify(['pre', req.method, req.path, req.query, req.version, worker.nr]) + '\\n');
}
export function post_request(worker, req, environ, resp) {
  fs.appendFileSync(${JSON.stringify(out)}, JSON.stringify(['post', req.uri, environ.REQUEST_METHOD, environ.HTTP_X_ONE,
    environ['wsgi.url_scheme'], typeof environ['node.req'], resp.status, resp.status_code, resp.sent]) + '\\n');
}
`,
  );
  const g = run(t, ['-c', conf, '-b', '127.0.0.1:0', `${APP}.express_app:app`]);
  const port = await g.port();
  const r = await get(port, '/header?z=1', { headers: { 'X-One': 'uno' } });
  t.equal(r.status, 201);
  const lines = await until(() => {
    const s = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n') : [];
    return s.length >= 2 && s.map((l) => JSON.parse(l));
  });
  t.same(lines, [
    ['pre', 'GET', '/header', 'z=1', [1, 1], 1],
    ['post', '/header?z=1', 'GET', 'uno', 'http', 'object', '201 Created', 201, 7],
  ]);
  g.kill('SIGTERM');
  await g.exit;
});

t.test("limits: limit_request_line, limit_request_fields, limit_request_body; Gunicorn's keepalive", async (t) => {
  const g = run(t, [
    '-k',
    'node',
    '--limit-request-line',
    '100',
    '--limit-request-fields',
    '5',
    '--limit-request-body',
    '10',
    '--keep-alive',
    '7',
    '-b',
    '127.0.0.1:0',
    `${APP}.plain:handler`,
  ]);
  const port = await g.port();
  const ok = await get(port, '/x');
  t.equal(ok.status, 200);
  t.equal((await request(port, { path: `/${'a'.repeat(120)}` })).status, 414, 'request line too long: 414');
  const many = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`X-H${i}`, 'v']));
  t.equal((await request(port, { headers: many })).status, 431, 'too many header fields: 431');
  t.equal((await request(port, { method: 'POST', body: 'x'.repeat(11) })).status, 413, 'body too large: 413');
  t.equal((await request(port, { method: 'POST', body: 'x'.repeat(10) })).status, 200);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const ka = await request(port, { agent });
  t.equal(ka.headers['keep-alive'], 'timeout=7', 'keepalive: keepAliveTimeout');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('TLS binds under -k node: node:https with certfile/keyfile', async (t) => {
  const certs = makeCerts();
  const g = run(t, ['-k', 'node', ...tlsArgs(certs), '-b', '127.0.0.1:0', `${APP}.plain:handler`]);
  const port = await g.port();
  const body = await new Promise((resolve, reject) => {
    https
      .get(
        { host: '127.0.0.1', port, path: '/tls', ca: fs.readFileSync(certs.ca.cert), servername: 'localhost' },
        (res) => {
          let s = '';
          res.on('data', (d) => (s += d));
          res.on('end', () => resolve(s));
        },
      )
      .on('error', reject);
  });
  t.equal(body, 'plain GET /tls 0\n');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('serve() in one process: an Express app and a Koa app on node:http; close() is graceful', async (t) => {
  const { serve } = await import('../dist/index.js');
  const { app: ex } = await import('./fixtures/apps/node/express_app.mjs');
  const { app: koa } = await import('./fixtures/apps/node/koa_app.mjs');
  const { handler } = await import('./fixtures/apps/node/plain.mjs');
  const a = await serve(ex, { bind: '127.0.0.1:0', errorlog: '/dev/null' });
  const port = a.addresses[0].port;
  const slow = get(port, '/slow?ms=300');
  await sleep(100);
  const closing = a.close();
  const r = await slow;
  t.same([r.status, r.headers.connection], [200, 'close'], 'the request in flight finished');
  await closing;
  t.ok((await get(port, '/')).error, 'closed');
  const b = await serve(koa, { bind: '127.0.0.1:0', errorlog: '/dev/null' });
  t.match((await get(b.addresses[0].port, '/')).body, /^hello from koa/);
  await b.close();
  const c = await serve(handler, { bind: '127.0.0.1:0', worker_class: 'node', errorlog: '/dev/null' });
  t.equal((await get(c.addresses[0].port, '/q')).body, 'plain GET /q 0\n');
  await c.close();
});

t.test('graceful TERM does not wait graceful_timeout for idle keep-alive or silent connections', async (t) => {
  const g = run(t, ['-k', 'node', '--keep-alive', '1', '-b', '127.0.0.1:0', `${APP}.plain:handler`]);
  const port = await g.port();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await request(port, { agent })).status, 200, 'an idle keep-alive connection');
  const silent = net.connect(port, '127.0.0.1');
  await new Promise((r) => silent.once('connect', r));
  const silentClosed = new Promise((r) => silent.once('close', r));
  silent.on('error', () => {});
  await sleep(300);
  const t0 = Date.now();
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  const took = Date.now() - t0;
  t.ok(took < 10000, `stopped in ${took} ms (graceful_timeout is 30 s)`);
  await silentClosed;
});
