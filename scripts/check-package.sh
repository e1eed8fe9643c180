#!/usr/bin/env bash
# Packs gunicorn-ts, installs the tarball into a scratch project (which builds
# the addon through the package's install script), type-checks a TypeScript
# consumer strictly and runs it: `import { serve } from 'gunicorn-ts'` must work.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
tarball=$(npm pack --silent --pack-destination "$tmp" 2>/dev/null | tail -1)
mkdir "$tmp/consumer"
cd "$tmp/consumer"
printf '{ "name": "consumer", "version": "1.0.0", "type": "module", "private": true }\n' > package.json
cat > app.mts <<'TS'
import { serve, type Application } from 'gunicorn-ts';
const app: Application = (environ, start_response) => {
  start_response('200 OK', [['Content-Type', 'text/plain']]);
  return [`hello ${environ.PATH_INFO}`];
};
const srv = await serve(app, '127.0.0.1:0');
const res = await fetch(`${srv.url}/consumer`);
const text = await res.text();
await srv.close();
if (res.status !== 200 || text !== 'hello /consumer') throw new Error(`unexpected answer ${res.status} ${text}`);
console.log('package check: import { serve } from "gunicorn-ts" works');
TS
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$tmp/$tarball" typescript@5 @types/node@20 >/dev/null
npx tsc --strict --module nodenext --moduleResolution nodenext --target es2022 app.mts
node app.mjs
