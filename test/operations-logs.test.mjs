// Logs with real receivers: syslog to UDP/TCP/unix stream and datagram listeners, JSON
// logs, a logger_class, and the access log's escaping.
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, get, run, sleep, until } from './helpers/gts.mjs';
import { exchange } from './helpers/client.mjs';
import { unixDgramListener } from './helpers/unix-dgram.mjs';

const APP = ['--chdir', APPS, 'ops:application', '-b', '127.0.0.1:0', '--no-control-socket'];

function tmpdir(t) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-ops-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function udpListener(t) {
  const sock = dgram.createSocket('udp4');
  const got = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  return { port: sock.address().port, got };
}

t.test("syslog: Gunicorn's lines to UDP, TCP and a unix stream socket (unix:// falls back to a stream)", async (t) => {
  const rx = await udpListener(t);
  const h = run(t, [
    ...APP,
    '--log-syslog',
    '--log-syslog-to',
    `udp://127.0.0.1:${rx.port}`,
    '--log-syslog-prefix',
    'shop',
    '--access-logfile',
    '-',
  ]);
  const port = await h.port();
  await h.waitFor(/Booting worker/);
  t.equal((await get(port, '/x', { headers: { 'User-Agent': 'ua-1' } })).status, 200);
  await until(() => rx.got.some((d) => d.includes('ua-1')));
  const info = rx.got.find((d) => d.includes('Listening at'));
  t.match(
    info,
    new RegExp(
      `^<14>gunicorn\\.shop\\.error: \\[${h.pid}\\] Listening at: http://127\\.0\\.0\\.1:${port} \\(${h.pid}\\)\\0$`,
    ),
    'user.info, the program name and pid',
  );
  t.match(
    rx.got.find((d) => d.includes('ua-1')),
    /^<14>gunicorn\.shop\.access: \[\d+\] 127\.0\.0\.1 - - \[.*\] "GET \/x HTTP\/1\.1" 200 \d+ "-" "ua-1"\0$/,
    'access lines too',
  );
  t.match(h.stdout, /"GET \/x HTTP\/1\.1" 200/, 'and still in the access log file');

  // TCP, facility local0, access lines kept out
  const tcpGot = [];
  const tcp = net.createServer((c) => c.on('data', (d) => tcpGot.push(d.toString('latin1'))));
  await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  t.teardown(() => tcp.close());
  const h2 = run(t, [
    ...APP,
    '--log-syslog',
    '--log-syslog-to',
    `tcp://127.0.0.1:${tcp.address().port}`,
    '--log-syslog-facility',
    'local0',
    '--disable-redirect-access-to-syslog',
    '--access-logfile',
    '-',
  ]);
  const port2 = await h2.port();
  await h2.waitFor(/Booting worker/);
  await get(port2, '/y', { headers: { 'User-Agent': 'ua-2' } });
  await until(() => tcpGot.join('').includes('Booting worker'));
  const all = tcpGot.join('');
  t.match(
    all,
    /<134>gunicorn\.ops\.application\.error: \[\d+\] Starting gunicorn-ts/,
    'local0.info (16*8+6), the default prefix from proc_name (the app path, : as .)',
  );
  t.match(all, /<134>gunicorn\.ops\.application\.error: \[\d+\] Booting worker/, 'worker lines too');
  await sleep(300);
  t.notMatch(tcpGot.join(''), /ua-2/, 'disable_redirect_access_to_syslog keeps access lines out');

  // a unix stream socket
  const dir = tmpdir(t);
  const sockPath = path.join(dir, 'log.sock');
  const unixGot = [];
  const unix = net.createServer((c) => c.on('data', (d) => unixGot.push(d.toString('latin1'))));
  await new Promise((r) => unix.listen(sockPath, r));
  t.teardown(() => unix.close());
  const h3 = run(t, [...APP, '--log-syslog', '--log-syslog-to', `unix://${sockPath}`]);
  const port3 = await h3.port();
  await h3.waitFor(/Booting worker/);
  await exchange(port3, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
  await until(() => unixGot.join('').includes('Invalid request'));
  t.match(
    unixGot.join(''),
    /<12>gunicorn\.ops\.application\.error: \[\d+\] Invalid request from ip=127\.0\.0\.1/,
    'user.warning over a unix stream socket',
  );
});

t.test('syslog to a unix datagram socket (/dev/log style): #dgram and a bare unix://', async (t) => {
  const dir = tmpdir(t);
  const dgPath = path.join(dir, 'log.dgram');
  const rx = await unixDgramListener(t, dgPath);
  for (const addr of [`unix://${dgPath}#dgram`, `unix://${dgPath}`]) {
    rx.got.length = 0;
    const h = run(t, [...APP, '--log-syslog', '--log-syslog-to', addr, '--log-syslog-facility', 'local1']);
    const port = await h.port();
    await h.waitFor(/Booting worker/);
    await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    await until(() => rx.got.some((d) => d.includes('Invalid request')), { timeoutMs: 5000 });
    const bad = rx.got.find((d) => d.includes('Invalid request'));
    t.match(
      bad,
      /^<140>gunicorn\.ops\.application\.error: \[\d+\] Invalid request from ip=127\.0\.0\.1/,
      `${addr}: local1.warning`,
    );
    t.ok(bad.endsWith('\0'), 'one line per datagram, NUL-terminated as Python sends it');
    t.ok(
      rx.got.some((d) => /Booting worker/.test(d)),
      'worker lines',
    );
    h.kill('SIGTERM');
    await h.exit;
  }

  // #stream to a datagram socket: one warning naming it, the server runs on
  const h = run(t, [...APP, '--log-syslog', '--log-syslog-to', `unix://${dgPath}#stream`]);
  const port = await h.port();
  await h.waitFor(/syslog_addr unix:\/\/.*#stream is a datagram socket/);
  t.equal((await get(port, '/')).status, 200, 'still served');
  // a receiver that is gone: sends fail (counted), requests are unaffected
  const gone = path.join(dir, 'nobody.dgram');
  const h2 = run(t, [...APP, '--log-syslog', '--log-syslog-to', `unix://${gone}#dgram`]);
  const port2 = await h2.port();
  await h2.waitFor(/syslog: cannot send to unix:\/\/.*nobody\.dgram: ENOENT/);
  t.equal((await get(port2, '/')).status, 200, 'still served');
});

t.test('log_format json: one JSON object per line in the error log and the access log', async (t) => {
  const dir = tmpdir(t);
  const err = path.join(dir, 'error.log');
  const acc = path.join(dir, 'access.log');
  const h = run(t, [...APP, '--log-format', 'json', '--error-logfile', err, '--access-logfile', acc]);
  const port = await until(
    () =>
      fs.existsSync(err) && /"msg":"Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(err, 'utf8'))?.[1],
  );
  t.ok(port, 'listening');
  await until(() => fs.readFileSync(err, 'utf8').includes('Booting worker'));
  t.equal(
    (await get(Number(port), '/p?q=1', { headers: { 'User-Agent': 'line1\tx', Referer: 'http://r/' } })).status,
    200,
  );
  await until(() => fs.existsSync(acc) && fs.readFileSync(acc, 'utf8').length > 0);
  const errors = fs
    .readFileSync(err, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(errors.length >= 4);
  t.match(errors[0], { level: 'info', pid: h.pid, logger: 'gunicorn.error', msg: /^Starting gunicorn-ts/ });
  t.ok(
    errors.every((e) => typeof e.time === 'string' && !Number.isNaN(Date.parse(e.time))),
    'ISO times',
  );
  const lines = fs.readFileSync(acc, 'utf8').trim().split('\n');
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]), {
    logger: 'gunicorn.access',
    remote_addr: '127.0.0.1',
    user: null,
    request: 'GET /p?q=1 HTTP/1.1',
    method: 'GET',
    path: '/p',
    query: 'q=1',
    protocol: 'HTTP/1.1',
    status: 200,
    referer: 'http://r/',
    user_agent: 'line1\tx',
  });
  t.type(JSON.parse(lines[0]).duration_us, 'number');
});

t.test("logger_class: a module's class gets the error and access lines of the master and the workers", async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'log.jsonl');
  const h = run(
    t,
    [...APP, '--logger-class', path.join(APPS, 'logger-class.mjs:FileLogger'), '--access-logfile', '-'],
    { env: { OPS_LOGGER_FILE: file } },
  );
  const read = () =>
    fs.existsSync(file)
      ? fs
          .readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
      : [];
  const port = await until(
    () =>
      /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(
        read()
          .map((r) => r.msg)
          .join('\n'),
      )?.[1],
  );
  await until(() => read().some((r) => /Booting worker/.test(r.msg)));
  t.equal((await get(Number(port), '/a', { headers: { 'User-Agent': 'ua-x' } })).status, 200);
  await until(() => read().some((r) => r.level === 'access'));
  const recs = read();
  t.ok(
    recs.some((r) => r.pid === h.pid && r.level === 'info' && /^Starting gunicorn-ts/.test(r.msg)),
    'the master',
  );
  const w = recs.find((r) => /Booting worker/.test(r.msg ?? ''));
  t.not(w.pid, h.pid, 'the worker');
  t.match(
    recs.find((r) => r.level === 'access'),
    { status: '200 OK', method: 'GET', path: '/a', ua: 'ua-x' },
  );
  t.notMatch(h.stderr, /Starting gunicorn-ts/, 'the built-in output is replaced');
  t.equal(h.stdout, '', 'the access log file too');
  h.kill('SIGUSR1');
  await until(() => read().filter((r) => r.level === 'reopen').length >= 2);
  t.ok(read().filter((r) => r.level === 'reopen').length >= 2, 'USR1 calls reopen_files in the master and the worker');

  const bad = run(t, [...APP, '--logger-class', './nowhere.mjs:X']);
  await bad.exit;
  t.equal(bad.exited.code, 1);
  t.match(bad.stderr, /Error: logger_class \.\/nowhere\.mjs:X: cannot load \.\/nowhere\.mjs: Cannot find module/);
});

t.test('the access log escapes backslashes and control characters in every atom: no forged lines', async (t) => {
  const dir = tmpdir(t);
  const acc = path.join(dir, 'access.log');
  const h = run(t, [...APP, '--access-logfile', acc, '--access-logformat', '%(r)s|%(a)s|%({x-note}i)s|%(U)s|%(q)s']);
  const port = await h.port();
  await h.waitFor(/Booting worker/);
  // tab (allowed in a field value), an obs-text byte that latin1 makes U+0085 (NEL), a quote and a backslash
  const raw =
    'GET /a\\b?x="1" HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\t"\\\r\nX-Note: a\x85b\r\nConnection: close\r\n\r\n';
  const r = (await exchange(port, raw)).responses[0];
  t.equal(r.status, 200);
  await until(() => fs.existsSync(acc) && fs.readFileSync(acc, 'utf8').length > 0);
  const text = fs.readFileSync(acc, 'latin1');
  t.equal(text, 'GET /a\\\\b?x=\\"1\\" HTTP/1.1|evil\\x09\\"\\\\|a\\x85b|/a\\\\b|x=\\"1\\"\n');
  t.equal(text.split('\n').length, 2, 'one line');
});

t.test('every access atom is escaped (unit): no control character, no bare quote or backslash', async (t) => {
  const { compileAccessFormat } = await import('../dist/logging/access.js');
  const evil = 'a\n"b\\c\x1b[31m\r\x00\x7f\u2028z';
  const environ = {
    REMOTE_ADDR: evil,
    REQUEST_METHOD: evil,
    RAW_URI: evil,
    SERVER_PROTOCOL: evil,
    PATH_INFO: evil,
    QUERY_STRING: evil,
    HTTP_REFERER: evil,
    HTTP_USER_AGENT: evil,
    HTTP_X_A: evil,
    CONTENT_TYPE: evil,
    REMOTE_PORT: evil,
    HTTP_AUTHORIZATION: `Basic ${Buffer.from(`${evil}:pw`, 'latin1').toString('base64')}`,
  };
  const atoms = ['h', 'u', 'r', 'm', 'U', 'q', 'H', 'f', 'a', '{x-a}i', '{content-type}i', '{x-b}o', '{remote_port}e'];
  const f = compileAccessFormat(atoms.map((a) => `"%(${a})s"`).join(' '));
  const line = f({ environ, status: '200 OK', headers: [['X-B', evil]], sent: 1, durationUs: 1 });
  const escaped = 'a\\x0a\\"b\\\\c\\x1b[31m\\x0d\\x00\\x7f\\u2028z';
  // u: the user from Basic auth, decoded as latin1 (U+2028 does not survive that round trip: '(')
  const want = (a) =>
    a === 'u' ? escaped.replace('\\u2028', '(') : a === 'r' ? `${escaped} ${escaped} ${escaped}` : escaped;
  t.equal(line, atoms.map((a) => `"${want(a)}"`).join(' '));
  // eslint-disable-next-line no-control-regex -- the point: no control character may reach the log
  t.notMatch(line, /[\x00-\x1f\x7f\u2028]/, 'no control character left');
});
