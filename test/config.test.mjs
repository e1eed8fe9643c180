// Config files and precedence: app defaults < config file < GUNICORN_CMD_ARGS
// < command line; config-file validation; docs/settings.md is generated from
// the registry.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, BIN, ROOT } from './helpers/gts.mjs';
import { shellSplit } from '../dist/config/argv.js';
import { settingsMarkdown } from '../dist/config/docs.js';
import { parseLiteralArgs } from '../dist/app/literals.js';

const printConfig = (args, { env = {}, cwd = ROOT } = {}) => {
  const r = spawnSync(process.execPath, [BIN, '--print-config', ...args], {
    cwd,
    env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '', PORT: '', ...env },
    encoding: 'utf8',
    timeout: 20000,
  });
  const values = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\w+) += (.*)$/.exec(line);
    if (m) values[m[1]] = m[2];
  }
  return { ...r, values };
};
const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gts-config-'));
const app = path.join(APPS, 'hello.mjs');

t.test('precedence: config file < GUNICORN_CMD_ARGS < command line', async (t) => {
  const dir = tmpdir();
  const conf = path.join(dir, 'conf.mjs');
  fs.writeFileSync(
    conf,
    "export const workers = 3;\nexport const timeout = 11;\nexport const keepalive = 7;\nexport const bind = ['127.0.0.1:7001'];\nexport const not_a_setting = 1;\n",
  );
  let r = printConfig(['-c', conf, app]);
  t.equal(r.status, 0, r.stderr);
  t.same(
    [r.values.workers, r.values.timeout, r.values.keepalive, r.values.bind],
    ['3', '11', '7', "['127.0.0.1:7001']"],
    'config file',
  );
  r = printConfig(['-c', conf, app], { env: { GUNICORN_CMD_ARGS: "--workers 5 --timeout=12 -b '127.0.0.1:7002'" } });
  t.same(
    [r.values.workers, r.values.timeout, r.values.keepalive, r.values.bind],
    ['5', '12', '7', "['127.0.0.1:7002']"],
    'GUNICORN_CMD_ARGS over the file',
  );
  r = printConfig(['-c', conf, '-w', '6', app], { env: { GUNICORN_CMD_ARGS: '--workers 5 --timeout=12' } });
  t.same([r.values.workers, r.values.timeout, r.values.keepalive], ['6', '12', '7'], 'the command line over both');
  r = printConfig([app], { env: { GUNICORN_CMD_ARGS: `-c ${conf}` } });
  t.equal(r.values.workers, '3', '-c inside GUNICORN_CMD_ARGS names the config file');
  r = printConfig(['-c', conf, app], { env: { WEB_CONCURRENCY: '9' } });
  t.equal(r.values.workers, '3', 'the config file over WEB_CONCURRENCY');
  r = printConfig([app], { env: { WEB_CONCURRENCY: '9' } });
  t.equal(r.values.workers, '9', 'WEB_CONCURRENCY is the default');
});

t.test('./gunicorn.conf.js, .mjs and .cjs are found in the working directory (after --chdir)', async (t) => {
  for (const [name, src] of [
    ['gunicorn.conf.js', 'export const workers = 4;\n'],
    ['gunicorn.conf.mjs', 'export default { workers: 5, wsgi_app: "hello:application" };\n'],
    ['gunicorn.conf.cjs', 'module.exports = { workers: 6 };\n'],
  ]) {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, name), src);
    fs.writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
    fs.copyFileSync(app, path.join(dir, 'hello.mjs'));
    const r = printConfig(name === 'gunicorn.conf.mjs' ? [] : ['hello.mjs'], { cwd: dir });
    t.equal(r.status, 0, `${name}: ${r.stderr}`);
    t.equal(r.values.workers, String(Number(src.match(/\d/)[0])), name);
    t.equal(r.values.config, path.join(fs.realpathSync(dir), name), `${name}: config names the file`);
    const r2 = printConfig(['--chdir', dir, app]);
    t.equal(r2.values.workers, r.values.workers, `${name}: found after --chdir`);
  }
});

t.test('bad config files', async (t) => {
  const dir = tmpdir();
  const bad = path.join(dir, 'bad.mjs');
  fs.writeFileSync(bad, "export const workers = 'lots';\n");
  let r = printConfig(['-c', bad, app]);
  t.equal(r.status, 1);
  t.equal(r.stderr.trim(), 'Error: Invalid value for workers: lots (expected a non-negative integer)');
  const hook = path.join(dir, 'hook.mjs');
  fs.writeFileSync(hook, 'export const post_fork = 42;\n');
  r = printConfig(['-c', hook, app]);
  t.equal(r.status, 1);
  t.match(r.stderr, /Invalid value for post_fork: 42 \(expected a function\)/);
  const broken = path.join(dir, 'broken.mjs');
  fs.writeFileSync(broken, 'export const = ;\n');
  r = printConfig(['-c', broken, app]);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`^Error: Failed to read config file: ${broken}\\nSyntaxError`));
  r = printConfig(['-c', path.join(dir, 'missing.js'), app]);
  t.equal(r.status, 1);
  t.match(r.stderr, /doesn't exist/);
});

t.test('GUNICORN_CMD_ARGS is split like a shell (shlex)', async (t) => {
  t.same(shellSplit(`-b '127.0.0.1:1' --access-logformat "%(h)s \\"%(r)s\\"" a\\ b`), [
    '-b',
    '127.0.0.1:1',
    '--access-logformat',
    '%(h)s "%(r)s"',
    'a b',
  ]);
  t.throws(() => shellSplit("'open"), /No closing quotation/);
});

t.test('factory arguments are literals only', async (t) => {
  t.same(parseLiteralArgs(`1, -2.5, 'a', "b", True, None, [1, 'x'], {'k': False}, debug=True`), [
    1,
    -2.5,
    'a',
    'b',
    true,
    null,
    [1, 'x'],
    { k: false },
    { debug: true },
  ]);
  t.throws(() => parseLiteralArgs('os.system("x")'));
  t.throws(() => parseLiteralArgs('a=1, 2'));
});

t.test('docs/settings.md is generated from the registry and up to date', async (t) => {
  const md = fs.readFileSync(path.join(ROOT, 'docs/settings.md'), 'utf8');
  t.equal(md, settingsMarkdown(), 'run `npm run gen:docs` after changing lib/config/settings.ts');
  for (const name of [
    'bind',
    'workers',
    'max_requests_jitter',
    'access_log_format',
    'post_request',
    'limit_request_field_size',
  ]) {
    t.match(md, new RegExp(`### \`${name}\``));
  }
  // TLS is in the native core now: its settings are documented, not listed as not applying
  for (const name of [
    'certfile',
    'keyfile',
    'ssl_version',
    'cert_reqs',
    'ca_certs',
    'suppress_ragged_eofs',
    'do_handshake_on_connect',
    'ciphers',
    'ssl_context',
  ]) {
    t.match(md, new RegExp(`### \`${name}\``));
  }
  t.notMatch(md, /terminate TLS in a proxy/);
});

t.test('a relative --chdir is resolved once, from the starting directory', async (t) => {
  const rel = path.relative(ROOT, APPS);
  let r = printConfig(['--chdir', rel, 'hello:application']);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.values.chdir, APPS, 'command line');
  r = printConfig(['hello:application'], { env: { GUNICORN_CMD_ARGS: `--chdir ${rel}` } });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.values.chdir, APPS, 'GUNICORN_CMD_ARGS');
  r = printConfig(['--chdir', rel, 'hello:application'], { env: { GUNICORN_CMD_ARGS: '--chdir test' } });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.values.chdir, APPS, 'the command line over GUNICORN_CMD_ARGS');
});

t.test('$PORT: the default bind is 0.0.0.0:$PORT, as Gunicorn; an explicit bind wins', async (t) => {
  let r = printConfig([app], { env: { PORT: '9123' } });
  t.equal(r.values.bind, "['0.0.0.0:9123']", '$PORT set');
  r = printConfig([app]);
  t.equal(r.values.bind, "['127.0.0.1:8000']", '$PORT unset');
  r = printConfig(['-b', '127.0.0.1:7005', app], { env: { PORT: '9123' } });
  t.equal(r.values.bind, "['127.0.0.1:7005']", '--bind over $PORT');
  r = printConfig([app], { env: { PORT: '9123', GUNICORN_CMD_ARGS: '--bind unix:/tmp/x.sock' } });
  t.equal(r.values.bind, "['unix:/tmp/x.sock']", 'GUNICORN_CMD_ARGS --bind over $PORT');
  const bad = spawnSync(process.execPath, [BIN, app], {
    cwd: ROOT,
    env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '', PORT: 'abc' },
    encoding: 'utf8',
    timeout: 20000,
  });
  t.equal(bad.status, 1, 'a $PORT that is not a port: exit 1');
  t.match(bad.stderr, /^Error: 'abc' is not a valid port number\.$/m, 'one line naming it');
});
