// HTTP/2 with real clients (issue 12): h2c prior knowledge through the CLI and
// serve(), TLS with ALPN h2 and the HTTP/1 fallback, each stream one call of the
// application (test/fixtures/apps/h2_app.mjs). Clients: curl (one URL per call:
// curl 7.88's second prior-knowledge URL on one command line fails, against
// node:http2 as well), h2load (nghttp2-client), node:http2, and Python's httpx
// (python3-httpx; /usr/bin/python3, not a pyenv python3 earlier on PATH).
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { APPS, run } from './helpers/gts.mjs';
import { makeCerts, toolEnv } from './helpers/tls.mjs';

const { native } = await import('../dist/native.js');
const { serve } = await import('../dist/index.js');
const { app: h2app } = await import('./fixtures/apps/h2_app.mjs');

if (!native.http2) {
  t.fail('this build has no HTTP/2 (libnghttp2-dev missing at build time)');
  process.exit(1);
}

const sha = (b) => createHash('sha256').update(b).digest('hex');
const PYTHON = '/usr/bin/python3';

/** runs a tool (curl, h2load, python) without blocking the event loop; resolves { code, stdout, stderr } */
function tool(cmd, args, { timeoutMs = 30000, input } = {}) {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: toolEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr: stderr.toString() }),
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

async function startCli(t, extra = []) {
  const g = run(t, [
    '--http-protocols',
    'h2,h1',
    '--no-control-socket',
    '--access-logfile',
    '-',
    '-b',
    '127.0.0.1:0',
    '--chdir',
    APPS,
    ...extra,
    'h2_app:app',
  ]);
  const port = await g.port();
  t.teardown(() => g.kill('SIGKILL'));
  return { g, port };
}

/**
 * serve(h2app) on a free loopback port, HTTP/2 and HTTP/1 with h2c by prior knowledge, plus `extra` settings;
 * closed when `t` ends unless `close: false` (the test stops it itself)
 */
async function serveH2(t, extra = {}, { close = true } = {}) {
  const srv = await serve(h2app, {
    bind: '127.0.0.1:0',
    errorlog: '/dev/null',
    http_protocols: ['h2', 'h1'],
    http2_cleartext: 'prior-knowledge',
    ...extra,
  });
  if (close) t.teardown(() => srv.close());
  return srv;
}

/** one HTTP/2 session; returns request(headers, body) -> { headers, body, trailers } */
function h2session(url, opts = {}) {
  const s = http2.connect(url, opts);
  s.on('error', () => {});
  const request = (headers, body) =>
    new Promise((resolve, reject) => {
      const req = s.request(headers);
      const chunks = [];
      let head;
      let trailers;
      req.on('response', (h) => (head = h));
      req.on('trailers', (h) => (trailers = h));
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => resolve({ headers: head, body: Buffer.concat(chunks), trailers }));
      req.on('error', reject);
      req.end(body);
    });
  return { s, request, close: () => s.close() };
}

t.test('h2c prior knowledge through the CLI (curl, h2load, node:http2, httpx)', async (t) => {
  const { g, port } = await startCli(t, ['--http2-cleartext', 'prior-knowledge']);
  const base = `http://127.0.0.1:${port}`;

  t.test('curl --http2-prior-knowledge GET', async (t) => {
    const r = await tool('curl', [
      '-sS',
      '--http2-prior-knowledge',
      `${base}/`,
      '-w',
      '\n%{http_version} %{http_code}',
    ]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.toString(), 'Hello, World!\n2 200');
  });

  t.test('environ keys of an HTTP/2 stream', async (t) => {
    const r = await tool('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-H',
      'Cookie: a=1',
      '-H',
      'X-Test: yes',
      `${base}/environ?q=1`,
    ]);
    t.equal(r.code, 0, r.stderr);
    const env = JSON.parse(r.stdout.toString());
    t.equal(env.SERVER_PROTOCOL, 'HTTP/2.0');
    t.equal(env.HTTP_VERSION, '2');
    t.equal(env.REQUEST_METHOD, 'GET');
    t.equal(env.PATH_INFO, '/environ');
    t.equal(env.QUERY_STRING, 'q=1');
    t.equal(env.RAW_URI, '/environ?q=1');
    t.equal(env.HTTP_HOST, `127.0.0.1:${port}`, ':authority becomes HTTP_HOST');
    t.equal(env.HTTP_COOKIE, 'a=1');
    t.equal(env.HTTP_X_TEST, 'yes');
    t.equal(env['wsgi.url_scheme'], 'http');
    t.equal(env['gunicorn.http2.priority_weight'], 16);
    t.equal(env['gunicorn.http2.priority_depends_on'], 0);
    t.equal(env.send_trailers, 'function');
  });

  t.test('curl POST of 300 kB: echoed whole (the window reopens as the app reads)', async (t) => {
    const body = randomBytes(300000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-h2-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'body'), body);
    const r = await tool('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '--data-binary',
      `@${path.join(dir, 'body')}`,
      '-D',
      path.join(dir, 'head'),
      `${base}/echo`,
    ]);
    t.equal(r.code, 0, r.stderr);
    t.ok(r.stdout.equals(body), 'same bytes back');
    const head = fs.readFileSync(path.join(dir, 'head'), 'latin1');
    t.match(head, /^HTTP\/2 200/);
    t.match(head, new RegExp(`x-sha256: ${sha(body)}`));
    t.match(head, /content-length: 300000/);
  });

  t.test('response trailers (gunicorn.http2.send_trailers) seen by curl', async (t) => {
    const r = await tool('curl', ['-sS', '-v', '--http2-prior-knowledge', `${base}/trailers`]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.toString(), 'body with trailers\n');
    t.match(r.stderr, /< x-checksum: abc123/);
  });

  t.test('103 early hints before the response', async (t) => {
    const r = await tool('curl', ['-sS', '-v', '--http2-prior-knowledge', `${base}/hints`]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /< HTTP\/2 103[\s\S]*< link: <\/style.css>; rel=preload; as=style[\s\S]*< HTTP\/2 200/);
    t.equal(r.stdout.toString(), 'hinted');
  });

  t.test('a streamed 4 MiB response (backpressure per stream)', async (t) => {
    const r = await tool('curl', ['-sS', '--http2-prior-knowledge', `${base}/stream?n=64&size=65536`]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.length, 64 * 65536);
    t.equal(r.stdout[65536 * 3], 97 + 3);
  });

  t.test(
    "prior-knowledge only: HTTP/1.1 from a trusted peer is Gunicorn's InvalidH2CPreface (400, closed)",
    async (t) => {
      const r = await tool('curl', ['-sS', '-i', `${base}/`, '-w', '\n%{http_version} %{http_code}']);
      t.equal(r.code, 0, r.stderr);
      const out = r.stdout.toString();
      t.match(out, /^HTTP\/1\.1 400 Bad Request\r\n/);
      t.match(out, /\r\nConnection: close\r\n/i);
      t.match(out, /1\.1 400$/);
      t.notMatch(out, /Hello, World!/, 'the application is not called');
      await g.waitFor(/Invalid request from ip=127\.0\.0\.1.*GTS_ERR_INVALID_H2C_PREFACE/);
    },
  );

  t.test('h2load -n 2000 -c 4 -m 16: every request answered', async (t) => {
    const r = await tool('h2load', ['-n', '2000', '-c', '4', '-m', '16', `${base}/`], { timeoutMs: 60000 });
    const out = r.stdout.toString();
    t.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed/);
    t.match(out, /status codes: 2000 2xx/);
  });

  t.test('node:http2: 100 concurrent POST streams on one connection, bodies checksummed', async (t) => {
    const c = h2session(base);
    t.teardown(() => c.close());
    const bodies = Array.from({ length: 100 }, (_, i) => randomBytes(1000 + i * 997));
    const res = await Promise.all(bodies.map((b) => c.request({ ':method': 'POST', ':path': '/echo' }, b)));
    let good = 0;
    for (let i = 0; i < 100; i++) {
      const r = res[i];
      if (r.headers[':status'] === 200 && r.headers['x-sha256'] === sha(bodies[i]) && r.body.equals(bodies[i])) good++;
    }
    t.equal(good, 100, 'all 100 echoed intact');
  });

  t.test('flow control: an app that does not read holds the client to its window', async (t) => {
    const c = h2session(base);
    t.teardown(() => c.close());
    const body = randomBytes(1024 * 1024);
    const req = c.s.request({ ':method': 'POST', ':path': '/late-read?ms=1500' });
    const done = new Promise((resolve, reject) => {
      const chunks = [];
      let head;
      req.on('response', (h) => (head = h));
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => resolve({ head, body: Buffer.concat(chunks).toString() }));
      req.on('error', reject);
    });
    req.end(body);
    await new Promise((r) => setTimeout(r, 700));
    // the stream window is 65535: the rest waits in the client
    t.ok(req.bufferSize >= body.length - 200 * 1024, `client still holds ${req.bufferSize} bytes`);
    const r = await done;
    t.equal(r.head[':status'], 200);
    t.equal(r.head['x-length'], String(body.length));
    t.equal(r.body, sha(body), 'then the whole body arrives');
  });

  t.test('/usr/bin/python3 httpx (http2=True, prior knowledge): two 100 kB POSTs on one connection', async (t) => {
    const script = [
      'import sys, os, hashlib, httpx',
      'with httpx.Client(http1=False, http2=True) as c:',
      '    for i in range(2):',
      '        b = os.urandom(100_000)',
      '        r = c.post(sys.argv[1] + "/echo", content=b)',
      '        print(r.http_version, r.status_code, r.headers["x-sha256"] == hashlib.sha256(b).hexdigest(), r.content == b)',
    ].join('\n');
    const r = await tool(PYTHON, ['-c', script, base]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.toString(), 'HTTP/2 200 True True\nHTTP/2 200 True True\n');
  });

  t.test('access log: HTTP/2.0 requests', async (t) => {
    await g.waitFor(/"GET \/ HTTP\/2\.0" 200/, { from: 'stdout' });
    t.pass('logged');
  });
  t.end();
});

t.test('Upgrade: h2c (http2_cleartext both): curl --http2 on cleartext', async (t) => {
  const { port } = await startCli(t, ['--http2-cleartext', 'both']);
  const base = `http://127.0.0.1:${port}`;
  const r = await tool('curl', ['-sS', '-v', '--http2', `${base}/environ?u=1`]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /< HTTP\/1\.1 101 Switching Protocols[\s\S]*< Upgrade: h2c[\s\S]*< HTTP\/2 200/);
  const env = JSON.parse(r.stdout.toString());
  t.equal(env.SERVER_PROTOCOL, 'HTTP/2.0', 'the upgraded request is stream 1');
  t.equal(env.QUERY_STRING, 'u=1');
  t.equal(env.HTTP_HOST, `127.0.0.1:${port}`);
  const post = await tool('curl', ['-sS', '--http2', '-d', 'small body', `${base}/echo`, '-w', ' %{http_version}']);
  t.equal(post.stdout.toString(), 'small body 2', "a small body goes with the upgrade (stream 1's body)");
  const pk = await tool('curl', ['-sS', '--http2-prior-knowledge', `${base}/`, '-w', ' %{http_version}']);
  t.equal(pk.stdout.toString(), 'Hello, World! 2', 'prior knowledge too (both)');
});

t.test('serve() with http_protocols and http2_cleartext', async (t) => {
  const srv = await serveH2(t, { http2_max_concurrent_streams: 50 });
  const c = h2session(srv.url);
  t.teardown(() => c.close());
  const settings = await new Promise((resolve) => c.s.once('remoteSettings', resolve));
  t.equal(settings.maxConcurrentStreams, 50, 'SETTINGS_MAX_CONCURRENT_STREAMS from http2_max_concurrent_streams');
  t.equal(settings.maxHeaderListSize, 65536);
  const r = await c.request({ ':path': '/' });
  t.equal(r.headers[':status'], 200);
  t.equal(r.body.toString(), 'Hello, World!');
  const tr = await c.request({ ':path': '/trailers' });
  t.same(tr.trailers['x-checksum'], 'abc123', 'trailers through node:http2');
  // a head over http2_max_header_list_size: 431 on that stream, the connection goes on
  const big = await c.request({ ':path': '/', 'x-big': 'v'.repeat(70000) }).catch((e) => e);
  if (!(big instanceof Error)) t.equal(big.headers[':status'], 431, 'header list too large: 431');
  const again = await c.request({ ':path': '/' });
  t.equal(again.headers[':status'], 200, 'the next stream is served');
});

t.test('graceful stop: GOAWAY(2^31-1), then GOAWAY(last stream); the stream in flight finishes', async (t) => {
  const srv = await serveH2(t, { http_protocols: 'h2,h1' }, { close: false }); // the setting as a string; stopped below
  const c = h2session(srv.url);
  t.teardown(() => c.close());
  const goaways = [];
  c.s.on('goaway', (code, last) => goaways.push([code, last]));
  await c.request({ ':path': '/' }); // stream 1
  const slow = c.request({ ':path': '/slow?ms=1800' }); // stream 3, in flight during the stop
  await new Promise((r) => setTimeout(r, 200));
  const closed = srv.close();
  const r = await slow;
  t.equal(r.headers[':status'], 200, 'the stream in flight completes');
  t.equal(r.body.toString(), 'slow done');
  await closed;
  t.ok(goaways.length >= 1, `GOAWAY seen (${JSON.stringify(goaways)})`);
  t.same(goaways[goaways.length - 1], [0, 3], 'the final GOAWAY: NO_ERROR, last stream 3');
  if (goaways.length > 1) t.same(goaways[0], [0, 2 ** 31 - 1], 'first the shutdown notice');
});

t.test('idle HTTP/2 connection: GOAWAY(NO_ERROR) after keepalive, then closed', async (t) => {
  const srv = await serveH2(t, { keepalive: 1 });
  const c = h2session(srv.url);
  const goaway = new Promise((resolve) => c.s.once('goaway', (code, last) => resolve([code, last])));
  const closed = new Promise((resolve) => c.s.once('close', resolve));
  const r = await c.request({ ':path': '/' });
  t.equal(r.headers[':status'], 200);
  const t0 = Date.now();
  t.same(await goaway, [0, 1], 'GOAWAY NO_ERROR, last stream 1');
  await closed;
  t.ok(Date.now() - t0 < 5000, 'closed after about keepalive');
});

t.test('zero-window stall: a stream whose client keeps its window shut is cancelled after write_timeout', async (t) => {
  const srv = await serveH2(t, { write_timeout: 1 });
  const s = http2.connect(srv.url, { settings: { initialWindowSize: 0 } });
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  const t0 = Date.now();
  const req = s.request({ ':path': '/stream?n=256&size=65536' }); // 16 MiB the client never lets in
  req.on('error', () => {});
  req.resume();
  const code = await new Promise((resolve) => req.on('close', () => resolve(req.rstCode)));
  t.equal(code, http2.constants.NGHTTP2_CANCEL, 'RST_STREAM(CANCEL)');
  t.ok(Date.now() - t0 < 6000, `within a few seconds (${Date.now() - t0} ms)`);
  const c = h2session(srv.url);
  t.teardown(() => c.close());
  const r = await c.request({ ':path': '/' });
  t.equal(r.headers[':status'], 200, 'another client is served');
});

t.test('TLS: ALPN h2 and the HTTP/1 fallback', async (t) => {
  const certs = makeCerts();
  t.teardown(() => certs.cleanup());
  const { port } = await startCli(t, ['--certfile', certs.server.cert, '--keyfile', certs.server.key]);
  const base = `https://127.0.0.1:${port}`;
  const h2 = await tool('curl', ['-sS', '--http2', '--cacert', certs.ca.cert, `${base}/`, '-w', '\n%{http_version}']);
  t.equal(h2.code, 0, h2.stderr);
  t.equal(h2.stdout.toString(), 'Hello, World!\n2', 'curl --http2 over TLS: ALPN h2');
  const h1 = await tool('curl', ['-sS', '--http1.1', '--cacert', certs.ca.cert, `${base}/`, '-w', '\n%{http_version}']);
  t.equal(h1.code, 0, h1.stderr);
  t.equal(h1.stdout.toString(), 'Hello, World!\n1.1', 'a client offering only http/1.1 gets HTTP/1.1');
  const env = await tool('curl', ['-sS', '--http2', '--cacert', certs.ca.cert, `${base}/environ`]);
  const e = JSON.parse(env.stdout.toString());
  t.equal(e.SERVER_PROTOCOL, 'HTTP/2.0');
  t.equal(e['wsgi.url_scheme'], 'https');
  const load = await tool('h2load', ['-n', '1000', '-c', '4', '-m', '16', `${base}/`], { timeoutMs: 60000 });
  t.match(load.stdout.toString(), /1000 succeeded, 0 failed/, 'h2load over TLS');
  const c = h2session(base, { ca: fs.readFileSync(certs.ca.cert) });
  t.teardown(() => c.close());
  const body = randomBytes(200000);
  const r = await c.request({ ':method': 'POST', ':path': '/echo' }, body);
  t.equal(r.headers['x-sha256'], sha(body), 'node:http2 over TLS');
  const py = await tool(PYTHON, [
    '-c',
    'import sys, httpx\nwith httpx.Client(http2=True, verify=sys.argv[2]) as c:\n    r = c.get(sys.argv[1] + "/")\n    print(r.http_version, r.text)',
    base,
    certs.ca.cert,
  ]);
  t.equal(py.code, 0, py.stderr);
  t.equal(py.stdout.toString(), 'HTTP/2 Hello, World!\n', 'httpx over TLS');
});

t.test('h2 without TLS or http2_cleartext: a warning, HTTP/1 served', async (t) => {
  const { g, port } = await startCli(t);
  await g.waitFor(/HTTP\/2 needs TLS \(ALPN\) or http2_cleartext: HTTP\/1 is served/);
  const r = await tool('curl', ['-sS', `http://127.0.0.1:${port}/`, '-w', '\n%{http_version}']);
  t.equal(r.stdout.toString(), 'Hello, World!\n1.1');
});

t.test('bad HTTP/2 settings: one error line naming the setting, non-zero exit', async (t) => {
  const cases = [
    [['--http-protocols', 'h3'], /http_protocols.*HTTP\/3 is not supported/],
    [['--http-protocols', 'h2,h2'], /http_protocols/],
    [['--http2-cleartext', 'maybe'], /http2_cleartext/],
    [['--http2-max-frame-size', '100'], /http2_max_frame_size/],
    [['--http2-initial-window-size', '2147483648'], /http2_initial_window_size/],
    [['--http2-max-concurrent-streams', '0'], /http2_max_concurrent_streams/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [path.join(APPS, '../../../bin/gunicorn-ts.js'), ...args, 'h2_app:app'], {
      cwd: APPS,
      encoding: 'utf8',
      env: { ...process.env, GUNICORN_CMD_ARGS: '' },
      timeout: 20000,
    });
    t.not(r.status, 0, `${args.join(' ')}: non-zero exit`);
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${args.join(' ')}: one line`);
    t.match(lines[0], re);
  }
});
