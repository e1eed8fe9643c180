// WebSockets under -k node: the `ws` library (npm) serves them through
// node:http's 'upgrade' event, unchanged, in the arbiter's pre-forked workers;
// clients are the `ws` client and Python's websockets (Debian's
// python3-websockets). Graceful stops (TERM, HUP) with sockets open.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { WebSocket } from 'ws';

import { ROOT, alive, get, load, run, sleep, until } from './helpers/gts.mjs';
import { makeCerts, tlsArgs } from './helpers/tls.mjs';

const APP = 'test.fixtures.apps.node.ws_app';
const PY = '/usr/bin/python3';

/** Opens a `ws` client; resolves a handle with the messages so far, send/next and the close it saw. */
function connect(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const h = { ws, msgs: [], waiters: [] };
    h.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
    ws.on('message', (d, bin) => {
      h.msgs.push(bin ? d : String(d));
      for (const w of h.waiters.splice(0)) w();
    });
    /** sends `m` and resolves the next message */
    h.ask = (m) =>
      new Promise((r, j) => {
        const n = h.msgs.length;
        const timer = setTimeout(() => j(new Error(`no answer to ${m}`)), 10000);
        const check = () => {
          if (h.msgs.length > n) {
            clearTimeout(timer);
            r(h.msgs[n]);
          } else h.waiters.push(check);
        };
        h.waiters.push(check);
        ws.send(m);
      });
    ws.once('open', () => resolve(h));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
}

const pidOf = (answer) => Number(answer.split(' ')[0]);

t.test('new WebSocketServer({ server }) under -k node -w 2: echo, plain HTTP, access log 101', async (t) => {
  const g = run(t, ['-k', 'node', '-w', '2', '-b', '127.0.0.1:0', '--access-logfile', '-', `${APP}:server`]);
  const port = await g.port();
  await g.waitFor(/Serving '[^']*ws_app:server' with node:http: an http\.Server/, { count: 2 });
  const hello = await get(port, '/');
  t.equal(hello.status, 200);
  t.match(hello.body, /^hello \d+\n$/);
  const clients = await Promise.all(Array.from({ length: 6 }, () => connect(`ws://127.0.0.1:${port}/any/path`)));
  const pids = new Set();
  for (const [i, c] of clients.entries()) {
    const a = await c.ask(`msg ${i}`);
    t.match(a, new RegExp(`^\\d+ msg ${i}$`));
    pids.add(pidOf(a));
    const big = 'x'.repeat(100_000);
    t.equal(await c.ask(big), `${pidOf(a)} ${big}`, 'a 100 kB message');
    const bin = Buffer.from([0, 1, 2, 255]);
    t.same(await c.ask(bin), bin, 'binary echoed');
  }
  t.ok(
    [...pids].every((p) => g.workers().includes(p)),
    `answered by the workers (${[...pids]})`,
  );
  for (const c of clients) c.ws.close(1000, 'bye');
  for (const c of clients) t.equal((await c.closed).code, 1000, 'clean close');
  await g.waitFor(/"GET \/any\/path HTTP\/1\.1" 101 0 "-" "-"\n/, { from: 'stdout', count: 6 });
  t.pass('the access log has a 101 line per handshake');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test("noServer + server.on('upgrade'), and a function's upgrade property; Python websockets", async (t) => {
  for (const name of ['noServer', 'app']) {
    const g = run(t, ['-k', 'node', '-w', '2', '-b', '127.0.0.1:0', `${APP}:${name}`]);
    const port = await g.port();
    await g.waitFor(/Booting worker/, { count: 2 });
    const c = await connect(`ws://127.0.0.1:${port}/ws`);
    t.match(await c.ask('hi'), /^\d+ hi$/, `${name}: echo`);
    if (name === 'noServer') {
      await t.rejects(connect(`ws://127.0.0.1:${port}/other`), /handshake answered 404/, 'its own 404 refusal');
    }
    t.equal((await get(port, '/')).status, 200, `${name}: plain HTTP too`);
    c.ws.close();
    await c.closed;
    if (fs.existsSync(PY)) {
      const out = await new Promise((r) =>
        execFile(
          PY,
          [path.join(ROOT, 'test/fixtures/ws_client.py'), `ws://127.0.0.1:${port}/ws`, 'one', 'two'],
          {
            timeout: 20000,
          },
          (err, stdout, stderr) => r({ err, stdout, stderr }),
        ),
      );
      t.error(out.err, `python websockets ran (${out.stderr})`);
      t.match(out.stdout, /^\d+ one\n\d+ two\n000102\n$/, `${name}: python websockets echo`);
    }
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  }
});

t.test(
  'TERM with a socket open: the app closes it with 1001 (server close), or graceful_timeout ends it',
  async (t) => {
    // the app sends 1001 on its server's 'close'
    const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', '--graceful-timeout', '20', `${APP}:server`]);
    const port = await g.port();
    const c = await connect(`ws://127.0.0.1:${port}/`);
    t.match(await c.ask('x'), /^\d+ x$/);
    const t0 = Date.now();
    g.kill('SIGTERM');
    const closed = await c.closed;
    t.equal(closed.code, 1001, 'close 1001 from the app');
    t.equal(closed.reason, 'worker stopping');
    t.equal((await g.exit).code, 0);
    t.ok(Date.now() - t0 < 10000, `stopped long before graceful_timeout (${Date.now() - t0} ms)`);

    // an app that leaves its sockets open: the worker ends them at graceful_timeout
    const q = run(t, ['-k', 'node', '-b', '127.0.0.1:0', '--graceful-timeout', '2', `${APP}:noServer`]);
    const qport = await q.port();
    const d = await connect(`ws://127.0.0.1:${qport}/ws`);
    t.match(await d.ask('y'), /^\d+ y$/);
    const t1 = Date.now();
    q.kill('SIGTERM');
    await sleep(1000);
    t.match(await d.ask('still open'), /still open$/, 'the socket stays usable during graceful_timeout');
    const dc = await d.closed;
    const took = Date.now() - t1;
    t.equal(dc.code, 1006, 'dropped (no close frame: the app did not send one)');
    t.ok(took >= 1500 && took < 8000, `ended at graceful_timeout (${took} ms)`);
    const ex = await q.exit;
    t.equal(ex.signal, null, 'the master exited by itself');
    t.ok(Date.now() - t1 < 10000, 'the master did not hang');
  },
);

t.test('worker_stopping: the app-with-upgrade shape closes its sockets with 1001 on TERM', async (t) => {
  const conf = path.join(ROOT, 'test/fixtures/apps/node/ws.conf.mjs');
  const g = run(t, ['-c', conf, '-k', 'node', '-b', '127.0.0.1:0', '--graceful-timeout', '20', `${APP}:app`]);
  const port = await g.port();
  const c = await connect(`ws://127.0.0.1:${port}/`);
  const pid = pidOf(await c.ask('z'));
  const t0 = Date.now();
  g.kill('SIGTERM');
  const closed = await c.closed;
  t.same(closed, { code: 1001, reason: `worker ${pid} stopping` }, 'close 1001 from the hook');
  t.equal((await g.exit).code, 0);
  t.ok(Date.now() - t0 < 10000, `stopped long before graceful_timeout (${Date.now() - t0} ms)`);
});

t.test('HUP with WebSockets open, under HTTP load: zero failed requests, new sockets on the new workers', async (t) => {
  const g = run(t, ['-k', 'node', '-w', '2', '-b', '127.0.0.1:0', '--graceful-timeout', '10', `${APP}:server`]);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  await until(async () => (await get(port, '/')).status === 200);
  const oldWorkers = g.workers();
  const open = await Promise.all(Array.from({ length: 4 }, () => connect(`ws://127.0.0.1:${port}/`)));
  for (const c of open) t.ok(oldWorkers.includes(pidOf(await c.ask('before'))), 'served by an old worker');
  const l = load(port, { concurrency: 4 });
  await sleep(500);
  g.kill('SIGHUP');
  await g.waitFor(/Hang up: Master/);
  for (const c of open) t.equal((await c.closed).code, 1001, 'the old worker closed its socket with 1001');
  t.ok(await until(() => oldWorkers.every((p) => !alive(p)), { timeoutMs: 15000 }), 'the old workers stopped');
  const fresh = await connect(`ws://127.0.0.1:${port}/`);
  const a = await fresh.ask('after');
  t.notOk(oldWorkers.includes(pidOf(a)), `a new worker answers (${a})`);
  await sleep(300);
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed HTTP requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.ok(stats.ok > 20, `load ran (${stats.ok})`);
  fresh.ws.close();
  await fresh.closed;
  t.notMatch(g.stderr, /Error handling|exited with code/);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('max_requests counts handshakes: the worker recycles and its sockets get 1001', async (t) => {
  const g = run(t, ['-k', 'node', '-w', '1', '--max-requests', '3', '-b', '127.0.0.1:0', `${APP}:server`]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const first = g.workers();
  const socks = [];
  for (let i = 0; i < 3; i++) socks.push(await connect(`ws://127.0.0.1:${port}/`));
  await g.waitFor(/Autorestarting worker after current request\./);
  for (const c of socks) t.equal((await c.closed).code, 1001, 'closed with 1001 by the recycled worker');
  await g.waitFor(/Booting worker/, { count: 2, timeoutMs: 20000 });
  const c = await until(async () => connect(`ws://127.0.0.1:${port}/`).catch(() => null));
  t.notOk(first.includes(pidOf(await c.ask('new'))), 'a new worker serves WebSockets');
  c.ws.close();
  await c.closed;
  t.notMatch(g.stderr, /exited with code/, 'the recycled worker exited 0');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('wss:// with certfile; limit_request_line refuses a long handshake', async (t) => {
  const certs = makeCerts();
  const g = run(t, [
    '-k',
    'node',
    ...tlsArgs(certs),
    '--limit-request-line',
    '200',
    '-b',
    '127.0.0.1:0',
    `${APP}:server`,
  ]);
  const port = await g.port();
  const tls = { ca: fs.readFileSync(certs.ca.cert), servername: 'localhost' };
  const c = await connect(`wss://127.0.0.1:${port}/secure`, tls);
  t.match(await c.ask('over tls'), /^\d+ over tls$/, 'wss echo');
  c.ws.close();
  await c.closed;
  await t.rejects(
    connect(`wss://127.0.0.1:${port}/${'x'.repeat(300)}`, tls),
    /handshake answered 414/,
    'limit_request_line: 414',
  );
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('an http.Server that is already listening is refused with one line', async (t) => {
  const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', 'test.fixtures.apps.node.ws_listening:server']);
  const ex = await g.exit;
  t.not(ex.code, 0);
  t.match(g.stderr, /is an http\.Server that is already listening: gunicorn-ts serves it on its own sockets/);
});

t.test('serve(httpServer) in this process: ws echo; close() sends 1001 through the server close', async (t) => {
  const http = await import('node:http');
  const { WebSocketServer } = await import('ws');
  const { serve } = await import('../dist/index.js');
  const server = http.createServer((req, res) => res.end('plain\n'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`got ${d}`)));
  server.on('close', () => {
    for (const c of wss.clients) c.close(1001);
  });
  const h = await serve(server, { bind: '127.0.0.1:0', graceful_timeout: 5, loglevel: 'warning' });
  const port = Number(new URL(h.url).port);
  const c = await connect(`ws://127.0.0.1:${port}/`);
  t.equal(await c.ask('a'), 'got a');
  t.equal((await get(port, '/')).body, 'plain\n');
  const t0 = Date.now();
  await h.close();
  t.equal((await c.closed).code, 1001);
  t.ok(Date.now() - t0 < 4000, 'closed without waiting for graceful_timeout');
});
