// The import graph of a TypeScript source tree (lib/), read with the
// TypeScript parser: static imports and re-exports (type-only included), side
// effect imports and import() with a literal specifier. Only relative
// specifiers count; node: builtins and packages are outside the graph.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Every .ts file under `root`, as paths relative to it with '/' separators, sorted. */
export function sourceFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
        out.push(path.relative(root, p).split(path.sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/** The module specifiers `text` imports: [{ spec, typeOnly, dynamic }]. */
export function importsOf(text, fileName = 'x.ts') {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      // `import type {..}`, or `import { type A, type B }` with every binding type-only
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            c.namedBindings !== undefined &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly, dynamic: false });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly, dynamic: false });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg !== undefined && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) {
        found.push({ spec: arg.text, typeOnly: false, dynamic: true });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/**
 * Map of file -> [{ to, typeOnly, dynamic }] for the .ts files under `root`.
 * A relative './x.js' resolves to x.ts (NodeNext's rule); an import of a
 * file that does not exist is an error.
 */
export function importGraph(root) {
  const files = sourceFiles(root);
  const known = new Set(files);
  const graph = new Map();
  for (const f of files) {
    const edges = [];
    for (const imp of importsOf(fs.readFileSync(path.join(root, f), 'utf8'), f)) {
      if (!imp.spec.startsWith('.')) continue;
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(f), imp.spec)).replace(/\.js$/, '.ts');
      if (!known.has(to)) throw new Error(`${f} imports ${imp.spec}: no ${to} under ${root}`);
      edges.push({ to, typeOnly: imp.typeOnly, dynamic: imp.dynamic });
    }
    graph.set(f, edges);
  }
  return graph;
}

/** The import cycles of `graph` (Tarjan's strongly connected components), each as a closed path a -> b -> a. */
export function findCycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const sccs = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!idx.has(to)) {
        strong(to);
        low.set(v, Math.min(low.get(v), low.get(to)));
      } else if (on.has(to)) {
        low.set(v, Math.min(low.get(v), idx.get(to)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).some((e) => e.to === v);
      if (scc.length > 1 || selfLoop) sccs.push(scc);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  // one readable closed path per component: breadth-first from its first file back to itself
  return sccs.map((scc) => {
    const members = new Set(scc);
    const start = [...scc].sort()[0];
    const prev = new Map();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift();
      for (const { to } of graph.get(v) ?? []) {
        if (!members.has(to)) continue;
        if (to === start) {
          const p = [start];
          for (let w = v; w !== start; w = prev.get(w)) p.splice(1, 0, w);
          return [...p, start];
        }
        if (!prev.has(to)) {
          prev.set(to, v);
          queue.push(to);
        }
      }
    }
    return [start, start];
  });
}

/** The layer index of `file` in `layers` ([[name, [prefix|file, ...]], ...], lowest first), or -1. */
export function layerOf(file, layers) {
  return layers.findIndex(([, members]) => members.some((m) => (m.endsWith('/') ? file.startsWith(m) : file === m)));
}

/** Imports that go to a higher layer, and files in no layer. */
export function layerViolations(graph, layers) {
  const out = [];
  for (const [from, edges] of graph) {
    const lf = layerOf(from, layers);
    if (lf < 0) {
      out.push(`${from} is in no layer`);
      continue;
    }
    for (const { to } of edges) {
      const lt = layerOf(to, layers);
      if (lt > lf) out.push(`${from} (${layers[lf][0]}) imports ${to} (${layers[lt][0]})`);
    }
  }
  return out;
}
