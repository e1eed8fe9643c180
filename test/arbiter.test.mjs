// The arbiter under real signals: HUP, TTIN/TTOU, kill -9, TERM with a slow
// request in flight, max_requests, timeout. Loads are bounded in time and
// stay on 127.0.0.1; every request uses a fresh connection.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { alive, children, get, load, run, sleep, until } from './helpers/gts.mjs';

const tmp = (t) => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-arbiter-'));
const json = async (port, p = '/') => {
  const r = await get(port, p);
  return r.status === 200 ? JSON.parse(r.body) : null;
};

t.test('HUP under load: new config and code served, zero failed requests', async (t) => {
  const dir = tmp(t);
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  const vfile = path.join(dir, 'version.txt');
  fs.writeFileSync(conf, "export const workers = 2;\nexport const raw_env = ['GREETING=one'];\n");
  fs.writeFileSync(vfile, 'v1');
  const g = run(t, ['-c', conf, '-b', '127.0.0.1:0', 'test.fixtures.apps.control'], {
    env: { CONTROL_VERSION_FILE: vfile },
  });
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  const before = await until(() => json(port));
  t.same([before.version, before.greeting], ['v1', 'one']);
  const oldWorkers = g.workers();
  const l = load(port, { concurrency: 4 });
  await sleep(500);
  fs.writeFileSync(conf, "export const workers = 3;\nexport const raw_env = ['GREETING=two'];\n");
  fs.writeFileSync(vfile, 'v2');
  g.kill('SIGHUP');
  await g.waitFor(/\[INFO\] Handling signal: hup\n.*\[INFO\] Hang up: Master\n/);
  const gone = await until(() => oldWorkers.every((p) => !alive(p)), { timeoutMs: 15000 });
  t.ok(gone, 'the old workers stopped');
  await sleep(500);
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.ok(stats.failed * 100 <= stats.ok, `at most 1% failed (${stats.failed} of ${stats.ok + stats.failed})`);
  t.ok(stats.ok > 20, `load ran (${stats.ok})`);
  const after = await json(port);
  t.same([after.version, after.greeting], ['v2', 'two'], 'new code and new config');
  t.equal(g.workers().length, 3, 'workers = 3 from the re-read config');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('TTIN/TTOU change the worker count; kill -9 of a worker is repaired fast', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', 'test.fixtures.apps.control']);
  await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  g.kill('SIGTTIN');
  await g.waitFor(/Booting worker/, { count: 3 });
  t.equal((await until(() => g.workers().length === 3 && g.workers())).length, 3, 'TTIN: 3 workers');
  // the oldest by spawn order (process start time): boot log lines of workers
  // spawned together can appear in either order
  const started = (pid) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19]);
  const oldest = [...g.workers()].sort((a, b) => started(a) - started(b) || a - b)[0];
  g.kill('SIGTTOU');
  await g.waitFor(/Handling signal: ttou/);
  t.ok(await until(() => !alive(oldest)), 'TTOU stops the oldest worker');
  t.equal((await until(() => g.workers().length === 2 && g.workers())).length, 2, 'TTOU: 2 workers');
  const victim = g.workers()[0];
  const others = children(g.pid).filter((p) => p !== victim);
  const t0 = Date.now();
  process.kill(victim, 'SIGKILL');
  const fresh = await until(() => children(g.pid).find((p) => p !== victim && !others.includes(p)), {
    everyMs: 10,
    timeoutMs: 5000,
  });
  const took = Date.now() - t0;
  t.ok(fresh && took < 1000, `a replacement process within a second (${took} ms)`);
  await g.waitFor(new RegExp(`Worker \\(pid:${victim}\\) was sent SIGKILL! Perhaps out of memory\\?`));
  await g.waitFor(new RegExp(`Booting worker with pid: ${fresh}`));
  t.equal(g.workers().length, 2);
  g.kill('SIGTERM');
  await g.exit;
});

t.test('a worker stuck in a busy loop is killed after timeout; the other keeps serving', async (t) => {
  const g = run(t, ['-w', '2', '-t', '2', '-b', '127.0.0.1:0', 'test.fixtures.apps.control']);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  void get(port, '/block?ms=60000', { timeoutMs: 20000 });
  const m = await g.waitFor(/\[CRITICAL\] WORKER TIMEOUT \(pid:(\d+)\)/, { timeoutMs: 10000 });
  const stuck = Number(m[1]);
  // while it is stuck, the other worker answers
  const r = await json(port);
  t.ok(r && r.pid !== stuck, 'the other worker serves');
  await g.waitFor(new RegExp(`Worker \\(pid:${stuck}\\) was sent SIGKILL!`), { timeoutMs: 10000 });
  await g.waitFor(/Booting worker/, { count: 3 });
  t.notOk(alive(stuck), 'stuck worker is gone');
  t.equal(g.workers().length, 2, 'replaced');
  g.kill('SIGTERM');
  await g.exit;
});

t.test('max_requests: workers recycle with zero failed requests', async (t) => {
  const g = run(t, [
    '-w',
    '2',
    '--max-requests',
    '20',
    '--max-requests-jitter',
    '5',
    '-b',
    '127.0.0.1:0',
    'test.fixtures.apps.control',
  ]);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  const l = load(port, { concurrency: 4 });
  await g.waitFor(/Booting worker/, { count: 6, timeoutMs: 20000 });
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.same(
    new Set(stats.errors),
    new Set(stats.errors.length ? ['ECONNRESET'] : []),
    'failures are only the native drain resets',
  );
  t.match(g.stderr, /\[INFO\] Autorestarting worker after current request\.\n/);
  t.notMatch(g.stderr, /exited with code/, 'recycled workers exit 0');
  const served = new Set([...stats.bodies.keys()].map((b) => JSON.parse(b).pid));
  t.ok(served.size >= 3, `requests served by recycled and new workers (${served.size} pids)`);
  g.kill('SIGTERM');
  await g.exit;
});

t.test('TERM: the in-flight slow request completes, then the master exits 0', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', 'test.fixtures.apps.control']);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  await until(() => json(port));
  const slow = get(port, '/slow?ms=1500');
  await sleep(300);
  g.kill('SIGTERM');
  const r = await slow;
  t.equal(r.status, 200, 'slow request answered');
  t.equal((await g.exit).code, 0);
  t.match(g.stderr, /Handling signal: term\n[^]*Worker exiting \(pid: \d+\)\n[^]*\[INFO\] Shutting down: Master\n/);
});

t.test('INT: quick shutdown', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', 'test.fixtures.apps.control']);
  await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  const workers = g.workers();
  g.kill('SIGINT');
  t.equal((await g.exit).code, 0);
  t.match(g.stderr, /Handling signal: int\n/);
  t.ok(
    workers.every((p) => !alive(p)),
    'workers gone',
  );
});

t.test('USR2 then TERM of the old master: the new master takes over the sockets', async (t) => {
  const dir = tmp(t);
  const pidfile = path.join(dir, 'gts.pid');
  const g = run(t, ['-w', '2', '-p', pidfile, '-b', '127.0.0.1:0', 'test.fixtures.apps.control']);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  t.equal(Number(fs.readFileSync(pidfile, 'utf8')), g.pid, 'pidfile holds the master pid');
  const l = load(port, { concurrency: 4 });
  await sleep(300);
  g.kill('SIGUSR2');
  const m = await g.waitFor(/\[(\d+)\] \[INFO\] Starting gunicorn-ts/, { count: 2 });
  const newPid = Number(m[1]);
  t.teardown(() => {
    try {
      process.kill(newPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  t.not(newPid, g.pid);
  await g.waitFor(
    new RegExp(`\\[${newPid}\\] \\[INFO\\] Listening at: http://127\\.0\\.0\\.1:${port} \\(${newPid}\\)`),
  );
  await g.waitFor(/Booting worker/, { count: 4 });
  t.equal(Number(fs.readFileSync(`${pidfile}.2`, 'utf8')), newPid, 'the new master writes <pidfile>.2');
  g.kill('SIGUSR2');
  await g.waitFor(/USR2 signal ignored\. Child exists\./);
  await sleep(300);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0, 'old master exits 0');
  await g.waitFor(new RegExp(`\\[${newPid}\\] \\[INFO\\] Master has been promoted\\.`), { timeoutMs: 5000 });
  const named = await until(() => fs.existsSync(pidfile) && Number(fs.readFileSync(pidfile, 'utf8')));
  t.equal(named, newPid, 'promoted: the pidfile names the new master');
  t.notOk(fs.existsSync(`${pidfile}.2`), '<pidfile>.2 is gone');
  await sleep(300);
  const stats = await l.stop();
  t.equal(stats.failed, 0, `no failed requests (${stats.ok} ok; errors: ${stats.errors})`);
  t.ok(stats.failed * 100 <= stats.ok, `at most 1% failed (${stats.failed} of ${stats.ok + stats.failed})`);
  t.ok(await json(port), 'the new master serves');
  process.kill(newPid, 'SIGTERM');
  t.ok(await until(() => !alive(newPid)), 'new master stops on TERM');
  t.notOk(fs.existsSync(pidfile), 'pidfile removed on exit');
});
