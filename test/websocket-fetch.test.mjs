// Fetch-style WebSockets the way Bun does them: `fetch(request, server)` with server.upgrade(request,
// { data, headers, protocol }) and `websocket: { open, message, drain, close }` beside fetch; server.publish
// and the package's publish() from HTTP handlers (fetch-style and WSGI-style). Real processes (the CLI) and
// serve() in this process, with the `ws` npm client and Python's websockets (Debian's python3-websockets).
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import t from 'tap';
import WebSocket from 'ws';

import { publish, serve } from '../dist/index.js';
import { ROOT, sleep, startOneWorker } from './helpers/gts.mjs';
import { PY, havePython, openWs as open, waitFor } from './helpers/ws-client.mjs';
import { app as fetchApp, handler as fetchFn } from './fixtures/apps/ws_fetch.mjs';

const start = startOneWorker;

/** a handshake the server refuses: the status it answered with */
function refused(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode);
      req.destroy();
    });
    ws.once('open', () => reject(new Error('opened')));
    ws.once('error', () => {});
  });
}

/** POST body to p: the recipients the app reports */
const post = async (base, p, body) => {
  const r = await fetch(`${base}${p}`, { method: 'POST', body });
  if (r.status !== 200) throw new Error(`POST ${p}: ${r.status} ${await r.text()}`);
  return (await r.json()).recipients;
};

/** the behaviours of test/fixtures/apps/ws_fetch.mjs, against a server at `port` */
async function exercise(t, port) {
  const base = `ws://127.0.0.1:${port}`;
  const http = `http://127.0.0.1:${port}`;
  {
    const { ws, messages, closed } = await open(`${base}/echo?id=7`);
    t.ok(await waitFor(() => messages.length === 1));
    t.same(
      JSON.parse(messages[0].data.toString()),
      { data: { id: '7', path: '/echo' }, protocol: '', remote: '127.0.0.1' },
      "upgrade's data is ws.data; the remote address",
    );
    ws.send('héllo');
    ws.send(Buffer.from([0, 1, 255]));
    t.ok(await waitFor(() => messages.length === 3), 'echoes');
    t.same(
      messages.slice(1).map((m) => [m.isBinary, m.data.toString('hex')]),
      [
        [false, Buffer.from('héllo').toString('hex')],
        [true, '0001ff'],
      ],
      'text as text, binary as binary',
    );
    ws.close(4001, 'bye');
    t.same(await closed, { code: 4001, reason: 'bye' });
  }
  {
    const r = await fetch(`${http}/echo`);
    t.same(await r.json(), { upgraded: false }, 'a plain request: server.upgrade() is false');
  }
  {
    const { ws, messages, closed } = await open(`${base}/proto`, ['chat', 'superchat']);
    t.equal(ws.protocol, 'superchat', "the subprotocol from Bun's headers option");
    t.equal(ws.upgradeHeaders['x-extra'], 'yes', 'an extra 101 header');
    t.equal(ws.upgradeHeaders['sec-websocket-protocol'], 'superchat', 'one Sec-WebSocket-Protocol');
    t.ok(await waitFor(() => messages.length === 1));
    t.equal(JSON.parse(messages[0].data.toString()).protocol, 'superchat', 'ws.protocol');
    ws.close();
    await closed;
  }
  {
    const { ws, closed } = await open(`${base}/proto-option`, ['chat']);
    t.equal(ws.protocol, 'chat', 'the subprotocol from options.protocol');
    t.equal(ws.upgradeHeaders['x-extra'], 'option', 'headers as [name, value] pairs');
    ws.close();
    await closed;
  }
  t.equal(await refused(`${base}/auth`), 401, 'a rejected upgrade: the 401 Response');
  {
    const { ws, messages, closed } = await open(`${base}/auth?token=secret`);
    t.ok(await waitFor(() => messages.length === 1));
    t.same(JSON.parse(messages[0].data.toString()).data, { path: '/auth', user: 'alice' }, 'accepted');
    ws.close();
    await closed;
  }
  {
    const { ws, messages, closed } = await open(`${base}/async`);
    ws.send('after an await');
    t.ok(await waitFor(() => messages.length === 2), 'an upgrade after an await');
    t.equal(messages[1].data.toString(), 'after an await');
    ws.close();
    await closed;
  }
  {
    const a = await open(`${base}/room`);
    const b = await open(`${base}/room`);
    t.equal(await post(http, '/server-publish', 'one'), 2, 'server.publish: two recipients');
    t.equal(await post(http, '/publish', 'two'), 2, "the package's publish(): two recipients");
    t.ok(await waitFor(() => a.messages.length === 2 && b.messages.length === 2), 'both subscribers got both');
    t.same(
      a.messages.map((m) => m.data.toString()),
      ['one', 'two'],
    );
    t.same(
      b.messages.map((m) => [m.isBinary, m.data.toString()]),
      [
        [false, 'one'],
        [false, 'two'],
      ],
      'strings published as text',
    );
    b.ws.close();
    await b.closed;
    await sleep(50);
    t.equal(await post(http, '/publish', 'three'), 1, 'a closed subscriber is gone');
    t.ok(await waitFor(() => a.messages.length === 3));
    a.ws.close();
    await a.closed;
  }
  await sleep(100);
  const closes = await (await fetch(`${http}/closes`)).json();
  t.same(
    closes.find((c) => c.path === '/echo'),
    { path: '/echo', code: 4001, reason: 'bye' },
    "the close handler: the peer's code and reason",
  );
}

t.test('the CLI serves { fetch, websocket }: data, subprotocol, rejected upgrade, publish (ws client)', async (t) => {
  const { g, port } = await start(t, ['--access-logfile', '-', 'test.fixtures.apps.ws_fetch:app']);
  t.ok(
    await g.waitFor(/Application: an object with a fetch method .*, with websocket handlers/),
    'the boot log says so',
  );
  await exercise(t, port);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.match(g.stdout, /"GET \/echo\?id=7 HTTP\/1\.1" 101 /, 'the upgrade request is logged with status 101');
  t.match(g.stdout, /"GET \/auth HTTP\/1\.1" 401 /, 'the rejected one with its 401');
  t.notMatch(g.stderr, /Error/);
});

t.test('-k fetch with a bare function carrying .websocket', async (t) => {
  const { g, port } = await start(t, ['-k', 'fetch', 'test.fixtures.apps.ws_fetch:handler']);
  const { ws, messages, closed } = await open(`ws://127.0.0.1:${port}/echo?id=fn`);
  t.ok(await waitFor(() => messages.length === 1));
  t.same(JSON.parse(messages[0].data.toString()).data, { id: 'fn', path: '/echo' });
  ws.close();
  await closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('Python websockets against the fetch app through the CLI', async (t) => {
  if (!havePython(t)) return;
  const { g, port } = await start(t, ['test.fixtures.apps.ws_fetch:app']);
  const py = spawn(PY, [path.join(ROOT, 'test/fixtures/ws_fetch_client.py'), `ws://127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const kill = setTimeout(() => py.kill(), 60_000);
  let stderr = '';
  py.stderr.on('data', (d) => (stderr += d));
  const lines = readline.createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`python ended early: ${stderr}`);
    return JSON.parse(r.value);
  };
  const r = await next();
  t.equal(r.protocol, 'superchat', `subprotocol chosen (websockets ${r.version})`);
  t.equal(r.extra, 'yes');
  t.same(r.first.data, { path: '/proto' });
  t.equal(r.echo, 'héllo', 'text echoed as a str');
  t.equal(r.echo_binary, '00ff', 'binary echoed as bytes');
  t.same(r.data, { id: 'py', path: '/echo' }, 'user data');
  t.equal(r.rejected, 401, 'a rejected upgrade: 401');
  t.same(await next(), { ready: true });
  t.equal(await post(`http://127.0.0.1:${port}`, '/publish', 'to python'), 1, 'one recipient');
  t.same(await next(), { published: 'to python' }, 'the published message reached Python');
  const code = await new Promise((resolve) => py.on('exit', resolve));
  clearTimeout(kill);
  t.equal(code, 0, `python exited cleanly ${stderr}`);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('server.upgrade() without websocket handlers: 500, the coded error logged', async (t) => {
  const { g, port } = await start(t, ['test.fixtures.apps.ws_fetch:noHandlers']);
  t.equal(await refused(`ws://127.0.0.1:${port}/ws`), 500, 'a handshake: 500');
  const r = await fetch(`http://127.0.0.1:${port}/plain`);
  t.equal(r.status, 500, 'a plain request too: the app is wrong whatever the request');
  await r.text();
  t.ok(
    await waitFor(() => (g.stderr.match(/GTS_ERR_NO_WEBSOCKET_HANDLERS: server\.upgrade\(\)/g) ?? []).length === 2),
    'logged with its code, both times',
  );
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('serve() in this process: { fetch, websocket } and a bare function with worker_class fetch', async (t) => {
  t.equal(publish('room', 'nobody'), 0, 'publish() before any server: 0');
  t.throws(() => publish(1, 'x'), TypeError, 'a topic that is not a string');
  t.throws(() => publish('room', { x: 1 }), TypeError, 'data that is not a string or bytes');
  for (const [name, app, opts] of [
    ['object', fetchApp, {}],
    ['function', fetchFn, { worker_class: 'fetch' }],
  ]) {
    const h = await serve(app, { bind: '127.0.0.1:0', graceful_timeout: 5, loglevel: 'warning', ...opts });
    const port = Number(new URL(h.url).port);
    await t.test(name, (t) => exercise(t, port));
    await h.close();
  }
  t.equal(publish('room', 'nobody'), 0, 'publish() after the servers closed: 0');
});

t.test('serve(): websocket options that are not handlers are refused in one line', async (t) => {
  const fetch = () => new Response('x');
  await t.rejects(
    serve({ fetch, websocket: { message() {}, maxPayloadLength: 1024 } }, '127.0.0.1:0'),
    /websocket\.maxPayloadLength is not supported: .*websocket_max_message_size/,
  );
  await t.rejects(
    serve({ fetch, websocket: { message: 'echo' } }, '127.0.0.1:0'),
    /websocket\.message must be a function/,
  );
  await t.rejects(serve({ fetch, websocket: { pong() {} } }, '127.0.0.1:0'), /websocket\.pong: no ping\/pong handlers/);
  await t.rejects(serve({ fetch, websocket: 'yes' }, '127.0.0.1:0'), /websocket must be an object of handlers/);
});

t.test("the package's publish() from a WSGI-style handler (POST /notify)", async (t) => {
  const application = async (environ, start_response) => {
    const upgrade = environ['gunicorn.websocket'];
    if (upgrade) {
      upgrade({ open: (ws) => ws.subscribe('news') });
      return [];
    }
    const body = await environ['wsgi.input'].read();
    const n = publish('news', body, false); // bytes sent as text
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [String(n)];
  };
  const h = await serve(application, { bind: '127.0.0.1:0', graceful_timeout: 5, loglevel: 'warning' });
  const port = Number(new URL(h.url).port);
  const a = await open(`ws://127.0.0.1:${port}/news`);
  const r = await fetch(`http://127.0.0.1:${port}/notify`, { method: 'POST', body: 'extra!' });
  t.equal(await r.text(), '1', 'one recipient');
  t.ok(await waitFor(() => a.messages.length === 1));
  t.same([a.messages[0].isBinary, a.messages[0].data.toString()], [false, 'extra!'], 'isBinary false: text');
  a.ws.close();
  await a.closed;
  await h.close();
});

t.test('examples/websocket_fetch.mjs through the CLI: chat and POST /notify', async (t) => {
  const { g, port } = await start(t, ['examples.websocket_fetch']);
  const alice = await open(`ws://127.0.0.1:${port}/chat?name=alice`, ['chat']);
  t.equal(alice.ws.protocol, 'chat', 'the chat subprotocol when offered');
  const bob = await open(`ws://127.0.0.1:${port}/chat?name=bob`);
  t.equal(bob.ws.protocol, '', 'none when not offered');
  const text = (c) => c.messages.map((m) => m.data.toString());
  t.ok(await waitFor(() => text(alice).includes('* bob joined')), 'alice hears bob join');
  bob.ws.send('hi all');
  t.ok(await waitFor(() => text(alice).includes('bob: hi all') && text(bob).includes('bob: hi all')));
  const r = await fetch(`http://127.0.0.1:${port}/notify`, { method: 'POST', body: 'maintenance at 3' });
  t.same(await r.json(), { recipients: 2 });
  t.ok(await waitFor(() => text(alice).includes('* maintenance at 3') && text(bob).includes('* maintenance at 3')));
  bob.ws.close();
  await bob.closed;
  t.ok(await waitFor(() => text(alice).includes('* bob left')), 'alice hears bob leave');
  const plain = await fetch(`http://127.0.0.1:${port}/chat?name=carol`);
  t.equal(plain.status, 426, 'a plain request to /chat: 426');
  await plain.text();
  alice.ws.close();
  await alice.closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.notMatch(g.stderr, /Error/);
});
