// kill -9 recovery (issue 13, item 9): how long after a worker is killed with
// SIGKILL its replacement answers, and where the time goes.
//
//   node bench/respawn.mjs [--rounds 10] [--app test/fixtures/apps/hello.mjs] [--spare-workers 1]
//
// The master keeps the listening socket, so a request sent right after the
// kill waits in the backlog until the replacement accepts it: its latency is
// the recovery time. The phases are measured apart: a bare `node -e 0`, the
// same plus loading the gunicorn-ts modules a worker loads, plus the app.
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const rounds = Number(opt('--rounds', 10));
const app = path.resolve(ROOT, opt('--app', 'test/fixtures/apps/hello.mjs'));
const spares = Number(opt('--spare-workers', 0));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const fmt = (xs) =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/', agent: false, headers: { Connection: 'close' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, pid: Number(res.headers['x-worker']) }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

function timeCmd(argv, n = 5) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, argv, { cwd: ROOT, stdio: 'ignore' });
    out.push(performance.now() - t0);
  }
  return out;
}

const bare = timeCmd(['-e', '0']);
const mods = timeCmd([
  '--input-type=module',
  '-e',
  "await import('./dist/cli/main.js'); await import('./dist/workers/worker.js'); await import('./dist/native.js')",
]);
const withApp = timeCmd([
  '--input-type=module',
  '-e',
  `await import('./dist/cli/main.js'); await import('./dist/native.js'); await import(${JSON.stringify(app)})`,
]);

const master = spawn(
  process.execPath,
  [
    path.join(ROOT, 'bin/gunicorn-ts.js'),
    '-w',
    '1',
    '-b',
    '127.0.0.1:0',
    '--log-level',
    'debug',
    '--spare-workers',
    String(spares),
    app,
  ],
  {
    cwd: ROOT,
    env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
let log = '';
master.stderr.on('data', (d) => {
  log += d;
});
try {
  let port = 0;
  for (let i = 0; i < 200 && !port; i++) {
    port = Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(log)?.[1] ?? 0);
    await sleep(50);
  }
  let pid = 0;
  for (let i = 0; i < 200 && !pid; i++) {
    pid = await get(port).then(
      (r) => r.pid,
      () => 0,
    );
    if (!pid) await sleep(50);
  }
  const recovery = [];
  const boots = [];
  const activations = [];
  for (let r = 0; r < rounds; r++) {
    // past min_uptime (1 s): a worker killed sooner counts as a crash at boot, and a streak of them backs off
    await sleep(1100);
    // with spares: wait until one is ready (started after the previous round)
    for (let i = 0; spares > 0 && i < 400 && (log.match(/Spare worker \(pid:\d+\) ready/g) ?? []).length < r + 1; i++)
      await sleep(25);
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    const res = await get(port);
    recovery.push(performance.now() - t0);
    if (res.pid === pid) throw new Error('answered by the killed worker');
    pid = res.pid;
    const b = new RegExp(
      `\\[${pid}\\] \\[DEBUG\\] Worker booted ([\\d.]+) ms after its process started \\(([\\d.]+) ms CPU\\)(?:, ([\\d.]+) ms after it was activated)?`,
    );
    for (let i = 0; i < 100 && !b.test(log); i++) await sleep(20);
    const m = b.exec(log);
    if (m) boots.push(Number(m[2]));
    if (m?.[3]) activations.push(Number(m[3]));
  }
  console.log(`node ${process.version}, ${rounds} rounds, app ${path.relative(ROOT, app)}, spare_workers ${spares}`);
  console.log(`bare node start (node -e 0):            ${fmt(bare)}`);
  console.log(`node + gunicorn-ts worker modules:      ${fmt(mods)}`);
  console.log(`node + modules + the app:               ${fmt(withApp)}`);
  if (boots.length)
    console.log(`replacement's CPU until serving:        ${fmt(boots)} (CPU time since its process started)`);
  if (activations.length) console.log(`spare: activation -> serving (wall):     ${fmt(activations)}`);
  console.log(`kill -9 -> first answer of replacement: ${fmt(recovery)}`);
} finally {
  master.kill('SIGTERM');
}
