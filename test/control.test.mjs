// The control socket and `gunicorn-ts ctl` against a running master: status,
// config, add/remove workers, reopen logs, reload, stop; --json and the table;
// the socket's mode and who may connect.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, BIN, get, run, until } from './helpers/gts.mjs';

function tmpdir(t, mode = 0o700) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-ctl-'));
  fs.chmodSync(d, mode);
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** runs `gunicorn-ts ctl ...`; resolves {code, stdout, stderr} */
function ctl(args, { uid } = {}) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'ctl', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => {
      stdout += d;
    });
    c.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), 15000);
    c.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('gunicorn-ts ctl against a running master', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'sub', 'gunicorn.ctl');
  const errlog = path.join(dir, 'error.log');
  const h = run(t, [
    '--chdir',
    APPS,
    'ops:application',
    '-b',
    '127.0.0.1:0',
    '-w',
    '2',
    '--control-socket',
    sock,
    '--error-logfile',
    errlog,
  ]);
  const log = () => fs.readFileSync(errlog, 'utf8');
  const port = Number(
    await until(() => fs.existsSync(errlog) && /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(log())?.[1]),
  );
  t.match(log(), new RegExp(`\\[INFO\\] Control socket listening at ${sock.replace(/[.]/g, '\\.')}`));
  t.equal(fs.statSync(sock).mode & 0o777, 0o600, 'the socket is 0600');
  t.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700, 'a directory it creates is 0700');
  await until(() => (log().match(/Booting worker/g) ?? []).length >= 2);
  for (let i = 0; i < 6; i++) t.equal((await get(port, '/')).status, 200);
  await new Promise((r) => setTimeout(r, 1200)); // a heartbeat carries the counts

  let r = await ctl(['--socket', sock, '--json', 'status']);
  t.equal(r.code, 0, r.stderr);
  const st = JSON.parse(r.stdout);
  t.equal(st.master.pid, h.pid);
  t.equal(st.master.workers, 2);
  t.equal(st.workers.length, 2);
  t.equal(
    st.workers.reduce((n, w) => n + w.requests, 0),
    6,
    'requests served, per worker',
  );
  t.ok(
    st.workers.every((w) => w.pid > 0 && w.age >= 1 && w.rss > 1e6 && w.booted && w.connections === 0),
    'pid, age, rss, connections',
  );
  t.ok(st.master.uptime > 0);

  r = await ctl(['--socket', sock, 'status']);
  t.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], new RegExp(`^master ${h.pid}  gunicorn-ts \\S+  up \\d+s  workers 2/2$`));
  t.match(lines[1], /^PID\s+AGE\s+UP\s+REQUESTS\s+CONNS\s+RSS\s+HEARTBEAT$/);
  t.equal(lines.length, 4, 'one row per worker');
  t.match(lines[2], /^\d+\s+\d+\s+\d+s\s+\d+\s+0\s+[\d.]+ MiB\s+[\d.]+s ago$/);

  r = await ctl(['--socket', sock, '--json', 'config']);
  t.equal(JSON.parse(r.stdout).control_socket, sock, 'config: the resolved settings');
  t.equal(JSON.parse(r.stdout).workers, 2);
  r = await ctl(['--socket', sock, 'config']);
  t.match(r.stdout, /^SETTING\s+VALUE\n/);
  t.match(r.stdout, /\nworkers\s+2\n/);

  r = await ctl(['--socket', sock, '--json', 'add', '2']);
  t.same(JSON.parse(r.stdout), { workers: 4 });
  await until(
    async () =>
      JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).workers.filter((w) => w.booted).length ===
      4,
    { timeoutMs: 10000, everyMs: 300 },
  );
  t.equal(JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).workers.length, 4, 'add 2');
  r = await ctl(['--socket', sock, 'remove', '3']);
  t.equal(r.stdout, 'workers: 1\n', 'remove 3 (the table form)');
  await until(async () => JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).workers.length === 1, {
    timeoutMs: 10000,
    everyMs: 300,
  });
  t.pass('down to one worker');

  fs.renameSync(errlog, `${errlog}.1`);
  r = await ctl(['--socket', sock, 'reopen']);
  t.equal(r.code, 0);
  await until(() => fs.existsSync(errlog) && /Handling signal: usr1/.test(log()));
  t.pass('reopen: the master writes to a new error log');

  r = await ctl(['--socket', sock, 'reload']);
  t.equal(r.code, 0);
  await until(() => /Hang up: Master/.test(log()));
  await until(async () => JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).workers.length === 2, {
    timeoutMs: 10000,
    everyMs: 300,
  });
  t.pass('reload: back to the configured two workers');

  r = await ctl(['--socket', sock, 'bogus']);
  t.equal(r.code, 2);
  t.match(r.stderr, /usage: gunicorn-ts ctl/);
  r = await ctl(['--socket', sock, 'add', '0']);
  t.equal(r.code, 1);
  t.match(r.stderr, /the count must be an integer from 1 to 1024/);

  // a second master does not take the socket over
  const h2 = run(t, ['--chdir', APPS, 'ops:application', '-b', '127.0.0.1:0', '--control-socket', sock]);
  await h2.waitFor(/WARNING\] Control socket not started: .* is in use by another master/);
  t.equal(
    JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).master.pid,
    h.pid,
    'the first master still answers',
  );
  h2.kill('SIGTERM');
  await h2.exit;
  t.ok(fs.existsSync(sock), 'and the second one left it in place');

  r = await ctl(['--socket', sock, 'stop']);
  t.equal(r.stdout, 'stopping: true\n');
  t.equal((await h.exit).code, 0, 'graceful stop');
  t.notOk(fs.existsSync(sock), 'the socket is removed');
  r = await ctl(['--socket', sock, 'status']);
  t.equal(r.code, 1);
  t.match(r.stderr, /no such socket/);
});

t.test(
  "only the socket's owner may use it (file mode, then SO_PEERCRED)",
  { skip: process.getuid?.() !== 0 && 'needs root to run a client as another user' },
  async (t) => {
    const dir = tmpdir(t, 0o755); // the directory lets anyone through: the socket's own mode decides
    const sock = path.join(dir, 'gunicorn.ctl');
    /** a master with its control socket at `sock` (and `--control-socket-mode` when given), once it listens */
    const master = async (mode) => {
      const m = run(t, [
        ...['--chdir', APPS, 'ops:application', '-b', '127.0.0.1:0', '--control-socket', sock],
        ...(mode === undefined ? [] : ['--control-socket-mode', mode]),
      ]);
      await m.waitFor(/Control socket listening at/);
      return m;
    };
    const h = await master();
    const nobody = 65534;
    let r = await ctl(['--socket', sock, 'status'], { uid: nobody });
    t.equal(r.code, 1);
    t.match(r.stderr, /permission denied \(only the owner of the socket may use it\)/);
    r = await ctl(['--socket', sock, '--json', 'status']);
    t.equal(r.code, 0, 'the owner may');
    // a stale socket file (a master killed with SIGKILL) is replaced
    h.kill('SIGKILL');
    await h.exit;
    t.ok(fs.existsSync(sock), 'left behind');
    const h2 = await master('0o660');
    t.equal(fs.statSync(sock).mode & 0o777, 0o660, 'control_socket_mode');
    t.equal(JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).master.pid, h2.pid);
    h2.kill('SIGTERM');
    await h2.exit;
    // a mode that lets everyone connect: the peer-credential check still refuses another user
    const h3 = await master('0o666');
    t.equal(fs.statSync(sock).mode & 0o777, 0o666);
    r = await ctl(['--socket', sock, '--json', 'stop'], { uid: nobody });
    t.equal(r.code, 1, 'another user is refused');
    t.match(r.stdout + r.stderr, /permission denied: uid 65534 is not the control socket's owner/);
    t.equal(JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).master.pid, h3.pid, 'still up');
    h3.kill('SIGTERM');
    await h3.exit;
  },
);

t.test('--no-control-socket: none', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'gunicorn.ctl');
  const h = run(t, [
    '--chdir',
    APPS,
    'ops:application',
    '-b',
    '127.0.0.1:0',
    '--control-socket',
    sock,
    '--no-control-socket',
  ]);
  await h.port();
  t.notMatch(h.stderr, /Control socket/);
  t.notOk(fs.existsSync(sock));
});

t.test('USR2: the new master takes the control socket over when it is promoted', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'gunicorn.ctl');
  const h = run(t, ['--chdir', APPS, 'ops:application', '-b', '127.0.0.1:0', '--control-socket', sock]);
  await h.waitFor(/Booting worker/);
  h.kill('SIGUSR2');
  const m = await h.waitFor(
    /\[(\d+)\] \[INFO\] Control socket: .* is in use by another master; taken over when this master is promoted/,
  );
  const newPid = Number(m[1]);
  t.not(newPid, h.pid);
  t.teardown(() => {
    try {
      process.kill(newPid, 'SIGKILL');
    } catch {
      /* stopped */
    }
  });
  t.equal(
    JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).master.pid,
    h.pid,
    'the old master answers meanwhile',
  );
  h.kill('SIGTERM');
  await h.exit;
  await h.waitFor(/Master has been promoted/);
  await until(async () => (await ctl(['--socket', sock, '--json', 'status'])).code === 0);
  t.equal(
    JSON.parse((await ctl(['--socket', sock, '--json', 'status'])).stdout).master.pid,
    newPid,
    'the promoted master answers',
  );
  t.equal((await ctl(['--socket', sock, 'stop'])).code, 0);
  await until(() => {
    try {
      process.kill(newPid, 0);
      return false;
    } catch {
      return true;
    }
  });
  t.notOk(fs.existsSync(sock), 'and removes it when it stops');
});
