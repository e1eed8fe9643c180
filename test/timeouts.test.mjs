// Request timeouts, the TERM drain of the accept queue and accept() without
// file descriptors, over real sockets and processes (issue 13, items 2, 3, 7).
// Every wait is bounded; the timing bounds are generous (a loaded machine).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';

import { APPS, get, run, sleep, until } from './helpers/gts.mjs';

const APP = path.join(APPS, 'timeouts.mjs');

/** Opens a connection; collects what comes back until the server closes or `timeoutMs` passes. */
function connect(port) {
  const s = net.connect(port, '127.0.0.1');
  const chunks = [];
  const c = { s, length: 0, ended: false, error: null, endedAt: 0 };
  c.opened = new Promise((r) => s.on('connect', r));
  c.closed = new Promise((r) =>
    s.on('close', () => {
      c.ended = true;
      c.endedAt = Date.now();
      r();
    }),
  );
  s.on('data', (d) => {
    chunks.push(d);
    c.length += d.length;
  });
  s.on('error', (e) => (c.error = e.code));
  c.text = () => Buffer.concat(chunks).toString('latin1');
  c.until = (timeoutMs) => Promise.race([c.closed, sleep(timeoutMs)]);
  return c;
}

const start = async (t, args, opts) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--access-logfile', '-', ...args, APP], opts);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  return { g, port };
};

t.test('request_timeout: a hung await is answered 503, logged, and the worker goes on', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const t0 = Date.now();
  const r = await get(port, '/hang', { timeoutMs: 15000 });
  t.equal(r.status, 503, '503 Service Unavailable');
  t.equal(r.headers.connection, 'close');
  t.ok(Date.now() - t0 < 10000, `answered after ${Date.now() - t0} ms (request_timeout 1 s)`);
  await g.waitFor(/"GET \/hang HTTP\/1.1" 503/, { from: 'stdout' });
  t.match(g.stderr, /Request timeout \(request_timeout\): GET \/hang; answered 503/);
  t.equal((await get(port, '/')).status, 200, 'the worker still serves');
});

t.test('request_timeout: nothing sent yet from a hung iterable: 503 and its close() runs', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const r = await get(port, '/hang-body', { timeoutMs: 15000 });
  t.equal(r.status, 503);
  await g.waitFor(/close\(\) ran for \/hang-body/, { from: 'stderr' });
  await g.waitFor(/"GET \/hang-body HTTP\/1.1" 503/, { from: 'stdout' });
});

t.test('request_timeout: a response already started is cut (connection closed), close() runs', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const c = connect(port);
  await c.opened;
  c.s.write('GET /hang-stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.until(15000);
  t.ok(c.ended, 'the server closed the connection');
  t.match(c.text(), /^HTTP\/1.1 200 OK\r\n[^]*first chunk\n\r\n$/, 'the head and the first chunk came');
  t.notMatch(c.text(), /0\r\n\r\n$/, 'no last chunk: the response is visibly cut short');
  await g.waitFor(/close\(\) ran for \/hang-stream/);
  await g.waitFor(/"GET \/hang-stream HTTP\/1.1" 200/, { from: 'stdout' });
  t.match(g.stderr, /Request timeout \(request_timeout\): GET \/hang-stream; the response was cut short/);
});

t.test('request_timeout does not count the time a slow upload takes, nor a quick app', async (t) => {
  const { port } = await start(t, ['--request-timeout', '1', '--body-timeout', '10']);
  const c = connect(port);
  await c.opened;
  c.s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n');
  for (let i = 0; i < 6; i++) {
    c.s.write(Buffer.alloc(250, 97)); // 1.5 s of upload at about 830 B/s: over request_timeout, under body_min_rate
    await sleep(250);
  }
  c.s.write(Buffer.alloc(500, 97));
  await c.until(15000);
  t.match(c.text(), /^HTTP\/1.1 200 OK[^]*got 2000\n$/);
});

t.test('body_timeout + body_min_rate: a body dripped at 1 byte per 0.5 s gets 408 and loses its slot', async (t) => {
  const { g, port } = await start(t, ['--body-timeout', '1', '--body-min-rate', '100']);
  const c = connect(port);
  await c.opened;
  c.s.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  const t0 = Date.now();
  const drip = setInterval(() => c.s.writable && c.s.write('a'), 500);
  await c.until(15000);
  clearInterval(drip);
  t.ok(c.ended, `closed after ${Date.now() - t0} ms`);
  t.match(c.text(), /^HTTP\/1.1 408 Request Timeout\r\n/, '408');
  t.ok(c.endedAt - t0 < 10000, 'well before the drip would have finished (500 s)');
  await g.waitFor(/upload failed in the application/);
  t.match(g.stderr, /GTS_ERR_BODY_TIMEOUT/);
});

t.test('body_timeout: a fast upload is not cut, however long it is', async (t) => {
  const { port } = await start(t, ['--body-timeout', '1', '--body-min-rate', '1000']);
  const c = connect(port);
  await c.opened;
  const n = 8 * 1024 * 1024;
  c.s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`);
  c.s.write(Buffer.alloc(n, 98));
  await c.until(20000);
  t.match(c.text(), new RegExp(`got ${n}\\n$`));
});

t.test('header_timeout is a deadline for the whole head, not an idle timer: a dripped head is cut', async (t) => {
  const { port } = await start(t, ['--header-timeout', '1']);
  const c = connect(port);
  await c.opened;
  const head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ' + 'a'.repeat(200) + '\r\n\r\n';
  let i = 0;
  const t0 = Date.now();
  const drip = setInterval(() => c.s.writable && i < head.length && c.s.write(head[i++]), 200);
  await c.until(15000);
  clearInterval(drip);
  t.ok(c.ended, 'closed');
  t.ok(c.endedAt - t0 < 8000, `after ${c.endedAt - t0} ms, with bytes still coming every 0.2 s`);
  t.equal(c.text(), '', 'no answer for a head that never completed');
});

t.test('write_timeout: a client that stops reading is closed', async (t) => {
  const { port } = await start(t, ['--write-timeout', '1']);
  const c = connect(port);
  await c.opened;
  c.s.pause(); // read nothing: the response (32 MiB) fills the socket buffers
  c.s.write('GET /big?mb=32 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await sleep(4000);
  c.s.resume();
  await c.until(15000);
  t.ok(c.ended, 'the connection ended');
  t.ok(c.length < 32 * 1024 * 1024, `the response was cut: ${c.length} bytes of 32 MiB`);
});

t.test(
  'a keep-alive response still leaving when keepalive runs out is not cut (write_timeout guards it)',
  async (t) => {
    const { port } = await start(t, ['--keep-alive', '1', '--write-timeout', '20']);
    const c = connect(port);
    await c.opened;
    c.s.pause();
    c.s.write('GET /big?mb=32 HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(3000); // past keepalive, while the response waits for the client
    c.s.resume();
    const want = 32 * 1024 * 1024;
    await until(() => c.length >= want || c.ended, { timeoutMs: 15000 });
    const head = c.text().indexOf('\r\n\r\n') + 4;
    t.equal(c.length - head, want, 'the whole body arrived');
    c.s.destroy();
  },
);

t.test('TERM: connections queued in the accept queue are accepted and answered, not reset', async (t) => {
  // 1 worker, worker_connections 10, 60 clients of a 200 ms application, TERM 100 ms in
  // (before: 10 answered, 50 reset)
  const { g, port } = await start(t, ['--worker-connections', '10', '--graceful-timeout', '20']);
  await sleep(200);
  const clients = Array.from({ length: 60 }, () => {
    const c = connect(port);
    c.opened.then(() => c.s.write('GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n'));
    return c;
  });
  await sleep(100);
  g.kill('SIGTERM');
  await Promise.all(clients.map((c) => c.until(20000)));
  const answered = clients.filter((c) => /^HTTP\/1.1 200 OK[^]*slow done/.test(c.text()));
  t.equal(answered.length, 60, `answered: ${answered.length} of 60`);
  t.equal(clients.filter((c) => c.error === 'ECONNRESET').length, 0, 'no resets');
  t.ok(
    answered.filter((c) => /\r\nConnection: close\r\n/i.test(c.text())).length >= 50,
    'those answered during the stop with Connection: close',
  );
  t.equal((await g.exit).code, 0);
  t.match(g.stderr, /Shutting down: Master/);
});

t.test('TERM: once stopping, new connections are not taken in (the queue only empties)', async (t) => {
  const { g, port } = await start(t, ['--graceful-timeout', '10']);
  const busy = get(port, '/slow?ms=2000', { timeoutMs: 15000 });
  await sleep(300);
  g.kill('SIGTERM');
  await g.waitFor(/Handling signal: term/);
  await sleep(300);
  const late = await get(port, '/', { timeoutMs: 800 });
  t.ok(late.error !== undefined, `a connection attempted after the stop began is not served (${late.error})`);
  t.equal((await busy).status, 200, 'the request in flight finished');
  t.equal((await g.exit).code, 0);
});

const prlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test(
  'out of file descriptors (EMFILE): open connections are served, accepting resumes, logged once',
  { skip: !prlimit && 'prlimit is not installed' },
  async (t) => {
    // ulimit -n 64 for the server: the worker runs out of fds with about 40 connections
    const { g, port } = await start(t, ['--keep-alive', '60'], { prefix: ['prlimit', '--nofile=64'] });
    const open = [];
    for (let i = 0; i < 70; i++) {
      const c = connect(port);
      await c.opened;
      open.push(c);
    }
    await g.waitFor(/accept\(\) failed: Too many open files \(EMFILE\)/);
    const worker = Number(/Booting worker with pid: (\d+)/.exec(g.stderr)[1]);
    const cpu = () => {
      const stat = fs.readFileSync(`/proc/${worker}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
    };
    const cpu0 = cpu();
    await sleep(2000);
    const used = cpu() - cpu0;
    t.ok(used < 1, `no busy loop while out of fds: ${used.toFixed(2)} s of CPU in 2 s`);
    t.equal([...g.stderr.matchAll(/accept\(\) failed/g)].length, 1, 'logged once in the interval');
    // the first connections were accepted: they are served
    open[0].s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => /hello/.test(open[0].text()), { timeoutMs: 5000 });
    t.match(open[0].text(), /^HTTP\/1.1 200 OK/, 'an open connection is served');
    // the last ones wait in the kernel queue; free fds and they are accepted and answered
    const last = open[open.length - 1];
    last.s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    for (const c of open.slice(0, 40)) c.s.destroy();
    await last.until(10000);
    t.match(last.text(), /^HTTP\/1.1 200 OK[^]*hello/, 'a connection queued meanwhile is answered');
    t.equal(last.error, null, 'not reset');
    for (const c of open) c.s.destroy();
  },
);

t.test('the access log on a full disk (/dev/full): requests are still served', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--access-logfile', '/dev/full', APP]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const statuses = [];
  for (let i = 0; i < 20; i++) statuses.push((await get(port, '/')).status);
  t.same(statuses, Array(20).fill(200), '20 requests, 20 answers');
  t.equal(g.exited, null, 'the server is still running');
  t.notMatch(g.stderr, /exited with code/);
});
