#!/usr/bin/env bash
# `npm run test:asan [-- tap args]`: the test suite with the addon built under
# AddressSanitizer + UBSan (scripts/asan-build.sh, into build-asan/; the normal
# build/Release addon is left alone). Node itself is not instrumented, so the
# ASan runtime is preloaded, and leak checking is off (Node keeps memory until
# exit by design). GUNICORN_TS_NATIVE points lib/native.ts at the ASan addon.
# Any ASan/UBSan report aborts the process: the test that ran it fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/fuzz-common.sh"
cd "$ROOT"
ADDON="$(bash scripts/asan-build.sh)"
LIBASAN="$(gcc -print-file-name=libasan.so)"
[ -f "$LIBASAN" ] || { echo "asan-test: no libasan.so (gcc's sanitizer runtimes)" >&2; exit 1; }
export GUNICORN_TS_NATIVE="$ADDON"
export LD_PRELOAD="$LIBASAN${LD_PRELOAD:+:$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_odr_violation=0:malloc_context_size=5${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
echo "asan-test: addon $ADDON, LD_PRELOAD=$LD_PRELOAD" >&2
# the unit driver has its own sanitizer build; the addon check is what runs here
node -e "const b=require(process.env.GUNICORN_TS_NATIVE); if(!b.NativeServer) process.exit(1)" \
  || { echo "asan-test: the ASan addon does not load" >&2; exit 1; }
exec npx tap "$@"
