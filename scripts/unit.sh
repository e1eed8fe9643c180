#!/usr/bin/env bash
# Builds one unit driver of pure C++ pieces (no N-API, no libuv) with g++, with
# ASan and UBSan when the toolchain has them, into test/native/build/unit/NAME,
# and prints its path (relative to the repository) on stdout.
#   scripts/unit.sh NAME SOURCE... [-- LINK_FLAG...]
# SOURCEs are relative to the repository: the .cc/.cpp files are compiled, every
# other one (a header) only counts for staleness; native/src/*.h and
# test/native/*.h always count. llhttp's C sources (scripts/fuzz-common.sh) are
# archived into a static library linked after the sources, so a driver takes
# only the llhttp objects it calls. LINK_FLAGs go last (e.g. -lcrypto -lz).
# GTS_UNIT_SANITIZE=0 builds without sanitizers. Used by test/native-*.test.mjs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
if [ $# -lt 2 ]; then
  echo "usage: scripts/unit.sh NAME SOURCE... [-- LINK_FLAG...]" >&2
  exit 2
fi
NAME="$1"
shift
CCS=()
DEPS=()
LINK=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then
    shift
    LINK=("$@")
    break
  fi
  [ -f "$1" ] || { echo "unit: no such source: $1" >&2; exit 2; }
  case "$1" in *.cc | *.cpp) CCS+=("$1") ;; esac
  DEPS+=("$1")
  shift
done
[ ${#CCS[@]} -gt 0 ] || { echo "unit: no .cc source for $NAME" >&2; exit 2; }
llhttp_locate
OUT=test/native/build/unit
# per-driver scratch: test files building different drivers run in parallel
WORK="$OUT/.$NAME"
mkdir -p "$WORK"
BIN="$OUT/$NAME"
SAN=""
if [ "${GTS_UNIT_SANITIZE:-1}" = 1 ] && echo 'int main(){return 0;}' | g++ -x c++ -fsanitize=address,undefined -o "$WORK/probe" - 2>/dev/null; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
rm -f "$WORK/probe"
CC=${CC:-gcc}
CXX=${CXX:-g++}
# The build's own description: a change of sources, link flags, compilers or
# sanitizers rebuilds even when no file is newer.
STAMP="$CC $CXX $SAN | ${CCS[*]} | ${LINK[*]:-}"
if [ "$(cat "$WORK/stamp" 2>/dev/null)" = "$STAMP" ] &&
  ! stale "$BIN" "${DEPS[@]}" native/src/*.h test/native/*.h scripts/unit.sh scripts/fuzz-common.sh $LLHTTP_C; then
  echo "$BIN"
  exit 0
fi
rm -f "$WORK"/*.o "$WORK/libllhttp.a"
for f in $LLHTTP_C; do
  $CC -O1 -g $SAN -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" -o "$WORK/llhttp_$(basename "$f" .c).o"
done
ar rcs "$WORK/libllhttp.a" "$WORK"/llhttp_*.o
$CXX -std=c++17 -O1 -g $SAN -Wall -Wextra -Wno-unused-parameter -fno-exceptions \
  -Inative/src -Itest/native -I"$LLHTTP_INC" "${CCS[@]}" "$WORK/libllhttp.a" ${LINK[@]+"${LINK[@]}"} -o "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$STAMP" >"$WORK/stamp"
echo "$BIN"
