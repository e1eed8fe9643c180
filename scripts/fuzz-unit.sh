#!/usr/bin/env bash
# Builds the plain unit driver for the pure C++ parser with g++ (with ASan and
# UBSan when the toolchain has them) into test/native/build/parser_test.
# Used by test/native-parser.test.mjs; `npm run test:native` runs that test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
llhttp_locate
OUT=test/native/build/unit
mkdir -p "$OUT"
BIN="$OUT/parser_test"
PARSER_CC="native/src/request_parser.cc native/src/chunked_decoder.cc native/src/proxy_protocol.cc native/src/environ.cc"
SRCS="test/native/parser_test.cc test/native/parser_harness.h $PARSER_CC native/src/*.h scripts/fuzz-unit.sh"
if ! stale "$BIN" $SRCS $LLHTTP_C; then echo "$BIN"; exit 0; fi
SAN=""
if [ "${GTS_UNIT_SANITIZE:-1}" = 1 ] && echo 'int main(){return 0;}' | g++ -x c++ -fsanitize=address,undefined -o "$OUT/.probe" - 2>/dev/null; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
rm -f "$OUT/.probe"
CC=${CC:-gcc}; CXX=${CXX:-g++}
for f in $LLHTTP_C; do
  $CC -O1 -g $SAN -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" -o "$OUT/llhttp_$(basename "$f" .c).o"
done
$CXX -std=c++17 -O1 -g $SAN -Wall -Wextra -Wno-unused-parameter -fno-exceptions \
  -Inative/src -I"$LLHTTP_INC" $PARSER_CC test/native/parser_test.cc \
  "$OUT"/llhttp_*.o -o "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
