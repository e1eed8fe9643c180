#!/usr/bin/env node
// Differential fuzz: gunicorn-ts serve() against Node's own llhttp (node:http,
// insecureHTTPParser: false). Random and mutated requests (generated, and from
// Gunicorn's corpus) are written to both servers over 127.0.0.1 on one
// connection each; both run an echo application that reads the whole body.
// They must agree on where each message ends: the requests answered, with the
// same method, target and body, in order. When they differ, ours must be the
// one that rejects (answers an error where node still answers the request).
//
//   node test/native/differential.mjs [--seconds N] [--seed S] [--concurrency C] [--verbose]
//
// Exit status 1 when a disagreement is not explained by a listed, justified
// difference between Gunicorn's rules and llhttp's (see JUSTIFIED below).
// Needs the TypeScript built (dist/) and an addon (build/Release, or
// GUNICORN_TS_NATIVE=path). Not part of `npm test` (random, time-bounded).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { serve } from '../../dist/index.js';
import { exchange } from '../helpers/client.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(opt('seconds', 30));
const SEED = Number(opt('seed', Date.now() % 1e9));
const CONCURRENCY = Number(opt('concurrency', 16));
const VERBOSE = args.includes('--verbose');

// ---- deterministic PRNG ---------------------------------------------------
let rs = SEED >>> 0 || 1;
const rnd = () => {
  rs ^= rs << 13;
  rs >>>= 0;
  rs ^= rs >>> 17;
  rs ^= rs << 5;
  rs >>>= 0;
  return rs / 4294967296;
};
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const chance = (p) => rnd() < p;

// ---- generator --------------------------------------------------------------
// (no HEAD: its answers carry a Content-Length but no body, which a byte-level
// response reader cannot frame without knowing which request was HEAD)
const METHODS = [
  'GET',
  'GET',
  'GET',
  'POST',
  'POST',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'FOO',
  'get',
  'M-SEARCH',
  'G',
  'PROPFIND',
];
const TARGETS = [
  '/',
  '/a/b?c=d',
  '/x#frag',
  '/%20/%zz',
  '*',
  'http://h/p?q',
  'h:80',
  '/a b',
  '/é',
  '/{}',
  '/\x7f',
  '//x',
  '/?',
  '/a|b',
  '/"q"',
];
const VERSIONS = [
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/1.2',
  'HTTP/2.0',
  'HTTP/0.9',
  'http/1.1',
  'HTTP/1.01',
  'HTTP/1',
];
const SP = () => pick(['', '', '', ' ', '  ', '\t', ' \t']);
const CASE = (s) =>
  chance(0.3)
    ? s
        .split('')
        .map((c) => (chance(0.5) ? c.toUpperCase() : c.toLowerCase()))
        .join('')
    : s;
const TE_VALUES = [
  'chunked',
  'chunked',
  'chunked',
  'identity',
  'gzip, chunked',
  'chunked, identity',
  'identity, chunked',
  'chunked,',
  ',chunked',
  'chunked, chunked',
  'xchunked',
  'chunked\x0b',
  '"chunked"',
  'deflate',
  'gzip',
];
const CL_VALUES = (n) => [
  String(n),
  String(n),
  `0${n}`,
  `+${n}`,
  `${n}, ${n}`,
  ` ${n} `,
  `${n}\t`,
  `-1`,
  `${n}x`,
  '1'.repeat(25),
  `0x${n.toString(16)}`,
];
const NAMES = [
  'Host',
  'Accept',
  'X-A',
  'Cookie',
  'User-Agent',
  'X_Under',
  'Content-Type',
  'Expect',
  'Connection',
  'Trailer',
  'Upgrade',
];

function header(name, value) {
  let line = `${name}${chance(0.05) ? pick([' ', '\t']) : ''}:${SP() || ' '}${value}${SP()}`;
  const eol = chance(0.04) ? pick(['\n', '\r', '\r\r\n']) : '\r\n';
  if (chance(0.03)) line += `\r\n${pick([' ', '\t'])}folded`;
  return line + eol;
}

function chunkedBody(data) {
  let s = '';
  let i = 0;
  while (i < data.length) {
    const n = Math.min(data.length - i, 1 + ri(12));
    let size = n.toString(16);
    if (chance(0.05))
      size = pick([
        `0${size}`,
        size.toUpperCase(),
        `${size} `,
        `+${size}`,
        `${size};x=y`,
        `${size} ;x`,
        `${size};x="a b"`,
        `${size}\t;x`,
        ` ${size}`,
        `0x${size}`,
      ]);
    s += `${size}${chance(0.02) ? '\n' : '\r\n'}${data.slice(i, i + n)}${chance(0.03) ? pick(['', '\n', 'XX', '\r']) : '\r\n'}`;
    i += n;
  }
  s += pick(['0\r\n', '0\r\n', '0\r\n', '000\r\n', '0;e=1\r\n', '0\n']);
  if (chance(0.2)) s += pick(['X-T: 1\r\n', 'Content-Length: 5\r\n', 'X-T:1\r\n\r\nGET /smuggled HTTP/1.1\r\n']);
  s += chance(0.95) ? '\r\n' : '';
  return s;
}

function request() {
  const method = pick(METHODS);
  const target = pick(TARGETS);
  const version = pick(VERSIONS);
  let s = `${method} ${target} ${version}${chance(0.03) ? '\n' : '\r\n'}`;
  if (chance(0.02)) s = `${method}  ${target} ${version}\r\n`;
  const hs = [];
  if (chance(0.9)) hs.push(['Host', pick(['example', 'a.b:80', '', '[::1]'])]);
  const nextra = ri(4);
  for (let i = 0; i < nextra; i++) {
    const name = pick(NAMES);
    let value = pick(['1', 'close', 'keep-alive', '100-continue', 'a, b', 'x\x01y', 'é', 'text/plain', 'v\x0bw', '']);
    if (name === 'Connection') value = pick(['close', 'keep-alive', 'upgrade', 'Keep-Alive, x']);
    hs.push([name, value]);
  }
  const data = 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, ri(37));
  const framing = pick(['none', 'cl', 'cl', 'te', 'te', 'both', 'te2', 'cl2']);
  let body = '';
  if (framing === 'cl' || framing === 'both' || framing === 'cl2') {
    const clv = chance(0.8) ? String(data.length) : pick(CL_VALUES(data.length));
    hs.push([CASE('Content-Length'), clv]);
    if (framing === 'cl2') hs.push([CASE('Content-Length'), pick([clv, String(data.length + 1)])]);
    body = data;
  }
  if (framing === 'te' || framing === 'both' || framing === 'te2') {
    const tev = pick(TE_VALUES);
    hs.push([CASE('Transfer-Encoding'), tev]);
    if (framing === 'te2') hs.push([CASE('Transfer-Encoding'), pick(['chunked', 'identity'])]);
    body = /chunked/i.test(tev) || chance(0.3) ? chunkedBody(data) : data;
  }
  for (let i = hs.length - 1; i > 0; i--) {
    const j = ri(i + 1);
    [hs[i], hs[j]] = [hs[j], hs[i]];
  }
  for (const [n, v] of hs) s += header(n, v);
  s += chance(0.02) ? '\n' : '\r\n';
  return s + body;
}

const corpus = (() => {
  const dir = path.join(import.meta.dirname, '..', 'fixtures', 'http-corpus');
  return ['valid.jsonl', 'invalid.jsonl']
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    )
    .filter((c) => Object.keys(c.settings ?? {}).length === 0)
    .map((c) => Buffer.from(c.raw_b64, 'base64').toString('latin1'));
})();

const INSERTS = [
  '\r',
  '\n',
  '\r\n',
  ' ',
  '\t',
  '\0',
  ':',
  ',',
  ';',
  '0',
  'chunked',
  '\x0b',
  '\x7f',
  'Content-Length: 3\r\n',
  'Transfer-Encoding: chunked\r\n',
  '\r\n\r\n',
];
function mutate(s) {
  const k = 1 + ri(3);
  for (let m = 0; m < k; m++) {
    const i = ri(s.length + 1);
    switch (ri(6)) {
      case 0:
        s = s.slice(0, i) + pick(INSERTS) + s.slice(i);
        break;
      case 1:
        s = s.slice(0, i) + s.slice(i + 1 + ri(3));
        break;
      case 2:
        s = s.slice(0, i) + String.fromCharCode(ri(256)) + s.slice(i + 1);
        break;
      case 3: {
        // duplicate a line
        const lines = s.split('\r\n');
        const j = ri(lines.length);
        lines.splice(j, 0, lines[j]);
        s = lines.join('\r\n');
        break;
      }
      case 4:
        s = s.slice(0, i) + s.slice(i, i + 8).toUpperCase() + s.slice(i + 8);
        break;
      default:
        s = s.slice(0, i) + s.slice(i).replace(/\r\n/, pick(['\n', '\r', '\r\r\n', '\r\n ']));
        break;
    }
  }
  return s;
}

function genCase() {
  const r = rnd();
  let parts;
  if (r < 0.45) parts = [request()];
  else if (r < 0.7) parts = Array.from({ length: 2 + ri(2) }, () => request());
  else if (r < 0.85) parts = [mutate(request()), ...(chance(0.5) ? [request()] : [])];
  else parts = [mutate(pick(corpus))];
  // a well-formed request last: shows whether the previous message ended where we think
  if (chance(0.5)) parts.push('GET /last HTTP/1.1\r\nHost: x\r\n\r\n');
  return { raw: Buffer.from(parts.join(''), 'latin1'), n: parts.length };
}

// ---- the two servers ---------------------------------------------------------
function echo(method, url, body) {
  return JSON.stringify({ m: method, u: Buffer.from(url, 'latin1').toString('base64'), b: body.toString('base64') });
}

async function startNode() {
  const srv = http.createServer(
    { insecureHTTPParser: false, requireHostHeader: false, keepAliveTimeout: 5000 },
    (req, res) => {
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => {
        const body = echo(req.method, req.url, Buffer.concat(parts));
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      });
      req.on('error', () => {});
    },
  );
  // say why node refused (the error code is the body)
  // (after a pause: node reports a parse error at once, while the answers to the
  // requests pipelined before it are still being written by the application)
  srv.on('clientError', (err, sock) => {
    setTimeout(() => {
      if (!sock.writable) return sock.destroy();
      const b = String(err.code ?? err.message);
      sock.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    }, 30);
  });
  // Upgrade/CONNECT: node hands the socket to the application; answer like a refusal.
  const handOff = (req, sock) =>
    sock.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 7\r\n\r\nUPGRADE');
  srv.on('upgrade', handOff);
  srv.on('connect', handOff);
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(r);
      }),
  };
}

async function startOurs() {
  const app = async (environ, start_response) => {
    const body = await environ['wsgi.input'].read();
    start_response('200 OK', [['Content-Type', 'application/json']]);
    return [echo(environ.REQUEST_METHOD, environ.RAW_URI, body)];
  };
  const srv = await serve(app, { bind: '127.0.0.1:0', errorlog: process.env.GTS_DIFF_LOG ?? '/dev/null' });
  return { port: srv.addresses[0].port, close: () => srv.close() };
}

// ---- comparison ---------------------------------------------------------------
function summarise(r) {
  const out = [];
  for (const resp of r.responses) {
    if (resp.status < 200) continue;
    let j = null;
    try {
      j = JSON.parse(resp.body.toString('latin1'));
    } catch {
      /* not an echo */
    }
    if (resp.status === 200 && j && 'm' in j)
      out.push({
        ok: true,
        m: j.m,
        u: Buffer.from(j.u, 'base64').toString('latin1'),
        b: Buffer.from(j.b, 'base64').toString('latin1'),
      });
    else {
      const body = resp.body.toString('latin1');
      const detail = /<\/h1>\s*([^\n]*)\n/.exec(body); // our error page carries the parser's reason
      out.push({ ok: false, status: resp.status, why: detail ? detail[1].trim() : body.slice(0, 60) });
    }
  }
  return out;
}

const sameReq = (a, b) => a.ok && b.ok && a.m === b.m && a.u === b.u && a.b === b.b;
const isNodeMethod = (m) => http.METHODS.includes(m);

// Differences that follow from Gunicorn's rules (which gunicorn-ts implements on
// purpose) rather than from a framing disagreement. Each returns a reason or null.
const JUSTIFIED = [
  (o, n) =>
    o.ok && !n.ok && n.why === 'HPE_INVALID_METHOD' && !isNodeMethod(o.m)
      ? 'method: Gunicorn accepts any upper-case token of 3-20 chars; llhttp only its fixed method table'
      : null,
  (o, n, raw) =>
    o.ok &&
    !n.ok &&
    /HPE_INVALID_TRANSFER_ENCODING|HPE_UNEXPECTED_CONTENT_LENGTH|HPE_INVALID_CONTENT_LENGTH/.test(n.why) &&
    /transfer-encoding:[ \t]*identity[ \t]*\r\n/i.test(raw)
      ? 'Transfer-Encoding: identity: Gunicorn ignores the identity coding and frames by Content-Length; llhttp strict rejects a non-chunked TE'
      : null,
  (o, n, raw) =>
    o.ok && !n.ok && n.why === 'HPE_INVALID_VERSION' && / HTTP\/1\.[2-9]\r\n/.test(raw)
      ? 'version: Gunicorn serves HTTP/1.2-1.9 as HTTP/1.1 (RFC 9110 §2.5); llhttp strict only knows 0.9/1.0/1.1/2.0'
      : null,
  (o, n) =>
    o.ok && !n.ok && n.why === 'HPE_INVALID_URL'
      ? 'request target: Gunicorn accepts any non-CTL, non-SP byte (and authority-form targets); llhttp strict limits URL characters'
      : null,
  (o, n) =>
    o.ok && !n.ok && n.why === 'HPE_INVALID_HEADER_TOKEN'
      ? 'field value: Gunicorn allows obs-text/VCHAR that llhttp strict refuses in some values'
      : null,
  (o, n, raw) =>
    o.ok && !n.ok && n.why === 'HPE_INVALID_TRANSFER_ENCODING' && /transfer-encoding:[^\r\n]*\t\r\n/i.test(raw)
      ? 'Transfer-Encoding with trailing HTAB: OWS around a field value is not part of it (RFC 9110 §5.5, Gunicorn strips it); llhttp 9 rejects a trailing HTAB after chunked'
      : null,
  (o, n, raw) =>
    o.ok &&
    !n.ok &&
    /HPE_STRICT|HPE_INVALID_CHUNK_SIZE/.test(n.why) &&
    /\r\n[0-9a-fA-F]+([ \t]+;|[ \t]*;[^\r\n]*[ \t])/.test(raw)
      ? 'chunk extension with BWS ("5 ;x", "5; name=v"): allowed by RFC 9112 §7.1.1 and Gunicorn; llhttp strict refuses whitespace there'
      : null,
  (o, n) =>
    o.ok && !n.ok && n.why === 'HPE_HEADER_OVERFLOW'
      ? 'head size: Gunicorn limits each field line (8190) and the field count (100); node limits the whole head (16 KiB)'
      : null,
  (o, n) =>
    o.ok && !n.ok && n.status === 501 && n.why === 'UPGRADE'
      ? 'Upgrade/CONNECT: node hands the connection to an upgrade handler; gunicorn-ts serves it as a plain request'
      : null,
];

function compare(raw, ours, node) {
  // ours must be a prefix of node's accepted requests, then possibly an error
  for (let i = 0; i < ours.length; i++) {
    const o = ours[i];
    const n = node[i];
    if (!o.ok) {
      // ours rejected here: fine whatever node did; counted for review
      if (n && n.ok) return { kind: 'ours-stricter', why: `${o.status} ${o.why}`, at: i, o, n };
      return null;
    }
    if (n && sameReq(o, n)) continue;
    if (!n) return { kind: 'ours-accepts-more', at: i, o, n: null };
    if (!n.ok) {
      for (const j of JUSTIFIED) {
        const why = j(o, n, raw.toString('latin1'));
        if (why) return { kind: 'justified', why, at: i, o, n };
      }
      return { kind: 'node-rejects-ours-accepts', at: i, o, n };
    }
    return { kind: 'different-message', at: i, o, n };
  }
  return null;
}

// ---- main ----------------------------------------------------------------------
const nodeSrv = await startNode();
const ours = await startOurs();
const deadline = Date.now() + SECONDS * 1000;
let cases = 0;
let unreadable = 0;
const justified = new Map();
const stricter = new Map(); // ours rejects where node accepted: allowed, listed for review
const bad = [];
const outDir = path.join(import.meta.dirname, 'build', 'differential');

async function one() {
  const { raw, n } = genCase();
  const o = { expect: n, settleMs: 40, timeoutMs: 600 };
  let a, b;
  try {
    [a, b] = await Promise.all([exchange(ours.port, raw, o), exchange(nodeSrv.port, raw, o)]);
  } catch {
    unreadable++; // e.g. a mutated HEAD request: its answer cannot be framed by bytes alone
    return;
  }
  cases++;
  const d = compare(raw, summarise(a), summarise(b));
  if (!d) return;
  if (d.kind === 'ours-stricter') {
    const e = stricter.get(d.why) ?? { count: 0, example: raw };
    e.count++;
    stricter.set(d.why, e);
    return;
  }
  if (d.kind === 'justified') {
    const e = justified.get(d.why) ?? { count: 0, example: raw };
    e.count++;
    justified.set(d.why, e);
    return;
  }
  bad.push({ ...d, raw });
  if (VERBOSE || bad.length <= 20) {
    console.log(
      `DISAGREEMENT ${d.kind} at request ${d.at}: ours ${JSON.stringify(d.o)} node ${JSON.stringify(d.n)}\n  input ${JSON.stringify(raw.toString('latin1'))}`,
    );
  }
}

await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) await one();
  }),
);
await ours.close();
await nodeSrv.close();

console.log(
  `differential: ${cases} cases in ${SECONDS}s (seed ${SEED}), ${bad.length} unexplained disagreement(s), ${unreadable} skipped (responses not framable)`,
);
for (const [why, e] of justified)
  console.log(
    `  justified x${e.count}: ${why}\n    e.g. ${JSON.stringify(e.example.toString('latin1').slice(0, 160))}`,
  );
for (const [why, e] of [...stricter].sort((a, b) => b[1].count - a[1].count)) {
  console.log(
    `  ours stricter x${e.count}: ${why}\n    e.g. ${JSON.stringify(e.example.toString('latin1').slice(0, 160))}`,
  );
}
if (bad.length) {
  fs.mkdirSync(outDir, { recursive: true });
  for (const d of bad) {
    const f = path.join(outDir, `${d.kind}-${crypto.createHash('sha1').update(d.raw).digest('hex').slice(0, 12)}.http`);
    fs.writeFileSync(f, d.raw);
  }
  console.log(`  inputs written to ${path.relative(process.cwd(), outDir)}/`);
  process.exitCode = 1;
}
