// The arbiter's decisions in milliseconds, in the style of Gunicorn's
// tests/test_arbiter.py: processes are fakes (spawn and kill injected through
// new Arbiter(app, { spawn, kill })), the methods the main loop calls are
// called directly. The same behaviour under real processes and signals is in
// test/arbiter.test.mjs and test/arbiter-modes.test.mjs.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { Arbiter } from '../dist/arbiter/arbiter.js';
import { Config } from '../dist/config/config.js';
import { openListeners } from '../dist/listeners.js';

const tmpdir = (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-arbiter-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A fake process table: spawn() hands out FakeChild objects, kill() records signals. */
class Procs {
  constructor() {
    this.nextPid = 1000;
    this.spawned = [];
    this.killed = [];
    /** pids whose process is gone: kill() throws ESRCH */
    this.gone = new Set();
    /** TERM/QUIT/KILL make the fake exit right away */
    this.exitOnSignal = false;
    this.spawn = (command, args, options) => {
      const child = new EventEmitter();
      child.pid = this.nextPid++;
      this.spawned.push({ child, command, args, options });
      return child;
    };
    this.kill = (pid, sig) => {
      if (this.gone.has(pid)) throw Object.assign(new Error(`kill ESRCH ${pid}`), { code: 'ESRCH' });
      this.killed.push([pid, sig]);
      if (this.exitOnSignal && ['SIGTERM', 'SIGQUIT', 'SIGKILL'].includes(sig)) {
        const c = this.spawned.find((s) => s.child.pid === pid)?.child;
        this.gone.add(pid);
        c?.emit('exit', null, sig);
      }
    };
  }
}

/** An arbiter over a fake application; logs go to a file (read with log()). */
function setup(t, settings = {}) {
  const dir = tmpdir(t);
  const errorlog = path.join(dir, 'error.log');
  const cfg = new Config();
  cfg.set('errorlog', errorlog);
  cfg.set('loglevel', 'debug');
  for (const [k, v] of Object.entries(settings)) cfg.set(k, v);
  const app = { cfg, callable: null, wsgi: async () => () => [], reload: async () => {} };
  const procs = new Procs();
  const title = process.title;
  const arbiter = new Arbiter(app, {
    spawn: procs.spawn,
    kill: procs.kill,
    execPath: '/bin/false',
    args: ['entry.mjs'],
    cwd: dir,
    env: {},
  });
  t.teardown(() => {
    arbiter.log.close();
    process.title = title;
  });
  return { arbiter, procs, dir, log: () => fs.readFileSync(errorlog, 'utf8') };
}

/** the workers the arbiter holds, oldest first: [age, pid, booted, terminating] */
const pool = (arbiter) =>
  [...arbiter.WORKERS.values()].sort((a, b) => a.age - b.age).map((w) => [w.age, w.pid, w.booted, w.terminating]);
const boot = (procs, pid) => procs.spawned.find((s) => s.child.pid === pid).child.emit('message', { gts: 'booted' });

/** a pool of `n` booted workers, as manageWorkers() builds it */
async function bootedPool(arbiter, procs, n) {
  arbiter.num_workers = n;
  await arbiter.manageWorkers();
  for (const s of procs.spawned) boot(procs, s.child.pid);
}

t.test('manageWorkers spawns num_workers workers with the boot state in the environment', async (t) => {
  const { arbiter, procs } = setup(t);
  await bootedPool(arbiter, procs, 3);
  t.same(pool(arbiter), [
    [1, 1000, true, false],
    [2, 1001, true, false],
    [3, 1002, true, false],
  ]);
  const { command, args, options } = procs.spawned[0];
  t.equal(command, '/bin/false');
  t.same(args, ['entry.mjs']);
  t.same(options.stdio.slice(0, 4), ['inherit', 'inherit', 'inherit', 'ipc']);
  const state = JSON.parse(options.env.GUNICORN_TS_WORKER);
  t.same([state.age, state.ppid], [1, process.pid]);
  t.same(procs.killed, [], 'nothing killed');
  await arbiter.manageWorkers();
  t.equal(procs.spawned.length, 3, 'a full pool spawns nothing more');
});

t.test('HUP: the oldest workers keep serving until their replacements have booted', async (t) => {
  const { arbiter, procs, log } = setup(t, { workers: 2 });
  await bootedPool(arbiter, procs, 2);
  await arbiter.handleHup();
  t.match(log(), /\[INFO\] Hang up: Master\n/);
  t.same(
    pool(arbiter).map(([age, , booted]) => [age, booted]),
    [
      [1, true],
      [2, true],
      [3, false],
      [4, false],
    ],
    'two new workers spawned',
  );
  await arbiter.manageWorkers();
  t.same(procs.killed, [], 'no old worker stopped while no replacement has booted');
  boot(procs, 1002);
  await arbiter.manageWorkers();
  t.same(procs.killed, [[1000, 'SIGTERM']], 'one replacement up: the oldest stops, the second oldest stays');
  await arbiter.manageWorkers();
  t.same(procs.killed, [[1000, 'SIGTERM']], 'and stays on the next tick');
  boot(procs, 1003);
  await arbiter.manageWorkers();
  t.same(
    procs.killed,
    [
      [1000, 'SIGTERM'],
      [1001, 'SIGTERM'],
    ],
    'both replacements up: the other old worker stops',
  );
  t.same(
    pool(arbiter).map(([age, , , terminating]) => [age, terminating]),
    [
      [1, true],
      [2, true],
      [3, false],
      [4, false],
    ],
  );
  t.equal(procs.spawned.length, 4, 'terminating workers are not replaced');
});

t.test(
  'HUP with fewer workers: the extra old workers stop at once, the last one when its replacement is up',
  async (t) => {
    const { arbiter, procs } = setup(t, { workers: 3 });
    await bootedPool(arbiter, procs, 3);
    arbiter.app.cfg.set('workers', 1);
    await arbiter.handleHup();
    t.equal(arbiter.num_workers, 1);
    await arbiter.manageWorkers();
    t.same(
      procs.killed,
      [
        [1000, 'SIGTERM'],
        [1001, 'SIGTERM'],
      ],
      'one booted worker is enough: the two oldest stop',
    );
    await arbiter.manageWorkers();
    t.equal(procs.killed.length, 2, 'the youngest old worker serves while the replacement boots');
    boot(procs, 1003);
    await arbiter.manageWorkers();
    t.same(procs.killed, [
      [1000, 'SIGTERM'],
      [1001, 'SIGTERM'],
      [1002, 'SIGTERM'],
    ]);
  },
);

t.test('TTIN adds a worker; TTOU stops the oldest; TTOU never goes below one', async (t) => {
  const { arbiter, procs } = setup(t);
  await bootedPool(arbiter, procs, 2);
  arbiter.handleTtin();
  t.equal(arbiter.num_workers, 3);
  await arbiter.manageWorkers();
  t.same(
    pool(arbiter).map(([age, pid]) => [age, pid]),
    [
      [1, 1000],
      [2, 1001],
      [3, 1002],
    ],
    'TTIN: one more, the youngest',
  );
  boot(procs, 1002);
  arbiter.handleTtou();
  await arbiter.manageWorkers();
  t.same(procs.killed, [[1000, 'SIGTERM']], 'TTOU: the oldest stops');
  arbiter.handleTtou();
  await arbiter.manageWorkers();
  t.same(
    procs.killed,
    [
      [1000, 'SIGTERM'],
      [1001, 'SIGTERM'],
    ],
    'TTOU again: the next oldest',
  );
  t.equal(arbiter.num_workers, 1);
  arbiter.handleTtou();
  await arbiter.manageWorkers();
  t.equal(arbiter.num_workers, 1, 'TTOU at one worker is ignored');
  t.equal(procs.killed.length, 2);
});

t.test('a worker exit is reaped, replaced, and exit status 3 / 4 halts the arbiter', async (t) => {
  const { arbiter, procs, log } = setup(t);
  const exits = [];
  arbiter.cfg.set('child_exit', (server, worker) =>
    exits.push([server === arbiter, worker.pid, worker.exitCode, worker.exitSignal]),
  );
  await bootedPool(arbiter, procs, 2);
  procs.spawned[0].child.emit('exit', null, 'SIGKILL');
  arbiter.handleChld();
  t.same(exits, [[true, 1000, null, 'SIGKILL']], 'child_exit(arbiter, worker)');
  t.match(log(), /\[ERROR\] Worker \(pid:1000\) was sent SIGKILL! Perhaps out of memory\?\n/);
  await arbiter.manageWorkers();
  t.same(
    pool(arbiter).map(([age, pid]) => [age, pid]),
    [
      [2, 1001],
      [3, 1002],
    ],
    'replaced by a new worker',
  );
  procs.spawned[1].child.emit('exit', 3, null);
  t.throws(() => arbiter.handleChld(), { reason: 'Worker failed to boot.', exitStatus: 3 });
  procs.spawned[2].child.emit('exit', 4, null);
  t.throws(() => arbiter.handleChld(), { reason: 'App failed to load.', exitStatus: 4 });
});

t.test('killWorker: a worker already gone (ESRCH) is forgotten and worker_exit runs', async (t) => {
  const { arbiter, procs } = setup(t);
  const exited = [];
  arbiter.cfg.set('worker_exit', (server, worker) => exited.push(worker.pid));
  await bootedPool(arbiter, procs, 2);
  procs.gone.add(1000);
  arbiter.killWorkers('SIGUSR1');
  t.same(procs.killed, [[1001, 'SIGUSR1']]);
  t.same(exited, [1000]);
  t.same(
    pool(arbiter).map(([, pid]) => pid),
    [1001],
  );
});

t.test('murderWorkers: a silent worker gets SIGABRT, then SIGKILL on the next tick', async (t) => {
  const { arbiter, procs, log } = setup(t, { timeout: 1 });
  await bootedPool(arbiter, procs, 2);
  arbiter.WORKERS.get(1000).lastBeat = performance.now() - 1500;
  arbiter.murderWorkers();
  t.same(procs.killed, [[1000, 'SIGABRT']]);
  t.match(log(), /\[CRITICAL\] WORKER TIMEOUT \(pid:1000\)\n/);
  arbiter.murderWorkers();
  t.same(procs.killed, [
    [1000, 'SIGABRT'],
    [1000, 'SIGKILL'],
  ]);
  procs.spawned[1].child.emit('message', { gts: 'hb' });
  t.ok(performance.now() - arbiter.WORKERS.get(1001).lastBeat < 1000, 'a heartbeat is recorded');
});

// stop(): Gunicorn's test_arbiter_stop_* (close_sockets(listeners, unlink))
t.test('stop() unlinks its unix socket files, except in a USR2 pair, under systemd or with reuse_port', async (t) => {
  const cases = [
    ['a plain master', () => {}, true],
    [
      'a master with a USR2 child',
      (a) => {
        a.reexec_pid = 4242;
      },
      false,
    ],
    [
      'the USR2 child of a master',
      (a) => {
        a.master_pid = process.ppid;
      },
      false,
    ],
    [
      'sockets from systemd',
      (a) => {
        a.systemd = true;
      },
      false,
    ],
    [
      'reuse_port',
      (a) => {
        a.cfg.set('reuse_port', true);
      },
      false,
    ],
  ];
  for (const [name, arrange, unlinked] of cases) {
    const { arbiter, procs, dir } = setup(t, { graceful_timeout: 5 });
    const sock = path.join(dir, 'gts.sock');
    arbiter.LISTENERS = await openListeners([`unix:${sock}`], { backlog: 16, reusePort: false, umask: 0 });
    t.ok(fs.existsSync(sock), `${name}: bound`);
    await bootedPool(arbiter, procs, 2);
    procs.exitOnSignal = true;
    arrange(arbiter);
    const started = performance.now();
    await arbiter.stop(true);
    t.equal(fs.existsSync(sock), !unlinked, `${name}: the socket file is ${unlinked ? 'removed' : 'kept'}`);
    t.same(arbiter.LISTENERS, [], `${name}: listeners closed`);
    t.same(
      procs.killed,
      [
        [1000, 'SIGTERM'],
        [1001, 'SIGTERM'],
      ],
      `${name}: workers sent TERM`,
    );
    t.equal(arbiter.WORKERS.size, 0, `${name}: workers reaped`);
    t.ok(performance.now() - started < 2000, `${name}: no wait for graceful_timeout once the workers are gone`);
  }
});

t.test('stop(false) sends QUIT, then KILL to a worker that outlives graceful_timeout', async (t) => {
  const { arbiter, procs } = setup(t, { graceful_timeout: 0 });
  await bootedPool(arbiter, procs, 1);
  const stopped = arbiter.stop(false);
  await new Promise((r) => setTimeout(r, 150));
  t.same(procs.killed, [
    [1000, 'SIGQUIT'],
    [1000, 'SIGKILL'],
  ]);
  t.equal(arbiter.WORKERS.size, 1, 'stop() waits for the exit');
  procs.spawned[0].child.emit('exit', null, 'SIGKILL');
  await stopped;
  t.equal(arbiter.WORKERS.size, 0);
});

t.test('USR2 reexec: the new master gets GUNICORN_PID and GUNICORN_FD; only one at a time', async (t) => {
  const { arbiter, procs, dir } = setup(t);
  arbiter.LISTENERS = await openListeners([`unix:${path.join(dir, 'a.sock')}`, `unix:${path.join(dir, 'b.sock')}`], {
    backlog: 16,
    reusePort: false,
    umask: 0,
  });
  t.teardown(() => arbiter.stop(false));
  arbiter.reexec();
  t.equal(procs.spawned.length, 1);
  const { options } = procs.spawned[0];
  t.equal(options.env.GUNICORN_PID, String(process.pid));
  t.equal(options.env.GUNICORN_FD, '3,4');
  t.same(
    options.stdio.slice(3),
    arbiter.LISTENERS.map((l) => l.fd),
    'the listener fds at 3, 4',
  );
  t.equal(arbiter.reexec_pid, 1000);
  arbiter.reexec();
  t.equal(procs.spawned.length, 1, 'not while a child exists');
  procs.spawned[0].child.emit('exit', 0, null);
  arbiter.handleChld();
  t.equal(arbiter.reexec_pid, 0, 'the child exited');
  arbiter.master_pid = process.ppid;
  arbiter.reexec();
  t.equal(procs.spawned.length, 1, 'not from a USR2 child');
  arbiter.master_pid = 0;
});
