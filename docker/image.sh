#!/bin/sh
# The image's steps, shared by the Dockerfile and by test/image.test.mjs (which builds the same runtime
# filesystem from Debian's packages with mmdebstrap, without a container engine), so they cannot drift.
#
#   sh docker/image.sh build-deps     build stage: what compiling the addon needs (Debian packages)
#   sh docker/image.sh build          build stage: the addon and the TypeScript, then drop dev dependencies
#   sh docker/image.sh runtime-user   runtime stage: the non-root user the server runs as
set -eu
APP_USER=app
APP_UID=10001

case "${1:-}" in
  build-deps)
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ make python3 node-llhttp libnghttp2-dev ca-certificates >/dev/null
    rm -rf /var/lib/apt/lists/*
    ;;
  build)
    npm ci --no-audit --no-fund
    npm prune --omit=dev --ignore-scripts --no-audit --no-fund  # (its root `dependencies` script would rebuild without node-gyp)
    rm -rf build/Release/obj.target build/Release/.deps
    find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete  # scopes emptied by the prune
    ;;
  runtime-user)
    # a fixed uid, no login shell, no home to write to: the app directory stays root-owned and read-only
    groupadd --gid "$APP_UID" "$APP_USER"
    useradd --uid "$APP_UID" --gid "$APP_UID" --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$APP_USER"
    ;;
  *)
    echo "usage: sh docker/image.sh build-deps|build|runtime-user" >&2
    exit 2
    ;;
esac
