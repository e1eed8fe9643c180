// The pure C++ HTTP/2 pieces on their own (no nghttp2, no sockets): builds
// test/native/build/unit/h2_test (scripts/h2-unit.sh, with ASan/UBSan when
// available) and runs it: the client preface, HTTP2-Settings decoding, the
// h2c upgrade checks, the request head builder (pseudo-headers, :authority as
// Host, cookie crumbs, header_map, the header list size and the parser
// limits) and the response fields (connection-specific fields dropped).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const build = spawnSync('bash', [path.join(root, 'scripts/h2-unit.sh')], { cwd: root, encoding: 'utf8' });
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
