// Fetch-style applications through the gunicorn-ts command: a real Hono app
// (from the npm registry) with two workers, HUP under load, the hooks and the
// access log; detection, -k fetch and the refusal of Express-shaped apps.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { BIN, ROOT, alive, get, load, run, sleep, until } from './helpers/gts.mjs';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-fetch-cli-'));

function post(port, p, body, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: p, method: 'POST', agent: false, headers: { Connection: 'close', ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', (e) => resolve({ error: e.code }));
    req.end(body);
  });
}

t.test('a Hono app with -w 2: detected, served, hooks and access log, HUP under load with zero failures', async (t) => {
  const dir = tmp();
  const access = path.join(dir, 'access.log');
  const hooks = path.join(dir, 'hooks.log');
  const g = run(
    t,
    [
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '-c',
      'test/fixtures/apps/hooks.conf.mjs',
      '--access-logfile',
      access,
      'test/fixtures/apps/hono_app.mjs:app',
    ],
    { env: { HOOK_LOG: hooks } },
  );
  const port = await g.port();
  await g.waitFor(/Booting worker with pid/, { count: 2 });
  await g.waitFor(/\[INFO\] Application: an object with a fetch method \(auto-detected; -k fetch to say so\)/, {
    count: 2,
  });
  const first = await until(async () => {
    const r = await get(port, '/');
    return r.status === 200 ? r : null;
  });
  t.match(first.body, /^hono \d+$/);
  const j = await get(port, '/hello/gts', { headers: { 'User-Agent': 'tap-client', 'X-Test': 'yes' } });
  t.same(JSON.parse(j.body), { hello: 'gts', ua: 'tap-client' }, 'route params and request headers');
  const p = await post(port, '/echo', JSON.stringify({ a: 1 }), { 'Content-Type': 'application/json' });
  t.equal(p.status, 201);
  t.same(JSON.parse(p.body), { got: { a: 1 }, url: `http://127.0.0.1:${port}/echo` });
  const s = await get(port, '/stream');
  t.equal(s.body, 'part0\npart1\npart2\npart3\npart4\n', 'a streamed body');
  t.equal(s.headers['transfer-encoding'], 'chunked');
  const f = await get(port, '/fail');
  t.same([f.status, f.body], [500, 'handled: hono route failed'], "Hono's onError answers");
  t.equal((await get(port, '/nothing-here')).status, 404);

  // HUP under load
  const oldWorkers = g.workers();
  t.equal(oldWorkers.length, 2);
  const l = load(port, { concurrency: 4 });
  await sleep(700);
  g.kill('SIGHUP');
  await g.waitFor(/Hang up: Master/);
  t.ok(await until(() => oldWorkers.every((w) => !alive(w)), { timeoutMs: 20000 }), 'the old workers stopped');
  await g.waitFor(/Application: an object with a fetch method/, { count: 4 });
  await sleep(700);
  const stats = await l.stop();
  t.equal(stats.failed, 0, `zero failed requests across HUP (${stats.ok} ok; errors: ${stats.errors})`);
  t.ok(stats.ok > 20, `the load ran (${stats.ok} requests)`);
  const served = [...stats.bodies.keys()].map((b) => Number(b.split(' ')[1]));
  t.ok(
    served.some((w) => oldWorkers.includes(w)) && served.some((w) => !oldWorkers.includes(w)),
    'old and new workers answered',
  );

  // the access log: Gunicorn's default format, as for WSGI apps
  const lines = fs.readFileSync(access, 'utf8');
  t.match(lines, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/hello\/gts HTTP\/1\.1" 200 \d+ "-" "tap-client"$/m);
  t.match(lines, /"POST \/echo HTTP\/1\.1" 201 \d+ "-" "-"/m);
  t.match(lines, /"GET \/nothing-here HTTP\/1\.1" 404 /m);
  // pre_request / post_request with the request and the response
  const recs = fs
    .readFileSync(hooks, 'utf8')
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x));
  const pre = recs.find((r) => r.hook === 'pre_request' && r.path === '/hello/gts');
  t.same(pre?.headers, [['X-TEST', 'yes']], 'pre_request sees the request headers');
  const postRec = recs.find((r) => r.hook === 'post_request' && r.path === '/echo');
  t.equal(postRec?.code, 201, 'post_request sees the status');
  t.equal(postRec?.env, 'POST');
  t.ok(
    postRec?.headers.some(([k, v]) => k.toLowerCase() === 'content-type' && /application\/json/.test(v)),
    'and the response headers',
  );
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('-k fetch: a bare function; export default { fetch } without :VARIABLE; max_requests', async (t) => {
  const g = run(t, [
    '-k',
    'fetch',
    '-b',
    '127.0.0.1:0',
    '--max-requests',
    '3',
    'test/fixtures/apps/fetch_app.mjs:handler',
  ]);
  const port = await g.port();
  await g.waitFor(/Application: a function \(request\) => Response \(-k fetch\)/);
  const r = await until(async () => {
    const x = await post(port, '/p?q=1', 'body!');
    return x.status === 200 ? x : null;
  });
  t.equal(r.body, `handler POST http://127.0.0.1:${port}/p?q=1 body!`);
  await get(port, '/');
  await get(port, '/');
  await g.waitFor(/Autorestarting worker after current request/);
  await g.waitFor(/Booting worker with pid/, { count: 2 });
  t.pass('max_requests restarts a fetch worker');
  g.kill('SIGTERM');
  await g.exit;

  const d = run(t, ['-b', '127.0.0.1:0', 'test/fixtures/apps/fetch_app.mjs']);
  const dport = await d.port();
  const x = await until(async () => {
    const y = await get(dport, '/there');
    return y.status === 200 ? y : null;
  });
  t.match(x.body, /^default \/there \d+$/, 'the default export is the application');
  d.kill('SIGTERM');
  await d.exit;
});

t.test('an Express-shaped app under -k fetch is refused with a pointer to -k node', async (t) => {
  // (under the default worker class an Express app selects -k node by itself: test/node-worker.test.mjs)
  const r = spawnSync(
    process.execPath,
    [BIN, '-b', '127.0.0.1:0', '-k', 'fetch', 'test/fixtures/apps/fetch_app.mjs:expressLike'],
    {
      cwd: ROOT,
      env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '' },
      encoding: 'utf8',
      timeout: 20000,
    },
  );
  t.equal(r.status, 4, 'exit 4: the app failed to load');
  t.match(r.stderr, /\nThe application looks like an Express-style \(req, res, next\) handler.*run it with -k node\n/);
  const k = spawnSync(process.execPath, [BIN, '-k', 'nope', 'x'], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
  t.equal(k.status, 1);
  t.match(k.stderr.trim(), /^Error: Invalid value for worker_class: nope/);
});
