#!/usr/bin/env bash
# The WebSocket unit driver (test/native-ws.test.mjs): scripts/unit.sh builds it. ws_handshake.cc links Debian's
# libcrypto and ws_deflate.cc Debian's zlib (-lz here only: the addon binds to the zlib node exports).
exec bash "$(dirname "${BASH_SOURCE[0]}")/unit.sh" ws_test test/native/ws_test.cc native/src/ws_parser.cc native/src/ws_handshake.cc native/src/ws_deflate.cc -- -lcrypto -lz
