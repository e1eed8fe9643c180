#!/usr/bin/env bash
# Builds the unit driver of the pure C++ HTTP/2 pieces (h2c.cc, h2_head.cc; no
# nghttp2) with g++, with ASan and UBSan when the toolchain has them, into
# test/native/build/unit/h2_test. Used by test/native-h2.test.mjs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
llhttp_locate
OUT=test/native/build/unit
mkdir -p "$OUT"
BIN="$OUT/h2_test"
CCS="native/src/h2c.cc native/src/h2_head.cc native/src/request_parser.cc native/src/chunked_decoder.cc native/src/proxy_protocol.cc"
SRCS="test/native/h2_test.cc $CCS native/src/*.h scripts/h2-unit.sh"
if ! stale "$BIN" $SRCS $LLHTTP_C; then echo "$BIN"; exit 0; fi
SAN=""
if [ "${GTS_UNIT_SANITIZE:-1}" = 1 ] && echo 'int main(){return 0;}' | g++ -x c++ -fsanitize=address,undefined -o "$OUT/.probe-h2" - 2>/dev/null; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
rm -f "$OUT/.probe-h2"
CC=${CC:-gcc}; CXX=${CXX:-g++}
for f in $LLHTTP_C; do
  $CC -O1 -g $SAN -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" -o "$OUT/h2_llhttp_$(basename "$f" .c).o"
done
$CXX -std=c++17 -O1 -g $SAN -Wall -Wextra -Wno-unused-parameter -fno-exceptions \
  -Inative/src -I"$LLHTTP_INC" $CCS test/native/h2_test.cc "$OUT"/h2_llhttp_*.o -o "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
