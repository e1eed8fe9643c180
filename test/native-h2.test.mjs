// The pure C++ HTTP/2 pieces on their own (no nghttp2, no sockets): builds
// test/native/build/unit/h2_test (scripts/unit.sh, with ASan/UBSan when
// available) and runs it: the client preface, HTTP2-Settings decoding, the
// h2c upgrade checks, the request head builder (pseudo-headers, :authority as
// Host, cookie crumbs, header_map, the header list size and the parser
// limits) and the response fields (connection-specific fields dropped).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const sources = ['test/native/h2_test.cc'].concat(
  ['h2c', 'h2_head', 'request_parser', 'chunked_decoder', 'proxy_protocol'].map((n) => `native/src/${n}.cc`),
);
const build = spawnSync('bash', [path.join(root, 'scripts/unit.sh'), 'h2_test', ...sources], {
  cwd: root,
  encoding: 'utf8',
});
if (build.status !== 0) {
  t.fail(`building the h2 unit driver failed:\n${build.stderr}`);
  process.exit(1);
}
const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' };
delete env.LD_PRELOAD;
const r = spawnSync(path.join(root, build.stdout.trim()), [], { encoding: 'utf8', env });
t.equal(r.status, 0, `h2_test exits 0\n${r.stderr}`);
const lines = r.stdout.split('\n').filter((l) => /^(not )?ok /.test(l));
t.ok(lines.length >= 50, `${lines.length} checks ran`);
for (const l of lines) t.ok(l.startsWith('ok '), l);

t.test('the addon links no libnghttp2: it calls the nghttp2 node exports', async (t) => {
  const addon = path.join(root, 'build', 'Release', 'gunicorn_native.node');
  const needed = spawnSync('readelf', ['-d', addon], { encoding: 'utf8' }).stdout;
  t.notMatch(needed, /nghttp2/, 'no NEEDED libnghttp2');
  const undef = spawnSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' }).stdout;
  t.match(undef, /nghttp2_session_server_new2/, 'nghttp2 functions resolved at load time');
  const { native } = await import('../dist/native.js');
  t.equal(native.http2, true, 'HTTP/2 available in this build and this node');
});

t.test('a missing nghttp2 header: the build goes on without HTTP/2, saying so in one line', async (t) => {
  const script = path.join(root, 'scripts', 'nghttp2-include.cjs');
  const env = { ...process.env, NGHTTP2_INCLUDE: '/nonexistent/include' };
  const r = spawnSync(process.execPath, [script, 'enabled'], { env, encoding: 'utf8' });
  t.equal(r.status, 0);
  t.equal(r.stdout, '0');
  t.match(r.stderr, /libnghttp2-dev/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const ok = spawnSync(process.execPath, [script, 'enabled'], { encoding: 'utf8' });
  t.equal(ok.stdout, '1', "Debian's header found");
});
