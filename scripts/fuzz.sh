#!/usr/bin/env bash
# libFuzzer over the pure C++ request parser with ASan + UBSan (clang).
#   npm run fuzz -- -max_total_time=600        (any libFuzzer flags)
#   FUZZ_JOBS=2 npm run fuzz -- -max_total_time=600   (parallel workers)
#   npm run fuzz -- test/native/build/fuzz/crash-...   (re-run one input)
#   FUZZ_TARGET=response npm run fuzz -- ...    (the response-head builder instead)
#   FUZZ_TARGET=chunked / proxy / environ        (the chunked decoder, the PROXY
#                                                 preambles, the environ packer alone)
#   FUZZ_TARGET=ws                               (the WebSocket frame parser with incremental
#                                                 UTF-8 checks and inflation, split-invariant
#                                                 outcome; permessage-deflate negotiation)
#   FUZZ_TARGET=h2c / h2head                     (HTTP/2 without nghttp2: the client preface,
#                                                 HTTP2-Settings and the Upgrade: h2c checks; the
#                                                 request head builder and the response fields)
#   FUZZ_TARGET=tls                              (the transport read path: StreamTransport and
#                                                 TlsTransport over a socketpair against an OpenSSL
#                                                 client, arbitrary record and chunk cuts; links
#                                                 Debian's libssl-dev and libuv1 in this build only)
# Builds into test/native/build/fuzz/ (never build/), writes the seeds from the
# corpus into test/native/seeds/, keeps the growing corpus in
# test/native/build/fuzz/corpus/ and crashes in test/native/build/fuzz/.
# A crash is fixed in native/src and its input committed to
# test/native/regressions/ (replayed by test/native-parser.test.mjs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
llhttp_locate
CC=${FUZZ_CC:-clang}; CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found; on Debian 12: apt-get install -y clang libclang-rt-14-dev" >&2
  exit 1
fi
OUT=test/native/build/fuzz
mkdir -p "$OUT"
TARGET="${FUZZ_TARGET:-parser}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CXXFLAGS_F="-std=c++17 -O2 -g $SAN -fsanitize=fuzzer -fno-exceptions -Wall -Wextra -Wno-unused-parameter -Inative/src"
case "$TARGET" in
  parser)
    BIN="$OUT/fuzz_parser"; CORPUS="$OUT/corpus"; SEEDS=test/native/seeds; DICT=(-dict=test/native/http.dict)
    PARSER_CC="native/src/request_parser.cc native/src/chunked_decoder.cc native/src/proxy_protocol.cc native/src/environ.cc"
    if stale "$BIN" test/native/fuzz_parser.cc test/native/parser_harness.h $PARSER_CC native/src/*.h \
        scripts/fuzz.sh $LLHTTP_C; then
      for f in $LLHTTP_C; do
        $CC -O2 -g $SAN -fsanitize=fuzzer-no-link -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" \
          -o "$OUT/llhttp_$(basename "$f" .c).o"
      done
      $CXX $CXXFLAGS_F -I"$LLHTTP_INC" $PARSER_CC test/native/fuzz_parser.cc \
        "$OUT"/llhttp_*.o -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  response)
    BIN="$OUT/fuzz_response"; CORPUS="$OUT/corpus-response"; SEEDS=""; DICT=()
    if stale "$BIN" test/native/fuzz_response.cc native/src/response.cc native/src/response.h scripts/fuzz.sh; then
      $CXX $CXXFLAGS_F native/src/response.cc test/native/fuzz_response.cc -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  chunked)
    BIN="$OUT/fuzz_chunked"; CORPUS="$OUT/corpus-chunked"; SEEDS=""; DICT=()
    if stale "$BIN" test/native/fuzz_chunked.cc test/native/fuzz_check.h native/src/chunked_decoder.cc \
        native/src/chunked_decoder.h native/src/ascii.h native/src/errors.h scripts/fuzz.sh; then
      $CXX $CXXFLAGS_F native/src/chunked_decoder.cc test/native/fuzz_chunked.cc -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  proxy)
    BIN="$OUT/fuzz_proxy"; CORPUS="$OUT/corpus-proxy"; SEEDS=""; DICT=()
    if stale "$BIN" test/native/fuzz_proxy.cc test/native/fuzz_check.h native/src/proxy_protocol.cc \
        native/src/proxy_protocol.h native/src/errors.h scripts/fuzz.sh; then
      $CXX $CXXFLAGS_F native/src/proxy_protocol.cc test/native/fuzz_proxy.cc -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  ws)
    BIN="$OUT/fuzz_ws"; CORPUS="$OUT/corpus-ws"; SEEDS=""; DICT=()
    if stale "$BIN" test/native/fuzz_ws.cc native/src/ws_parser.cc native/src/ws_parser.h native/src/ws_utf8.h \
        native/src/ws_deflate.cc native/src/ws_deflate.h scripts/fuzz.sh; then
      # Debian's zlib here (-lz in this build only: the addon binds to the zlib node exports)
      $CXX $CXXFLAGS_F native/src/ws_parser.cc native/src/ws_deflate.cc test/native/fuzz_ws.cc -lz -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  h2c | h2head)
    # h2c.cc and h2_head.cc use the HTTP/1 parser's types and limits (request_parser.cc, so llhttp), no nghttp2
    BIN="$OUT/fuzz_$TARGET"; CORPUS="$OUT/corpus-$TARGET"; SEEDS=""; DICT=(-dict=test/native/h2.dict)
    H2_CC="native/src/h2c.cc native/src/h2_head.cc native/src/request_parser.cc native/src/chunked_decoder.cc native/src/proxy_protocol.cc"
    if stale "$BIN" "test/native/fuzz_$TARGET.cc" test/native/fuzz_check.h test/native/h2.dict $H2_CC native/src/*.h \
        scripts/fuzz.sh $LLHTTP_C; then
      for f in $LLHTTP_C; do
        $CC -O2 -g $SAN -fsanitize=fuzzer-no-link -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" \
          -o "$OUT/llhttp_$(basename "$f" .c).o"
      done
      $CXX $CXXFLAGS_F -I"$LLHTTP_INC" $H2_CC "test/native/fuzz_$TARGET.cc" "$OUT"/llhttp_*.o -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  tls)
    # The addon binds to the OpenSSL and libuv that node exports; outside node
    # this target links Debian's (libssl-dev, libuv1), with libuv's header from
    # node's include directory (after the system's, so <openssl/...> is Debian's).
    BIN="$OUT/fuzz_tls"; CORPUS="$OUT/corpus-tls"; SEEDS=""; DICT=(-dict=test/native/http.dict)
    UV_INC=${FUZZ_UV_INC:-/usr/include/node}
    UV_LIB=${FUZZ_UV_LIB:-$(ls /usr/lib/*/libuv.so.1 2>/dev/null | head -1)}
    if [ ! -f "$UV_INC/uv.h" ] || [ -z "$UV_LIB" ] || [ ! -f /usr/include/openssl/ssl.h ]; then
      echo "fuzz: FUZZ_TARGET=tls needs libssl-dev, libuv1 and node's uv.h (FUZZ_UV_INC, FUZZ_UV_LIB)" >&2
      exit 1
    fi
    TLS_CC="native/src/transport.cc native/src/tls.cc native/src/request_parser.cc native/src/chunked_decoder.cc native/src/proxy_protocol.cc native/src/environ.cc"
    if stale "$BIN" test/native/fuzz_tls.cc test/native/fuzz_check.h test/native/parser_harness.h $TLS_CC native/src/*.h scripts/fuzz.sh \
        $LLHTTP_C; then
      for f in $LLHTTP_C; do
        $CC -O2 -g $SAN -fsanitize=fuzzer-no-link -fvisibility=hidden -I"$LLHTTP_INC" -c "$f" \
          -o "$OUT/llhttp_$(basename "$f" .c).o"
      done
      $CXX $CXXFLAGS_F -I"$LLHTTP_INC" -idirafter "$UV_INC" $TLS_CC test/native/fuzz_tls.cc "$OUT"/llhttp_*.o \
        -lssl -lcrypto "$UV_LIB" -o "$BIN.tmp"
      mv "$BIN.tmp" "$BIN"
      echo "fuzz: built $BIN" >&2
    fi ;;
  *) echo "fuzz: FUZZ_TARGET is parser, response, chunked, proxy, ws, h2c, h2head or tls" >&2; exit 2 ;;
esac
mkdir -p "$CORPUS"
if [ "$TARGET" = tls ] && [ -z "$(ls -A "$CORPUS")" ]; then
  # Starting points: TLS 1.3 / 1.2 / plain, each a keep-alive request then a POST.
  req='\000\000GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello'
  printf "\x61\x04\x01\x02\x03\x04$req" >"$CORPUS/seed-tls13"
  printf "\x43\x02\x05\x06\x07\x08$req" >"$CORPUS/seed-tls12"
  printf "\xb1\x00\x09\x0a\x0b\x0c$req" >"$CORPUS/seed-tls13-fin"
  printf "\x80\x00\x0d\x0e\x0f\x10$req" >"$CORPUS/seed-plain"
fi
if [ "$TARGET" = h2c ] && [ -z "$(ls -A "$CORPUS")" ]; then
  # Starting points (byte 0 % 3: preface, HTTP2-Settings, an HTTP/1.1 head; see fuzz_h2c.cc)
  printf '\000PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' >"$CORPUS/seed-preface"
  printf '\001AAMAAABkAAQAAP__' >"$CORPUS/seed-settings"
  printf '\002\000\000Host:x\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABk' \
    >"$CORPUS/seed-upgrade"
fi
if [ "$TARGET" = h2head ] && [ -z "$(ls -A "$CORPUS")" ]; then
  # Starting points (fuzz_h2head.cc): selector bytes index its kNames (0 :method, 1 :path, 2 :authority,
  # 3 :scheme, 7 host, 8 cookie, 9 content-length, 10 script_name), each value length-prefixed
  printf '\010\000\000\000\003GET\003\005https\002\013example.com\001\006/a?b#c\010\003a=1\010\003b=2\007\001h' \
    >"$CORPUS/seed-get"
  printf '\034\004\040\000\004POST\001\001/\011\00212\012\004/app\201\003x-y\001z' >"$CORPUS/seed-post"
  printf '\200Content-Type: text/plain\r\nConnection: close\r\nX-A:  v \r\nContent-Length: 5\r\n' \
    >"$CORPUS/seed-response"
fi
# a file argument re-runs inputs instead of fuzzing
for a in "$@"; do
  if [ -f "$a" ]; then exec "$BIN" "$@"; fi
done
if [ -n "$SEEDS" ]; then node test/native/make-seeds.mjs >&2; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ARGS=(-max_len=2048 "${DICT[@]}" -artifact_prefix="$OUT/" -print_final_stats=1)
if [ -n "${FUZZ_JOBS:-}" ]; then ARGS+=(-fork="$FUZZ_JOBS" -ignore_crashes=0); fi
# Without a time or run limit a run would go on for ever: default to 60 s.
case " $* " in *" -max_total_time="*|*" -runs="*) ;; *) ARGS+=(-max_total_time=60) ;; esac
exec "$BIN" "${ARGS[@]}" "$@" "$CORPUS" $SEEDS
