#!/usr/bin/env bash
# Builds the N-API addon with AddressSanitizer + UBSan (g++) into
# build-asan/build/Release/gunicorn_native.node, never touching build/ (the
# normal addon other work relies on). node-gyp runs in a staging copy
# (build-asan/: binding.gyp, native/src, scripts/llhttp-sources.cjs copied;
# node_modules linked), so its llhttp copy and objects stay in build-asan/ too.
# Prints the addon's path. Used by scripts/asan-test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
llhttp_locate
STAGE="$ROOT/build-asan"
mkdir -p "$STAGE/native/src" "$STAGE/scripts"
cp binding.gyp package.json "$STAGE/"
cp native/src/* "$STAGE/native/src/"
cp scripts/llhttp-sources.cjs "$STAGE/scripts/"   # a copy: it writes next to itself
cp scripts/nghttp2-include.cjs "$STAGE/scripts/"   # HTTP/2: where nghttp2.h is (binding.gyp)
ln -sfn "$ROOT/node_modules" "$STAGE/node_modules"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# the same headers as the normal build (npm's nodedir, e.g. /usr on Debian's nodejs)
NODEDIR="${npm_config_nodedir:-$(cd "$ROOT" && npm config get nodedir 2>/dev/null || true)}"
GYP_ARGS=(rebuild --jobs=2)
if [ -n "$NODEDIR" ] && [ "$NODEDIR" != undefined ] && [ "$NODEDIR" != null ]; then GYP_ARGS+=(--nodedir="$NODEDIR"); fi
cd "$STAGE"
CFLAGS="$SAN" CXXFLAGS="$SAN" LDFLAGS="-fsanitize=address,undefined" \
  "$ROOT/node_modules/.bin/node-gyp" "${GYP_ARGS[@]}" >"$STAGE/build.log" 2>&1 || {
  tail -30 "$STAGE/build.log" >&2; exit 1; }
echo "$STAGE/build/Release/gunicorn_native.node"
