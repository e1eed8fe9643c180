// Every server hook from a config file, in the process Gunicorn runs it in,
// with Gunicorn's arguments.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, alive, get, run, until } from './helpers/gts.mjs';

t.test('server hooks from the config file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-hooks-'));
  const logf = path.join(dir, 'hooks.jsonl');
  const calls = () =>
    fs.existsSync(logf)
      ? fs
          .readFileSync(logf, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
      : [];
  const named = (n) => calls().filter((c) => c.hook === n);
  const g = run(t, ['-c', path.join(APPS, 'hooks.conf.mjs'), '-b', '127.0.0.1:0', 'test.fixtures.apps.hello'], {
    env: { HOOK_LOG: logf },
  });
  const port = await g.port();
  await until(() => named('post_worker_init').length === 2);
  const M = g.pid;
  t.match(named('on_starting'), [{ pid: M, master: M }]);
  t.match(named('when_ready'), [{ pid: M, master: M, listeners: 1 }]);
  t.match(named('nworkers_changed'), [{ pid: M, n: 2, old: null }]);
  t.match(
    named('pre_fork'),
    [
      { pid: M, age: 1, wpid: 0 },
      { pid: M, age: 2, wpid: 0 },
    ],
    'pre_fork: in the master, before the pid exists',
  );
  const workers = g.workers();
  const pf = named('post_fork');
  t.same(pf.map((c) => c.pid).sort(), [...workers].sort(), 'post_fork runs in each worker');
  t.ok(
    pf.every((c) => c.master === M && c.wpid === c.pid),
    'post_fork(server, worker)',
  );
  t.ok(
    named('post_worker_init').every((c) => c.booted === true && workers.includes(c.pid)),
    'post_worker_init(worker) after the app loaded',
  );
  const order = calls().map((c) => c.hook);
  t.ok(
    order.indexOf('on_starting') < order.indexOf('when_ready') &&
      order.indexOf('when_ready') < order.indexOf('pre_fork'),
    'on_starting < when_ready < pre_fork',
  );

  const r = await get(port, '/hook?q=1', { headers: { 'X-Test': 'yes' } });
  t.equal(r.status, 200);
  await until(() => named('post_request').length === 1);
  t.match(named('pre_request'), [{ method: 'GET', path: '/hook', query: 'q=1', headers: [['X-TEST', 'yes']] }]);
  const pr = named('post_request')[0];
  t.match(pr, { path: '/hook', nr: 1, status: '200 OK', code: 200, env: 'GET' });
  t.equal(pr.sent, r.body.length, 'resp.sent counts the body bytes');
  t.same(pr.headers[0], ['Content-Type', 'text/plain']);

  g.kill('SIGTTIN');
  await until(() => named('nworkers_changed').length === 2);
  t.match(named('nworkers_changed')[1], { n: 3, old: 2 });
  await until(() => named('post_worker_init').length === 3);

  // worker_abort: SIGABRT (what a timeout sends) to a responsive worker
  const w0 = g.workers()[0];
  process.kill(w0, 'SIGABRT');
  await until(() => named('child_exit').some((c) => c.wpid === w0));
  t.match(named('worker_abort'), [{ pid: w0, wpid: w0 }]);
  t.match(g.stderr, new RegExp(`Worker \\(pid:${w0}\\) exited with code 1\\.`));
  t.ok(
    named('worker_exit').some((c) => c.pid === w0 && c.master === M),
    'worker_exit(server, worker) in the worker',
  );

  g.kill('SIGHUP');
  await until(() => named('on_reload').length === 1);
  t.match(named('on_reload'), [{ pid: M }]);
  await until(() => named('post_worker_init').length >= 6, { timeoutMs: 15000 });

  g.kill('SIGUSR2');
  await until(() => named('pre_exec').length === 1);
  t.match(named('pre_exec'), [{ pid: M, master: M }]);
  const m = await g.waitFor(/\[(\d+)\] \[INFO\] Starting gunicorn-ts/, { count: 2 });
  const child = Number(m[1]);
  process.kill(child, 'SIGTERM');
  await until(() => !alive(child));

  g.kill('SIGINT');
  await g.exit;
  t.ok(named('worker_int').length >= 1, 'worker_int on INT/QUIT');
  t.match(
    named('on_exit').filter((c) => c.pid === M),
    [{ master: M }],
    'on_exit in the master',
  );
  t.ok(
    named('child_exit').every((c) => c.pid === M || c.pid === child),
    'child_exit runs in a master',
  );
});

t.test('a hook that throws is logged, the server keeps going', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-hooks-'));
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    "export const when_ready = () => { throw new Error('boom in when_ready'); };\nexport const post_request = (w, req) => { throw new Error('boom in post_request'); };\n",
  );
  // ./gunicorn.conf.mjs in the working directory is read without -c
  const g = run(t, ['-b', '127.0.0.1:0', path.join(APPS, 'hello.mjs')], { cwd: dir });
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  await g.waitFor(/\[ERROR\] Exception in when_ready hook\nError: boom in when_ready/);
  const r = await until(async () => {
    const x = await get(port);
    return x.status === 200 ? x : null;
  });
  t.equal(r.status, 200);
  await g.waitFor(/\[ERROR\] Exception in post_request hook\nError: boom in post_request/);
  t.equal((await get(port)).status, 200, 'still serving');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});
