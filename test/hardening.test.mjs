// Slow and abusive clients: a client that never reads, the worker_connections
// cap, and a crowd of slow-header clients next to a normal one.
import net from 'node:net';
import t from 'tap';

import { request } from './helpers/client.mjs';
import { startServer } from './helpers/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const kind of ['sync generator', 'async generator']) {
  t.test(`a client that never reads (${kind}): the app is held back, then finishes once read`, async (t) => {
    let produced = 0;
    let closed = false;
    const chunk = Buffer.alloc(64 * 1024, 'q');
    const total = 1024 * chunk.length; // 64 MiB
    const { port } = await startServer(t, (env, sr) => {
      sr('200 OK', [
        ['Content-Type', 'application/octet-stream'],
        ['Content-Length', String(total)],
      ]);
      const it =
        kind === 'sync generator'
          ? (function* () {
              for (let i = 0; i < 1024; i++) {
                produced += chunk.length;
                yield chunk;
              }
            })()
          : (async function* () {
              for (let i = 0; i < 1024; i++) {
                produced += chunk.length;
                yield chunk;
              }
            })();
      it.close = () => {
        closed = true;
      };
      return it;
    });
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.pause(); // do not read yet
    sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(1500);
    const first = produced;
    await sleep(500);
    t.ok(first < 32 * 1024 * 1024, `the app produced ${(first / 2 ** 20).toFixed(1)} MiB of 64 while nobody read`);
    t.equal(produced, first, 'and waits (backpressure)');
    let got = 0;
    sock.on('data', (d) => {
      got += d.length;
    });
    sock.resume();
    for (let i = 0; i < 400 && !(closed && got >= total); i++) await sleep(25);
    t.equal(produced, total, 'once read, the app produced everything');
    t.ok(got > total, `the client received the whole response (${got} bytes)`);
    t.ok(closed, 'close() called after the response');
    sock.destroy();
  });
}

t.test('a client that disconnects mid-stream stops the app', async (t) => {
  let closed = false;
  const chunk = Buffer.alloc(64 * 1024, 'q');
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', []);
    const it = (function* () {
      for (;;) yield chunk;
    })();
    it.close = () => {
      closed = true;
    };
    return it;
  });
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((r) => sock.once('data', r));
  sock.destroy();
  for (let i = 0; i < 100 && !closed; i++) await sleep(20);
  t.ok(closed, 'the endless body was closed');
});

t.test('a client that pipelines without reading cannot make the server buffer without limit', async (t) => {
  let served = 0;
  const big = 'b'.repeat(256 * 1024);
  const { port } = await startServer(t, (env, sr) => {
    served++;
    sr('200 OK', []);
    return [big];
  });
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.pause();
  const req = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  for (let i = 0; i < 2000; i++) sock.write(req);
  await sleep(1500);
  t.ok(served < 100, `only ${served} of 2000 pipelined requests were run while the answers were not read`);
  sock.destroy();
});

t.test('a burst of pipelined requests past the output high-water mark is answered whole, in order', async (t) => {
  // The answers to 3,000 small requests sent in one write pass the 64 KiB output mark many times over; a
  // write that completes at once brings no write callback, and the requests still buffered must go on anyway.
  for (const [kind, app] of [
    ['sync', (env, sr) => (sr('200 OK', [['Content-Type', 'text/plain']]), [env.PATH_INFO])],
    ['async', async (env, sr) => (sr('200 OK', [['Content-Type', 'text/plain']]), [env.PATH_INFO])],
  ]) {
    const { port } = await startServer(t, app);
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      text += d;
    });
    await new Promise((r) => sock.on('connect', r));
    const N = 3000;
    let req = '';
    for (let i = 0; i < N; i++) req += `GET /p${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    sock.write(req);
    const deadline = Date.now() + 20000;
    while ((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length < N && Date.now() < deadline) await sleep(50);
    const bodies = [...text.matchAll(/\r\n\r\n(\/p\d+)/g)].map((m) => m[1]);
    t.equal(bodies.length, N, `${kind}: all ${N} answered`);
    t.ok(
      bodies.every((b, i) => b === `/p${i}`),
      `${kind}: in order`,
    );
    sock.destroy();
  }
});

t.test('worker_connections: extra connections wait in the backlog, then get served', async (t) => {
  const { port, srv } = await startServer(
    t,
    async (env, sr) => {
      sr('200 OK', []);
      return ['ok'];
    },
    { worker_connections: 2, keepalive: 30 },
  );
  const hold = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.resume();
    await new Promise((r) => s.on('connect', r));
    s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    hold.push(s);
  }
  await sleep(200);
  t.equal(srv.connections(), 2, 'two connections open (keep-alive)');
  const third = request(port, { timeoutMs: 5000 });
  await sleep(500);
  t.equal(srv.connections(), 2, 'the third waits in the backlog');
  hold[0].destroy();
  const r = await third;
  t.equal(r.status, 200, 'and is served once a slot frees up');
  hold[1].destroy();
});

t.test('1000 slow-header clients do not slow a normal client; they are cut off after header_timeout', async (t) => {
  const { port, srv } = await startServer(
    t,
    (env, sr) => {
      sr('200 OK', []);
      return ['ok'];
    },
    { header_timeout: 2, worker_connections: 5000 },
  );
  const slow = [];
  let closedByServer = 0;
  for (let i = 0; i < 1000; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => {
      closedByServer++;
    });
    s.resume();
    slow.push(s);
  }
  await Promise.all(slow.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r()))));
  for (const s of slow) s.write('GET / HTTP/1.1\r\nHost: a\r\n');
  const drip = setInterval(() => {
    for (const s of slow) if (!s.destroyed) s.write('X: y\r\n');
  }, 300);
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const r = await request(port);
    times.push(performance.now() - t0);
    t.equal(r.status, 200);
  }
  t.ok(Math.max(...times) < 1000, `a normal client is answered (slowest of 10: ${Math.max(...times).toFixed(1)} ms)`);
  for (let i = 0; i < 100 && closedByServer < 1000; i++) await sleep(50);
  clearInterval(drip);
  t.equal(closedByServer, 1000, 'every slow client was disconnected after header_timeout');
  t.equal(srv.connections(), 0, 'and nothing is left open');
});
