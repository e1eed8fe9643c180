#!/usr/bin/env bash
# Builds the unit driver of the pure C++ WebSocket pieces (ws_utf8.h, ws_parser.cc,
# ws_handshake.cc with Debian's libcrypto, ws_deflate.cc with Debian's zlib (-lz here only: the addon binds to
# the zlib node exports); no N-API, no libuv) with g++, with ASan and UBSan when the toolchain has them,
# into test/native/build/unit/ws_test. Used by test/native-ws.test.mjs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
llhttp_locate
OUT=test/native/build/unit
mkdir -p "$OUT"
BIN="$OUT/ws_test"
CCS="native/src/ws_parser.cc native/src/ws_handshake.cc native/src/ws_deflate.cc"
SRCS="test/native/ws_test.cc $CCS native/src/ws_parser.h native/src/ws_utf8.h native/src/ws_handshake.h native/src/ws_deflate.h scripts/ws-unit.sh"
if ! stale "$BIN" $SRCS; then echo "$BIN"; exit 0; fi
SAN=""
if [ "${GTS_UNIT_SANITIZE:-1}" = 1 ] && echo 'int main(){return 0;}' | g++ -x c++ -fsanitize=address,undefined -o "$OUT/.probe-ws" - 2>/dev/null; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
rm -f "$OUT/.probe-ws"
CXX=${CXX:-g++}
$CXX -std=c++17 -O1 -g $SAN -Wall -Wextra -Wno-unused-parameter -fno-exceptions \
  -Inative/src -I"$LLHTTP_INC" $CCS test/native/ws_test.cc -lcrypto -lz -o "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
