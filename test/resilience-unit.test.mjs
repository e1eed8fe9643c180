// The arbiter's resilience decisions with fake processes (as
// test/arbiter-unit.test.mjs): memory recycling picks the worker over the
// limit and waits for its replacement; crash loops back off. The same with real
// processes: test/resilience.test.mjs.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { Arbiter } from '../dist/arbiter/arbiter.js';
import { Config } from '../dist/config/config.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setup(t, settings = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-resil-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const errorlog = path.join(dir, 'error.log');
  const cfg = new Config();
  cfg.set('errorlog', errorlog);
  for (const [k, v] of Object.entries(settings)) cfg.set(k, v);
  const app = { cfg, callable: null, wsgi: async () => () => [], reload: async () => {} };
  const procs = { next: 1000, spawned: [], killed: [] };
  const spawn = function () {
    const child = new EventEmitter();
    child.pid = procs.next++;
    child.sent = [];
    child.send = (m) => child.sent.push(m);
    child.env = JSON.parse(arguments[2].env.GUNICORN_TS_WORKER);
    procs.spawned.push(child);
    return child;
  };
  const kill = (pid, sig) => procs.killed.push([pid, sig]);
  const title = process.title;
  const arbiter = new Arbiter(app, { spawn, kill, execPath: '/bin/false', args: ['entry.mjs'], cwd: dir, env: {} });
  t.teardown(() => {
    arbiter.log.close();
    process.title = title;
  });
  const child = (pid) => procs.spawned.find((c) => c.pid === pid);
  return { arbiter, procs, child, log: () => fs.readFileSync(errorlog, 'utf8') };
}

t.test(
  'max_worker_memory: the worker over the limit (not the oldest) stops once its replacement has booted',
  async (t) => {
    const { arbiter, procs, child, log } = setup(t, { max_worker_memory: '100M' });
    arbiter.num_workers = 2;
    await arbiter.manageWorkers();
    for (const c of procs.spawned) c.emit('message', { gts: 'booted' });
    child(1001).emit('message', { gts: 'hb', rss: 50 * 1024 * 1024 });
    t.equal(procs.spawned.length, 2, 'under the limit: nothing happens');
    child(1001).emit('message', { gts: 'hb', rss: 150 * 1024 * 1024 });
    t.equal(procs.spawned.length, 3, 'over the limit: a replacement is spawned at once');
    t.match(log(), /Worker \(pid:1001\) uses 150\.0 MiB \(RSS\), over max_worker_memory 100\.0 MiB: replacing it/);
    child(1001).emit('message', { gts: 'hb', rss: 160 * 1024 * 1024 });
    t.equal(procs.spawned.length, 3, 'one replacement, not one per heartbeat');
    await arbiter.manageWorkers();
    t.same(procs.killed, [], 'nothing stopped while the replacement boots');
    child(1002).emit('message', { gts: 'booted' });
    await arbiter.manageWorkers();
    t.same(procs.killed, [[1001, 'SIGTERM']], 'then the worker over the limit stops gracefully, the older one stays');
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3);
  },
);

t.test('max_worker_memory: a replacement that dies at boot is tried again on a later heartbeat', async (t) => {
  const { arbiter, procs, child } = setup(t, { max_worker_memory: 1000 });
  arbiter.num_workers = 1;
  await arbiter.manageWorkers();
  child(1000).emit('message', { gts: 'booted' });
  child(1000).emit('message', { gts: 'hb', rss: 2000 });
  t.equal(procs.spawned.length, 2);
  child(1001).emit('exit', 1, null);
  arbiter.reapWorkers(true);
  await arbiter.manageWorkers();
  t.same(procs.killed, [], 'the old worker still serves');
  child(1000).emit('message', { gts: 'hb', rss: 2000 });
  t.equal(procs.spawned.length, 3, 'another replacement');
});

t.test('no memory figure, no limit: heartbeats only', async (t) => {
  const { arbiter, procs, child } = setup(t);
  arbiter.num_workers = 1;
  await arbiter.manageWorkers();
  child(1000).emit('message', { gts: 'booted' });
  child(1000).emit('message', { gts: 'hb', rss: 1e12 });
  t.equal(procs.spawned.length, 1, 'max_worker_memory 0 is off');
});

t.test(
  'crash loop: after max_quick_restarts crashes at boot the next spawn waits, doubling; a stable worker ends it',
  async (t) => {
    const { arbiter, procs, child, log } = setup(t, {
      max_quick_restarts: 2,
      restart_backoff_max: 0.2,
      min_uptime: 0.3,
    });
    arbiter.num_workers = 1;
    await arbiter.manageWorkers();
    const crash = async () => {
      child(procs.spawned.at(-1).pid).emit('exit', 1, null);
      arbiter.reapWorkers(true);
      await arbiter.manageWorkers();
    };
    await crash();
    t.equal(procs.spawned.length, 2, 'the first crash: respawned at once');
    await crash();
    t.equal(procs.spawned.length, 2, 'the second: waits');
    t.match(log(), /2 crashes at boot in a row \(min_uptime 0\.3 s\); next worker in 0\.1 s/);
    await sleep(120);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'after 0.1 s');
    await crash();
    t.match(log(), /3 crashes at boot in a row \(min_uptime 0\.3 s\); next worker in 0\.2 s/);
    await sleep(120);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'still waiting after 0.12 s of 0.2');
    await sleep(100);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 4);
    await crash();
    t.match(
      log(),
      /4 crashes at boot in a row \(min_uptime 0\.3 s\); next worker in 0\.2 s/,
      'capped at restart_backoff_max',
    );
    await sleep(220);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 5);
    const w = procs.spawned.at(-1).pid;
    child(w).emit('message', { gts: 'booted' });
    await sleep(320);
    await arbiter.manageWorkers();
    t.match(log(), /Workers are up again after 4 crashes at boot/);
    child(w).emit('exit', null, 'SIGKILL');
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 6, 'the streak was reset: a later crash respawns at once');
  },
);

t.test(
  'exits that are no crash at boot do not count: status 0, stopped by the master, or after min_uptime',
  async (t) => {
    const { arbiter, procs, child, log } = setup(t, { max_quick_restarts: 1, min_uptime: 0.1 });
    arbiter.num_workers = 1;
    await arbiter.manageWorkers();
    child(1000).emit('exit', 0, null);
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 2, 'status 0 (max_requests): respawned');
    arbiter.killWorker(arbiter.WORKERS.get(1001), 'SIGTERM');
    child(1001).emit('exit', null, 'SIGTERM');
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'stopped by the master: respawned');
    await sleep(150);
    child(1002).emit('exit', 1, null);
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 4, 'failed after min_uptime: respawned at once');
    t.notMatch(log(), /crashes at boot/);
  },
);

t.test('exit status 3 and 4 halt, even inside a back-off', async (t) => {
  const { arbiter, procs, child } = setup(t, { max_quick_restarts: 1 });
  arbiter.num_workers = 1;
  await arbiter.manageWorkers();
  child(1000).emit('exit', 1, null);
  arbiter.reapWorkers(true);
  await arbiter.manageWorkers();
  t.equal(procs.spawned.length, 1, 'backing off');
  arbiter.spawnWorker();
  child(1001).emit('exit', 3, null);
  t.throws(() => arbiter.reapWorkers(true), { reason: 'Worker failed to boot.', exitStatus: 3 });
});

t.test(
  'spare_workers: a spare starts once the pool has booted; a dead worker is replaced by it, then a new spare starts',
  async (t) => {
    const { arbiter, procs, child, log } = setup(t, { spare_workers: 1, loglevel: 'debug' });
    arbiter.LISTENERS = [];
    arbiter.num_workers = 2;
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 2, 'no spare while workers boot (no listeners here either)');
    arbiter.LISTENERS = [{ fd: 0, info: { kind: 'tcp', url: 'http://127.0.0.1:1' } }];
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 2, 'no spare while workers boot');
    for (const c of procs.spawned) c.emit('message', { gts: 'booted' });
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'then one spare');
    t.same(child(1002).env, { spare: true }, 'started without a boot state');
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'one is enough');
    child(1000).emit('exit', null, 'SIGKILL');
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 4, 'a spare that is not ready yet is not used: a process is started');
    child(1003).emit('message', { gts: 'booted' });
    child(1002).emit('message', { gts: 'spare' });
    t.match(log(), /Spare worker \(pid:1002\) ready/);
    child(1001).emit('exit', null, 'SIGKILL');
    arbiter.reapWorkers(true);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 4, 'the ready spare replaces the dead worker: no new process');
    t.equal(child(1002).sent.length, 1);
    const [m] = child(1002).sent;
    t.match(
      m,
      { gts: 'activate', state: { age: 4, ppid: process.pid, listeners: [{ fd: 4 }] } },
      'with its boot state',
    );
    t.ok(arbiter.WORKERS.has(1002), 'it is a worker now');
    child(1002).emit('message', { gts: 'booted' });
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 5, 'and a new spare starts once it has booted');
    t.same(child(1004).env, { spare: true });
    child(1002).emit('exit', 1, null);
    arbiter.reapWorkers(true);
    t.notOk(arbiter.WORKERS.has(1002), 'an activated spare exits as a worker');
  },
);

t.test(
  'spare_workers: spares are stopped on HUP (old configuration) and on stop; a spare that dies is logged',
  async (t) => {
    const { arbiter, procs, child, log } = setup(t, { spare_workers: 1 });
    arbiter.LISTENERS = [{ fd: 0, info: { kind: 'tcp', url: 'http://127.0.0.1:1' } }];
    arbiter.num_workers = 1;
    await arbiter.manageWorkers();
    child(1000).emit('message', { gts: 'booted' });
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 2);
    child(1001).emit('exit', 1, null);
    arbiter.reapWorkers(true);
    t.match(log(), /Spare worker \(pid:1001\) exited \(code 1, signal null\)/);
    await arbiter.manageWorkers();
    t.equal(procs.spawned.length, 3, 'replaced');
    await arbiter.reload();
    t.same(
      procs.killed.filter(([pid]) => pid === 1002),
      [[1002, 'SIGTERM']],
      'HUP stops the spare',
    );
    child(1002).emit('exit', null, 'SIGTERM');
    arbiter.reapWorkers(true);
    t.notMatch(log(), /Spare worker \(pid:1002\) exited/, 'quietly');
  },
);
