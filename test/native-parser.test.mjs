// The pure C++ request parser on its own (no N-API, no sockets): builds
// test/native/build/unit/parser_test with g++ (scripts/unit.sh) and
//  * replays every fuzz regression in test/native/regressions/ under every
//    split mode (whole, byte by byte, random and fixed pieces, interleaved with
//    another connection's parser), with the harness's invariants
//    (test/native/parser_harness.h);
//  * replays Gunicorn's request corpus (test/fixtures/http-corpus) the same way,
//    checking that every delivery agrees and that the parser's view matches the
//    corpus: method, target, path, query, version, header list, body, or the
//    expected error status.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const sources = ['test/native/parser_test.cc', 'test/native/parser_harness.h'].concat(
  ['request_parser', 'chunked_decoder', 'proxy_protocol', 'environ'].map((n) => `native/src/${n}.cc`),
);
const build = spawnSync('bash', [path.join(root, 'scripts/unit.sh'), 'parser_test', ...sources], {
  cwd: root,
  encoding: 'utf8',
});
if (build.status !== 0) {
  t.fail(`building the unit driver failed:\n${build.stderr}`);
  process.exit(1);
}
const bin = path.join(root, build.stdout.trim());
const env = {
  ...process.env,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
delete env.LD_PRELOAD; // the driver links its own sanitizer runtimes

// What each regression must end with (test/native/regressions/README.md).
const REGRESSION_OUTCOME = {
  'split-limit-vs-bare-cr.bin': '0 request(s), end GTS_ERR_LIMIT_REQUEST_LINE',
  'split-field-limit-vs-bare-cr.bin': '0 request(s), end GTS_ERR_LIMIT_REQUEST_HEADERS',
  'chunk-size-endless-bws.bin': '1 request(s), end GTS_ERR_INVALID_CHUNK_SIZE',
};

t.test('fuzz regressions replay cleanly under every split', (t) => {
  const dir = path.join(root, 'test/native/regressions');
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => !f.startsWith('.') && !f.endsWith('.md'))
        .sort()
    : [];
  if (files.length === 0) return t.end();
  const r = spawnSync(bin, ['replay', ...files.map((f) => path.join(dir, f))], { encoding: 'utf8', env });
  t.equal(r.status, 0, `parser_test replay exits 0\n${r.stderr}`);
  for (const f of files) {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`ok ${path.join(dir, f)}:`));
    t.ok(line, `${f} replayed`);
    if (REGRESSION_OUTCOME[f] && line)
      t.equal(line.slice(line.indexOf(': ') + 2), REGRESSION_OUTCOME[f], `${f}: outcome`);
  }
  t.end();
});

t.test('corpus through the pure parser', (t) => {
  const dir = path.join(root, 'test/fixtures/http-corpus');
  const cases = ['valid.jsonl', 'invalid.jsonl'].flatMap((f) =>
    fs
      .readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
  const input = cases
    .map((c) => {
      const s = Object.entries(c.settings ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return `${s}\t${Buffer.from(c.raw_b64, 'base64').toString('hex')}\t${c.needs_eof ? 1 : 0}\n`;
    })
    .join('');
  const r = spawnSync(bin, ['corpus'], { input, encoding: 'utf8', env, maxBuffer: 64 << 20 });
  t.equal(r.status, 0, `parser_test corpus exits 0\n${r.stderr}`);
  const outs = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  t.equal(outs.length, cases.length, 'one result per case');
  const s = (h) => Buffer.from(h, 'hex').toString('latin1');
  cases.forEach((c, i) => {
    const o = outs[i];
    if (!o) return;
    // The server answers requests up to the first one that closes the connection.
    const reqs = [];
    for (const q of o.reqs) {
      reqs.push(q);
      if (!q.keep_alive || q.must_close) break;
    }
    if (c.kind === 'valid') {
      const want = c.expect.requests;
      t.equal(reqs.length, want.length, `${c.id}: number of requests (${o.end} ${o.err})`);
      want.forEach((w, k) => {
        const q = reqs[k];
        if (!q) return;
        t.equal(s(q.method), w.method, `${c.id}#${k}: method`);
        t.equal(s(q.target), w.raw_uri, `${c.id}#${k}: target`);
        t.equal(s(q.path), w.path_raw, `${c.id}#${k}: path`);
        t.equal(s(q.query), w.query, `${c.id}#${k}: query`);
        t.equal(`HTTP/${q.version}`, w.version, `${c.id}#${k}: version`);
        t.same(
          q.headers.map(([n, v]) => [s(n).toUpperCase(), s(v)]),
          w.headers,
          `${c.id}#${k}: headers`,
        );
        t.equal(Buffer.from(q.body, 'hex').toString('base64'), w.body_b64, `${c.id}#${k}: body`);
      });
    } else if (c.expect.error === 'InvalidSchemeHeaders') {
      // decided by the environ builder (lib/), not by the parser
      t.equal(o.end === 'error', false, `${c.id}: the parser itself accepts (scheme headers are checked in JS)`);
    } else {
      const before = (c.expect.requests_before_error ?? []).length;
      t.equal(o.end, 'error', `${c.id}: rejected (${c.expect.error})`);
      t.equal(o.in_body ? o.reqs.length - 1 : o.reqs.length, before, `${c.id}: requests before the error`);
      t.equal(o.status, c.expect.status, `${c.id}: status ${c.expect.status} (${o.err})`);
    }
  });
  t.end();
});

t.test("the harness's base config is the registry's (every parser setting, generically)", async (t) => {
  const { defaults, NATIVE_SETTINGS } = await import('../dist/config/settings.js');
  const cfg = defaults();
  // every native setting the parser knows (GTS_PARSER_SETTINGS); the others are the server's
  const serverOnly = new Set([
    'keepalive',
    'header_timeout',
    'body_timeout',
    'body_min_rate',
    'request_timeout',
    'write_timeout',
    'worker_connections',
    'forwarded_allow_ips',
    'proxy_allow_ips',
    'http_protocols',
    'http2_cleartext',
    'http2_max_concurrent_streams',
    'http2_initial_window_size',
    'http2_max_frame_size',
    'http2_max_header_list_size',
    'websocket_max_message_size',
    'websocket_max_backpressure',
    'websocket_ping_interval',
    'websocket_idle_timeout',
    'websocket_compression',
    'websocket_compression_window_bits',
  ]);
  const args = NATIVE_SETTINGS.filter((s) => !serverOnly.has(s.name)).map((s) => {
    const v = cfg[s.name];
    return `${s.name}=${Array.isArray(v) ? v.join('|') : v}`;
  });
  const r = spawnSync(bin, ['config', ...args], { encoding: 'utf8', env });
  t.equal(r.stdout.trim(), 'ok', `parser_test config: ${r.stdout}${r.stderr}`);
  t.equal(r.status, 0);
  // and a setting left out is noticed
  const short = spawnSync(bin, ['config', ...args.slice(1)], { encoding: 'utf8', env });
  t.match(short.stdout, /^missing /m);
  t.not(short.status, 0);
});
