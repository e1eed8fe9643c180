# Sourced by scripts/fuzz*.sh and scripts/asan*.sh: locates llhttp's C release
# sources the same way scripts/llhttp-sources.cjs does for the addon, without
# writing into build/ (shared with the normal node-gyp build).
#   LLHTTP_DIR=/path/to/release (include/llhttp.h + src/*.c, or all four flat)
#   else Debian's node-llhttp: /usr/share/include/llhttp/llhttp.h + /usr/share/llhttp/*.c
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llhttp_locate() {
  local d
  if [ -n "${LLHTTP_DIR:-}" ]; then
    d="$(cd "$LLHTTP_DIR" && pwd)"
    if [ -f "$d/include/llhttp.h" ] && [ -f "$d/src/llhttp.c" ]; then
      LLHTTP_INC="$d/include"; LLHTTP_SRC="$d/src"
    elif [ -f "$d/llhttp.h" ] && [ -f "$d/llhttp.c" ]; then
      LLHTTP_INC="$d"; LLHTTP_SRC="$d"
    else
      echo "gunicorn-ts: LLHTTP_DIR=$LLHTTP_DIR holds no llhttp release sources" >&2; return 1
    fi
  elif [ -f /usr/share/include/llhttp/llhttp.h ] && [ -f /usr/share/llhttp/llhttp.c ]; then
    LLHTTP_INC=/usr/share/include/llhttp; LLHTTP_SRC=/usr/share/llhttp
  else
    echo "gunicorn-ts: no llhttp C sources: apt-get install node-llhttp (or set LLHTTP_DIR)" >&2; return 1
  fi
  LLHTTP_C="$LLHTTP_SRC/api.c $LLHTTP_SRC/http.c $LLHTTP_SRC/llhttp.c"
}
# newer SRC... than TARGET?
stale() {
  local t="$1"; shift
  [ -e "$t" ] || return 0
  local f
  for f in "$@"; do [ "$f" -nt "$t" ] && return 0; done
  return 1
}
