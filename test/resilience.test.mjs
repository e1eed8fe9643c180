// Production resilience with real processes (issue 13): stray async errors,
// async hooks, memory recycling, crash-loop back-off, systemd notifications,
// shutdown_delay. The arbiter's decisions alone: test/resilience-unit.test.mjs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, alive, get, run, sleep, until } from './helpers/gts.mjs';

const APP = path.join(APPS, 'resilience.mjs');
const tmpdir = (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-resil-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};
const pidOf = (r) => Number(/(\d+)/.exec(r.body ?? '')?.[1]);

t.test(
  'a stray rejection or uncaught exception is logged with the request, counted; the worker keeps serving',
  async (t) => {
    const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', APP]);
    const port = await g.port();
    await g.waitFor(/Booting worker/);
    const first = await get(port, '/');
    const slow = get(port, '/slow?ms=1500');
    await sleep(200);
    t.equal((await get(port, '/reject')).status, 200);
    t.equal((await get(port, '/throw')).status, 200);
    await g.waitFor(/Uncaught exception in worker/);
    const s = await slow;
    t.equal(s.status, 200, 'the slow request in flight got its answer');
    t.equal(pidOf(s), pidOf(first), 'from the same worker');
    const after = await get(port, '/');
    t.equal(pidOf(after), pidOf(first), 'the worker still serves');
    t.match(
      g.stderr,
      new RegExp(
        `\\[ERROR\\] Unhandled promise rejection in worker \\(pid:${pidOf(first)}\\), #1 \\(requests in flight: (GET /slow\\?ms=1500, GET /reject|GET /reject, GET /slow\\?ms=1500)\\); still serving`,
      ),
    ); // in connection-slot order
    t.match(g.stderr, /Error: stray rejection from \/reject\n\s+at application/, 'with the stack');
    t.match(
      g.stderr,
      /\[ERROR\] Uncaught exception in worker \(pid:\d+\), #2 \(requests in flight: (GET \/slow\?ms=1500, GET \/throw|GET \/throw, GET \/slow\?ms=1500)\); still serving/,
    );
    t.notMatch(g.stderr, /exited with code/);
  },
);

t.test('max_unhandled_errors: the worker restarts gracefully, in-flight requests finish', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--max-unhandled-errors', '2', APP]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const first = pidOf(await get(port, '/'));
  const slow = get(port, '/slow?ms=1500');
  await sleep(200);
  await get(port, '/reject');
  await get(port, '/reject');
  await g.waitFor(/Restarting worker \(pid:\d+\) gracefully after 2 unhandled errors/);
  const s = await slow;
  t.equal(s.status, 200, 'the in-flight request finished');
  t.equal(pidOf(s), first);
  await g.waitFor(/Booting worker/, { count: 2 });
  const r = await until(async () => {
    const x = await get(port, '/');
    return x.status === 200 && pidOf(x) !== first && x;
  });
  t.ok(r, 'a new worker serves');
  t.ok(await until(() => !alive(first)), 'the old worker exited');
  t.notMatch(g.stderr, new RegExp(`Worker \\(pid:${first}\\) exited with code`), 'with status 0');
});

t.test('async hooks are awaited: when_ready, post_worker_init, worker_exit, on_exit', async (t) => {
  const dir = tmpdir(t);
  const logf = path.join(dir, 'hooks.log');
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    `
    import fs from 'node:fs';
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const note = (m) => fs.appendFileSync(${JSON.stringify(logf)}, m + '\\n');
    export const when_ready = async () => { await sleep(300); note('when_ready done'); };
    export const pre_fork = () => note('pre_fork');
    export const post_worker_init = async () => { await sleep(300); note('post_worker_init done'); };
    export const worker_exit = async () => { await sleep(400); note('worker_exit done'); };
    export const on_exit = async () => { await sleep(400); note('on_exit done'); };
  `,
  );
  const g = run(t, ['-c', conf, '-w', '1', '-b', '127.0.0.1:0', APP]);
  const port = await g.port();
  await until(() => fs.existsSync(logf) && fs.readFileSync(logf, 'utf8').includes('post_worker_init'));
  t.equal((await get(port, '/')).status, 200);
  g.kill('SIGTERM');
  const { code } = await g.exit;
  t.equal(code, 0);
  t.same(fs.readFileSync(logf, 'utf8').trim().split('\n'), [
    'when_ready done',
    'pre_fork',
    'post_worker_init done',
    'worker_exit done',
    'on_exit done',
  ]);
  t.notMatch(g.stderr, /did not finish/);
});

t.test('an async worker_exit is awaited on a quick stop (QUIT) too', async (t) => {
  const dir = tmpdir(t);
  const logf = path.join(dir, 'hooks.log');
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    `
    import fs from 'node:fs';
    export const worker_exit = async () => { await new Promise((r) => setTimeout(r, 500)); fs.appendFileSync(${JSON.stringify(logf)}, 'worker_exit done\\n'); };
  `,
  );
  const g = run(t, ['-c', conf, '-w', '1', '-b', '127.0.0.1:0', APP]);
  await g.port();
  await g.waitFor(/Booting worker/);
  await sleep(300);
  g.kill('SIGQUIT');
  await g.exit;
  t.equal(fs.existsSync(logf) ? fs.readFileSync(logf, 'utf8') : '', 'worker_exit done\n');
});

t.test('a hook that overruns graceful_timeout is logged and left behind', async (t) => {
  const dir = tmpdir(t);
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    `
    export const post_worker_init = () => new Promise(() => {});
    export const worker_exit = () => new Promise(() => {});
    export const on_exit = () => new Promise(() => {});
  `,
  );
  const g = run(t, ['-c', conf, '-w', '1', '--graceful-timeout', '1', '-b', '127.0.0.1:0', APP]);
  const port = await g.port();
  await g.waitFor(/The post_worker_init hook did not finish within graceful_timeout \(1 s\); going on/);
  t.equal((await get(port, '/')).status, 200, 'the worker serves meanwhile');
  const t0 = Date.now();
  g.kill('SIGTERM');
  const { code } = await g.exit;
  t.equal(code, 0);
  t.match(g.stderr, /The worker_exit hook did not finish within graceful_timeout \(1 s\); going on/);
  t.match(g.stderr, /The on_exit hook did not finish within graceful_timeout \(1 s\); going on/);
  t.ok(Date.now() - t0 < 6000, `stopped in ${Date.now() - t0} ms`);
});

t.test('max_worker_memory: a new worker first, then the old one drains', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--max-worker-memory', '160M', '--timeout', '2', APP]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const first = pidOf(await get(port, '/'));
  const slow = get(port, '/slow?ms=2500');
  await sleep(100);
  const grown = await get(port, '/grow?mb=160');
  t.equal(grown.status, 200);
  const m = await g.waitFor(
    /Worker \(pid:(\d+)\) uses ([\d.]+) MiB \(RSS\), over max_worker_memory 160\.0 MiB: replacing it/,
  );
  t.equal(Number(m[1]), first);
  t.ok(Number(m[2]) > 160, `logged with the figure (${m[2]} MiB)`);
  await g.waitFor(/Booting worker/, { count: 2 });
  const s = await slow;
  t.equal(s.status, 200, 'the in-flight request on the old worker finished');
  t.equal(pidOf(s), first);
  const r = await until(async () => {
    const x = await get(port, '/');
    return x.status === 200 && pidOf(x) !== first && x;
  });
  t.ok(r, 'the new worker serves');
  t.ok(await until(() => !alive(first)), 'the old worker is gone');
  t.ok(
    g.stderr.lastIndexOf('Booting worker') < g.stderr.indexOf(`Worker exiting (pid: ${first})`),
    'the replacement booted before the old worker exited',
  );
  t.notMatch(g.stderr, /exited with code|was sent SIGKILL/);
});

t.test('crash loop: a worker dying at boot is restarted with growing delays, logged', async (t) => {
  // JSON log lines: each carries the time its process wrote it (ms), so the waits below are measured by the
  // master's and the workers' clocks, not by when this (maybe descheduled) test process reads them;
  // min_uptime 10 s: a worker crashing 10 ms after its start counts as a crash at boot even when a loaded
  // machine takes seconds to start it
  const g = run(
    t,
    [
      ...['-w', '1', '-b', '127.0.0.1:0', '--log-format', 'json', '--min-uptime', '10'],
      ...['--max-quick-restarts', '2', '--restart-backoff-max', '0.8', APP],
    ],
    { env: { GTS_TEST_CRASH_AT_BOOT: '1' } },
  );
  await g.port();
  await g.waitFor(/next worker in 0\.8 s/, { count: 2, timeoutMs: 60000 });
  // when each back-off warning and each boot line was written
  const events = g.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .flatMap(({ time, msg }) => {
      const w = /next worker in ([\d.]+) s/.exec(msg);
      if (w) return [{ wait: Number(w[1]) * 1000, at: Date.parse(time) }];
      return /Booting worker with pid/.test(msg) ? [{ boot: Date.parse(time) }] : [];
    })
    .sort((a, b) => (a.at ?? a.boot) - (b.at ?? b.boot));
  t.match(
    g.stderr,
    /Worker \(pid:\d+\) exited [\d.]+ s after its start: 2 crashes at boot in a row \(min_uptime 10 s\); next worker in 0\.1 s/,
  );
  t.match(g.stderr, /3 crashes at boot in a row \(min_uptime 10 s\); next worker in 0\.2 s/);
  t.match(g.stderr, /4 crashes at boot in a row \(min_uptime 10 s\); next worker in 0\.4 s/);
  t.match(g.stderr, /5 crashes at boot in a row \(min_uptime 10 s\); next worker in 0\.8 s/);
  t.match(
    g.stderr,
    /6 crashes at boot in a row \(min_uptime 10 s\); next worker in 0\.8 s/,
    'capped at restart_backoff_max',
  );
  // each announced wait is kept: the next worker boots no sooner (20 ms slack: the warning's time is taken
  // just after the master's clock reading that starts the wait)
  const waited = [];
  events.forEach((e, i) => {
    if (e.wait === undefined) return;
    const next = events.slice(i + 1).find((x) => x.boot !== undefined);
    if (next) waited.push([e.wait, next.boot - e.at]);
  });
  t.ok(waited.length >= 3, `${waited.length} waits observed`);
  t.ok(
    waited.every(([want, got]) => got >= want - 20),
    `waits (announced, observed ms): ${JSON.stringify(waited)}`,
  );
  t.equal(g.exited, null, 'the master keeps running');
});

t.test('exit status 3 still halts at once, back-off or not', async (t) => {
  const dir = tmpdir(t);
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(conf, "export const post_fork = () => { throw new Error('no boot'); };\n");
  const g = run(t, ['-c', conf, '-w', '1', '-b', '127.0.0.1:0', APP]);
  const { code } = await g.exit;
  t.equal(code, 3);
  t.match(g.stderr, /Reason: Worker failed to boot\./);
});

/** a $NOTIFY_SOCKET listener: every datagram with python's time.monotonic() in µs */
function notifyListener(t, sock) {
  const py = spawn(
    'python3',
    [
      '-c',
      `import socket, time, json\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\ns.settimeout(30)\nwhile True:\n  m=s.recv(4096).decode()\n  print(json.dumps([int(time.monotonic()*1e6), m]), flush=True)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const got = [];
  let buf = '';
  py.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) got.push(JSON.parse(l));
  });
  t.teardown(() => py.kill('SIGKILL'));
  got.process = py;
  return got;
}

t.test('systemd: WATCHDOG=1, RELOADING=1 with MONOTONIC_USEC then READY=1, STOPPING=1', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'notify.sock');
  const got = notifyListener(t, sock);
  await until(() => fs.existsSync(sock));
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', APP], { env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '300000' } });
  await g.port();
  await until(() => got.filter(([, m]) => m === 'WATCHDOG=1').length >= 3, { timeoutMs: 5000 });
  t.ok(got.filter(([, m]) => m === 'WATCHDOG=1').length >= 3, 'WATCHDOG=1 every WATCHDOG_USEC/2');
  t.match(got[0][1], /^READY=1\n/, 'READY=1 first');
  const before = got.length;
  g.kill('SIGHUP');
  await until(() => got.slice(before).some(([, m]) => m === 'READY=1'));
  const reload = got.slice(before).filter(([, m]) => m !== 'WATCHDOG=1');
  t.equal(reload.length, 2, 'RELOADING=1, READY=1');
  const [at, msg] = reload[0];
  const mm = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(msg);
  t.ok(mm, `RELOADING=1 with MONOTONIC_USEC: ${JSON.stringify(msg)}`);
  t.ok(Math.abs(Number(mm?.[1]) - at) < 2e6, 'MONOTONIC_USEC is CLOCK_MONOTONIC');
  t.equal(reload[1][1], 'READY=1');
  const n = got.length;
  g.kill('SIGTERM');
  await g.exit;
  await until(() => got.slice(n).some(([, m]) => m === 'STOPPING=1'));
  t.ok(
    got.slice(n).some(([, m]) => m === 'STOPPING=1'),
    'STOPPING=1 on TERM',
  );
});

t.test('systemd: a NOTIFY_SOCKET that stops reading never blocks the master', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'notify.sock');
  const got = notifyListener(t, sock);
  await until(() => fs.existsSync(sock));
  // WATCHDOG=1 every 10 ms: with the reader stopped its queue (net.unix.max_dgram_qlen, 10 here) is full at once
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', APP], { env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '20000' } });
  const port = await g.port();
  await until(() => got.some(([, m]) => m === 'WATCHDOG=1'));
  got.process.kill('SIGSTOP');
  await sleep(1000);
  g.kill('SIGTTIN');
  t.ok(await g.waitFor(/Booting worker/, { count: 2, timeoutMs: 15000 }), 'the master still handles signals (TTIN)');
  t.equal((await get(port, '/')).status, 200);
  g.kill('SIGTERM');
  const exited = await Promise.race([g.exit, sleep(20000).then(() => null)]);
  t.ok(exited !== null, 'TERM stops it');
  t.equal(exited?.code, 0);
});

t.test('no WATCHDOG=1 when WATCHDOG_PID names another process', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'notify.sock');
  const got = notifyListener(t, sock);
  await until(() => fs.existsSync(sock));
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', APP], {
    env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' },
  });
  await g.port();
  await g.waitFor(/Booting worker/);
  await sleep(600);
  t.same(
    got.map(([, m]) => m.split('\n')[0]),
    ['READY=1'],
  );
});

t.test('shutdown_delay: after TERM the server keeps accepting for N seconds, then stops gracefully', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--shutdown-delay', '1.5', APP]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  t.equal((await get(port, '/')).status, 200);
  const t0 = Date.now();
  g.kill('SIGTERM');
  await g.waitFor(/Serving 1\.5 s more before the graceful stop \(shutdown_delay\)/);
  const during = [];
  while (Date.now() - t0 < 1000) {
    during.push((await get(port, '/')).status);
    await sleep(100);
  }
  t.ok(
    during.length >= 5 && during.every((s) => s === 200),
    `new connections answered during the delay: ${during.join(',')}`,
  );
  const { code } = await g.exit;
  t.equal(code, 0);
  t.ok(Date.now() - t0 >= 1400, `stopped after the delay (${Date.now() - t0} ms)`);
});

t.test('shutdown_delay: a second TERM stops at once', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--shutdown-delay', '30', APP]);
  await g.port();
  await g.waitFor(/Booting worker/);
  const t0 = Date.now();
  g.kill('SIGTERM');
  await g.waitFor(/shutdown_delay/);
  g.kill('SIGTERM');
  const { code } = await g.exit;
  t.equal(code, 0);
  t.ok(Date.now() - t0 < 10000, `stopped in ${Date.now() - t0} ms`);
});

t.test('spare_workers: kill -9 of a worker, the waiting spare answers next; a new spare follows', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--spare-workers', '1', '--log-level', 'debug', APP]);
  const port = await g.port();
  const spare = Number((await g.waitFor(/Spare worker \(pid:(\d+)\) ready/, { timeoutMs: 20000 }))[1]);
  const first = pidOf(await get(port, '/'));
  t.not(first, spare);
  process.kill(first, 'SIGKILL');
  const r = await get(port, '/');
  t.equal(r.status, 200, 'the request sent right after the kill is answered');
  t.equal(pidOf(r), spare, 'by the spare, which was already running');
  const m = await g.waitFor(
    new RegExp(`\\[${spare}\\] \\[DEBUG\\] Worker booted .* ([\\d.]+) ms after it was activated as a spare`),
  );
  t.comment(`spare activated -> serving: ${m[1]} ms`);
  const next = Number((await g.waitFor(/Spare worker \(pid:(\d+)\) ready/, { count: 2, timeoutMs: 20000 }))[1]);
  t.not(next, spare, 'a new spare');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.ok(await until(() => !alive(next)), 'the spare stops with the master');
});

t.test('without /proc (a chroot) a worker boots and serves: no RSS figure, no memory check, no crash', async (t) => {
  const noProc = path.join(path.dirname(APPS), 'no-proc.mjs');
  const g = run(
    t,
    ['-w', '1', '-b', '127.0.0.1:0', '--max-worker-memory', '64M', '--metrics-bind', '127.0.0.1:0', APP],
    {
      env: { NODE_OPTIONS: `--import ${noProc}` },
    },
  );
  const port = await g.port();
  const r = await until(async () => {
    const x = await get(port, '/');
    return x.status === 200 && x;
  });
  t.equal(r.status, 200, 'served');
  await sleep(1500); // a few heartbeats
  t.equal((await get(port, '/')).status, 200, 'still served after heartbeats');
  t.notMatch(g.stderr, /uv_resident_set_memory|Worker failed to boot|over max_worker_memory/);
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});
