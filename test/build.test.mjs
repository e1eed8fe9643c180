// The native build: llhttp compiled in with hidden visibility, and a clear
// error when llhttp's sources are missing.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

const root = path.join(import.meta.dirname, '..');
const addon = path.join(root, 'build', 'Release', 'gunicorn_native.node');

t.test('only the N-API entry points are exported (no llhttp_* symbols)', async (t) => {
  const out = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
  const exported = out
    .split('\n')
    .filter((l) => / [TDB] /.test(l))
    .map((l) => l.split(' ').pop());
  t.same(exported.sort(), ['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
  t.notMatch(out, /llhttp_/, "node's own llhttp symbols cannot capture ours");
});

t.test("the addon uses its own llhttp, not node's", async (t) => {
  const { native } = await import('../dist/native.js');
  t.match(native.llhttpVersion, /^\d+\.\d+\.\d+$/);
  t.not(native.llhttpVersion, process.versions.llhttp, 'a different llhttp than the one inside node');
});

t.test('a missing llhttp names the package to install', async (t) => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'llhttp-sources.cjs'), 'sources'], {
    env: { ...process.env, LLHTTP_DIR: '/nonexistent/llhttp' },
    encoding: 'utf8',
  });
  t.equal(r.status, 1);
  t.match(r.stderr, /apt-get install node-llhttp/);
  t.match(r.stderr, /LLHTTP_DIR/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});
