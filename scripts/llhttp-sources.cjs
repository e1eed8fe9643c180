#!/usr/bin/env node
// Locates llhttp's C release sources at build time and copies them into
// build/llhttp/ so that binding.gyp can name them by relative paths (gyp's make
// generator rejects absolute paths in `sources`).
//
//   LLHTTP_DIR=/path/to/llhttp-release   (include/llhttp.h + src/{api,http,llhttp}.c, or all four flat)
//   else Debian's node-llhttp: /usr/share/include/llhttp/llhttp.h + /usr/share/llhttp/*.c
//
// Usage (from binding.gyp): node scripts/llhttp-sources.cjs sources|include
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build', 'llhttp');
const C_FILES = ['api.c', 'http.c', 'llhttp.c'];

function candidates() {
  const list = [];
  if (process.env.LLHTTP_DIR) {
    const d = path.resolve(process.env.LLHTTP_DIR);
    list.push({ from: `LLHTTP_DIR=${d}`, header: path.join(d, 'include', 'llhttp.h'), src: path.join(d, 'src') });
    list.push({ from: `LLHTTP_DIR=${d}`, header: path.join(d, 'llhttp.h'), src: d });
    return list; // an explicit LLHTTP_DIR is never silently replaced by the system copy
  }
  list.push({ from: 'Debian node-llhttp', header: '/usr/share/include/llhttp/llhttp.h', src: '/usr/share/llhttp' });
  return list;
}

function locate() {
  for (const c of candidates()) {
    if (fs.existsSync(c.header) && C_FILES.every((f) => fs.existsSync(path.join(c.src, f)))) return c;
  }
  const where = process.env.LLHTTP_DIR
    ? `LLHTTP_DIR=${process.env.LLHTTP_DIR} holds no llhttp release sources (include/llhttp.h and src/api.c, src/http.c, src/llhttp.c)`
    : 'no llhttp C sources in /usr/share/llhttp';
  process.stderr.write(
    `gunicorn-ts: cannot build the native core: ${where}. ` +
      "Install Debian's package with `apt-get install node-llhttp`, or set LLHTTP_DIR to an llhttp release directory.\n",
  );
  process.exit(1);
}

const found = locate();
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(found.header, path.join(outDir, 'llhttp.h'));
for (const f of C_FILES) fs.copyFileSync(path.join(found.src, f), path.join(outDir, f));

const what = process.argv[2];
if (what === 'include') process.stdout.write('build/llhttp\n');
else process.stdout.write(C_FILES.map((f) => `build/llhttp/${f}`).join('\n') + '\n');
