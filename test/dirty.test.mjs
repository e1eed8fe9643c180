// Dirty workers (Gunicorn 25's dirty arbiters), through the CLI with real
// processes: jobs and their errors round-trip, a CPU-bound job in the pool
// leaves the request worker responsive, crashes and dirty_timeout restart a
// dirty worker, the hooks run in order, HUP loads new code, TERM is graceful.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';

import { BIN, ROOT, alive, get, run, sleep, until } from './helpers/gts.mjs';

const WEB = 'test.fixtures.apps.dirty_web';
const JOBS = 'test.fixtures.apps.dirty_jobs:Jobs';
const TOOLS = 'test.fixtures.apps.dirty_jobs:tools';
const CONF = 'test/fixtures/apps/dirty.conf.mjs';

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-dirty-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** the CLI, with its dirty workers killed at the end whatever happens */
function serve(t, args, env = {}) {
  const ctl = args.includes('--control-socket') ? [] : ['--no-control-socket'];
  const g = run(t, ['-b', '127.0.0.1:0', ...ctl, ...args], { env });
  g.dirtyPids = () => [...g.stderr.matchAll(/Booting dirty worker with pid: (\d+)/g)].map((m) => Number(m[1]));
  t.teardown(() => {
    for (const p of g.dirtyPids()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  return g;
}

async function call(port, app, action, args = [], opts = {}) {
  const q = encodeURIComponent(JSON.stringify(args));
  const r = await get(port, `/call/${encodeURIComponent(app)}/${action}?args=${q}`, { timeoutMs: 20000, ...opts });
  if (r.status !== 200) return { transport: r.error ?? r.status };
  return JSON.parse(r.body);
}

function hookLog(file) {
  return () =>
    fs.existsSync(file)
      ? fs
          .readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
      : [];
}

t.test('jobs, results and errors round-trip; hooks in order; kill -9; TERM is graceful', async (t) => {
  const dir = tmpdir(t);
  const calls = hookLog(path.join(dir, 'hooks.jsonl'));
  const named = (n) => calls().filter((c) => c.hook === n);
  const closeLog = path.join(dir, 'close.log');
  const g = serve(t, ['-c', CONF, WEB], { HOOK_LOG: path.join(dir, 'hooks.jsonl'), DIRTY_CLOSE_LOG: closeLog });
  const port = await g.port();
  const M = g.pid;
  await until(() => named('dirty_worker_init').length === 2, { timeoutMs: 20000 });

  // hooks: where and when
  const order = calls().map((c) => c.hook);
  t.ok(
    order.indexOf('on_starting') < order.indexOf('on_dirty_starting') &&
      order.indexOf('on_dirty_starting') < order.indexOf('when_ready'),
    'on_starting < on_dirty_starting < when_ready',
  );
  const [starting] = named('on_dirty_starting');
  t.match(starting, { pid: M, master: M, n: 2 }, 'on_dirty_starting(arbiter) in the master');
  t.ok(starting.socket.endsWith('dirty.sock'), 'arbiter.socket_path');
  const forks = named('dirty_post_fork');
  t.match(
    forks,
    [
      { pid: M, master: M, age: 1, apps: [JOBS, TOOLS] },
      { pid: M, master: M, age: 2, apps: [JOBS, TOOLS] },
    ],
    'dirty_post_fork(arbiter, worker) in the master, after the spawn',
  );
  const dirty = forks.map((f) => f.wpid);
  t.ok(dirty.every((p) => p > 0 && p !== M));
  const inits = named('dirty_worker_init');
  t.same(inits.map((i) => i.pid).sort(), [...dirty].sort(), 'dirty_worker_init(worker) in each dirty worker');
  t.ok(
    inits.every((i) => i.wpid === i.pid && i.ppid === M && i.apps.join() === [JOBS, TOOLS].join()),
    'after its apps are loaded',
  );

  // results
  t.same(await call(port, TOOLS, 'add', [2, 3]), { result: 5 }, 'an object app');
  const echo = await call(port, JOBS, 'echo', ['bytes', 7]);
  t.same(echo.result.value, { buf: 'bytes', date: '1970-01-01T00:00:00.000Z', map: { k: 7 } }, 'structured values');
  t.same(echo.result.types, { buf: 'Buffer', date: 'Date', map: 'Map' }, 'of their own types');
  t.ok(dirty.includes(echo.result.pid), 'run in a dirty worker');
  const slept = await call(port, JOBS, 'sleep', [20]);
  t.match(slept, { result: { slept: 20 } }, 'an async job');

  // errors
  t.same(
    (await call(port, JOBS, 'boom', ['kaboom'])).error,
    { name: 'DirtyAppError', message: 'kaboom', errorType: 'TypeError' },
    "a job's exception rejects with its message",
  );
  t.same(
    (await call(port, JOBS, 'rejects', ['nope'])).error,
    { name: 'DirtyAppError', message: 'nope', errorType: 'RangeError' },
    "and a job's rejection",
  );
  for (const action of ['nothing', '_secret', 'constructor', 'toString'])
    t.match((await call(port, JOBS, action)).error, { name: 'DirtyAppError', message: `Unknown action: ${action}` });
  t.match((await call(port, 'test.fixtures.apps.dirty_jobs:Other', 'x')).error, {
    name: 'DirtyAppNotFoundError',
    message: /Dirty app not found: test\.fixtures\.apps\.dirty_jobs:Other/,
  });
  t.match((await call(port, JOBS, 'unsendable')).error, { name: 'DirtyAppError', message: /cannot be sent/ });

  // a dirty worker killed with -9 while it runs a job: that call fails, the worker is replaced, later calls work
  const both = [call(port, JOBS, 'sleep', [3000]), call(port, JOBS, 'sleep', [3000])];
  await sleep(500); // one job in each dirty worker (dirty_threads = 1)
  const victim = dirty[0];
  process.kill(victim, 'SIGKILL');
  const [a, b] = await Promise.all(both);
  const failed = [a, b].filter((r) => r.error);
  t.equal(failed.length, 1, 'the job in the killed worker fails');
  t.match(failed[0].error, { name: 'DirtyWorkerError', message: new RegExp(`pid:${victim}\\) was sent SIGKILL`) });
  t.ok(
    [a, b].some((r) => r.result?.slept === 3000),
    'the other one completes',
  );
  await until(() => named('dirty_worker_exit').some((e) => e.wpid === victim), { timeoutMs: 10000 });
  t.match(named('dirty_worker_exit'), [{ pid: M, master: M, wpid: victim, code: null, signal: 'SIGKILL' }]);
  await until(() => named('dirty_worker_init').length === 3, { timeoutMs: 20000 });
  const replacement = named('dirty_worker_init')[2].pid;
  const pids = new Set();
  for (let i = 0; i < 6; i++) {
    const r = await call(port, JOBS, 'echo', ['x', i]);
    t.equal(r.result?.value.map.k, i);
    pids.add(r.result?.pid);
  }
  t.notOk(pids.has(victim), 'no call goes to the dead worker');
  t.same([...pids].sort(), [dirty[1], replacement].sort(), 'calls are spread over both live dirty workers');

  // TERM: the running job finishes, the apps close, everything exits 0
  const live = [dirty[1], replacement];
  const pending = call(port, JOBS, 'sleep', [1500]);
  await sleep(300);
  g.kill('SIGTERM');
  t.match(await pending, { result: { slept: 1500 } }, 'a job running at TERM completes');
  t.same(await g.exit, { code: 0, signal: null });
  t.same(fs.readFileSync(closeLog, 'utf8').trim().split('\n').map(Number).sort(), live.sort(), 'close() in each');
  t.ok(
    live.every((p) => !alive(p)),
    'no dirty worker left',
  );
  const exits = named('dirty_worker_exit').filter((e) => live.includes(e.wpid));
  t.match(exits, [{ code: 0 }, { code: 0 }], 'dirty_worker_exit for each');
  t.notOk(fs.existsSync(starting.socket), 'the socket is removed');
  t.match(g.stderr, /Worker exiting[\s\S]*Dirty worker exiting/, 'request workers stop before the pool');
});

t.test('a CPU-bound job in the pool does not delay concurrent simple requests', async (t) => {
  const g = serve(t, ['-w', '1', '--dirty-workers', '1', '--dirty-app', JOBS, WEB]);
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000 });
  await g.waitFor(/Booting worker/, { timeoutMs: 20000 });
  t.match(await call(port, JOBS, 'busy', [10]), { result: { spins: true } }, 'warm-up');

  /** ping latencies (ms) while `busy` runs; ping loop bounded by the busy call */
  async function pingsDuring(busy) {
    const lat = [];
    let done = false;
    const job = busy().finally(() => (done = true));
    await sleep(50);
    const deadline = Date.now() + 15000;
    while (!done && Date.now() < deadline) {
      const t0 = performance.now();
      const r = await get(port, '/ping', { timeoutMs: 10000 });
      if (r.body === 'pong') lat.push(performance.now() - t0);
    }
    return { job: await job, lat };
  }
  const JOB_MS = 1500;
  const pool = await pingsDuring(() => call(port, JOBS, 'busy', [JOB_MS]));
  t.match(pool.job, { result: { spins: true } });
  t.ok(pool.lat.length >= 5, `${pool.lat.length} pings answered during the dirty job`);
  const worst = Math.max(...pool.lat);
  t.ok(worst < JOB_MS / 2, `slowest ping ${worst.toFixed(0)} ms while a ${JOB_MS} ms job ran in the pool`);

  // the control: the same work in the request worker holds every ping back
  const local = await pingsDuring(() => get(port, `/local-busy?ms=${JOB_MS}`, { timeoutMs: 20000 }));
  t.equal(local.job.body, 'done');
  const held = Math.max(...local.lat);
  t.ok(held >= JOB_MS * 0.6, `without the pool a ping waits ${held.toFixed(0)} ms`);
});

t.test('dirty_timeout: the caller gets DirtyTimeoutError, the stuck dirty worker is restarted', async (t) => {
  const g = serve(t, ['-w', '1', '--dirty-workers', '1', '--dirty-timeout', '1', '--dirty-app', JOBS, WEB]);
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000 });
  const first = (await call(port, JOBS, 'echo', ['a', 1])).result.pid;
  const t0 = performance.now();
  const r = await call(port, JOBS, 'busy', [8000]);
  const took = performance.now() - t0;
  t.match(r.error, { name: 'DirtyTimeoutError', message: /dirty_timeout \(1 s\)/, timeout: 1 });
  t.ok(took < 6000, `rejected after ${took.toFixed(0)} ms, not after the job's 8 s`);
  await g.waitFor(new RegExp(`DIRTY WORKER TIMEOUT \\(pid:${first}\\)`));
  await g.waitFor(new RegExp(`Dirty worker \\(pid:${first}\\) was sent SIGKILL`), { timeoutMs: 10000 });
  const after = await until(
    async () => {
      const x = await call(port, JOBS, 'echo', ['b', 2]);
      return x.result ? x : null;
    },
    { timeoutMs: 20000, everyMs: 200 },
  );
  t.ok(after.result.pid !== first && after.result.pid > 0, 'a new dirty worker answers');
});

t.test('dirty_threads: concurrent jobs per dirty worker', async (t) => {
  for (const threads of [1, 2]) {
    const g = serve(t, [
      '-w',
      '1',
      '--dirty-workers',
      '1',
      '--dirty-threads',
      String(threads),
      '--dirty-app',
      JOBS,
      WEB,
    ]);
    const port = await g.port();
    await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000 });
    const rs = await Promise.all([call(port, JOBS, 'sleep', [400]), call(port, JOBS, 'sleep', [400])]);
    t.same(
      rs.map((r) => r.result.most).sort(),
      threads === 1 ? [1, 1] : [2, 2],
      `dirty_threads ${threads}: ${threads} job(s) at once`,
    );
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  }
});

t.test('HUP: new dirty workers load the new code, calls keep working, the old ones stop', async (t) => {
  const dir = tmpdir(t);
  const version = path.join(dir, 'version');
  fs.writeFileSync(version, 'v1');
  const g = serve(t, ['-w', '1', '--dirty-workers', '2', '--dirty-app', JOBS, WEB], { DIRTY_VERSION_FILE: version });
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000, count: 2 });
  t.same(await call(port, JOBS, 'version'), { result: 'v1' });
  const old = g.dirtyPids();
  fs.writeFileSync(version, 'v2');
  let running = true;
  const errors = [];
  let ok = 0;
  const loop = (async () => {
    const deadline = Date.now() + 30000;
    while (running && Date.now() < deadline) {
      const r = await call(port, JOBS, 'echo', ['x', 1]);
      if (r.result) ok++;
      else errors.push(r);
    }
  })();
  await sleep(200);
  g.kill('SIGHUP');
  await until(async () => (await call(port, JOBS, 'version')).result === 'v2', { timeoutMs: 20000, everyMs: 200 });
  await until(() => old.every((p) => !alive(p)), { timeoutMs: 20000 });
  running = false;
  await loop;
  t.same(await call(port, JOBS, 'version'), { result: 'v2' }, 'new code');
  t.ok(
    old.every((p) => !alive(p)),
    'the old dirty workers are gone',
  );
  t.same(errors, [], `no call failed during the reload (${ok} succeeded)`);
  t.equal(g.dirtyPids().filter(alive).length, 2, 'dirty_workers new ones');
});

t.test('settings: bad values and an app that cannot load', async (t) => {
  for (const [args, re] of [
    [['--dirty-app', 'nocolon'], /dirty_apps/],
    [['--dirty-threads', '0'], /dirty_threads/],
    [['--dirty-workers', 'x'], /dirty_workers/],
  ]) {
    const g = serve(t, [...args, WEB]);
    const { code } = await g.exit;
    t.equal(code, 1, args.join(' '));
    t.match(g.stderr.trim().split('\n'), [re], 'one line naming the setting');
  }
  const g = serve(t, ['--dirty-workers', '1', '--dirty-app', 'test.fixtures.apps.no_such:Jobs', WEB]);
  const { code } = await g.exit;
  t.equal(code, 4, 'a dirty app that cannot load stops the server (exit 4)');
  t.match(g.stderr, /No module named 'test\.fixtures\.apps\.no_such'/);
  t.match(g.stderr, /Reason: Dirty app failed to load\./);
});

t.test('without a pool, getDirtyClient() says how to configure one', async (t) => {
  const g = serve(t, [WEB]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  t.match((await call(port, JOBS, 'echo', ['x', 1])).error, {
    name: 'DirtyError',
    message: /dirty_workers > 0 and dirty_apps/,
  });
});

t.test('examples/dirty_app.mjs runs as the README says', async (t) => {
  const g = serve(t, [
    '-w',
    '2',
    '--dirty-workers',
    '2',
    '--dirty-app',
    'examples.dirty_app:Heavy',
    'examples.dirty_app:app',
  ]);
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000, count: 2 });
  const h = await get(port, '/hash?password=hunter2', { timeoutMs: 20000 });
  t.equal(h.status, 200);
  t.match(h.body, /^[0-9a-f]{64}$/, 'a pbkdf2 hash from a dirty worker');
  const r = await get(port, '/report?rows=3', { timeoutMs: 20000 });
  t.same(JSON.parse(r.body), [
    { i: 0, sq: 0, hex: '0' },
    { i: 1, sq: 1, hex: '1' },
    { i: 2, sq: 4, hex: '2' },
  ]);
  const bad = await get(port, '/report?rows=-1', { timeoutMs: 20000 });
  t.equal(bad.status, 400);
  t.equal(bad.body, 'DirtyAppError: rows must be a non-negative integer');
  t.equal((await get(port, '/')).body, 'Hello, World!');
});

t.test(
  'MODULE:EXPORT:N loads an app in N dirty workers only; a replacement gets the apps of the dead one',
  async (t) => {
    const dir = tmpdir(t);
    const logf = path.join(dir, 'hooks.jsonl');
    const calls = hookLog(logf);
    const inits = () => calls().filter((c) => c.hook === 'dirty_worker_init');
    const g = serve(t, ['-c', CONF, '--dirty-workers', '3', '--dirty-app', JOBS, '--dirty-app', `${TOOLS}:1`, WEB], {
      HOOK_LOG: logf,
    });
    const port = await g.port();
    await until(() => inits().length === 3, { timeoutMs: 20000 });
    const withTools = inits().filter((i) => i.apps.includes(TOOLS));
    t.equal(withTools.length, 1, 'one dirty worker loads the limited app');
    t.ok(
      inits().every((i) => i.apps.includes(JOBS)),
      'every one loads the unlimited app',
    );
    for (let i = 0; i < 3; i++) t.same(await call(port, TOOLS, 'add', [i, 1]), { result: i + 1 });
    const owner = withTools[0].pid;
    process.kill(owner, 'SIGKILL');
    await until(() => inits().length === 4, { timeoutMs: 20000 });
    t.same(inits()[3].apps, [JOBS, TOOLS], 'its replacement loads both apps again');
    t.same(await call(port, TOOLS, 'add', [40, 2]), { result: 42 });
  },
);

t.test('serve() with dirty_workers and dirty_apps', async (t) => {
  const g = run(t, [], { script: path.join(ROOT, 'test/fixtures/apps/serve_dirty.mjs') });
  t.teardown(() => {
    for (const m of g.stderr.matchAll(/Booting dirty worker with pid: (\d+)/g)) {
      try {
        process.kill(Number(m[1]), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000 });
  const r = await get(port, '/', { timeoutMs: 20000 });
  t.equal(r.body, '42 from a dirty worker');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.match(g.stderr, /Dirty worker exiting/);
});

t.test('gunicorn-ts ctl status shows the dirty pool', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'ctl.sock');
  const g = serve(t, ['--control-socket', sock, '-w', '1', '--dirty-workers', '2', '--dirty-app', JOBS, WEB]);
  const port = await g.port();
  await g.waitFor(/Booting dirty worker/, { timeoutMs: 20000, count: 2 });
  const ctl = (...args) =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BIN, 'ctl', '--socket', sock, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('exit', () => resolve(out));
    });
  const busy = call(port, JOBS, 'sleep', [1500]);
  const status = await until(
    async () => {
      const s = JSON.parse(await ctl('--json', 'status'));
      return s.dirty.workers.filter((w) => w.booted).length === 2 && s.dirty.workers.some((w) => w.jobs === 1) && s;
    },
    { timeoutMs: 10000, everyMs: 100 },
  );
  t.match(status.dirty, { target: 2, queued: 0, socket: /dirty\.sock$/ });
  t.same(status.dirty.workers.map((w) => w.pid).sort(), g.dirtyPids().sort(), 'each dirty worker');
  t.same(status.dirty.workers.map((w) => w.jobs).sort(), [0, 1], 'and the jobs it runs');
  t.ok(status.dirty.workers.every((w) => w.apps.join() === JOBS && w.heartbeat_age < 5));
  const text = await ctl('status');
  t.match(text, /dirty workers 2\/2 {2}queued calls \d+/);
  t.match(text, /DIRTY PID +AGE +JOBS +HEARTBEAT +APPS/);
  t.match(await busy, { result: { slept: 1500 } });
});
