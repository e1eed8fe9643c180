// The server under test for the HTTP/2 conformance and attack tests. By default gunicorn-ts (the CLI, one
// worker, h2c by prior knowledge next to HTTP/1 on one port (http2_cleartext both: prior-knowledge alone answers HTTP/1 with 400), the app test/fixtures/apps/h2_raw_app.mjs);
// GTS_BIN=/path/to/bin/gunicorn-ts.js runs another checkout's CLI. GTS_H2_TARGET=node runs
// test/fixtures/h2-node-server.mjs instead (node:http2, the same routes): the same RFC cases must hold there,
// and the cases where gunicorn-ts deliberately does more than nghttp2's defaults are skipped in that mode.
// GTS_H2_TARGET=nghttpd (conformance file only) runs nghttp2's own server (Debian nghttp2-server) as a
// reference for what the library answers by itself: the codes gunicorn-ts gets from the same nghttp2.
// GTS_H2_TLS=1 (conformance file): over TLS with ALPN h2 instead of h2c (a test CA from helpers/tls.mjs).
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { BIN, ROOT, get, run, until } from './gts.mjs';
import { connect, describe } from './h2frames.mjs';
import { makeCerts } from './tls.mjs';

export const TARGET = ['node', 'nghttpd'].includes(process.env.GTS_H2_TARGET)
  ? process.env.GTS_H2_TARGET
  : 'gunicorn-ts';
export const NODE_MODE = TARGET === 'node';
export const NGHTTPD_MODE = TARGET === 'nghttpd';
export const TLS_MODE = !!process.env.GTS_H2_TLS;
/** the target and transport, for test names */
export const LABEL = `${TARGET}${TLS_MODE ? ', TLS' : ', h2c'}`;

/** a GET over HTTP/1.1 (over TLS in TLS mode): {status, body} or {error} */
function get1(port, p, tlsOpts) {
  if (!tlsOpts) return get(port, p);
  return new Promise((resolve) => {
    const o = { host: '127.0.0.1', port, path: p, agent: false, ...tlsOpts, ALPNProtocols: ['http/1.1'] };
    const req = https.get(o, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code ?? e.message }));
  });
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** nghttpd --no-tls on a docroot whose index is the app's hello; POST bodies echoed */
async function startNghttpd(t, settings, certs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2-nghttpd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'index.html'), 'hello /\n');
  fs.writeFileSync(path.join(dir, 'abc'), 'hello /abc\n');
  fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(1 << 20, 'b'));
  const port = await freePort();
  const args = [...(certs ? [] : ['--no-tls']), '--echo-upload', '-d', dir, '-a', '127.0.0.1'];
  if (settings.maxConcurrentStreams) args.push('-m', String(settings.maxConcurrentStreams));
  args.push(String(port));
  if (certs) args.push(certs.server.key, certs.server.cert);
  const tlsOpts = certs ? { ca: fs.readFileSync(certs.ca.cert) } : undefined;
  const [first, ...rest] = args;
  const g = run(t, rest, { node: 'nghttpd', script: first });
  await until(
    async () =>
      await connect(port, { tls: tlsOpts })
        .then((c) => (c.close(), true))
        .catch(() => false),
    { timeoutMs: 5000 },
  );
  return {
    g,
    port,
    pid: g.pid,
    tls: tlsOpts,
    connect: (o = {}) => connect(port, { tls: tlsOpts, ...o }),
    stderr: () => g.stderr,
    count: async () => ({ error: 'nghttpd has no /count' }),
  };
}

/**
 * A fresh raw connection to `srv` (what startH2 returned: TLS with ALPN h2 in TLS mode) after the handshake
 * (preface + SETTINGS with `entries`, the server's SETTINGS, both ACKs); closed when `t` ends.
 */
export async function openH2(t, srv, entries = []) {
  const c = await srv.connect();
  t.teardown(() => c.close());
  await c.handshake(entries);
  return c;
}

/** VmRSS of a process in bytes (0 if it is gone) */
export function rss(pid) {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * An assertion that holds for gunicorn-ts by design (docs/design/http2.md §3) but not for node:http2's
 * defaults: run in gunicorn-ts mode, a skip with the reason in node mode.
 */
export function gtsOnly(t, reason, fn) {
  if (NODE_MODE) return t.skip(`node:http2 differs: ${reason}`);
  return fn();
}

/**
 * Starts the target. settings: {maxConcurrentStreams, initialWindowSize, maxFrameSize, maxHeaderListSize};
 * args: extra gunicorn-ts flags. Returns {port, pid (the process serving), stderr(), count()}. Throws with the
 * server's log if it does not answer the HTTP/2 preface (a build without HTTP/2 fails here, clearly).
 */
export async function startH2(t, { settings = {}, args = [] } = {}) {
  let g;
  let certs = null;
  if (TLS_MODE) {
    certs = makeCerts('gts-h2-');
    t.teardown(() => certs.cleanup());
  }
  if (NGHTTPD_MODE) return startNghttpd(t, settings, certs);
  const tlsOpts = certs ? { ca: fs.readFileSync(certs.ca.cert) } : undefined;
  if (NODE_MODE) {
    g = run(t, [], {
      script: path.join(ROOT, 'test/fixtures/h2-node-server.mjs'),
      env: {
        H2_SETTINGS: JSON.stringify(settings),
        ...(certs ? { H2_TLS_CERT: certs.server.cert, H2_TLS_KEY: certs.server.key } : {}),
      },
    });
  } else {
    const flag = {
      maxConcurrentStreams: '--http2-max-concurrent-streams',
      initialWindowSize: '--http2-initial-window-size',
      maxFrameSize: '--http2-max-frame-size',
      maxHeaderListSize: '--http2-max-header-list-size',
    };
    const sargs = Object.entries(settings).flatMap(([k, v]) => [flag[k], String(v)]);
    g = run(
      t,
      [
        '--http-protocols',
        'h2,h1',
        ...(certs ? ['--certfile', certs.server.cert, '--keyfile', certs.server.key] : ['--http2-cleartext', 'both']),
        ...sargs,
        '-w',
        '1',
        '-b',
        '127.0.0.1:0',
        ...args,
        'test/fixtures/apps/h2_raw_app.mjs:application',
      ],
      { script: process.env.GTS_BIN ?? BIN },
    );
  }
  let port;
  try {
    port = await Promise.race([
      g.port(),
      g.exit.then((e) => {
        throw new Error(`exited ${JSON.stringify(e)}`);
      }),
    ]);
  } catch (e) {
    throw new Error(`${TARGET} did not start (${e.message}); its log:\n${g.stderr}`, { cause: e });
  }
  let pid = g.pid;
  if (!NODE_MODE) {
    const w = await until(() => g.workers()[0], { timeoutMs: 15000 });
    if (!w) throw new Error(`gunicorn-ts booted no worker; its log:\n${g.stderr}`);
    pid = w;
  }
  // HTTP/2 must answer: a build or a checkout without HTTP/2 stops here with its log
  const c = await connect(port, { tls: tlsOpts });
  try {
    await c.handshake([], { timeoutMs: 5000 });
  } catch (e) {
    throw new Error(
      `${TARGET} does not speak HTTP/2 on 127.0.0.1:${port} with --http-protocols h2,h1 ` +
        `${certs ? 'over TLS (ALPN h2)' : '--http2-cleartext prior-knowledge'} (${e.message}; last: ${describe(c.frames.at(-1) ?? (c.closed ? { closed: true } : null))}). ` +
        `Its log:\n${g.stderr}`,
      { cause: e },
    );
  } finally {
    c.close();
  }
  return {
    g,
    port,
    pid,
    tls: tlsOpts,
    /** a raw HTTP/2 connection to the target (TLS with ALPN h2 in TLS mode) */
    connect: (o = {}) => connect(port, { tls: tlsOpts, ...o }),
    stderr: () => g.stderr,
    /** {calls, produced} from the app over HTTP/1 */
    async count() {
      const r = await get1(port, '/count', tlsOpts);
      if (r.status !== 200) return { error: r.error ?? r.status };
      const [calls, produced] = r.body.split(' ').map(Number);
      return { calls, produced };
    },
  };
}
