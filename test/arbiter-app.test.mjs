// The programmatic API: Gunicorn's StandaloneApplication example translated,
// serve() with workers > 1, and the Flask-style hello world through the CLI.
import t from 'tap';

import { ROOT, get, run, until } from './helpers/gts.mjs';

async function bothWorkers(t, g, port, want) {
  await g.waitFor(/Booting worker/, { count: 2 });
  const seen = new Set();
  let body = null;
  await until(
    async () => {
      const r = await get(port);
      if (r.status === 200) {
        seen.add(r.headers['x-worker'] ?? r.body);
        body = r.body;
      }
      return g.workers().length === 2 && body !== null;
    },
    { timeoutMs: 10000 },
  );
  t.match(body, want);
  t.equal(g.workers().length, 2, 'two workers');
}

t.test('examples/standalone_app.mjs: BaseApplication with options and hooks, several workers', async (t) => {
  const g = run(t, [], { script: `${ROOT}/examples/standalone_app.mjs`, env: { BIND: '127.0.0.1:0', WORKERS: '2' } });
  const port = await g.port();
  await bothWorkers(t, g, port, /^Works fine$/);
  t.match(g.stderr, /\[INFO\] pre_fork: worker #1 is about to start\n/);
  t.match(g.stderr, /\[INFO\] pre_fork: worker #2 is about to start\n/);
  await g.waitFor(/post_worker_init: worker \d+ is ready/, { count: 2 });
  g.kill('SIGTERM');
  t.same(await g.exit, { code: 0, signal: null });
  t.match(g.stderr, /Shutting down: Master/);
});

t.test('serve(app, {workers: 2}): the script becomes the master, and each worker serves', async (t) => {
  const g = run(t, [], {
    script: `${ROOT}/test/fixtures/apps/serve_workers.mjs`,
    env: { GUNICORN_TS_EXAMPLE_SHOW_URL: '1' },
  });
  const port = await g.port();
  await g.waitFor(/^url http:\/\/127\.0\.0\.1:\d+$/m, { from: 'stdout' });
  t.equal(g.stdout.trim().split('\n').length, 1, 'serve() resolved in the master only (workers never print)');
  await bothWorkers(t, g, port, /^served by \d+$/);
  t.match(g.stderr, /pre_fork hook for worker #2/);
  const pids = new Set();
  await until(
    async () => {
      const r = await get(port);
      if (r.status === 200) pids.add(r.body);
      return pids.size === 2;
    },
    { timeoutMs: 10000, everyMs: 0 },
  );
  t.equal(pids.size, 2, 'both workers answer');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('examples/hello_app.mjs: the Flask-style hello world through the CLI', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', 'examples.hello_app:app']);
  const port = await g.port();
  await bothWorkers(t, g, port, /^Hello, World!$/);
  t.equal((await get(port, '/nope')).status, 404);
  g.kill('SIGTERM');
  await g.exit;
});
