#!/usr/bin/env bash
# Builds the addons that ship inside the npm tarball (`npm run prebuilds`, and
# `npm pack`/`npm publish` through prepack):
#
#   prebuilds/linux-x64/gunicorn_native.node     + gunicorn_native.json
#   prebuilds/linux-arm64/gunicorn_native.node   + gunicorn_native.json
#   prebuilds/LICENSE.llhttp                     (llhttp's MIT notice: it is compiled in)
#
# Usage: scripts/prebuild.sh [x64] [arm64]          (default: both)
#        scripts/prebuild.sh --check FILE x64|arm64  (only the checks below)
#
# Each is built with node-gyp from binding.gyp in a staging copy
# (build-prebuild/<arch>/, never build/), arm64 with Debian's cross compiler
# (g++-aarch64-linux-gnu), then stripped and checked; any failed check fails the
# build:
#  - the floor of Node's own Linux binaries: objdump -T must show no GLIBC_
#    version above 2.28, no GLIBCXX_ above 3.4.21, no CXXABI_ above 1.3.9 and
#    no GCC_ above 3.0 (what Node 20's binary needs, so wherever Node runs, the
#    addon loads); the few references that Debian 12's glibc 2.36 / GCC 12
#    headers bind to newer versions are sent to scripts/prebuild-floor.cc with
#    the linker's --wrap;
#  - hidden visibility: nm -D exports exactly the two N-API entry points
#    (no llhttp_* symbol of our own);
#  - the ELF machine is the target's.
# The .json records the llhttp version compiled in, the highest GLIBC version
# needed, and the compiler. llhttp comes from $LLHTTP_DIR or Debian's
# node-llhttp (scripts/llhttp-sources.cjs), a build-time input only.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
GLIBC_FLOOR=2.28
# what `objdump -T` shows the official Node 20 binaries (x64, arm64) need
declare -A FLOOR=([GLIBC]=$GLIBC_FLOOR [GLIBCXX]=3.4.21 [CXXABI]=1.3.9 [GCC]=3.0)
ADDON=gunicorn_native.node

die() { echo "prebuild: $*" >&2; exit 1; }
[ -x node_modules/.bin/node-gyp ] || die "node-gyp is missing: run \`npm ci\` first"
command -v objdump >/dev/null && command -v nm >/dev/null && command -v readelf >/dev/null \
  || die "objdump, nm and readelf are needed: apt-get install binutils"

# the same headers as the source build (npm's nodedir, e.g. /usr on Debian's nodejs)
NODEDIR="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
GYP_ARGS=(rebuild --jobs=2)
if [ -n "$NODEDIR" ] && [ "$NODEDIR" != undefined ] && [ "$NODEDIR" != null ]; then GYP_ARGS+=(--nodedir="$NODEDIR"); fi

# "a.b" <= "c.d" as versions
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }

# check_addon ARCH FILE: the ELF machine, the symbol-version floor, the exports.
# Sets glibc_max and glibcxx_max.
check_addon() {
  local arch=$1 out=$2 machine
  case "$arch" in x64) machine='X86-64' ;; arm64) machine='AArch64' ;; *) die "unknown arch $arch" ;; esac
  readelf -h "$out" | grep -q "Machine:.*$machine" || die "$arch: $out is not an $machine ELF file"
  local syms lib need over=""
  syms=$(objdump -T "$out")
  for lib in GLIBC GLIBCXX CXXABI GCC; do
    need=$(grep -oE "\\(${lib}_[0-9.]+\\)" <<<"$syms" | tr -d '()' | sed "s/^${lib}_//" | sort -uV | tail -1 || true)
    [ "$lib" = GLIBC ] && glibc_max=$need
    [ -z "$need" ] || version_le "$need" "${FLOOR[$lib]}" || over+="$(awk -v lib="$lib" -v floor="${FLOOR[$lib]}" '
      { for (i = 1; i <= NF; i++) if ($i ~ "^\\(" lib "_[0-9]") { v = $i; gsub(/[()]/, "", v); sub(lib "_", "", v); print v, $NF } }' <<<"$syms" \
      | while read -r v name; do version_le "$v" "${FLOOR[$lib]}" || printf '%s@%s_%s ' "$name" "$lib" "$v"; done)"
  done
  [ -z "$over" ] || die "$arch: needs symbols above the floor (GLIBC ${FLOOR[GLIBC]}, GLIBCXX ${FLOOR[GLIBCXX]}, CXXABI ${FLOOR[CXXABI]}, GCC ${FLOOR[GCC]}): $over"
  glibcxx_max=$(grep -oE '\(GLIBCXX_[0-9.]+\)' <<<"$syms" | tr -d '()' | sed 's/^GLIBCXX_//' | sort -uV | tail -1 || true)
  local exported
  exported=$(nm -D --defined-only "$out" | awk '$2 ~ /^[TDB]$/ { print $3 }' | sort | tr '\n' ' ')
  [ "$exported" = "napi_register_module_v1 node_api_module_get_api_version_v1 " ] \
    || die "$arch: exports more than the N-API entry points: $exported"
  ! nm -D "$out" | grep -q llhttp_ || die "$arch: llhttp symbols are visible"
}

build_one() {
  local arch=$1 triple pkg
  case "$arch" in
    x64) triple=x86_64-linux-gnu; pkg=g++ ;;
    arm64) triple=aarch64-linux-gnu; pkg=g++-aarch64-linux-gnu ;;
    *) die "unknown arch $arch (x64 or arm64)" ;;
  esac
  local cc=gcc cxx=g++ strip=strip
  if [ "$(uname -m)" != "${triple%%-*}" ]; then cc=$triple-gcc; cxx=$triple-g++; strip=$triple-strip; fi
  command -v "$cxx" >/dev/null || die "$cxx is missing: apt-get install $pkg"
  # the prebuilds always have HTTP/2 (a source build without the header builds without it)
  [ "$(node scripts/nghttp2-include.cjs enabled 2>/dev/null)" = 1 ] || die "nghttp2/nghttp2.h is missing: apt-get install libnghttp2-dev"
  local t0=$SECONDS stage="$ROOT/build-prebuild/$arch"
  rm -rf "$stage"
  mkdir -p "$stage/scripts"
  cp binding.gyp package.json "$stage/"
  cp -r native "$stage/"
  cp scripts/llhttp-sources.cjs "$stage/scripts/"   # a copy: it writes next to itself
  cp scripts/nghttp2-include.cjs "$stage/scripts/"   # HTTP/2: where nghttp2.h is (binding.gyp)
  ln -sfn "$ROOT/node_modules" "$stage/node_modules"
  "$cxx" -O2 -fPIC -std=c++17 -Wall -c scripts/prebuild-floor.cc -o "$stage/prebuild-floor.o"
  local wrap="" s
  for s in stat64 lstat64 fstat64 stat lstat fstat __libc_single_threaded \
    _ZNSt19_Sp_make_shared_tag5_S_eqERKSt9type_info _ZSt28__throw_bad_array_new_lengthv; do wrap+=" -Wl,--wrap=$s"; done
  (cd "$stage" && CC="$cc" CXX="$cxx" LINK="$cxx" \
    LDFLAGS="$stage/prebuild-floor.o$wrap" \
    "$ROOT/node_modules/.bin/node-gyp" "${GYP_ARGS[@]}" --arch="$arch" >"$stage/build.log" 2>&1) || {
    tail -30 "$stage/build.log" >&2; die "$arch: node-gyp failed (log: $stage/build.log)"; }
  local out="$stage/build/Release/$ADDON"
  "$strip" --strip-unneeded "$out"

  check_addon "$arch" "$out"

  local h="$stage/build/llhttp/llhttp.h" llhttp
  llhttp=$(awk '/#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)/ { v[$2] = $3 }
    END { print v["LLHTTP_VERSION_MAJOR"] "." v["LLHTTP_VERSION_MINOR"] "." v["LLHTTP_VERSION_PATCH"] }' "$h")
  [[ "$llhttp" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$arch: no llhttp version in $h"
  mkdir -p "prebuilds/linux-$arch"
  cp "$out" "prebuilds/linux-$arch/$ADDON"
  cat >"prebuilds/linux-$arch/${ADDON%.node}.json" <<JSON
{
  "platform": "linux",
  "arch": "$arch",
  "libc": "glibc",
  "glibcNeeded": "$glibc_max",
  "glibcxxNeeded": "$glibcxx_max",
  "glibcFloor": "$GLIBC_FLOOR",
  "napiVersion": 8,
  "llhttp": "$llhttp",
  "compiler": "$("$cxx" --version | head -1)"
}
JSON
  echo "prebuild: prebuilds/linux-$arch/$ADDON: $(stat -c %s "$out") bytes, GLIBC_$glibc_max GLIBCXX_$glibcxx_max at most, llhttp $llhttp ($((SECONDS - t0)) s)"
}

if [ "${1:-}" = --check ]; then   # --check FILE ARCH: only the checks, on a built addon
  [ $# -eq 3 ] || die "usage: scripts/prebuild.sh --check FILE x64|arm64"
  check_addon "$3" "$2"
  echo "prebuild: $2 ($3): GLIBC_$glibc_max GLIBCXX_$glibcxx_max at most, exports only the N-API entry points"
  exit 0
fi
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x64 arm64)
for a in "${archs[@]}"; do build_one "$a"; done

# llhttp is compiled into every prebuild: its MIT notice ships beside them
notice=""
if [ -n "${LLHTTP_DIR:-}" ]; then
  for f in LICENSE LICENSE-MIT LICENSE.md; do [ -f "$LLHTTP_DIR/$f" ] && { notice="$LLHTTP_DIR/$f"; break; }; done
elif [ -f /usr/share/doc/node-llhttp/copyright ]; then
  notice=/usr/share/doc/node-llhttp/copyright
fi
[ -n "$notice" ] || die "no llhttp licence notice found (\$LLHTTP_DIR/LICENSE or /usr/share/doc/node-llhttp/copyright)"
grep -q 'MIT' "$notice" || die "$notice does not hold llhttp's MIT notice"
{
  echo "The prebuilt addons in this folder contain llhttp, the HTTP parser of the Node.js project,"
  echo "compiled in. Its copyright and licence notice follows ($notice)."
  echo
  cat "$notice"
} >prebuilds/LICENSE.llhttp
