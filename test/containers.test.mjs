// Containers: the master as PID 1 of a PID namespace (what `docker run` gives it), tested with
// `unshare --pid --fork --mount-proc` since no container engine runs here; the Dockerfile's lint.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { APPS, ROOT, children, get, run, sleep, until } from './helpers/gts.mjs';
import { lintDockerfile } from '../scripts/lint-dockerfile.mjs';

const PID1 = ['unshare', '--pid', '--fork', '--mount-proc'];
const canUnshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
if (!canUnshare && process.getuid?.() === 0) throw new Error('unshare --pid fails as root: the PID 1 tests cannot run');

/** starts the CLI as PID 1 of a new PID namespace; resolves {g, pid1 (its pid outside), port} */
async function startPid1(t, args) {
  const g = run(t, ['--chdir', APPS, ...args], { prefix: PID1 });
  const port = await g.port();
  const workers = Number(args[args.indexOf('-w') + 1]);
  await g.waitFor(/Booting worker with pid/, { count: workers, timeoutMs: 20000 });
  t.equal((await get(port, '/')).status, 200, 'serving');
  const pid1 = await until(() => children(g.pid)[0]);
  t.ok(pid1, 'the master runs inside the namespace');
  t.match(g.stderr, /Listening at: .* \(1\)/, 'the master is PID 1 there');
  return { g, pid1, port };
}

/** zombies (state Z) whose parent is `ppid` */
function zombies(ppid) {
  return children(ppid).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return false;
    }
  });
}

t.test(
  'PID 1: TERM lets in-flight requests finish, then exits 0',
  { skip: !canUnshare && 'unshare --pid is not permitted here' },
  async (t) => {
    const { g, pid1, port } = await startPid1(t, ['-w', '2', '-b', '127.0.0.1:0', 'pid1_app:app']);
    const inflight = Array.from({ length: 8 }, () => get(port, '/slow?ms=700'));
    await sleep(300);
    process.kill(pid1, 'SIGTERM');
    const results = await Promise.all(inflight);
    t.same(
      results.map((r) => r.status ?? r.error),
      Array(8).fill(200),
      'every in-flight request got its answer',
    );
    const { code } = await g.exit;
    t.equal(code, 0, 'exit status 0');
    t.match(g.stderr, /Handling signal: term/);
    t.match(g.stderr, /Shutting down: Master/);
  },
);

t.test(
  'PID 1 under wrk load: TERM drains (every answer a 200, no timeout), exit 0',
  { skip: !canUnshare && 'unshare --pid is not permitted here' },
  async (t) => {
    const { g, pid1, port } = await startPid1(t, ['-w', '2', '-b', '127.0.0.1:0', 'pid1_app:app']);
    const wrk = spawn('wrk', ['-t1', '-c16', '-d4s', '--latency', `http://127.0.0.1:${port}/`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    wrk.stdout.on('data', (d) => {
      out += d;
    });
    const done = new Promise((r) => wrk.on('exit', r));
    await sleep(1500);
    process.kill(pid1, 'SIGTERM');
    t.equal((await g.exit).code, 0, 'exit status 0');
    await done;
    const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    t.ok(total > 100, `wrk got ${total} answers before the stop`);
    t.notMatch(out, /Non-2xx/, 'every answer is a 200');
    // After the master is gone wrk keeps reconnecting and counts each refused connect as a connect or write
    // error. A connection wrk opened while the server was stopping sits in the kernel's accept queue: the
    // workers accept and answer it before the listener closes (native/src/server.h, listener_stop), so none
    // is reset (a read error) and no answered request is cut.
    t.comment(`wrk socket errors after TERM: ${errs?.[0] ?? 'none'}`);
    t.equal(Number(errs?.[2] ?? 0), 0, 'no connection reset (wrk read errors)');
    t.equal(Number(errs?.[4] ?? 0), 0, 'no timeouts');
  },
);

t.test(
  'PID 1: INT is a quick stop, exit 0',
  { skip: !canUnshare && 'unshare --pid is not permitted here' },
  async (t) => {
    const { g, pid1, port } = await startPid1(t, [
      '-w',
      '1',
      '-b',
      '127.0.0.1:0',
      '--graceful-timeout',
      '30',
      'pid1_app:app',
    ]);
    const slow = get(port, '/slow?ms=20000', { timeoutMs: 25000 });
    await sleep(300);
    const t0 = Date.now();
    process.kill(pid1, 'SIGINT');
    const { code } = await g.exit;
    t.ok(Date.now() - t0 < 10000, `gone in ${Date.now() - t0} ms, not after graceful_timeout or the 20 s request`);
    t.equal(code, 0, 'exit status 0');
    t.ok((await slow).error, 'the in-flight request was cut (quick stop)');
  },
);

t.test(
  'PID 1: an application that fails to load exits 4',
  { skip: !canUnshare && 'unshare --pid is not permitted here' },
  async (t) => {
    const g = run(t, ['--chdir', APPS, '-b', '127.0.0.1:0', 'pid1_app:no_such_app'], { prefix: PID1 });
    const { code } = await g.exit;
    t.equal(code, 4, 'exit status 4 (Gunicorn: App failed to load)');
    t.match(g.stderr, /Failed to find attribute 'no_such_app'/);
  },
);

t.test(
  'PID 1: orphans re-parented to the master are reaped (no zombies pile up)',
  { skip: !canUnshare && 'unshare --pid is not permitted here' },
  async (t) => {
    const { g, pid1, port } = await startPid1(t, ['-w', '2', '-b', '127.0.0.1:0', 'pid1_app:orphans']);
    for (let i = 0; i < 10; i++) t.equal((await get(port, '/')).status, 200);
    // each request left a 0.2 s sleep re-parented to PID 1; once they have all exited none may stay a zombie
    const left = await until(() => zombies(pid1).length === 0 && children(pid1).length === 2, { timeoutMs: 5000 });
    t.ok(left, `no zombie under the master (zombies: ${zombies(pid1).length}, children: ${children(pid1).length})`);
    process.kill(pid1, 'SIGTERM');
    t.equal((await g.exit).code, 0, 'exit status 0');
  },
);

t.test('Dockerfile: the repository one is clean; each rule catches its problem', async (t) => {
  const df = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
  t.same(lintDockerfile(df, { dockerignore: ignore }), [], 'Dockerfile is clean');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/lint-dockerfile.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stdout);
  const bad = [
    'FROM node',
    'FROM debian:latest AS b',
    'ADD https://example.com/x.tgz /x',
    'EXPOSE 8000',
    'CMD node bin/gunicorn-ts.js app:app',
    'HEALTHCHECK CMD curl -f http://localhost:8000/',
  ].join('\n');
  const problems = lintDockerfile(bad, { dockerignore: 'dist\n' });
  for (const re of [
    /Dockerfile:1: FROM node: pin a tag/,
    /Dockerfile:2: FROM debian:latest: pin a tag other than latest/,
    /Dockerfile:3: ADD/,
    /Dockerfile:5: CMD in shell form/,
    /Dockerfile:6: HEALTHCHECK CMD in shell form/,
    /no USER/,
    /no ENV PORT/,
    /no STOPSIGNAL SIGTERM/,
    /does not exclude node_modules/,
  ]) {
    t.ok(
      problems.some((p) => re.test(p)),
      `finds ${re}`,
    );
  }
  t.same(lintDockerfile(df, { dockerignore: null }).length, 1, 'a missing .dockerignore is a problem');
  t.ok(
    lintDockerfile(df.replace('USER app', 'USER root'), { dockerignore: ignore }).some((p) => /non-root/.test(p)),
    'USER root',
  );
});
