#!/usr/bin/env bash
# The WebSocket unit driver (test/native-ws.test.mjs): scripts/unit.sh builds it.
exec bash "$(dirname "${BASH_SOURCE[0]}")/unit.sh" ws_test test/native/ws_test.cc native/src/ws_parser.cc native/src/ws_handshake.cc -- -lcrypto
