// sendfile: a wsgi.file_wrapper over a regular file is sent by the native core
// (sendfile(2)) from the file's current offset, framed by Content-Length; a slow
// reader, HEAD, pipelining behind it and --no-sendfile still get the exact bytes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { startServer } from './helpers/server.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-sendfile-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const FILE = path.join(dir, 'data.bin');
const DATA = crypto.randomBytes(8 * 1024 * 1024 + 123);
fs.writeFileSync(FILE, DATA);
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

// The file handle is duck-typed (fd, stat, read): with sendfile its read() is never called.
let reads = 0;
function handle(fd) {
  return {
    fd,
    stat: () => fs.promises.stat(FILE),
    read: (buf, off, len, pos) => {
      reads++;
      return new Promise((res, rej) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res({ bytesRead: n }))));
    },
    close: () => fs.closeSync(fd),
  };
}

function app(environ, start_response) {
  const q = new URLSearchParams(environ.QUERY_STRING);
  const fd = fs.openSync(FILE, 'r');
  const skip = Number(q.get('skip') ?? 0);
  if (skip > 0) fs.readSync(fd, Buffer.alloc(skip), 0, skip, null); // the offset moves: send from there
  const headers = [['Content-Type', 'application/octet-stream']];
  // without it the block path would chunk the body; sendfile computes one either way
  if (!q.has('nolength')) headers.push(['Content-Length', String(DATA.length - skip)]);
  start_response('200 OK', headers);
  return new environ['wsgi.file_wrapper'](q.has('handle') ? handle(fd) : fd);
}

/** sends raw requests on one connection; resolves with everything received once the server closes */
function exchange(port, raw, { pauseMs = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    s.on('connect', () => s.write(raw));
    if (pauseMs > 0) {
      s.pause();
      setTimeout(() => s.resume(), pauseMs);
    }
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', () => {});
    setTimeout(() => s.destroy(), 30000);
  });
}

function split(buf) {
  const i = buf.indexOf('\r\n\r\n');
  return { head: buf.subarray(0, i).toString('latin1'), body: buf.subarray(i + 4) };
}

t.test('the file arrives whole, with Content-Length, and the application never reads it', async (t) => {
  const { port } = await startServer(t, app);
  reads = 0;
  const { head, body } = split(
    await exchange(port, 'GET /?handle=1&nolength=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  );
  t.match(head, /^HTTP\/1.1 200 OK\r\n/);
  t.match(head, new RegExp(`\\r\\nContent-Length: ${DATA.length}(\\r\\n|$)`));
  t.equal(body.length, DATA.length);
  t.equal(sha(body), sha(DATA), 'same bytes');
  t.equal(reads, 0, 'no block went through JavaScript');
});

t.test('from the file offset the application left; a pipelined request behind it in order', async (t) => {
  const { port } = await startServer(t, app);
  const raw = await exchange(
    port,
    'GET /?skip=1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /?skip=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  const first = split(raw);
  const len1 = DATA.length - 1000;
  t.match(first.head, new RegExp(`Content-Length: ${len1}`));
  t.equal(sha(first.body.subarray(0, len1)), sha(DATA.subarray(1000)), 'the first body: the file from byte 1000');
  const second = split(first.body.subarray(len1));
  t.match(second.head, /^HTTP\/1.1 200 OK\r\n/);
  t.equal(sha(second.body), sha(DATA.subarray(5)), 'then the second response, whole');
});

t.test('a client that reads slowly (the socket fills) gets the exact bytes', async (t) => {
  const { port } = await startServer(t, app);
  const { body } = split(
    await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { pauseMs: 1500 }),
  );
  t.equal(sha(body), sha(DATA));
});

t.test('HEAD: the length, no body', async (t) => {
  const { port } = await startServer(t, app);
  const raw = await exchange(port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(raw.toString('latin1'), new RegExp(`\\r\\nContent-Length: ${DATA.length}\\r\\n\\r\\n$`));
});

t.test('--no-sendfile (sendfile: false): the blocks go through JavaScript, same bytes', async (t) => {
  const { port } = await startServer(t, app, { sendfile: false });
  reads = 0;
  const { body } = split(await exchange(port, 'GET /?handle=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  t.equal(sha(body), sha(DATA));
  t.ok(reads > 0, `${reads} reads through the file handle`);
});

t.test('keep-alive: one file after the other on the same connection', async (t) => {
  const { port } = await startServer(t, app);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ port, host: '127.0.0.1', agent, path: '/?nolength=1', timeout: 20000 }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ socket: req.socket, body: Buffer.concat(chunks) }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  const a = await get();
  const b = await get();
  t.equal(sha(a.body), sha(DATA));
  t.equal(sha(b.body), sha(DATA));
  t.equal(a.socket, b.socket, 'the same connection');
});
