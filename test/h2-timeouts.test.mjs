// request_timeout per HTTP/2 stream (docs/design/http2.md §2): a stream whose application has not answered
// in time gets a 503 on that stream, one whose head is out is reset (RST_STREAM INTERNAL_ERROR); the
// connection and its other streams go on. The same application and checks as test/timeouts.test.mjs does
// for HTTP/1, over h2c (prior knowledge) with node:http2's client. Every wait is bounded.
import http2 from 'node:http2';
import path from 'node:path';
import t from 'tap';

import { APPS, run, sleep } from './helpers/gts.mjs';

const { native } = await import('../dist/native.js');
if (!native.http2) {
  t.fail('this build has no HTTP/2 (libnghttp2-dev missing at build time)');
  process.exit(1);
}

const APP = path.join(APPS, 'timeouts.mjs');

const start = async (t, args) => {
  const g = run(t, [
    '-w',
    '1',
    '-b',
    '127.0.0.1:0',
    '--http-protocols',
    'h2,h1',
    '--http2-cleartext',
    'both',
    '--access-logfile',
    '-',
    ...args,
    APP,
  ]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  t.teardown(() => g.kill('SIGKILL'));
  return { g, port };
};

/** one h2c connection, closed when `t` ends */
function session(t, port) {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  return s;
}

/**
 * One stream on `s`: resolves { status, body, ms, rstCode, error } when it ends, is reset, or `timeoutMs`
 * passes ({ error: 'timeout' }). `body` (a Buffer) is sent with `pace` ms between its bytes when given.
 */
function request(s, p, { method = 'GET', body, pace = 0, timeoutMs = 15000 } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = s.request({ ':method': method, ':path': p }, { endStream: body === undefined });
    const chunks = [];
    let status = 0;
    const done = (extra) => {
      clearTimeout(timer);
      resolve({ status, body: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - t0, ...extra });
    };
    const timer = setTimeout(() => {
      req.close();
      done({ error: 'timeout' });
    }, timeoutMs);
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => done({ rstCode: req.rstCode }));
    req.on('error', (e) => done({ error: e.code, rstCode: req.rstCode }));
    if (body !== undefined) {
      (async () => {
        for (let i = 0; i < body.length && !req.destroyed; i += 50) {
          req.write(body.subarray(i, i + 50));
          await sleep(pace);
        }
        req.end();
      })();
    }
  });
}

t.test('request_timeout: a hung stream gets 503, a concurrent stream on the same connection 200', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const s = session(t, port);
  const hang = request(s, '/hang');
  await sleep(100);
  const ok = await request(s, '/');
  t.equal(ok.status, 200, `/ on the same connection: 200 while /hang waits (${ok.error ?? ''})`);
  t.ok(ok.ms < 900, `answered at once (${ok.ms} ms)`);
  const slow = request(s, '/slow?ms=300');
  const r = await hang;
  t.equal(r.status, 503, `/hang: 503 (${r.error ?? ''})`);
  t.match(r.body, /did not answer in time/, "JS's error page");
  t.ok(r.ms >= 900 && r.ms < 10000, `answered after ${r.ms} ms (request_timeout 1 s, sweep 250 ms)`);
  t.equal((await slow).status, 200, 'a stream that answers within the timeout is left alone');
  t.notOk(s.closed || s.destroyed, 'the connection stays open');
  t.equal((await request(s, '/')).status, 200, 'the same connection serves a new stream');
  await g.waitFor(/"GET \/hang HTTP\/2.0" 503/, { from: 'stdout' });
  t.match(g.stderr, /Request timeout \(request_timeout\): GET \/hang; answered 503/);
});

t.test('request_timeout: nothing sent yet from a hung iterable: 503 on the stream and its close() runs', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const s = session(t, port);
  const r = await request(s, '/hang-body');
  t.equal(r.status, 503, `503 (${r.error ?? ''})`);
  await g.waitFor(/close\(\) ran for \/hang-body/, { from: 'stderr' });
  t.equal((await request(s, '/')).status, 200, 'the same connection serves a new stream');
});

t.test('request_timeout: a stream whose head is out is reset (INTERNAL_ERROR), not the connection', async (t) => {
  const { g, port } = await start(t, ['--request-timeout', '1']);
  const s = session(t, port);
  const other = request(s, '/slow?ms=300');
  const r = await request(s, '/hang-stream');
  t.equal(r.status, 200, 'the head came');
  t.equal(r.body, 'first chunk\n', 'and the first chunk');
  t.equal(r.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR, `RST_STREAM(INTERNAL_ERROR) (${r.error ?? 'no error'})`);
  t.ok(r.ms >= 900 && r.ms < 10000, `reset after ${r.ms} ms`);
  t.equal((await other).status, 200, 'the concurrent stream was answered');
  t.notOk(s.closed || s.destroyed, 'the connection stays open');
  t.equal((await request(s, '/')).status, 200, 'the same connection serves a new stream');
  await g.waitFor(/close\(\) ran for \/hang-stream/);
  t.match(g.stderr, /Request timeout \(request_timeout\): GET \/hang-stream; the response was cut short/);
});

t.test('request_timeout does not count the time a slow upload takes, nor a quick app', async (t) => {
  const { port } = await start(t, ['--request-timeout', '1', '--body-timeout', '10']);
  const s = session(t, port);
  // 500 bytes in 50-byte DATA frames 200 ms apart: about 2 s of upload, twice request_timeout
  const r = await request(s, '/upload', { method: 'POST', body: Buffer.alloc(500, 97), pace: 200 });
  t.equal(r.status, 200, `200 (${r.error ?? ''})`);
  t.equal(r.body, 'got 500\n');
  t.ok(r.ms >= 1500, `the upload took ${r.ms} ms`);
});

t.test('without request_timeout a slow stream is not cut', async (t) => {
  const { port } = await start(t, []);
  const s = session(t, port);
  const r = await request(s, '/slow?ms=1500');
  t.equal(r.status, 200);
  t.match(r.body, /^slow done/);
});
