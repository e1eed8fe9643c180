#!/usr/bin/env node
// Locates nghttp2's public header for the HTTP/2 part of the native core
// (docs/design/http2.md §1). The addon links no libnghttp2: it calls the
// nghttp2 that the node binary exports, so only the header is a build input.
//
//   NGHTTP2_INCLUDE=/dir   (holding nghttp2/nghttp2.h)
//   else /usr/include      (Debian's libnghttp2-dev)
//
// Usage (from binding.gyp): node scripts/nghttp2-include.cjs enabled|include
//   enabled  1 when the header is there, else 0 (the build then defines GTS_NO_HTTP2 and
//            leaves the h2 sources out; `http_protocols` with h2 is refused at startup)
//   include  the include directory to add ('' when missing, or /usr/include)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function locate() {
  const dirs = process.env.NGHTTP2_INCLUDE ? [path.resolve(process.env.NGHTTP2_INCLUDE)] : ['/usr/include'];
  for (const d of dirs) {
    if (fs.existsSync(path.join(d, 'nghttp2', 'nghttp2.h'))) return d;
  }
  return null;
}

const dir = locate();
const what = process.argv[2];
if (what === 'enabled') {
  if (dir === null) {
    process.stderr.write(
      'gunicorn-ts: nghttp2/nghttp2.h not found (apt-get install libnghttp2-dev, or set NGHTTP2_INCLUDE): ' +
        'building without HTTP/2\n',
    );
  }
  process.stdout.write(dir === null ? '0' : '1');
} else if (what === 'include') {
  // /usr/include is on every compiler's default path (Debian's cross compilers search it last); an explicit
  // -I/usr/include would reorder the system headers, so only another directory is named
  process.stdout.write(dir === null || dir === '/usr/include' ? '' : dir);
} else {
  process.stderr.write('usage: node scripts/nghttp2-include.cjs enabled|include\n');
  process.exit(2);
}
