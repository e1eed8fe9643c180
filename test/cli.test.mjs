// The gunicorn-ts command: workers serve, app loading and its errors, bad
// flags, --print-config / --check-config, --version / --help.
import { spawnSync } from 'node:child_process';
import t from 'tap';

import { APPS, BIN, ROOT, get, run, until } from './helpers/gts.mjs';

const cli = (args, { env = {}, cwd = ROOT } = {}) =>
  spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '', ...env },
    encoding: 'utf8',
    timeout: 20000,
  });

t.test('-w 2: both workers serve', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', 'test/fixtures/apps/hello.mjs']);
  const port = await g.port();
  await g.waitFor(/Booting worker with pid: \d+/, { count: 2 });
  t.match(
    g.stderr,
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] Starting gunicorn-ts \d+\.\d+\.\d+\n/,
  );
  t.match(
    g.stderr,
    new RegExp(`\\[${g.pid}\\] \\[INFO\\] Listening at: http://127\\.0\\.0\\.1:${port} \\(${g.pid}\\)`),
  );
  t.match(g.stderr, new RegExp(`\\[${g.pid}\\] \\[INFO\\] Using worker: sync`));
  const workers = g.workers();
  t.equal(workers.length, 2, 'two workers booted');
  const seen = new Set();
  const ok = await until(
    async () => {
      const r = await get(port, '/x');
      if (r.status === 200) seen.add(Number(r.headers['x-worker']));
      return seen.size === 2;
    },
    { timeoutMs: 15000, everyMs: 0 },
  );
  t.ok(ok, `responses from both workers (${[...seen]})`);
  t.same([...seen].sort(), [...workers].sort(), 'answered by the booted workers');
  g.kill('SIGTERM');
  t.same(await g.exit, { code: 0, signal: null });
  t.match(g.stderr, /\[INFO\] Handling signal: term\n/);
  t.match(g.stderr, /\[INFO\] Shutting down: Master\n/);
});

t.test('app URIs: dotted path, file path, factory with literal args', async (t) => {
  for (const [uri, want] of [
    ['test.fixtures.apps.hello', /hello from/],
    ['test/fixtures/apps/hello.mjs:application', /hello from/],
    ["test.fixtures.apps.hello:create_app('yo', punct='!')", /^yo!$/],
    ['hello:create_app()', /^hi$/],
  ]) {
    const g = run(t, ['-b', '127.0.0.1:0', '--chdir', uri.startsWith('hello') ? APPS : ROOT, uri]);
    const port = await g.port();
    await g.waitFor(/Booting worker/);
    const r = await until(async () => {
      const x = await get(port);
      return x.status === 200 ? x : null;
    });
    t.match(r.body, want, uri);
    g.kill('SIGTERM');
    await g.exit;
  }
});

t.test("a bad application stops the server with exit 4 and Gunicorn's message", async (t) => {
  const cases = [
    ['test/fixtures/apps/hello.mjs:nope', "Failed to find attribute 'nope' in 'test/fixtures/apps/hello.mjs'."],
    ['test.fixtures.apps.nothere', "No module named 'test.fixtures.apps.nothere'"],
    ['test.fixtures.apps.hello:notCallable', 'Application object must be callable.'],
    ['test.fixtures.apps.hello:create_app(', "Failed to parse 'create_app(' as an attribute name or function call."],
  ];
  for (const [uri, msg] of cases) {
    const r = cli(['-b', '127.0.0.1:0', uri]);
    t.equal(r.status, 4, `${uri}: exit 4`);
    t.ok(r.stderr.includes(`\n${msg}\n`), `${uri}: ${msg}`);
    t.match(
      r.stderr,
      /\[ERROR\] Worker \(pid:\d+\) exited with code 4\.\n.*\[ERROR\] Shutting down: Master\n.*\[ERROR\] Reason: App failed to load\.\n/,
    );
  }
  const p = cli(['--preload', '-b', '127.0.0.1:0', 'test.fixtures.apps.hello:nope']);
  t.equal(p.status, 4, '--preload: fails in the master');
  t.notMatch(p.stderr, /Booting worker/, '--preload: no worker was started');
  t.match(p.stderr, /Failed to find attribute 'nope'/);
});

t.test('bad flags and values: one line naming them, non-zero exit', async (t) => {
  let r = cli(['--bogus', 'x']);
  t.not(r.status, 0);
  t.equal(r.stderr.trim(), "error: unknown option '--bogus'");
  r = cli(['-w', 'many', 'x']);
  t.equal(r.status, 1);
  t.equal(r.stderr.trim(), 'Error: Invalid value for workers: many (expected a non-negative integer)');
  r = cli(['--log-level', 'loud', 'x']);
  t.equal(r.status, 1);
  t.match(r.stderr.trim(), /^Error: Invalid value for loglevel: loud/);
  r = cli(['--chdir', '/does/not/exist', 'x']);
  t.equal(r.status, 1);
  t.match(r.stderr.trim(), /^Error: Invalid value for chdir: \/does\/not\/exist/);
  r = cli(['-b', '127.0.0.1:http', 'test.fixtures.apps.hello']);
  t.not(r.status, 0);
  t.match(r.stderr, /'http' is not a valid port number/);
  r = cli([]);
  t.equal(r.status, 1);
  t.match(r.stderr, /No application module specified\./);
});

t.test('--version and --help come from the registry', async (t) => {
  let r = cli(['--version']);
  t.equal(r.status, 0);
  t.match(r.stdout, /^gunicorn-ts \(version \d+\.\d+\.\d+\)\n$/);
  r = cli(['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /Usage: gunicorn-ts \[OPTIONS\] \[APP_MODULE\]/);
  for (const flag of [
    '-w, --workers <INT>',
    '-b, --bind <ADDRESS>',
    '--limit-request-field_size <INT>',
    '--max-requests-jitter <INT>',
    '--access-logformat <STRING>',
    '-D, --daemon',
    '--proxy-protocol [MODE]',
    '-e, --env <ENV>',
  ]) {
    t.ok(r.stdout.includes(flag), flag);
  }
  t.match(
    r.stdout.replace(/\s+/g, ' '),
    /The number of worker processes for handling requests\. \[\$WEB_CONCURRENCY or 1\]/,
  );
});

t.test('importing the CLI module runs nothing; main(argv) runs the command', async (t) => {
  const url = new URL('../dist/cli/main.js', import.meta.url).href;
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(url)}); process.stdout.write(typeof m.main + '\\n'); await m.main(['--version']);`,
    ],
    { cwd: ROOT, env: { ...process.env, GUNICORN_CMD_ARGS: '' }, encoding: 'utf8', timeout: 20000 },
  );
  t.equal(r.stderr, '');
  t.match(r.stdout, /^function\ngunicorn-ts \(version \d+\.\d+\.\d+\)\n$/);
  t.equal(r.status, 0);
});

t.test('--check-config and --print-config load the app in this process', async (t) => {
  let r = cli(['--check-config', 'test.fixtures.apps.hello']);
  t.equal(r.status, 0);
  t.equal(r.stdout, '');
  r = cli(['--check-config', 'test.fixtures.apps.hello:nope']);
  t.equal(r.status, 1);
  t.match(r.stderr, /Failed to find attribute 'nope'/);
  r = cli([
    '--print-config',
    '-w',
    '3',
    '-b',
    '127.0.0.1:9',
    '-b',
    'unix:/tmp/x.sock',
    '-e',
    'A=1',
    'test.fixtures.apps.hello',
  ]);
  t.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split('\n');
  const names = lines.map((l) => l.split(' ')[0]);
  t.same(names, [...names].sort(), 'sorted by name');
  t.ok(
    lines.every((l) => / = /.test(l) && l.indexOf(' = ') === lines[0].indexOf(' = ')),
    'aligned "name = value"',
  );
  t.ok(lines.includes(`workers${' '.repeat(lines[0].indexOf(' = ') - 7)} = 3`));
  t.match(r.stdout, /^bind +\= \['127\.0\.0\.1:9', 'unix:\/tmp\/x\.sock'\]$/m);
  t.match(r.stdout, /^raw_env +\= \['A=1'\]$/m);
  t.match(r.stdout, /^accesslog +\= None$/m);
  t.match(r.stdout, /^daemon +\= False$/m);
  t.match(r.stdout, /^post_fork +\= <post_fork\(\)>$/m);
  t.match(r.stdout, /^default_proc_name +\= test\.fixtures\.apps\.hello$/m);
  r = cli(['--print-config', 'test.fixtures.apps.hello'], { env: { WEB_CONCURRENCY: '5' } });
  t.match(r.stdout, /^workers +\= 5$/m, 'WEB_CONCURRENCY sets the default worker count');
});
