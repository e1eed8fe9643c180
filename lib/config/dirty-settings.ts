// Dirty arbiters (Gunicorn 25): a separate pool of processes, managed by the
// master, for blocking or CPU-heavy jobs that request handlers call with
// getDirtyClient().execute(app, action, ...args). Part of the registry
// (lib/config/settings.ts spreads DIRTY_SETTINGS into SETTINGS); the pool is
// lib/arbiter/dirty.ts, its worker lib/workers/dirty-worker.ts.
import { SettingError, validateCallable, validateNumber, validatePosInt, type Validator } from './validators.js';
import type { Def as BaseDef } from './resilience-settings.js';

/** lib/config/settings.ts's SettingDef, less `native` (none of these is read by the native core) */
type Def<T> = BaseDef<T> & { action?: 'append' };

function def<const N extends string, T>(d: Def<T> & { name: N }): Def<T> & { name: N } {
  return d;
}

const validateThreads: Validator<number> = (name, v) => {
  const n = validatePosInt(name, v);
  if (n < 1) throw new SettingError(name, v, 'expected an integer of at least 1');
  return n;
};

/** `MODULE:EXPORT` or `MODULE:EXPORT:N`, repeatable (Gunicorn's `module:Class[:N]`) */
export const validateDirtyApps: Validator<string[]> = (name, v) => {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw new SettingError(name, v, 'expected a list of MODULE:EXPORT[:N]');
  return list.map((spec) => {
    if (typeof spec !== 'string') throw new SettingError(name, v, 'expected a list of MODULE:EXPORT[:N]');
    const s = spec.trim();
    if (parseDirtySpec(s) === null) throw new SettingError(name, spec, 'expected MODULE:EXPORT or MODULE:EXPORT:N');
    return s;
  });
};

/** A dirty_apps entry: the app's name (what callers pass), its module, export and worker limit. */
export interface DirtySpec {
  /** `MODULE:EXPORT`, the name callers use in execute() */
  path: string;
  module: string;
  exportName: string;
  /** at most this many dirty workers load it (null: every one) */
  workers: number | null;
}

export function parseDirtySpec(spec: string): DirtySpec | null {
  let rest = spec;
  let workers: number | null = null;
  const n = /:(\d+)$/.exec(rest);
  if (n !== null) {
    workers = Number(n[1]);
    rest = rest.slice(0, n.index);
  }
  const i = rest.lastIndexOf(':');
  if (i <= 0 || i === rest.length - 1) return null;
  const exportName = rest.slice(i + 1);
  if (!/^[A-Za-z_$][\w$]*$/.test(exportName)) return null;
  if (workers !== null && workers < 1) return null;
  return { path: rest, module: rest.slice(0, i), exportName, workers };
}

type Hook = (...args: any[]) => unknown;
const hook = <const N extends string>(name: N, args: string, where: string, desc: string) => {
  const dflt: Hook = Object.defineProperty(() => {}, 'name', { value: name });
  return def({
    name,
    section: 'Dirty Arbiter Hooks',
    validator: validateCallable(),
    default: () => dflt,
    defaultDoc: `${name}(${args})`,
    desc: `${desc} Runs in the ${where}.`,
  });
};

export const DIRTY_SETTINGS = [
  def({
    name: 'dirty_apps',
    section: 'Dirty Arbiters',
    cli: ['--dirty-app'],
    meta: 'STRING',
    action: 'append',
    validator: validateDirtyApps,
    default: () => [] as string[],
    desc:
      'Apps for the dirty worker pool, as `MODULE:EXPORT` (repeatable). MODULE is resolved like the application ' +
      'module; EXPORT is a class (instantiated once per dirty worker) or an object, whose methods are the jobs ' +
      'callers run with `getDirtyClient().execute("MODULE:EXPORT", "method", ...args)`. Optional `init()` runs ' +
      'after loading, `close()` at shutdown; methods starting with `_` cannot be called. `MODULE:EXPORT:N` loads ' +
      'the app in at most N dirty workers (README, "Dirty workers").',
  }),
  def({
    name: 'dirty_workers',
    section: 'Dirty Arbiters',
    cli: ['--dirty-workers'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    desc: 'The number of dirty worker processes (0: no dirty pool). The pool runs when this and dirty_apps are set.',
  }),
  def({
    name: 'dirty_timeout',
    section: 'Dirty Arbiters',
    cli: ['--dirty-timeout'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 300,
    desc:
      'A job that has not answered after this many seconds fails with DirtyTimeoutError and its dirty worker is ' +
      'restarted (SIGABRT, then SIGKILL); a dirty worker whose heartbeat stops this long is restarted too. ' +
      '0 disables both.',
  }),
  def({
    name: 'dirty_threads',
    section: 'Dirty Arbiters',
    cli: ['--dirty-threads'],
    meta: 'INT',
    validator: validateThreads,
    default: () => 1,
    desc:
      'Jobs one dirty worker runs at the same time. They share the worker\u2019s event loop and app instances: ' +
      'async jobs (I/O, native code on the libuv pool) overlap, synchronous CPU-bound jobs run one after ' +
      'another; add dirty_workers for CPU parallelism.',
  }),
  def({
    name: 'dirty_graceful_timeout',
    section: 'Dirty Arbiters',
    cli: ['--dirty-graceful-timeout'],
    meta: 'INT',
    validator: validateNumber,
    default: () => 30,
    desc: 'Seconds a stopping dirty worker gets to finish its jobs and close its apps before it is killed.',
  }),
  hook('on_dirty_starting', 'arbiter', 'master', 'Called just before the dirty pool starts its workers.'),
  hook('dirty_post_fork', 'arbiter, worker', 'master', 'Called just after a dirty worker has been spawned.'),
  hook(
    'dirty_worker_init',
    'worker',
    'dirty worker',
    'Called after a dirty worker has loaded and initialized all its apps (may return a promise).',
  ),
  hook('dirty_worker_exit', 'arbiter, worker', 'master', 'Called just after a dirty worker has exited.'),
] as const;

export const DIRTY_HOOK_NAMES = ['on_dirty_starting', 'dirty_post_fork', 'dirty_worker_init', 'dirty_worker_exit'];
