// Error log and access log lines in Gunicorn's formats, with real workers:
// one check per access-log atom, the default format, --error-logfile with
// USR1 reopening, --log-level, --capture-output.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { get, run, until } from './helpers/gts.mjs';
import { compileAccessFormat } from '../dist/logging/access.js';

const ATOMS = [
  'h',
  'l',
  'u',
  't',
  'r',
  's',
  'm',
  'U',
  'q',
  'H',
  'b',
  'B',
  'f',
  'a',
  'T',
  'M',
  'D',
  'L',
  'p',
  '{x-custom}i',
  '{X-Worker}o',
  '{remote_port}e',
  '{missing}i',
  'zz',
];
const FORMAT = ATOMS.map((a) => `%(${a})s`).join('\t');

t.test('access log atoms', async (t) => {
  const g = run(t, [
    '-b',
    '127.0.0.1:0',
    '--access-logfile',
    '-',
    '--access-logformat',
    FORMAT,
    'test.fixtures.apps.hello',
  ]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const r = await until(async () => {
    const x = await get(port, '/p%20ath?x=1&y="2"', {
      headers: {
        Authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
        Referer: 'http://example.com/"quoted"',
        'User-Agent': 'tap-test/1.0',
        'X-Custom': 'a"b',
      },
    });
    return x.status === 200 ? x : null;
  });
  const line = (await g.waitFor(/^(.*)\n/m, { from: 'stdout' }))[1];
  const v = Object.fromEntries(line.split('\t').map((x, i) => [ATOMS[i], x]));
  const worker = r.headers['x-worker'];
  const len = String(Buffer.byteLength(r.body));
  const cases = {
    h: '127.0.0.1',
    l: '-',
    u: 'alice',
    r: 'GET /p%20ath?x=1&y=\\"2\\" HTTP/1.1',
    s: '200',
    m: 'GET',
    U: '/p ath',
    q: 'x=1&y=\\"2\\"',
    H: 'HTTP/1.1',
    b: len,
    B: len,
    f: 'http://example.com/\\"quoted\\"',
    a: 'tap-test/1.0',
    T: '0',
    p: `<${worker}>`,
    '{x-custom}i': 'a\\"b',
    '{X-Worker}o': worker,
    '{missing}i': '-',
    zz: '-',
  };
  for (const [atom, want] of Object.entries(cases)) t.equal(v[atom], want, `%(${atom})s`);
  t.match(v.t, /^\[\d\d\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4}:\d\d:\d\d:\d\d \+0000\]$/, '%(t)s');
  t.match(v.M, /^\d+$/, '%(M)s: milliseconds');
  t.match(v.D, /^\d+$/, '%(D)s: microseconds');
  t.match(v.L, /^\d+\.\d{6}$/, '%(L)s: seconds.micro');
  t.ok(Number(v.D) >= Number(v.M) * 1000 && Number(v.D) < (Number(v.M) + 1) * 1000, 'D and M agree');
  t.equal(v.L, `${Math.floor(Number(v.D) / 1e6)}.${String(Number(v.D) % 1e6).padStart(6, '0')}`, 'L and D agree');
  t.match(v['{remote_port}e'], /^\d+$/, '%({remote_port}e)s');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('the default access log format', async (t) => {
  const g = run(t, ['-b', '127.0.0.1:0', '--access-logfile', '-', 'test.fixtures.apps.hello']);
  const port = await g.port();
  await until(async () => (await get(port, '/a?b=c', { headers: { 'User-Agent': 'curl/8.5.0' } })).status === 200);
  const line = (await g.waitFor(/^(.*)\n/m, { from: 'stdout' }))[1];
  t.match(
    line,
    /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a\?b=c HTTP\/1\.1" 200 \d+ "-" "curl\/8\.5\.0"$/,
  );
  g.kill('SIGTERM');
  await g.exit;
});

t.test('the format compiler: %% and unknown atoms', async (t) => {
  const f = compileAccessFormat('%(s)s %% %(nope)s %({A}e)s %(m)d');
  const environ = { REQUEST_METHOD: 'GET', a: 'x"y' };
  t.equal(f({ environ, status: '404 Not Found', headers: [], sent: 0, durationUs: 0 }), '404 % - x\\"y GET');
});

t.test('error log lines, --error-logfile and USR1 reopening', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-log-'));
  const file = path.join(dir, 'error.log');
  const g = run(t, [
    '-w',
    '2',
    '-b',
    '127.0.0.1:0',
    '--error-logfile',
    file,
    '--log-level',
    'debug',
    'test.fixtures.apps.hello',
  ]);
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  await until(() => (read().match(/Booting worker with pid/g) ?? []).length === 2);
  const text = read();
  const M = g.pid;
  const line = (pid, level, msg) =>
    new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+0000\\] \\[${pid}\\] \\[${level}\\] ${msg}$`, 'm');
  t.match(text, line(M, 'INFO', 'Starting gunicorn-ts \\d+\\.\\d+\\.\\d+'));
  t.match(text, line(M, 'INFO', 'Listening at: http://127\\.0\\.0\\.1:\\d+ \\(' + M + '\\)'));
  t.match(text, line(M, 'INFO', 'Using worker: sync'));
  t.match(text, line(M, 'DEBUG', 'Current configuration:'));
  t.match(text, line(M, 'DEBUG', '  workers: 1'.replace('1', '\\d+')));
  t.match(text, line(M, 'DEBUG', 'Arbiter booted'));
  t.match(text, line(M, 'DEBUG', '2 workers'));
  t.match(text, /\[(\d+)\] \[INFO\] Booting worker with pid: \1$/m, 'Booting worker is logged by the worker itself');
  t.equal(g.stderr, '', 'nothing on stderr');
  // logrotate: move the file away, USR1, new lines go to a fresh file
  fs.renameSync(file, `${file}.1`);
  g.kill('SIGUSR1');
  await until(
    () =>
      read().includes('Handling signal: usr1') ||
      fs.readFileSync(`${file}.1`, 'utf8').includes('Handling signal: usr1'),
  );
  g.kill('SIGTERM');
  await g.exit;
  t.match(read(), line(M, 'INFO', 'Shutting down: Master'), 'after USR1 the master writes to the new file');
  t.match(read(), /\[INFO\] Worker exiting \(pid: \d+\)/, 'after USR1 the workers write to the new file');
  t.notMatch(fs.readFileSync(`${file}.1`, 'utf8'), /Shutting down/, 'nothing more in the rotated file');
});

t.test("--capture-output sends the app's stdout/stderr to the error log", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-log-'));
  const file = path.join(dir, 'error.log');
  const app = path.join(dir, 'noisy.mjs');
  fs.writeFileSync(
    app,
    "export function application(e, sr) { console.log('to stdout'); console.error('to stderr'); sr('200 OK', []); return ['ok']; }\n",
  );
  const g = run(t, ['-b', '127.0.0.1:0', '--error-logfile', file, '--capture-output', `${app}:application`]);
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  const port = Number((await until(() => /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(read())))[1]);
  await until(async () => (await get(port)).status === 200);
  t.ok(await until(() => read().includes('to stdout\n') && read().includes('to stderr\n')), 'captured');
  t.equal(g.stdout, '');
  g.kill('SIGTERM');
  await g.exit;
});
