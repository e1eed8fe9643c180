// lib/addon-loader.ts: the order it tries (override, source build, prebuild) and the one
// line it prints when nothing loads. Real files, real require(), real processes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import t from 'tap';
import { candidates, loadAddon, describeLibc, AddonLoadError } from '../dist/addon-loader.js';

const root = path.join(import.meta.dirname, '..');
const built = path.join(root, 'build', 'Release', 'gunicorn_native.node');
const here = `${process.platform}-${process.arch}`;
const require = createRequire(import.meta.url);

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-loader-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the order: GUNICORN_TS_NATIVE, build/Release, build/Debug, prebuilds/<platform>-<arch>', async (t) => {
  const list = candidates({ GUNICORN_TS_NATIVE: 'x.node' }, '/pkg', 'linux', 'arm64');
  t.same(
    list.map((c) => [c.file, c.explicit]),
    [
      [path.resolve('x.node'), true],
      ['/pkg/build/Release/gunicorn_native.node', false],
      ['/pkg/build/Debug/gunicorn_native.node', false],
      ['/pkg/prebuilds/linux-arm64/gunicorn_native.node', false],
    ],
  );
  t.equal(candidates({}, '/pkg').length, 3, 'no override without the variable');
});

t.test('an installed package (no build/) loads prebuilds/<platform>-<arch>', async (t) => {
  const dir = scratch(t);
  fs.mkdirSync(path.join(dir, 'prebuilds', here), { recursive: true });
  fs.copyFileSync(built, path.join(dir, 'prebuilds', here, 'gunicorn_native.node'));
  const b = loadAddon(require, candidates({}, dir));
  t.equal(typeof b.NativeServer, 'function');
  t.match(b.llhttpVersion, /^\d+\.\d+\.\d+$/);
});

t.test('a source build wins over the prebuild', async (t) => {
  const dir = scratch(t);
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'prebuilds', here), { recursive: true });
  fs.copyFileSync(built, path.join(dir, 'build', 'Release', 'gunicorn_native.node'));
  fs.writeFileSync(path.join(dir, 'prebuilds', here, 'gunicorn_native.node'), 'not an ELF file');
  t.equal(typeof loadAddon(require, candidates({}, dir)).NativeServer, 'function');
});

t.test('nothing for this machine: one line with platform, arch, libc and the source build', async (t) => {
  const dir = scratch(t);
  const e = t.throws(() => loadAddon(require, candidates({}, dir)));
  t.ok(e instanceof AddonLoadError);
  t.equal(e.code, 'GUNICORN_TS_NO_NATIVE');
  t.equal(e.message.split('\n').length, 1, 'one line');
  t.equal(e.stack, `AddonLoadError: ${e.message}`, 'no stack frames');
  t.match(e.message, `no native core for ${here} (${describeLibc()}`);
  t.match(e.message, /npm ci && npm run build:native/);
  t.match(e.message, /GUNICORN_TS_NATIVE=/);
  if (process.platform === 'linux') t.match(describeLibc(), /^(glibc \d+\.\d+|musl)/);
});

t.test('a prebuild that does not load is reported with the reason, in one line', async (t) => {
  const dir = scratch(t);
  fs.mkdirSync(path.join(dir, 'prebuilds', here), { recursive: true });
  fs.writeFileSync(path.join(dir, 'prebuilds', here, 'gunicorn_native.node'), 'not an ELF file');
  const e = t.throws(() => loadAddon(require, candidates({}, dir)));
  t.match(e.message, `cannot load the native core from the prebuilt addon (prebuilds/${here})`);
  t.match(e.message, /invalid ELF header|file too short/);
  t.equal(e.message.split('\n').length, 1);
});

t.test('the CLI prints the one line and exits 1, no stack trace', async (t) => {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'gunicorn-ts.js'), 'examples.hello_app:app'], {
    env: { ...process.env, GUNICORN_TS_NATIVE: '/nonexistent/gunicorn_native.node' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(r.status, 1);
  t.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.match(
    r.stderr,
    /^gunicorn-ts: cannot load the native core from GUNICORN_TS_NATIVE, \/nonexistent\/gunicorn_native\.node, on /,
  );
  t.match(r.stderr, /unset GUNICORN_TS_NATIVE/);
  t.notMatch(r.stderr, /\n\s+at /);
});

t.test('package.json: nothing runs at install, CommonJS can require it', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) t.notOk(pkg.scripts[s], `no ${s} script`);
  t.equal(pkg.gypfile, false);
  t.notOk(pkg.files.includes('binding.gyp'), 'binding.gyp is not in the tarball');
  t.notOk(pkg.dependencies['node-gyp'] || pkg.dependencies['node-addon-api'], 'build tools are devDependencies');
  t.ok(pkg.exports['.'].require && pkg.exports['.'].import);
  const r = spawnSync(
    process.execPath,
    ['-e', 'const g = require("gunicorn-ts"); if (typeof g.serve !== "function") process.exit(3)'],
    { cwd: root, encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(r.status, 0, r.stderr);
});
