// Application URIs, as Gunicorn's util.import_app: MODULE[:VARIABLE] or
// MODULE:factory(literal args). MODULE is a dotted path (myapp.wsgi ->
// myapp/wsgi.js), a file path, or a package, resolved from the cwd (--chdir).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { decideShape, isFetchObject, isServable, type AppObject } from '../http/shape.js';
import { AppImportError } from '../workers/protocol.js';
import { parseDirtySpec } from '../config/dirty-settings.js';
import { parseLiteralArgs } from './literals.js';

export { AppImportError };

const EXTS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];
const pyRepr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/'/g, "\\'")}'`);

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds the file of MODULE, or throws AppImportError("No module named ...").
 * `searchPath` (the pythonpath setting): more directories to look in, in
 * order, after `cwd`.
 */
export function resolveModule(module: string, cwd: string, searchPath: readonly string[] = []): string {
  let first: unknown = null;
  for (const dir of [cwd, ...searchPath.map((d) => path.resolve(cwd, d))]) {
    try {
      return resolveFrom(module, dir);
    } catch (e) {
      first ??= e;
    }
  }
  throw first;
}

function resolveFrom(module: string, cwd: string): string {
  const candidates: string[] = [];
  const looksLikePath = module.includes('/') || EXTS.some((e) => module.endsWith(e));
  if (looksLikePath) candidates.push(path.resolve(cwd, module));
  const dotted = path.resolve(cwd, ...module.split('.'));
  for (const base of looksLikePath ? [path.resolve(cwd, module)] : [dotted, path.resolve(cwd, module)]) {
    for (const e of EXTS) candidates.push(base + e);
    for (const e of EXTS) candidates.push(path.join(base, `index${e}`));
  }
  for (const c of candidates) if (isFile(c)) return c;
  // a package (node_modules) or a directory with package.json "main"/"exports"
  try {
    return createRequire(path.join(cwd, 'noop.js')).resolve(module);
  } catch {
    /* not found */
  }
  if (fs.existsSync(path.resolve(cwd, module)) && fs.statSync(path.resolve(cwd, module)).isDirectory()) {
    try {
      return createRequire(path.join(cwd, 'noop.js')).resolve(path.resolve(cwd, module));
    } catch {
      /* no entry point */
    }
  }
  throw new AppImportError(`No module named ${pyRepr(module)}`);
}

/** Splits "mod:obj" (obj defaults to "application"). */
export function splitUri(uri: string): { module: string; obj: string } {
  const i = uri.lastIndexOf(':');
  // a Windows drive or a path with ':' is not supported; the last ':' separates
  if (i < 0) return { module: uri, obj: 'application' };
  return { module: uri.slice(0, i), obj: uri.slice(i + 1) };
}

/** Parses the object part: a name, or name(args) with literal args. */
export function parseObject(obj: string): { name: string; args: unknown[] | null } {
  const m = /^\s*([A-Za-z_$][\w$]*)\s*(?:\(([\s\S]*)\))?\s*$/.exec(obj);
  if (!m) {
    const call = /^\s*([^(]*)\(/.exec(obj);
    if (call !== null) {
      const f = call[1]!.trim();
      if (!/^[A-Za-z_$][\w$]*$/.test(f))
        throw new AppImportError(`Function reference must be a simple name: ${pyRepr(obj)}`);
    }
    throw new AppImportError(`Failed to parse ${pyRepr(obj)} as an attribute name or function call.`);
  }
  if (m[2] === undefined) return { name: m[1]!, args: null };
  try {
    return { name: m[1]!, args: parseLiteralArgs(m[2]) };
  } catch {
    throw new AppImportError(`Failed to parse arguments as literal values: ${pyRepr(obj)}`);
  }
}

/** Loads a module (ESM or CommonJS) and returns its namespace. */
async function loadModule(file: string, module: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new AppImportError(
        `Cannot load ${pyRepr(module)}: this Node cannot run TypeScript (Node 22.18+ and 23.6+ strip types by default; ` +
          'Node 22.6+ with --experimental-strip-types; or run node with a loader such as --import tsx; or compile to .js)',
      );
    }
    throw e;
  }
}

/**
/**
 * Gunicorn's import_app: returns the application (a function; an object with a
 * fetch method: a fetch-style app, lib/http/shape.ts; or an object a worker
 * class serves: a Koa or Fastify app, lib/app/shape.ts) or throws
 * AppImportError. `searchPath`: the pythonpath setting; `workerClass` words the error for an object
 * that is no application.
 */
export async function importApp(
  uri: string,
  cwd: string = process.cwd(),
  searchPath: readonly string[] = [],
  workerClass: string = 'sync',
): Promise<AppObject> {
  const { module, obj } = splitUri(uri);
  const { name, args } = parseObject(obj);
  let file: string;
  try {
    file = resolveModule(module, cwd, searchPath);
  } catch (e) {
    if (/\.(m|c)?[jt]s$/.test(module) && isFile(path.resolve(cwd, module)) === false && uri.indexOf(':') < 0) {
      throw new AppImportError(
        `Failed to find application, did you mean '${module.replace(/\.(m|c)?[jt]s$/, '')}:${name}'?`,
      );
    }
    throw e;
  }
  const ns = await loadModule(file, module);
  let found: unknown = ns[name];
  if (
    found === undefined &&
    ns.default !== null &&
    (typeof ns.default === 'object' || typeof ns.default === 'function')
  ) {
    found = (ns.default as Record<string, unknown>)[name];
  }
  // `export default { fetch }` (the WinterTC module shape) served as MODULE without :VARIABLE
  if (found === undefined && uri.lastIndexOf(':') < 0 && isFetchObject(ns.default)) found = ns.default;
  if (found === undefined) throw new AppImportError(`Failed to find attribute ${pyRepr(name)} in ${pyRepr(module)}.`);
  let app: unknown = found;
  if (args !== null) {
    if (typeof found !== 'function') throw new AppImportError(`${pyRepr(name)} object is not callable`);
    app = (found as (...a: unknown[]) => unknown)(...args);
    const pending = app as PromiseLike<unknown>; // a factory may be async
    if (app !== null && typeof app === 'object' && typeof pending.then === 'function') app = await pending;
  }
  if (app === null || app === undefined) throw new AppImportError(`Failed to find application object: ${pyRepr(obj)}`);
  if (!isServable(app)) throw notAnApp(app, workerClass, uri);
  return app as AppObject;
}

/** The one-line error for a loaded object that is not callable and not an app a worker class serves. */
function notAnApp(app: unknown, workerClass: string, uri: string): AppImportError {
  const decided = workerClass === 'node' ? decideShape(app, workerClass, uri) : null;
  return new AppImportError(
    decided?.kind === 'node' && decided.error ? decided.error : 'Application object must be callable.',
  );
}

/**
 * Loads a dirty_apps entry (MODULE:EXPORT[:N]) in a dirty worker. EXPORT is a
 * class or constructor (instantiated once, without arguments) or an object
 * (used as it is); either way its methods are the jobs.
 */
export async function importDirtyApp(spec: string, cwd: string = process.cwd()): Promise<Record<string, unknown>> {
  const parsed = parseDirtySpec(spec);
  if (parsed === null) throw new AppImportError(`Invalid dirty app ${pyRepr(spec)}: expected MODULE:EXPORT`);
  const { module, exportName } = parsed;
  const ns = await loadModule(resolveModule(module, cwd), module);
  let found: unknown = ns[exportName];
  if (found === undefined && ns.default !== null && typeof ns.default === 'object')
    found = (ns.default as Record<string, unknown>)[exportName];
  if (found === undefined)
    throw new AppImportError(`Failed to find attribute ${pyRepr(exportName)} in ${pyRepr(module)}.`);
  if (typeof found === 'function') return new (found as new () => Record<string, unknown>)();
  if (found !== null && typeof found === 'object') return found as Record<string, unknown>;
  throw new AppImportError(`Dirty app ${pyRepr(spec)} must be a class or an object.`);
}
