// lib/ has no import cycle and each file imports only from its own layer or
// a lower one (README.md, "Architecture"). Imports are read from the
// TypeScript sources: static, type-only, re-exports and import('literal').
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { findCycles, importGraph, importsOf, layerViolations } from './helpers/imports.mjs';

const LIB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../lib');

/** lowest first; a directory ends with '/' */
const LAYERS = [
  ['base', ['addon-loader.ts', 'native.ts', 'unix-datagram.ts', 'version.ts']],
  // types.ts names http/input's Input in its Environ, so it sits with http
  // metrics/ and control/: StatsD, Prometheus, the control socket and its client (used by the master, workers, serve())
  ['core', ['config/', 'logging/', 'metrics/', 'control/', 'listeners.ts', 'http/', 'types.ts']],
  ['server', ['server.ts']],
  ['process', ['workers/', 'arbiter/']],
  ['app', ['app/']],
  ['entry', ['serve.ts', 'index.ts', 'cli/']],
];

const fmt = (cycle) => cycle.join(' -> ');

t.test('lib/ has no import cycle', async (t) => {
  const graph = importGraph(LIB);
  t.ok(graph.size >= 30, `read ${graph.size} files`);
  t.ok([...graph.values()].flat().length >= 80, 'and their imports');
  t.same(findCycles(graph).map(fmt), [], 'no cycle');
});

t.test('each lib/ file imports only from its own layer or a lower one', async (t) => {
  const graph = importGraph(LIB);
  t.same(layerViolations(graph, LAYERS), []);
});

t.test('no dynamic import of lib/ modules (the way the old cycle was closed)', async (t) => {
  const graph = importGraph(LIB);
  const dynamic = [...graph].flatMap(([from, edges]) =>
    edges.filter((e) => e.dynamic).map((e) => `${from} -> ${e.to}`),
  );
  t.same(dynamic, []);
});

// the checker itself: it must see every kind of import and report what it should
t.test('the checker finds cycles through every kind of import', async (t) => {
  t.same(
    importsOf(`
    import a from './a.js';
    import type { B } from './b.js';
    import { type C, type D } from './c.js';
    import { type E, f } from './e.js';
    import './side.js';
    export { g } from './g.js';
    export type { H } from './h.js';
    // import x from './comment.js';
    const s = "import y from './string.js'";
    const m = await import('./dyn.js');
    const n = await import(somePath);
  `).map((i) => `${i.spec}${i.typeOnly ? ' type' : ''}${i.dynamic ? ' dynamic' : ''}`),
    ['./a.js', './b.js type', './c.js type', './e.js', './side.js', './g.js', './h.js type', './dyn.js dynamic'],
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-layers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (files) => {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    return importGraph(dir);
  };
  // the shape of the cycle this test was written against, closed by a dynamic import
  const g = write({
    'serve.ts':
      "import { x } from './app/base.js';\nexport async function s() { return import('./app/serve-app.js'); }\n",
    'app/base.ts': "import { Arbiter } from '../arbiter/arbiter.js';\n",
    'app/serve-app.ts': "import { BaseApplication } from './base.js';\n",
    'arbiter/arbiter.ts': "import { CODE } from '../workers/worker.js';\n",
    'workers/worker.ts': "import { startServer } from '../serve.js';\nimport type { T } from '../types.js';\n",
    'types.ts': 'export type T = number;\n',
  });
  t.same(findCycles(g).map(fmt), ['app/base.ts -> arbiter/arbiter.ts -> workers/worker.ts -> serve.ts -> app/base.ts']);
  t.same(layerViolations(g, LAYERS), ['workers/worker.ts (process) imports serve.ts (entry)']);
  t.same(
    findCycles(
      write({ 'a.ts': "import type { B } from './b.js';\n", 'b.ts': "export type { A } from './a.js';\n" }),
    ).map(fmt),
    ['a.ts -> b.ts -> a.ts'],
    'a cycle of type-only imports counts',
  );
  t.same(findCycles(write({ 'a.ts': "import './a.js';\n" })).map(fmt), ['a.ts -> a.ts'], 'a self-import counts');
  t.same(
    findCycles(write({ 'a.ts': "import './b.js';\n", 'b.ts': "import './c.js';\n", 'c.ts': '' })),
    [],
    'a chain is no cycle',
  );
  t.same(layerViolations(write({ 'stray.ts': '', 'native.ts': "import './http/x.js';\n", 'http/x.ts': '' }), LAYERS), [
    'native.ts (base) imports http/x.ts (core)',
    'stray.ts is in no layer',
  ]);
  t.throws(() => write({ 'a.ts': "import './missing.js';\n" }), /a\.ts imports \.\/missing\.js/);
});
