// Autobahn|Testsuite's fuzzing-client cases, sections 1–7, 9 (plus limits as configured) and 12–13
// (permessage-deflate), as a case table run with the raw-socket client of test/helpers/ws-client.mjs. Each case is named by its Autobahn
// number and judged the way Autobahn's case.py judges it: the received events must match one of the expected
// lists (OK, or NON-STRICT where Autobahn allows it), and the close must be started by the expected endpoint,
// be clean where required (close frames both ways, then the server closes TCP itself), carry an expected code
// (or none), and not need the client to drop TCP. Written from Autobahn's case files
// (crossbario/autobahn-testsuite, autobahntestsuite/case/*.py); no code of theirs is copied.
//
// The server under test echoes every message (text as text, binary as binary) on any path. Which server is
// tested is the caller's business: `runCase(kase, { port, host, path })`; what may legitimately differ between
// servers (the message size limit, whether fail-fast UTF-8 is demanded strictly) is a `profile` passed to
// `autobahnCases(profile)`.
import crypto from 'node:crypto';
import zlib from 'node:zlib';

import { OP, b, connect, deflateOffer, encodeFrame, isUtf8, repeat } from './ws-client.mjs';

const KiB = 1024;
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Autobahn's latin-1 byte strings ('\xce\xba…') as bytes */
const bytes = (s) => Buffer.from(s, 'latin1');

// --- judging ---------------------------------------------------------------------------------------------------

function sameEvents(received, expected) {
  if (received.length !== expected.length) return false;
  return expected.every((e, i) => {
    const r = received[i];
    if (r.type !== e.type) return false;
    if (e.type === 'timeout') return r.label === e.label;
    if (e.type === 'message' && r.binary !== e.binary) return false;
    return r.data.equals(e.data);
  });
}

/**
 * Autobahn's verdict for one finished case: `behavior` (OK, NON-STRICT, INFORMATIONAL, FAILED, UNIMPLEMENTED)
 * and `behaviorClose` (OK, FAILED, UNCLEAN, WRONG CODE, FAILED BY CLIENT), plus `passed` under the profile.
 */
export function judge(kase, c, profile = {}) {
  let behavior = 'FAILED';
  let result = 'Actual events differ from any expected.';
  if (c.caseBehavior) {
    behavior = c.caseBehavior;
    result = c.caseResult ?? '';
  } else {
    for (const [name, list] of Object.entries(kase.expected)) {
      if (sameEvents(c.events, list)) {
        behavior = name;
        result = 'Actual events match at least one expected.';
        break;
      }
    }
  }
  const ex = kase.close;
  let behaviorClose;
  if (ex.closedByMe !== c.closedByMe) behaviorClose = 'FAILED';
  else if (ex.requireClean && !c.wasClean) behaviorClose = 'UNCLEAN';
  else if (c.remoteCloseCode !== null && !ex.codes.includes(c.remoteCloseCode)) behaviorClose = 'WRONG CODE';
  else if (c.droppedByMe) behaviorClose = 'FAILED BY CLIENT';
  else behaviorClose = 'OK';
  if (ex.wrongEndpointFatal && ex.closedByMe !== c.closedByMe) behavior = 'FAILED';
  // 7.x: a wrong close code fails the case itself
  if (kase.wrongCodeFails && behaviorClose === 'WRONG CODE') behavior = 'FAILED';
  if (kase.informational && behavior !== 'FAILED' && behaviorClose !== 'WRONG CODE') behavior = 'INFORMATIONAL';
  const accepted = strict(kase, profile) ? ['OK'] : ['OK', 'NON-STRICT', 'INFORMATIONAL'];
  const closeOk = ['OK', ...(kase.informational ? ['FAILED BY CLIENT', 'UNCLEAN'] : [])];
  const errors = [...c.protocolErrors];
  if (kase.check) errors.push(...kase.check(c));
  const passed = accepted.includes(behavior) && closeOk.includes(behaviorClose) && errors.length === 0;
  return {
    id: kase.id,
    passed,
    behavior,
    behaviorClose,
    result,
    errors,
    closedByMe: c.closedByMe,
    remoteCloseCode: c.remoteCloseCode,
    wasClean: c.wasClean,
    droppedByMe: c.droppedByMe,
    events: c.events.map((e) =>
      e.type === 'timeout' ? `timeout ${e.label}` : `${e.type}${e.binary ? ' binary' : ''} ${e.data.length} B`,
    ),
  };
}

function strict(kase, profile) {
  return (profile.strict ?? []).some((re) => re.test(kase.id));
}

/**
 * Runs one case against { port, host, path }: connects (with the case's extension offer), runs it, waits for
 * the connection to end (bounded: the case's `maxSeconds`, then the client drops TCP) and judges it.
 */
export async function runCase(kase, target, profile = {}) {
  const timeScale = profile.timeScale ?? 1;
  let c;
  try {
    c = await connect({ ...target, extensions: kase.offer, timeScale });
  } catch (e) {
    return { id: kase.id, passed: false, behavior: 'FAILED', behaviorClose: 'FAILED', result: e.message, errors: [] };
  }
  const ex = kase.close;
  // Autobahn's finishWhenDone: once the events match the expected ones, the client starts the close
  c.onEvent(() => {
    if (kase.custom || kase.suppressClose || !ex.closedByMe) return;
    if (Object.values(kase.expected).every((list) => sameEvents(c.events, list))) c.sendClose(ex.codes[0]);
  });
  c.after(kase.maxSeconds ?? 30, () => {
    c.caseResult = `case did not finish within ${kase.maxSeconds ?? 30} s`;
    c.drop();
  });
  try {
    await kase.run(c, profile);
  } catch (e) {
    if (!c.destroyed) c.protocolErrors.push(`case error: ${e.message}`);
  }
  await c.closed;
  return judge(kase, c, profile);
}

/** A result as one line: Autobahn's behavior / close, and the server's close code if it sent one. */
export const describeResult = (r) =>
  `${r.behavior} / close ${r.behaviorClose}${r.remoteCloseCode ? ` (server sent ${r.remoteCloseCode})` : ''}`;

/** Runs one case (runCase) as one assertion named by its Autobahn number; resolves the result. */
export async function checkCase(t, kase, target, profile) {
  const r = await runCase(kase, target, profile);
  t.ok(r.passed, `Autobahn ${kase.id}: ${kase.title}: ${describeResult(r)}`, r.passed ? {} : { result: r });
  return r;
}

/** Autobahn's sections as [subtest name, section number] */
export const SECTIONS = [
  ['1 framing', 1],
  ['2 pings and pongs', 2],
  ['3 reserved bits', 3],
  ['4 opcodes', 4],
  ['5 fragmentation', 5],
  ['6 UTF-8', 6],
  ['7 close handling', 7],
  ['9 limits and performance', 9],
  ['12 permessage-deflate, five kinds of data', 12],
  ['13 permessage-deflate, negotiated parameters', 13],
];

/**
 * Runs `cases` against 127.0.0.1:port (each case on the path /autobahn/<id>), a subtest per [name, section] of
 * `sections`; resolves the counts: cases, passed, and the ids judged NON-STRICT and INFORMATIONAL.
 */
export async function runSections(t, port, cases, sections, profile) {
  const counts = { cases: 0, passed: 0, nonStrict: [], informational: [] };
  for (const [name, section] of sections) {
    await t.test(name, async (t) => {
      for (const kase of cases.filter((k) => k.section === section)) {
        const r = await checkCase(t, kase, { port, path: `/autobahn/${kase.id}` }, profile);
        counts.cases++;
        if (r.passed) counts.passed++;
        if (r.behavior === 'NON-STRICT') counts.nonStrict.push(r.id);
        if (r.behavior === 'INFORMATIONAL') counts.informational.push(r.id);
      }
    });
  }
  return counts;
}

/** Autobahn 9.1.3 (a 1 MiB text message) against a server whose message limit is 1 MiB: it still echoes. */
export async function checkExactlyAtLimit(t, port, profile) {
  const fits = autobahnCases({ ...profile, maxMessageSize: 1024 * 1024 }).find((k) => k.id === '9.1.3');
  const r = await runCase(fits, { port }, profile);
  t.ok(
    r.passed,
    `Autobahn 9.1.3 (1 MiB, exactly the limit) echoes: ${describeResult(r)}`,
    r.passed ? {} : { result: r },
  );
}

// --- the case table --------------------------------------------------------------------------------------------

const msg = (data, binary = false) => ({ type: 'message', data: b(data), binary });
const pong = (data) => ({ type: 'pong', data: b(data) });
const timeout = (label) => ({ type: 'timeout', label });
const NORMAL = { closedByMe: true, codes: [1000], requireClean: true };
const failWith = (code, extra = {}) => ({ closedByMe: false, codes: [code], requireClean: false, ...extra });
/** Autobahn's continueLater(s, fn, label): if the connection is still open after s seconds, record the timeout */
async function pause(c, s, label) {
  await sleep(s * 1000);
  if (c.destroyed || c.closeReceived) return false;
  if (label) c.record(timeout(label));
  return true;
}

/** Autobahn's UTF-8 test sequences (case6_x_x.py's list, from Markus Kuhn's UTF-8 test file) as [valid, bytes] */
export function utf8Sequences() {
  const kosme = bytes('\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5');
  const groups = [];
  groups.push([
    [true, bytes('hello\x24world')],
    [true, bytes('hello\xC2\xA2world')],
    [true, bytes('hello\xE2\x82\xACworld')],
    [true, bytes('hello\xF0\xA4\xAD\xA2world')],
    [true, kosme],
  ]);
  // every prefix; valid when it ends on a code point
  groups.push(
    Array.from({ length: kosme.length }, (_, i) => [isUtf8(kosme.subarray(0, i + 1)), kosme.subarray(0, i + 1)]),
  );
  groups.push(
    [true, true, true, true].map((v, i) => [v, bytes(['\x00', '\xc2\x80', '\xe0\xa0\x80', '\xf0\x90\x80\x80'][i])]),
  );
  groups.push(['\xf8\x88\x80\x80\x80', '\xfc\x84\x80\x80\x80\x80'].map((s) => [false, bytes(s)]));
  groups.push(['\x7f', '\xdf\xbf', '\xef\xbf\xbf', '\xf4\x8f\xbf\xbf'].map((s) => [true, bytes(s)]));
  groups.push(['\xf7\xbf\xbf\xbf', '\xfb\xbf\xbf\xbf\xbf', '\xfd\xbf\xbf\xbf\xbf\xbf'].map((s) => [false, bytes(s)]));
  groups.push([
    [true, bytes('\xed\x9f\xbf')],
    [true, bytes('\xee\x80\x80')],
    [true, bytes('\xef\xbf\xbd')],
    [true, bytes('\xf4\x8f\xbf\xbf')],
    [false, bytes('\xf4\x90\x80\x80')],
  ]);
  const cont = [
    '\x80',
    '\xbf',
    '\x80\xbf',
    '\x80\xbf\x80',
    '\x80\xbf\x80\xbf',
    '\x80\xbf\x80\xbf\x80',
    '\x80\xbf\x80\xbf\x80\xbf',
  ];
  let all = '';
  for (let i = 0x80; i < 0xbf; i++) all += String.fromCharCode(i);
  groups.push([...cont, all].map((s) => [false, bytes(s)]));
  const lonely = [
    [0xc0, 0xdf],
    [0xe0, 0xef],
    [0xf0, 0xf7],
    [0xf8, 0xfb],
    [0xfc, 0xfd],
  ].map(([lo, hi]) => {
    let s = '';
    for (let i = lo; i < hi; i++) s += String.fromCharCode(i) + ' ';
    return [false, bytes(s)];
  });
  groups.push(lonely);
  const missing = [
    '\xc0',
    '\xe0\x80',
    '\xf0\x80\x80',
    '\xf8\x80\x80\x80',
    '\xfc\x80\x80\x80\x80',
    '\xdf',
    '\xef\xbf',
    '\xf7\xbf\xbf',
    '\xfb\xbf\xbf\xbf',
    '\xfd\xbf\xbf\xbf\xbf',
  ];
  groups.push(missing.map((s) => [false, bytes(s)]));
  groups.push([[false, bytes(missing.join(''))]]);
  groups.push(['\xfe', '\xff', '\xfe\xfe\xff\xff'].map((s) => [false, bytes(s)]));
  groups.push(
    ['\xc0\xaf', '\xe0\x80\xaf', '\xf0\x80\x80\xaf', '\xf8\x80\x80\x80\xaf', '\xfc\x80\x80\x80\x80\xaf'].map((s) => [
      false,
      bytes(s),
    ]),
  );
  groups.push(
    ['\xc1\xbf', '\xe0\x9f\xbf', '\xf0\x8f\xbf\xbf', '\xf8\x87\xbf\xbf\xbf', '\xfc\x83\xbf\xbf\xbf\xbf'].map((s) => [
      false,
      bytes(s),
    ]),
  );
  groups.push(
    ['\xc0\x80', '\xe0\x80\x80', '\xf0\x80\x80\x80', '\xf8\x80\x80\x80\x80', '\xfc\x80\x80\x80\x80\x80'].map((s) => [
      false,
      bytes(s),
    ]),
  );
  const sur = [
    '\xed\xa0\x80',
    '\xed\xad\xbf',
    '\xed\xae\x80',
    '\xed\xaf\xbf',
    '\xed\xb0\x80',
    '\xed\xbe\x80',
    '\xed\xbf\xbf',
  ];
  groups.push(sur.map((s) => [false, bytes(s)]));
  const hi = ['\xed\xa0\x80', '\xed\xad\xbf', '\xed\xae\x80', '\xed\xaf\xbf'];
  groups.push(hi.flatMap((h) => ['\xed\xb0\x80', '\xed\xbf\xbf'].map((l) => [false, bytes(h + l)])));
  const nonchar = [
    [true, bytes('\xef\xbf\xbe')],
    [true, bytes('\xef\xbf\xbf')],
  ];
  for (const z1 of ['\xf0', '\xf1', '\xf2', '\xf3', '\xf4']) {
    for (const z2 of ['\x8f', '\x9f', '\xaf', '\xbf']) {
      if (z1 === '\xf4' && z2 !== '\x8f') continue;
      for (const z3 of ['\xbe', '\xbf']) {
        const zz = z1 + z2 + '\xbf' + z3;
        if (zz !== '\xf0\x8f\xbf\xbe' && zz !== '\xf0\x8f\xbf\xbf') nonchar.push([true, bytes(zz)]);
      }
    }
  }
  groups.push(nonchar);
  groups.push(
    [
      '\xef\xbf\xb9',
      '\xef\xbf\xba',
      '\xef\xbf\xbb',
      '\xef\xbf\xbc',
      '\xef\xbf\xbd',
      '\xef\xbf\xbe',
      '\xef\xbf\xbf',
    ].map((s) => [true, bytes(s)]),
  );
  return groups;
}

// Section 12's five kinds of test data: Autobahn ships files (a JSON file, a bitmap, Goethe's Faust, an HTML
// file, a PDF); we generate comparable data deterministically instead of committing third-party files.
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}
const WORDS =
  'der die das und ist nicht ein eine zu mit sich auf dem den des von wie so auch was mir mich Faust Mephistopheles Gretchen Wagner Geist Welt Herz Nacht'.split(
    ' ',
  );
function makeTestData() {
  const r = lcg(12);
  const pick = (a) => a[r() % a.length];
  const json = [];
  for (let i = 0; json.join('').length < 300 * KiB; i++) {
    json.push(
      JSON.stringify({
        id: i,
        name: `${pick(WORDS)} ${pick(WORDS)}`,
        tags: [pick(WORDS), pick(WORDS)],
        score: (r() % 10000) / 100,
        ok: r() % 2 === 0,
        note: 'äöü ß € 𝄞',
      }),
    );
  }
  const bmp = Buffer.alloc(256 * KiB);
  for (let i = 0; i < bmp.length; i++) bmp[i] = (Math.floor(i / 512) * 3 + (i % 512) + (r() % 7)) & 0xff; // a noisy gradient
  let faust = '';
  while (faust.length < 200 * KiB) faust += `${Array.from({ length: 6 + (r() % 6) }, () => pick(WORDS)).join(' ')}.\n`;
  let html = '<!DOCTYPE html><html><head><title>t</title></head><body>\n';
  while (html.length < 200 * KiB)
    html += `<div class="${pick(WORDS)}"><p>${pick(WORDS)} ${pick(WORDS)} — ${r() % 1000}</p></div>\n`;
  const pdf = Buffer.alloc(300 * KiB);
  for (let i = 0; i < pdf.length; i++) pdf[i] = i % 1024 < 700 ? 0x20 + (r() % 90) : r() & 0xff; // text streams and binary streams
  return [
    { key: 'json', text: Buffer.from(json.join('\n')), binary: false },
    { key: 'bitmap', text: bmp, binary: true },
    { key: 'faust', text: Buffer.from(faust), binary: true },
    { key: 'html', text: Buffer.from(html), binary: false },
    { key: 'pdf', text: pdf, binary: true },
  ];
}

// (size, Autobahn's count, Autobahn's timeout, auto-fragment size)
const MSG_SIZES = [
  [16, 60, 0],
  [64, 60, 0],
  [256, 120, 0],
  [1024, 240, 0],
  [4096, 480, 0],
  [8192, 480, 0],
  [16384, 480, 0],
  [32768, 480, 0],
  [65536, 480, 0],
  [131072, 480, 0],
  [8192, 480, 256],
  [16384, 480, 256],
  [32768, 480, 256],
  [65536, 480, 256],
  [131072, 480, 256],
  [131072, 480, 1024],
  [131072, 480, 4096],
  [131072, 480, 32768],
];

/** A slice of `len` bytes of `data`, moving on from `ptr` (Autobahn's payloadRXPtr), on a UTF-8 boundary for text */
function nextSlice(td, state, len) {
  const d = td.text;
  let from = state.ptr % d.length;
  let out = Buffer.alloc(0);
  while (out.length < len) {
    const take = Math.min(len - out.length, d.length - from);
    out = Buffer.concat([out, d.subarray(from, from + take)]);
    from = (from + take) % d.length;
  }
  state.ptr = from;
  if (!td.binary) {
    // Autobahn slices characters; we slice bytes and keep the message valid UTF-8 by replacing broken edges
    out = Buffer.from(out.toString('utf8').replace(/\uFFFD/g, '?'), 'utf8').subarray(0, len);
    let k = out.length;
    while (k > 0 && !isUtf8(out.subarray(0, k))) k--;
    out = Buffer.concat([out.subarray(0, k), Buffer.alloc(len - k, '?')]);
  }
  return out;
}

/** Echo `count` messages of `len` bytes one at a time (sections 9.7/9.8, 12, 13) and set the case's verdict. */
async function echoLoop(c, count, makeMsg, { fragmentSize = 0, waitSeconds = 60 } = {}) {
  c.caseBehavior = 'FAILED';
  c.caseResult = `did not finish within ${waitSeconds} s`;
  for (let i = 0; i < count; i++) {
    const { data, binary } = makeMsg(i);
    const want = crypto.createHash('sha1').update(data).digest('hex');
    const got = c.next('message', waitSeconds * 1000);
    await c.sendMessage(data, { binary, fragmentSize });
    let m;
    try {
      m = await got;
    } catch (e) {
      c.caseResult = `message ${i}: ${e.message}`;
      return;
    }
    const sha = crypto.createHash('sha1').update(m.data).digest('hex');
    if (m.binary !== binary || m.data.length !== data.length || sha !== want) {
      c.caseResult = `message ${i}: echo differs (binary ${m.binary}/${binary}, ${m.data.length}/${data.length} B)`;
      c.sendClose(1000);
      return;
    }
  }
  c.caseBehavior = 'OK';
  c.caseResult = `all ${count} echoed`;
  c.sendClose(1000);
}

/** One big message echoed (section 9.1–9.6): verdict OK when it comes back with the right type and length. */
async function bigEcho(c, { binary, len, pattern, fragmentSize = 0, chop = 0, waitSeconds = 100 }) {
  c.caseBehavior = 'FAILED';
  c.caseResult = `no echo within ${waitSeconds} s`;
  const got = c.next('message', waitSeconds * 1000);
  const payload = repeat(pattern, len);
  if (fragmentSize) await c.sendMessage(payload, { binary, fragmentSize, compress: false });
  else await c.sendFrame({ opcode: binary ? OP.BINARY : OP.TEXT, payload, chop });
  try {
    const m = await got;
    if (m.binary !== binary) c.caseResult = `expected ${binary ? 'binary' : 'text'}, got the other`;
    else if (m.data.length !== len) c.caseResult = `expected ${len} B, got ${m.data.length}`;
    else if (!m.data.equals(payload)) c.caseResult = 'payload differs';
    else {
      c.caseBehavior = 'OK';
      c.caseResult = `echoed ${len} B`;
    }
  } catch (e) {
    c.caseResult = e.message;
  }
  c.sendClose(1000);
}

/**
 * The case table. `profile`:
 *   maxMessageSize   the server's configured message limit (section 9 echoes what fits, expects 1009 above)
 *   maxFragments     the server's limit on fragments per message, 0 for none (above it: close 1008)
 *   strict           regexps of case ids where only Autobahn's OK counts (not NON-STRICT)
 *   compressionCount messages per section 12/13 case (Autobahn sends 1,000: a performance figure; default 20)
 *   deflate          whether sections 12/13 are expected to negotiate permessage-deflate (default true)
 */
export function autobahnCases(profile = {}) {
  const maxMessage = profile.maxMessageSize ?? 16 * MiB;
  const maxFragments = profile.maxFragments ?? 0;
  const cases = [];
  const add = (id, title, k) => cases.push({ id, title, section: Number(id.split('.')[0]), ...k });

  // 1 Framing: text and binary of every length encoding
  const lens = [0, 125, 126, 127, 128, 65535, 65536];
  for (const [sub, binary, pattern] of [
    [1, false, '*'],
    [2, true, '\xfe'],
  ]) {
    const p = binary ? bytes(pattern) : pattern;
    lens.forEach((len, i) => {
      const data = repeat(p, len);
      add(`1.${sub}.${i + 1}`, `${binary ? 'binary' : 'text'} message of ${len} B`, {
        expected: { OK: [msg(data, binary)] },
        close: NORMAL,
        run: async (c) => {
          await c.sendFrame({ opcode: binary ? OP.BINARY : OP.TEXT, payload: data });
          c.killAfter(len > 128 ? 10 : 1); // Autobahn: 1 s up to 128 B, 10 s for the 64 KiB ones
        },
      });
    });
    const data = repeat(p, 65536);
    add(`1.${sub}.8`, `${binary ? 'binary' : 'text'} message of 65536 B in chops of 997 octets`, {
      expected: { OK: [msg(data, binary)] },
      close: NORMAL,
      run: async (c) => {
        c.killAfter(10);
        await c.sendFrame({ opcode: binary ? OP.BINARY : OP.TEXT, payload: data, chop: 997 });
      },
    });
  }

  // 2 Pings and pongs
  const pingCase = (id, title, payload, opts = {}) =>
    add(id, title, {
      expected: { OK: [pong(payload)] },
      close: NORMAL,
      run: async (c) => {
        await c.sendFrame({ opcode: OP.PING, payload, ...opts });
        c.closeAfter(opts.chop ? 2 : 1);
      },
    });
  pingCase('2.1', 'ping without payload', '');
  pingCase('2.2', 'ping with a small text payload', 'Hello, world!');
  pingCase('2.3', 'ping with a small binary payload', bytes('\x00\xff\xfe\xfd\xfc\xfb\x00\xff'));
  pingCase('2.4', 'ping with a 125-byte binary payload', repeat(bytes('\xfe'), 125));
  add('2.5', 'ping with a 126-byte payload', {
    expected: { OK: [] },
    close: failWith(1002),
    run: async (c) => {
      await c.sendFrame({ opcode: OP.PING, payload: repeat(bytes('\xfe'), 126) });
      c.killAfter(1);
    },
  });
  pingCase('2.6', 'ping with 125 bytes in octet-wise chops', repeat(bytes('\xfe'), 125), { chop: 1 });
  for (const [id, payload] of [
    ['2.7', ''],
    ['2.8', 'unsolicited pong payload'],
  ]) {
    add(id, `unsolicited pong ${payload ? 'with' : 'without'} payload, then close`, {
      expected: { OK: [] },
      close: NORMAL,
      run: async (c) => {
        await c.sendFrame({ opcode: OP.PONG, payload });
        c.sendClose(1000);
        c.closeAfter(1);
      },
    });
  }
  add('2.9', 'unsolicited pong, then ping', {
    expected: { OK: [pong('ping payload')] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.PONG, payload: 'unsolicited pong payload' });
      await c.sendFrame({ opcode: OP.PING, payload: 'ping payload' });
      c.closeAfter(1);
    },
  });
  for (const [id, chop] of [
    ['2.10', 0],
    ['2.11', 1],
  ]) {
    const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
    add(id, `10 pings${chop ? ' in octet-wise chops' : ''}`, {
      expected: { OK: payloads.map(pong) },
      close: NORMAL,
      run: async (c) => {
        for (const p of payloads) await c.sendFrame({ opcode: OP.PING, payload: p, chop });
        c.closeAfter(3);
      },
    });
  }

  // 3 Reserved bits
  const hello = 'Hello, world!';
  add('3.1', 'text with RSV = 1', {
    expected: { OK: [] },
    close: failWith(1002),
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, payload: hello, rsv: 1 });
      c.killAfter(1);
    },
  });
  for (const [id, rsv, mode] of [
    ['3.2', 2, {}],
    ['3.3', 3, { sync: true }],
    ['3.4', 4, { chop: 1 }],
  ]) {
    add(
      id,
      `text, then text with RSV = ${rsv}, then ping${mode.sync ? ' (frame-wise)' : mode.chop ? ' (octet-wise)' : ''}`,
      {
        expected: { OK: [msg(hello)], 'NON-STRICT': [] },
        close: failWith(1002),
        run: async (c) => {
          await c.sendFrame({ opcode: OP.TEXT, payload: hello, ...mode });
          await c.sendFrame({ opcode: OP.TEXT, payload: hello, rsv, ...mode });
          await c.sendFrame({ opcode: OP.PING, ...mode });
          c.killAfter(1);
        },
      },
    );
  }
  for (const [id, opcode, rsv, payload] of [
    ['3.5', OP.BINARY, 5, bytes('\x00\xff\xfe\xfd\xfc\xfb\x00\xff')],
    ['3.6', OP.PING, 6, hello],
    ['3.7', OP.CLOSE, 7, ''],
  ]) {
    add(id, `${['', '', 'binary', '', '', '', '', '', 'close', 'ping'][opcode]} with RSV = ${rsv}`, {
      expected: { OK: [] },
      close: failWith(1002),
      run: async (c) => {
        // a raw close frame: it does not count as our close (the server must fail the connection)
        const frame = encodeFrame({ opcode, payload, rsv });
        c.write(frame);
        c.killAfter(1);
      },
    });
  }

  // 4 Reserved opcodes
  for (const [sub, ops] of [
    [1, [3, 4, 5, 6, 7]],
    [2, [11, 12, 13, 14, 15]],
  ]) {
    ops.forEach((op, i) => {
      const id = `4.${sub}.${i + 1}`;
      if (i < 2) {
        add(id, `frame with reserved opcode ${op}${i === 1 ? ' and a payload' : ''}`, {
          expected: { OK: [] },
          close: failWith(1002),
          run: async (c) => {
            await c.sendFrame({ opcode: op, payload: i === 1 ? 'reserved opcode payload' : '' });
            c.killAfter(1);
          },
        });
      } else {
        const mode = i === 4 ? { chop: 1 } : {};
        add(id, `text, then reserved opcode ${op}, then ping${mode.chop ? ' (octet-wise)' : ''}`, {
          expected: { OK: [msg(hello)], 'NON-STRICT': [] },
          close: failWith(1002),
          run: async (c) => {
            await c.sendFrame({ opcode: OP.TEXT, payload: hello, ...mode });
            await c.sendFrame({ opcode: op, payload: i === 3 ? hello : '', ...mode });
            await c.sendFrame({ opcode: OP.PING, ...mode });
            c.killAfter(1);
          },
        });
      }
    });
  }

  // 5 Fragmentation
  for (const [id, op] of [
    ['5.1', OP.PING],
    ['5.2', OP.PONG],
  ]) {
    add(id, `${op === OP.PING ? 'ping' : 'pong'} fragmented into 2 frames`, {
      expected: { OK: [] },
      close: failWith(1002),
      run: async (c) => {
        await c.sendFrame({ opcode: op, fin: false, payload: 'fragment1' });
        await c.sendFrame({ opcode: OP.CONT, payload: 'fragment2' });
        c.killAfter(1);
      },
    });
  }
  const MODES = [{}, { sync: true }, { chop: 1 }];
  const modeName = (m) => (m.sync ? ' (frame-wise)' : m.chop ? ' (octet-wise)' : ' (one chop)');
  MODES.forEach((mode, i) => {
    add(`5.${3 + i}`, `text in 2 fragments${modeName(mode)}`, {
      expected: { OK: [msg('fragment1fragment2')] },
      close: NORMAL,
      run: async (c) => {
        await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1', ...mode });
        await c.sendFrame({ opcode: OP.CONT, payload: 'fragment2', ...mode });
        c.closeAfter(1);
      },
    });
  });
  MODES.forEach((mode, i) => {
    add(`5.${6 + i}`, `text in 2 fragments with a ping between${modeName(mode)}`, {
      expected: { OK: [pong('ping payload'), msg('fragment1fragment2')] },
      close: NORMAL,
      run: async (c) => {
        await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1', ...mode });
        await c.sendFrame({ opcode: OP.PING, payload: 'ping payload', ...mode });
        await c.sendFrame({ opcode: OP.CONT, payload: 'fragment2', ...mode });
        c.closeAfter(1);
      },
    });
  });
  for (const [base, fin] of [
    [9, true],
    [12, false],
  ]) {
    MODES.forEach((mode, i) => {
      add(`5.${base + i}`, `continuation (FIN = ${fin}) with nothing to continue, then text${modeName(mode)}`, {
        expected: { OK: [] },
        close: failWith(1002),
        run: async (c) => {
          await c.sendFrame({ opcode: OP.CONT, fin, payload: 'non-continuation payload', ...mode });
          await c.sendFrame({ opcode: OP.TEXT, payload: hello, ...mode });
          c.killAfter(1);
        },
      });
    });
  }
  add('5.15', '2 fragments, a stray continuation, then text', {
    expected: { OK: [msg('fragment1fragment2')], 'NON-STRICT': [] },
    close: failWith(1002),
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' });
      await c.sendFrame({ opcode: OP.CONT, payload: 'fragment2' });
      await c.sendFrame({ opcode: OP.CONT, fin: false, payload: 'fragment3' });
      await c.sendFrame({ opcode: OP.TEXT, payload: 'fragment4' });
      c.killAfter(1);
    },
  });
  for (const [id, fin] of [
    ['5.16', false],
    ['5.17', true],
  ]) {
    add(id, `twice: stray continuation (FIN = ${fin}), then fragmented text`, {
      expected: { OK: [] },
      close: failWith(1002),
      run: async (c) => {
        for (let i = 0; i < 2; i++) {
          await c.sendFrame({ opcode: OP.CONT, fin, payload: 'fragment1' });
          await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment2' });
          await c.sendFrame({ opcode: OP.CONT, payload: 'fragment3' });
        }
        c.killAfter(1);
      },
    });
  }
  add('5.18', 'text in 2 fragments, both with the text opcode', {
    expected: { OK: [] },
    close: failWith(1002),
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' });
      await c.sendFrame({ opcode: OP.TEXT, payload: 'fragment2' });
      c.killAfter(1);
    },
  });
  for (const [id, sync] of [
    ['5.19', false],
    ['5.20', true],
  ]) {
    const fr = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
    const pings = ['pongme 1!', 'pongme 2!'];
    add(id, `5 text fragments, pings after the 2nd and 4th, with a 1 s pause${sync ? ' (frame-wise)' : ''}`, {
      expected: { OK: [pong(pings[0]), pong(pings[1]), msg(fr.join(''))] },
      close: NORMAL,
      check: (c) => (c.pongBeforePart2 ? [] : ['no pong for the first ping before the last fragments were sent']),
      run: async (c) => {
        await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: fr[0], sync });
        await c.sendFrame({ opcode: OP.CONT, fin: false, payload: fr[1], sync });
        await c.sendFrame({ opcode: OP.PING, payload: pings[0], sync });
        await pause(c, 1);
        // the first pong must come before the last fragments are sent: a server that holds control frames
        // until the message ends never sends it (waited for generously, not timed)
        c.pongBeforePart2 =
          c.events.some((e) => e.type === 'pong') ||
          (await c.next('pong', 10000).then(
            () => true,
            () => false,
          ));
        await c.sendFrame({ opcode: OP.CONT, fin: false, payload: fr[2], sync });
        await c.sendFrame({ opcode: OP.CONT, fin: false, payload: fr[3], sync });
        await c.sendFrame({ opcode: OP.PING, payload: pings[1], sync });
        await c.sendFrame({ opcode: OP.CONT, payload: fr[4], sync });
        c.closeAfter(1);
      },
    });
  }

  // 6 UTF-8 handling
  add('6.1.1', 'empty text message', {
    expected: { OK: [msg('')] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, payload: '' });
      c.closeAfter(1);
    },
  });
  add('6.1.2', 'text in 3 empty fragments', {
    expected: { OK: [msg('')] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, fin: false });
      await c.sendFrame({ opcode: OP.CONT, fin: false });
      await c.sendFrame({ opcode: OP.CONT });
      c.closeAfter(1);
    },
  });
  add('6.1.3', 'text in 3 fragments: empty, middle, empty', {
    expected: { OK: [msg('middle frame payload')] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, fin: false });
      await c.sendFrame({ opcode: OP.CONT, fin: false, payload: 'middle frame payload' });
      await c.sendFrame({ opcode: OP.CONT });
      c.closeAfter(1);
    },
  });
  const hu = Buffer.from('Hello-µ@ßöäüàá-UTF-8!!');
  const kosme = bytes('\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5');
  const validUtf8 = [
    ['6.2.1', 'valid UTF-8 in one frame', hu, 0],
    ['6.2.2', 'valid UTF-8 in 2 fragments split on a code point', hu, -1],
    ['6.2.3', 'valid UTF-8 in 1-octet fragments', hu, 1],
    ['6.2.4', 'valid UTF-8 (κόσμε) in 1-octet fragments', kosme, 1],
  ];
  for (const [id, title, data, frag] of validUtf8) {
    add(id, title, {
      expected: { OK: [msg(data)] },
      close: NORMAL,
      run: async (c) => {
        if (frag === -1) {
          const cut = Buffer.from('Hello-µ@ßöä').length;
          await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: data.subarray(0, cut) });
          await c.sendFrame({ opcode: OP.CONT, payload: data.subarray(cut) });
        } else {
          await c.sendMessage(data, { fragmentSize: frag, compress: false });
        }
        c.closeAfter(1);
      },
    });
  }
  const bad631 = Buffer.concat([kosme, bytes('\xed\xa0\x80'), bytes('\x65\x64\x69\x74\x65\x64')]);
  const utf8Fail = failWith(1007, { wrongEndpointFatal: true });
  for (const [id, frag] of [
    ['6.3.1', 0],
    ['6.3.2', 1],
  ]) {
    add(id, `invalid UTF-8 text${frag ? ' in 1-octet fragments' : ''}`, {
      expected: { OK: [] },
      close: utf8Fail,
      run: async (c) => {
        await c.sendMessage(bad631, { fragmentSize: frag, compress: false });
        c.killAfter(1);
      },
    });
  }
  const p641 = [kosme, bytes('\xf4\x90\x80\x80'), bytes('\x65\x64\x69\x74\x65\x64')];
  const all641 = Buffer.concat(p641);
  const p642 = [all641.subarray(0, 12), all641.subarray(12, 13), all641.subarray(13)];
  for (const [id, parts, chops] of [
    ['6.4.1', p641, false],
    ['6.4.2', p642, false],
    ['6.4.3', p641, true],
    ['6.4.4', p642, true],
  ]) {
    add(id, `invalid UTF-8 in 3 ${chops ? 'chops of one frame' : 'fragments'}, 1 s apart: fail fast after the 2nd`, {
      expected: { OK: [timeout('A')], 'NON-STRICT': [timeout('A'), timeout('B')] },
      close: utf8Fail,
      run: async (c) => {
        if (!chops) {
          await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: parts[0], sync: true });
          if (!(await pause(c, 1, 'A'))) return;
          await c.sendFrame({ opcode: OP.CONT, fin: false, payload: parts[1], sync: true });
          if (!(await pause(c, 1, 'B'))) return;
          await c.sendFrame({ opcode: OP.CONT, payload: parts[2], sync: true });
        } else {
          const frame = encodeFrame({ opcode: OP.TEXT, payload: Buffer.concat(parts) });
          const hl = frame.length - Buffer.concat(parts).length;
          const cut1 = hl + parts[0].length;
          const cut2 = cut1 + parts[1].length;
          await c.writeNow(frame.subarray(0, cut1));
          if (!(await pause(c, 1, 'A'))) return;
          await c.writeNow(frame.subarray(cut1, cut2));
          if (!(await pause(c, 1, 'B'))) return;
          await c.writeNow(frame.subarray(cut2));
        }
        c.killAfter(1);
      },
    });
  }
  utf8Sequences().forEach((group, gi) => {
    group.forEach(([valid, data], i) => {
      add(`6.${5 + gi}.${i + 1}`, `${valid ? 'valid' : 'invalid'} UTF-8: ${data.toString('hex')}`, {
        expected: { OK: valid ? [msg(data)] : [] },
        close: valid ? NORMAL : utf8Fail,
        run: async (c) => {
          await c.sendMessage(data, { compress: false });
          c.killAfter(0.5);
        },
      });
    });
  });

  // 7 Close handling
  add('7.1.1', 'text, then close', {
    expected: { OK: [msg('Hello World!')] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, payload: 'Hello World!' });
      c.killAfter(1);
    },
  });
  const suppress = { suppressClose: true, wrongCodeFails: true };
  add('7.1.2', 'two closes', {
    ...suppress,
    expected: { OK: [] },
    close: NORMAL,
    run: async (c) => {
      c.sendClose(1000);
      c.write(encodeFrame({ opcode: OP.CLOSE }));
      c.killAfter(1);
    },
  });
  add('7.1.3', 'close, then ping: no pong', {
    ...suppress,
    expected: { OK: [] },
    close: NORMAL,
    run: async (c) => {
      c.sendClose(1000);
      c.write(encodeFrame({ opcode: OP.PING }));
      c.killAfter(1);
    },
  });
  add('7.1.4', 'close, then text: no echo', {
    ...suppress,
    expected: { OK: [] },
    close: NORMAL,
    run: async (c) => {
      c.sendClose(1000);
      c.write(encodeFrame({ opcode: OP.TEXT, payload: 'Hello World!' }));
      c.killAfter(1);
    },
  });
  add('7.1.5', 'fragment 1, close, fragment 2', {
    ...suppress,
    expected: { OK: [] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' });
      c.sendClose(1000);
      c.write(encodeFrame({ opcode: OP.CONT, payload: 'fragment2' }));
      c.killAfter(1);
    },
  });
  add('7.1.6', '256 KiB text, text, close, ping', {
    suppressClose: true,
    informational: true,
    expected: { OK: [msg(repeat('BAsd7&jh23', 256 * KiB)), msg('Hello World!')], 'NON-STRICT': [] },
    close: NORMAL,
    run: async (c) => {
      await c.sendFrame({ opcode: OP.TEXT, payload: 'BAsd7&jh23', payloadLen: 256 * KiB });
      await c.sendFrame({ opcode: OP.TEXT, payload: 'Hello World!' });
      c.sendClose(1000);
      c.write(encodeFrame({ opcode: OP.PING }));
      c.killAfter(1);
    },
  });
  const closeCase = (id, title, payloadFn, close, extra = {}) =>
    add(id, title, {
      ...suppress,
      expected: { OK: [] },
      close,
      ...extra,
      run: async (c) => {
        payloadFn(c);
        c.killAfter(1);
      },
    });
  closeCase('7.3.1', 'close without payload', (c) => c.sendCloseFrame(), NORMAL);
  closeCase('7.3.2', 'close with a 1-byte payload', (c) => c.sendCloseFrame(null, 'a'), {
    closedByMe: true,
    codes: [1002],
    requireClean: false,
  });
  closeCase('7.3.3', 'close 1000', (c) => c.sendClose(1000), NORMAL);
  closeCase('7.3.4', 'close 1000 with a reason', (c) => c.sendClose(1000, 'Hello World!'), NORMAL);
  closeCase('7.3.5', 'close 1000 with a 123-byte reason', (c) => c.sendClose(1000, '*'.repeat(123)), NORMAL);
  closeCase(
    '7.3.6',
    'close 1000 with a 124-byte reason (payload 126)',
    (c) => c.sendCloseFrame(1000, '*'.repeat(124)),
    {
      closedByMe: true,
      codes: [1002],
      requireClean: false,
    },
  );
  const badReason = bytes('\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64');
  closeCase('7.5.1', 'close 1000 with an invalid UTF-8 reason', (c) => c.sendCloseFrame(1000, badReason), {
    closedByMe: true,
    codes: [1002, 1007],
    requireClean: false,
  });
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].forEach((code, i) =>
    closeCase(`7.7.${i + 1}`, `close with valid code ${code}`, (c) => c.sendCloseFrame(code), {
      closedByMe: true,
      codes: [1000, code],
      requireClean: true,
    }),
  );
  [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].forEach((code, i) =>
    closeCase(`7.9.${i + 1}`, `close with invalid code ${code}`, (c) => c.sendCloseFrame(code), {
      closedByMe: true,
      codes: [1002],
      requireClean: false,
    }),
  );
  [5000, 65535].forEach((code, i) =>
    closeCase(
      `7.13.${i + 1}`,
      `close with code ${code} (undefined by the spec)`,
      (c) => c.sendCloseFrame(code),
      { closedByMe: true, codes: [1000, code, 1002], requireClean: false },
      { informational: true },
    ),
  );

  // 9 Limits/performance: big messages, fragmented and chopped, and 1,000 small round trips
  const big = (id, title, k) => add(id, title, { custom: true, expected: {}, close: NORMAL, maxSeconds: 120, ...k });
  const limitClose = { closedByMe: false, codes: [1009], requireClean: false };
  const sizes91 = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB];
  for (const [sub, binary] of [
    [1, false],
    [2, true],
  ]) {
    sizes91.forEach((len, i) => {
      const over = len > maxMessage;
      big(
        `9.${sub}.${i + 1}`,
        `${binary ? 'binary' : 'text'} message of ${len / KiB} KiB${over ? ' (above the limit: 1009)' : ''}`,
        {
          close: over ? limitClose : NORMAL,
          run: over
            ? (c) => tooBig(c, { binary, len })
            : (c) => bigEcho(c, { binary, len, pattern: binary ? bytes('\x00\xfe\x23\xfa\xf0') : 'BAsd7&jh23' }),
        },
      );
    });
  }
  const frags = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];
  for (const [sub, binary] of [
    [3, false],
    [4, true],
  ]) {
    frags.forEach((fragmentSize, i) => {
      const over = 4 * MiB > maxMessage;
      // a server may also limit the number of fragments per message (the `ws` library: maxFragments, 16,384
      // by default, close 1008): the profile says so, and the case then expects that close
      const fragOver = !over && maxFragments > 0 && Math.ceil((4 * MiB) / fragmentSize) > maxFragments;
      big(`9.${sub}.${i + 1}`, `4 MiB ${binary ? 'binary' : 'text'} message in fragments of ${fragmentSize} B`, {
        close: over ? limitClose : fragOver ? { ...limitClose, codes: [1008] } : NORMAL,
        run: over
          ? (c) => tooBig(c, { binary, len: 4 * MiB, fragmentSize })
          : fragOver
            ? (c) => tooBig(c, { binary, len: 4 * MiB, fragmentSize, code: 1008 })
            : (c) => bigEcho(c, { binary, len: 4 * MiB, pattern: binary ? bytes('\xfe') : '*', fragmentSize }),
      });
    });
  }
  const chops = [64, 128, 256, 512, 1024, 2048];
  for (const [sub, binary] of [
    [5, false],
    [6, true],
  ]) {
    chops.forEach((chop, i) => {
      big(`9.${sub}.${i + 1}`, `1 MiB ${binary ? 'binary' : 'text'} message in chops of ${chop} octets`, {
        close: MiB > maxMessage ? limitClose : NORMAL,
        run:
          MiB > maxMessage
            ? (c) => tooBig(c, { binary, len: MiB, chop })
            : (c) =>
                bigEcho(c, { binary, len: MiB, pattern: binary ? bytes('\x00\xfe\x23\xfa\xf0') : 'BAsd7&jh23', chop }),
      });
    });
  }
  const rtt = [0, 16, 64, 256, 1024, 4096];
  for (const [sub, binary] of [
    [7, false],
    [8, true],
  ]) {
    rtt.forEach((len, i) => {
      const data = repeat(binary ? bytes('\xfe') : '*', len);
      big(`9.${sub}.${i + 1}`, `1,000 ${binary ? 'binary' : 'text'} messages of ${len} B, one at a time`, {
        run: (c) => echoLoop(c, 1000, () => ({ data, binary }), { waitSeconds: 60 }),
      });
    });
  }

  // 12 and 13: permessage-deflate (Autobahn sends 1,000 messages per case; `compressionCount` of them here)
  const count = profile.compressionCount ?? 20;
  const testData = makeTestData();
  const deflateCase = (id, title, offer, td, [len, , fragmentSize], checkResponse) =>
    add(id, title, {
      custom: true,
      offer,
      expected: {},
      close: NORMAL,
      maxSeconds: 60,
      check: (c) => {
        if (!c.deflate) return [];
        return checkResponse ? checkResponse(c.deflate.params) : [];
      },
      run: async (c) => {
        if (!c.deflate) {
          c.caseBehavior = 'UNIMPLEMENTED';
          c.caseResult = 'permessage-deflate was not accepted';
          c.sendClose(1000);
          return;
        }
        const state = { ptr: 0 };
        await echoLoop(c, count, () => ({ data: nextSlice(td, state, len), binary: td.binary }), {
          fragmentSize,
          waitSeconds: 30,
        });
      },
    });
  testData.forEach((td, j) => {
    MSG_SIZES.forEach((s, i) =>
      deflateCase(
        `12.${j + 1}.${i + 1}`,
        `${count} compressed ${td.key} messages of ${s[0]} B${s[2] ? `, fragmented to ${s[2]}` : ''}`,
        deflateOffer(),
        td,
        s,
      ),
    );
  });
  // Autobahn's DEFLATE_PARAMS: the client's offers, and what the response must then contain (RFC 7692 §7.1)
  const responseMust = (nct, bits) => (p) => {
    const errs = [];
    if (nct && !p.server_no_context_takeover) errs.push('offered server_no_context_takeover, not in the response');
    if (bits && !(Number(p.server_max_window_bits) <= bits))
      errs.push(`offered server_max_window_bits=${bits}, response has ${p.server_max_window_bits}`);
    return errs;
  };
  const params13 = [
    [[deflateOffer()], responseMust(false, 0)],
    [[deflateOffer({ serverNoContextTakeover: true })], responseMust(true, 0)],
    [[deflateOffer({ serverMaxWindowBits: 9 })], responseMust(false, 9)],
    [[deflateOffer({ serverMaxWindowBits: 15 })], responseMust(false, 15)],
    [[deflateOffer({ serverNoContextTakeover: true, serverMaxWindowBits: 9 })], responseMust(true, 9)],
    [[deflateOffer({ serverNoContextTakeover: true, serverMaxWindowBits: 15 })], responseMust(true, 15)],
    [
      [
        deflateOffer({ serverNoContextTakeover: true, serverMaxWindowBits: 9 }),
        deflateOffer({ serverNoContextTakeover: true }),
        deflateOffer(),
      ],
      // the first offer the server can take is the first one
      responseMust(true, 9),
    ],
  ];
  params13.forEach(([offers, checkResponse], j) => {
    MSG_SIZES.forEach((s, i) =>
      deflateCase(
        `13.${j + 1}.${i + 1}`,
        `${count} compressed JSON messages of ${s[0]} B${s[2] ? `, fragmented to ${s[2]}` : ''}; offer ${offers.join(', ')}`,
        offers.join(', '),
        testData[0],
        s,
        checkResponse,
      ),
    );
  });
  return cases;
}

/**
 * A message above the limit: sends its first part, then expects close 1009 before the rest is sent (the limit
 * is checked on the frame header, or on the fragments so far). The case records 'sent-all' if it had to send
 * everything, which fails it.
 */
async function tooBig(c, { binary, len, fragmentSize = 0, chop = 0, code = 1009 }) {
  c.caseBehavior = 'FAILED';
  c.caseResult = `no close ${code} before the whole message was sent`;
  const payload = repeat(binary ? bytes('\xfe') : '*', len);
  const opcode = binary ? OP.BINARY : OP.TEXT;
  let wire;
  if (fragmentSize) {
    const parts = [];
    for (let i = 0; i < len; i += fragmentSize) {
      parts.push(
        encodeFrame({
          opcode: i === 0 ? opcode : OP.CONT,
          payload: payload.subarray(i, i + fragmentSize),
          fin: i + fragmentSize >= len,
        }),
      );
    }
    wire = Buffer.concat(parts);
  } else {
    wire = encodeFrame({ opcode, payload });
  }
  const step = Math.max(chop, 64 * KiB);
  for (let off = 0; off < wire.length; off += step) {
    if (c.closeReceived || c.destroyed) break;
    if (chop) {
      for (let i = off; i < Math.min(off + step, wire.length) && !c.destroyed; i += chop)
        await c.writeNow(wire.subarray(i, i + chop));
    } else await c.writeNow(wire.subarray(off, off + step));
    await sleep(5);
  }
  await sleep(500);
  if (c.closeReceived && c.remoteCloseCode === code) {
    c.caseBehavior = 'OK';
    c.caseResult = `close ${code}`;
  }
  if (!c.closeReceived) c.killAfter(2);
}

/**
 * Section 9 with the limits as configured (our own cases, named after the Autobahn case they vary): with a
 * server limit of `limit` bytes, 9.1.4 (4 MiB text), 9.3.1 (4 MiB in 64-byte fragments) and a compressed
 * bomb (16 MiB of zeros in ~16 KiB of deflate) must each get close 1009 before the whole message has arrived.
 */
export function limitCases(limit) {
  const cases = [];
  const close = { closedByMe: false, codes: [1009], requireClean: false };
  const base = { custom: true, expected: {}, close, maxSeconds: 60 };
  cases.push({
    id: `9.1.4 (limit ${limit} B)`,
    title: `4 MiB text with a ${limit}-byte limit: 1009 on the header`,
    ...base,
    run: (c) => tooBig(c, { binary: false, len: 4 * MiB }),
    // the limit is on the frame header: the close comes before the payload is through
  });
  cases.push({
    id: `9.3.1 (limit ${limit} B)`,
    title: `4 MiB text in 64-byte fragments with a ${limit}-byte limit: 1009 at the fragment that crosses it`,
    ...base,
    run: (c) => tooBig(c, { binary: false, len: 4 * MiB, fragmentSize: 64 }),
  });
  cases.push({
    id: `12.x bomb (limit ${limit} B)`,
    title: `a compressed message that inflates to 16 MiB with a ${limit}-byte limit: 1009`,
    ...base,
    offer: deflateOffer(),
    run: async (c) => {
      c.caseBehavior = 'FAILED';
      if (!c.deflate) {
        c.caseResult = 'permessage-deflate was not accepted';
        c.sendClose(1000);
        return;
      }
      const flushed = zlib.deflateRawSync(Buffer.alloc(16 * MiB), {
        level: 9,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      const bomb = flushed.subarray(0, flushed.length - 4); // without the 00 00 ff ff tail
      c.caseResult = `no close 1009 for a ${bomb.length}-byte bomb`;
      await c.sendFrame({ opcode: OP.BINARY, payload: bomb, rsv: 4 });
      try {
        await c.next('never', 5000);
      } catch {
        /* closed or timed out */
      }
      if (c.remoteCloseCode === 1009 && !c.events.some((e) => e.type === 'message')) {
        c.caseBehavior = 'OK';
        c.caseResult = 'close 1009';
      }
      if (!c.closeReceived) c.killAfter(1);
    },
  });
  return cases;
}
