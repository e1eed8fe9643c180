// Process modes: systemd socket activation and READY=1, daemon + pidfile +
// WINCH, a pidfile naming a live master, --reload, -e, -n, -u.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { BIN, ROOT, alive, children, get, run, sleep, until } from './helpers/gts.mjs';
import { native } from '../dist/native.js';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-modes-'));
const json = async (port, p = '/') => {
  const r = await get(port, p);
  return r.status === 200 ? JSON.parse(r.body) : null;
};

t.test('systemd: LISTEN_FDS socket activation and READY=1 on $NOTIFY_SOCKET', async (t) => {
  const dir = tmpdir();
  const sock = path.join(dir, 'notify.sock');
  const py = spawn(
    'python3',
    [
      '-c',
      `import socket\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\ns.settimeout(20)\nprint(s.recv(4096).decode(), flush=True)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let notified = '';
  py.stdout.on('data', (d) => {
    notified += d;
  });
  t.teardown(() => py.kill());
  await until(() => fs.existsSync(sock));
  const fd = native.listenTcp('127.0.0.1', 0, 64, false);
  const port = native.sockName(fd).port;
  // systemd passes the socket as fd 3 and sets LISTEN_PID to the service's pid
  const child = spawn(
    'sh',
    ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "${process.execPath}" "${BIN}" -w 1 test.fixtures.apps.control`],
    {
      cwd: ROOT,
      env: { ...process.env, NOTIFY_SOCKET: sock, GUNICORN_CMD_ARGS: '', TZ: 'UTC' },
      stdio: ['ignore', 'ignore', 'pipe', fd],
    },
  );
  native.closeFd(fd);
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  t.teardown(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  t.ok(
    await until(() => err.includes(`Listening at: http://127.0.0.1:${port} (${child.pid})`)),
    'listens on the inherited socket, not on the default bind',
  );
  t.ok(await until(() => notified.includes('READY=1')), 'READY=1 sent');
  t.match(notified, /STATUS=Gunicorn arbiter booted/);
  t.ok(await until(() => json(port)), 'serves');
  process.kill(child.pid, 'SIGTERM');
  await new Promise((r) => child.on('exit', r));
});

t.test('daemon mode with a pidfile; WINCH stops the workers, HUP brings them back', async (t) => {
  const dir = tmpdir();
  const pidfile = path.join(dir, 'gts.pid');
  const log = path.join(dir, 'error.log');
  const r = spawnSync(
    process.execPath,
    [BIN, '-D', '-p', pidfile, '--error-logfile', log, '-w', '2', '-b', '127.0.0.1:0', 'test.fixtures.apps.control'],
    { cwd: ROOT, env: { ...process.env, GUNICORN_CMD_ARGS: '' }, encoding: 'utf8', timeout: 10000 },
  );
  t.equal(r.status, 0, 'the command returns at once');
  const pid = await until(() => fs.existsSync(pidfile) && Number(fs.readFileSync(pidfile, 'utf8')));
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  t.ok(pid && alive(pid), 'the daemon runs');
  const read = () => fs.readFileSync(log, 'utf8');
  const port = Number((await until(() => /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(read())))[1]);
  t.ok(await until(() => json(port)), 'serves');
  t.equal((await until(() => children(pid).length === 2 && children(pid))).length, 2);
  process.kill(pid, 'SIGWINCH');
  t.ok(await until(() => read().includes('graceful stop of workers')));
  t.ok(await until(() => children(pid).length === 0), 'WINCH: no workers left, master keeps running');
  t.ok(alive(pid));
  process.kill(pid, 'SIGHUP');
  t.ok(await until(() => children(pid).length === 2), 'HUP: workers again');
  t.ok(await until(() => json(port)), 'serves again');
  process.kill(pid, 'SIGTERM');
  t.ok(await until(() => !alive(pid)), 'TERM stops the daemon');
  t.notOk(fs.existsSync(pidfile), 'pidfile removed');
});

t.test('a pidfile naming a live process refuses to start', async (t) => {
  const dir = tmpdir();
  const pidfile = path.join(dir, 'gts.pid');
  fs.writeFileSync(pidfile, `${process.pid}\n`);
  const r = spawnSync(process.execPath, [BIN, '-p', pidfile, '-b', '127.0.0.1:0', 'test.fixtures.apps.control'], {
    cwd: ROOT,
    env: { ...process.env, GUNICORN_CMD_ARGS: '' },
    encoding: 'utf8',
    timeout: 10000,
  });
  t.equal(r.status, 1);
  t.match(r.stderr, `Error: Already running on PID ${process.pid} (or pid file '${pidfile}' is stale)`);
  t.equal(fs.readFileSync(pidfile, 'utf8'), `${process.pid}\n`, 'left alone');
});

t.test('--reload: a changed source file restarts the workers with the new code', async (t) => {
  const dir = tmpdir();
  const file = path.join(dir, 'live.mjs');
  fs.writeFileSync(file, "export const application = (e, sr) => { sr('200 OK', []); return ['one']; };\n");
  const g = run(t, ['--reload', '--chdir', dir, '-b', '127.0.0.1:0', 'live.mjs']);
  const port = await g.port();
  await g.waitFor(/\[WARNING\] Reloader is on\. Use in development only!/);
  t.equal(
    (
      await until(async () => {
        const r = await get(port);
        return r.status === 200 && r;
      })
    ).body,
    'one',
  );
  await sleep(1100);
  fs.writeFileSync(file, "export const application = (e, sr) => { sr('200 OK', []); return ['two']; };\n");
  await g.waitFor(new RegExp(`\\[INFO\\] Worker reloading: ${file.replace(/[.]/g, '\\.')} modified`), {
    timeoutMs: 10000,
  });
  await g.waitFor(/Booting worker/, { count: 2 });
  t.equal(
    (
      await until(async () => {
        const r = await get(port);
        return r.status === 200 && r.body === 'two' && r;
      })
    ).body,
    'two',
  );
  g.kill('SIGTERM');
  await g.exit;
});

t.test("-e sets the environment, -n the process title, -u the workers' user", async (t) => {
  const asRoot = process.getuid() === 0;
  const args = ['-e', 'GREETING=from -e', '-n', 'mytitle', '-b', '127.0.0.1:0'];
  if (asRoot) args.push('-u', 'nobody');
  const g = run(t, [...args, 'test.fixtures.apps.control']);
  const port = await g.port();
  const r = await until(() => json(port));
  t.equal(r.greeting, 'from -e');
  const cmd = fs.readFileSync(`/proc/${g.pid}/cmdline`, 'utf8');
  t.match(cmd, /^gunicorn-ts: master \[mytitle\]/, 'master title');
  const w = fs.readFileSync(`/proc/${r.pid}/cmdline`, 'utf8');
  t.match(w, /^gunicorn-ts: worker \[mytitle\]/, 'worker title');
  if (asRoot) {
    const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${r.pid}/status`, 'utf8'))[1]);
    const nobody = Number(
      fs
        .readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('nobody:'))
        .split(':')[2],
    );
    t.equal(uid, nobody, 'the worker runs as nobody');
    t.equal(
      Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${g.pid}/status`, 'utf8'))[1]),
      0,
      'the master keeps its user',
    );
  }
  g.kill('SIGTERM');
  await g.exit;
});
