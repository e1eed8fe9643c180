#!/usr/bin/env node
// Writes fuzz seeds for test/native/fuzz_parser.cc into test/native/seeds/
// (generated, gitignored): every request of Gunicorn's corpus
// (test/fixtures/http-corpus/*.jsonl, raw_b64) prefixed with the two option
// bytes of parser_harness.h (byte 0: ParserConfig variant matching the case's
// settings; byte 1: delivery), in a few deliveries, plus every committed
// regression in test/native/regressions/.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const out = process.argv[2] ?? path.join(here, 'seeds');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

function configByte(s) {
  let b = 0;
  if (s.permit_obsolete_folding) b |= 0x01;
  if (s.strip_header_spaces) b |= 0x02;
  if (s.permit_unconventional_http_method) b |= 0x04;
  if (s.casefold_http_method) b |= 0x08;
  if (s.permit_unconventional_http_version) b |= 0x10;
  if (s.header_map === 'refuse') b |= 0x20;
  if (s.header_map === 'dangerous') b |= 0x40;
  if (s.limit_request_field_size !== undefined && s.limit_request_field_size < 100) b |= 0x80;
  return b;
}
function proxyBits(s) {
  return { off: 0, v1: 1, v2: 2, auto: 3 }[s.proxy_protocol ?? 'off'] << 2;
}

let n = 0;
const write = (buf) => {
  fs.writeFileSync(path.join(out, crypto.createHash('sha1').update(buf).digest('hex').slice(0, 16)), buf);
  n++;
};
const corpus = path.join(here, '..', 'fixtures', 'http-corpus');
for (const f of ['valid.jsonl', 'invalid.jsonl']) {
  for (const line of fs.readFileSync(path.join(corpus, f), 'utf8').split('\n').filter(Boolean)) {
    const c = JSON.parse(line);
    const raw = Buffer.from(c.raw_b64, 'base64');
    const s = c.settings ?? {};
    const noEof = c.needs_eof ? 0 : 0x40;
    // whole; byte by byte; random pieces interleaved with another connection
    for (const delivery of [0x00, 0x01, 0x22]) {
      write(Buffer.concat([Buffer.from([configByte(s), delivery | proxyBits(s) | noEof]), raw]));
    }
  }
}
const reg = path.join(here, 'regressions');
if (fs.existsSync(reg)) {
  for (const f of fs.readdirSync(reg)) if (!f.endsWith('.md')) write(fs.readFileSync(path.join(reg, f)));
}
console.log(`${n} seeds in ${path.relative(process.cwd(), out) || out}`);
