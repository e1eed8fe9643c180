// Gunicorn's request corpus (test/fixtures/http-corpus, MIT, see its licence)
// replayed through serve() with the echo application over real sockets: whole,
// one byte at a time, and in random splits. Valid cases must give the expected
// environ; invalid ones a 4xx (Gunicorn's status where it sends one) without
// ever reaching the application.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { exchange } from './helpers/client.mjs';
import { echoApp, startServer } from './helpers/server.mjs';

const dir = path.join(import.meta.dirname, 'fixtures', 'http-corpus');
const cases = ['valid.jsonl', 'invalid.jsonl'].flatMap((f) =>
  fs
    .readFileSync(path.join(dir, f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l)),
);

const groups = new Map();
for (const c of cases) {
  const key = JSON.stringify(c.settings ?? {});
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(c);
}

function echoOf(resp) {
  try {
    const j = JSON.parse(resp.body.toString('utf8'));
    return j && typeof j === 'object' && 'REQUEST_METHOD' in j ? j : null;
  } catch {
    return null;
  }
}

async function runCase(t, port, c, pieces) {
  const raw = Buffer.from(c.raw_b64, 'base64');
  const want = c.kind === 'valid' ? c.expect.requests.length : (c.expect.requests_before_error ?? []).length + 1;
  const r = await exchange(port, raw, {
    pieces,
    halfClose: !!c.needs_eof,
    expect: want,
    settleMs: 150,
    // only a guard: an exchange ends when the server closes or once the expected responses are in; one byte
    // at a time, 12 at once, a loaded machine can take more than a few seconds to write a long case
    timeoutMs: 30000,
  });
  const finals = r.responses.filter((x) => x.status >= 200);
  const label = `${c.id} [${pieces}]`;
  if (c.kind === 'valid') {
    t.equal(finals.length, c.expect.requests.length, `${label}: number of responses`);
    c.expect.requests.forEach((w, i) => {
      const resp = finals[i];
      if (!resp) return;
      t.equal(resp.status, 200, `${label}: response ${i + 1} status`);
      const j = echoOf(resp);
      t.ok(j, `${label}: response ${i + 1} is the echo`);
      if (!j) return;
      t.equal(j.REQUEST_METHOD, w.method, `${label}: REQUEST_METHOD`);
      t.equal(j.RAW_URI, w.raw_uri, `${label}: RAW_URI`);
      t.ok(
        [w.path, ...(w.path_alternatives ?? [])].includes(j.PATH_INFO),
        `${label}: PATH_INFO ${JSON.stringify(j.PATH_INFO)}`,
      );
      t.equal(j.QUERY_STRING, w.query, `${label}: QUERY_STRING`);
      t.equal(j.SERVER_PROTOCOL, w.version, `${label}: SERVER_PROTOCOL`);
      t.equal(j.SCRIPT_NAME, w.script_name ?? '', `${label}: SCRIPT_NAME`);
      t.same(j.headers, w.environ_headers, `${label}: HTTP_* keys`);
      t.equal(j.body_b64, w.body_b64, `${label}: body`);
    });
  } else {
    const e = c.expect;
    const resp = finals[(e.requests_before_error ?? []).length];
    t.ok(resp, `${label}: an error response (not a silent close)`);
    if (!resp) return;
    t.notOk(echoOf(resp), `${label}: the application was not invoked`);
    const ok = (resp.status >= 400 && resp.status < 500) || (e.also_acceptable ?? []).includes(resp.status);
    t.ok(ok, `${label}: status ${resp.status} is a 4xx`);
    if (e.gunicorn_status !== null) t.equal(resp.status, e.status, `${label}: Gunicorn's status`);
    t.equal(resp.get('connection'), 'close', `${label}: Connection: close`);
    t.ok(
      finals.slice(1).every((x) => !echoOf(x)),
      `${label}: nothing answered after the error`,
    );
  }
}

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

for (const [key, list] of groups) {
  t.test(`corpus, settings ${key}`, async (t) => {
    const { port } = await startServer(t, echoApp, JSON.parse(key));
    for (const pieces of ['whole', 1, 'random']) {
      await pool(list, 12, (c) => runCase(t, port, c, pieces));
    }
  });
}
