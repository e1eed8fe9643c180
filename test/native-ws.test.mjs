// The pure C++ WebSocket pieces on their own (no N-API, no sockets): builds
// test/native/build/unit/ws_test (scripts/ws-unit.sh, with ASan/UBSan when
// available) and runs it: the UTF-8 DFA against a reference (exhaustive over 1-,
// 2- and 3-byte sequences, sampled 4-byte ones, vectors split at every offset,
// fail-fast), the frame parser giving the same events for every split of its
// input (fragmentation, interleaved control frames, every 1002 rule, the 1009
// limit on the header), the unmask against a byte-wise reference and the frame
// header writer; the handshake checks (RFC 6455 §4.2.1 rules, the §1.3 accept-key
// vector, subprotocol offers, the 101).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const build = spawnSync('bash', [path.join(root, 'scripts/ws-unit.sh')], { cwd: root, encoding: 'utf8' });
if (build.status !== 0) {
  t.fail(`building the ws unit driver failed:\n${build.stderr}`);
  process.exit(1);
}
const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' };
delete env.LD_PRELOAD;
const r = spawnSync(path.join(root, build.stdout.trim()), [], { encoding: 'utf8', env });
t.equal(r.status, 0, `ws_test exits 0\n${r.stderr}`);
const lines = r.stdout.split('\n').filter((l) => /^(not )?ok /.test(l));
t.ok(lines.length >= 70, `${lines.length} checks ran`);
for (const l of lines) t.ok(l.startsWith('ok '), l);
