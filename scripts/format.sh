#!/usr/bin/env bash
# Formats the sources in place (prettier for TS/JS, clang-format for C++), or with --check reports
# the files that differ and fails. Files come from git (tracked, plus new files git does not ignore),
# so build/, dist/, node_modules/ and other build output are never touched.
# clang-format's output varies between major versions: the tree is formatted with Debian 12's
# clang-format 14 (apt-get install -y clang-format); set CLANG_FORMAT to use another binary.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

files() {  # git pathspecs -> existing files, one per line
  git ls-files -z --cached --others --exclude-standard -- "$@" | sort -zu |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\n' "$f"; done
}
mapfile -t js < <(files '*.ts' '*.js' '*.mjs' '*.cjs')
mapfile -t cc < <(files '*.cc' '*.h')

prettier=node_modules/.bin/prettier
[ -x "$prettier" ] || { echo "format: $prettier missing; run npm ci" >&2; exit 1; }
clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || { echo "format: $clang_format not found (apt-get install -y clang-format)" >&2; exit 1; }

rc=0
if [ "$check" = 1 ]; then
  echo "format: prettier --check (${#js[@]} TS/JS files)"
  "$prettier" --check --log-level warn "${js[@]}" || rc=1
  echo "format: clang-format --dry-run --Werror (${#cc[@]} C++ files)"
  if ! out=$("$clang_format" --dry-run --Werror "${cc[@]}" 2>&1); then
    rc=1
    grep -oE '^[^ :]+:[0-9]+:[0-9]+: error' <<<"$out" | cut -d: -f1 | sort -u | sed 's/^/[warn] /' || true
  fi
  [ "$rc" = 0 ] && echo "format: all files formatted" || echo "format: run npm run format" >&2
else
  "$prettier" --write --log-level warn "${js[@]}"
  "$clang_format" -i "${cc[@]}"
fi
exit "$rc"
