// Config files and precedence, as Gunicorn: app defaults < config file (-c,
// else -c in GUNICORN_CMD_ARGS, else ./gunicorn.conf.js|.mjs|.cjs) <
// GUNICORN_CMD_ARGS < the command line.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import type { Config } from './config.js';

export const DEFAULT_CONFIG_FILES = ['gunicorn.conf.js', 'gunicorn.conf.mjs', 'gunicorn.conf.cjs'];

export class ConfigFileError extends Error {
  readonly code = 'GTS_ERR_CONFIG_FILE';
}

/** The config file to read: the explicit one (must exist), else the first default that exists in `dir`. */
export function findConfigFile(explicit: string | null | undefined, dir: string): string | null {
  if (explicit) {
    const p = explicit.startsWith('file:') ? explicit.slice(5) : explicit;
    const abs = path.resolve(dir, p);
    if (!fs.existsSync(abs)) throw new ConfigFileError(`Error: '${explicit}' doesn't exist`);
    return abs;
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const abs = path.join(dir, name);
    if (fs.existsSync(abs)) return abs;
  }
  return null;
}

/** Imports a config file afresh (HUP re-reads it) and returns its exports. */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const require = createRequire(file);
  try {
    delete require.cache[require.resolve(file)];
  } catch {
    /* not a CommonJS module */
  }
  let ns: Record<string, unknown>;
  try {
    ns = (await import(`${pathToFileURL(file).href}?t=${Date.now()}-${Math.random()}`)) as Record<string, unknown>;
  } catch (e) {
    const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
    throw new ConfigFileError(`Failed to read config file: ${file}\n${detail}`);
  }
  const out: Record<string, unknown> = {};
  const dflt = ns.default;
  if (dflt !== null && typeof dflt === 'object') Object.assign(out, dflt);
  for (const [k, v] of Object.entries(ns)) if (k !== 'default' && k !== 'module.exports') out[k] = v;
  return out;
}

/** Applies every exported name that is a setting; other names are ignored, as Gunicorn does. */
export function applyConfigModule(cfg: Config, mod: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(mod)) {
    if (!(k in cfg.settings) || v === undefined) continue;
    cfg.set(k, v);
  }
}
