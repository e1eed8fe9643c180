// Settings for production resilience (issue 13): stray async errors, memory
// recycling, crash-loop back-off and the Kubernetes shutdown delay. Part of
// the registry (lib/config/settings.ts spreads RESILIENCE_SETTINGS into
// SETTINGS); kept in their own file so that they read as one policy.
import { SettingError, validateNumber, validatePosInt, type Validator } from './validators.js';

/** the shape of lib/config/settings.ts's SettingDef (not imported: settings.ts imports this file) */
export interface Def<T> {
  name: string;
  section: string;
  cli?: string[];
  meta?: string;
  validator: Validator<T>;
  default: () => T;
  defaultDoc?: string;
  desc: string;
  extension?: boolean;
  /** none of these is read by the native core */
  native?: false;
}

function def<const N extends string, T>(d: Def<T> & { name: N }): Def<T> & { name: N } {
  return d;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/** A size in bytes: an integer, or a string with a K, M or G suffix (1024-based), as PM2's max_memory_restart ("300M"). */
export const validateSize: Validator<number> = (name, v) => {
  if (typeof v === 'number') return validatePosInt(name, v);
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (m && unit !== undefined) return Math.round(Number(m[1]) * unit);
  }
  throw new SettingError(name, v, 'expected a size in bytes, or with a K, M or G suffix (e.g. 512M)');
};

export const RESILIENCE_SETTINGS = [
  def({
    name: 'max_unhandled_errors',
    section: 'Worker Processes',
    cli: ['--max-unhandled-errors'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    extension: true,
    desc:
      'Stray async errors (an `unhandledRejection` or an `uncaughtException` in a worker) are logged with the ' +
      "requests in flight at the time, counted, and the worker keeps serving (Node's default would be to exit and " +
      'drop every in-flight request). After this many in one worker, it restarts gracefully: it stops accepting, its ' +
      'in-flight requests finish (up to graceful_timeout) and the master starts a replacement (0 = never restart).',
  }),
  def({
    name: 'max_worker_memory',
    section: 'Worker Processes',
    cli: ['--max-worker-memory', '--max-memory-restart'],
    meta: 'SIZE',
    validator: validateSize,
    default: () => 0,
    extension: true,
    desc:
      'Replace a worker whose resident memory (RSS, sent with its heartbeat) passes this size: bytes, or with a K, M ' +
      'or G suffix (e.g. 512M). The replacement starts first; the old worker then stops gracefully, finishing its ' +
      "in-flight requests. As PM2's max_memory_restart (0 = off).",
  }),
  def({
    name: 'min_uptime',
    section: 'Worker Processes',
    cli: ['--min-uptime'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 1,
    extension: true,
    desc:
      'A worker that exits with an error (or is killed by a signal) less than this many seconds after it was started ' +
      "counts as a crash at boot (PM2's min_uptime); see max_quick_restarts.",
  }),
  def({
    name: 'max_quick_restarts',
    section: 'Worker Processes',
    cli: ['--max-quick-restarts'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 5,
    extension: true,
    desc:
      'After this many crashes at boot in a row (see min_uptime), the master waits before starting the next worker: ' +
      '0.1 s, doubling with each further crash up to restart_backoff_max, until a worker stays up min_uptime ' +
      'seconds. Exit statuses 3 (worker boot error) and 4 (app load error) still stop the server at once, as in ' +
      'Gunicorn (0 = never wait).',
  }),
  def({
    name: 'restart_backoff_max',
    section: 'Worker Processes',
    cli: ['--restart-backoff-max'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 16,
    extension: true,
    desc: 'The longest wait between worker restarts in a crash loop (see max_quick_restarts).',
  }),
  def({
    name: 'spare_workers',
    section: 'Worker Processes',
    cli: ['--spare-workers'],
    meta: 'INT',
    validator: validatePosInt,
    default: () => 0,
    extension: true,
    desc:
      'Processes the master starts ahead of need: each runs Node, loads gunicorn-ts and the configuration, and ' +
      'waits. A worker that exits (kill -9, a crash, max_requests, memory recycling) is replaced by a spare at once ' +
      "instead of by a process that still has to start, which is most of a replacement's boot time (Node has no " +
      'fork()). Costs one idle Node process each (about 40 MB); spares restart on HUP to load the new configuration.',
  }),
  def({
    name: 'shutdown_delay',
    section: 'Worker Processes',
    cli: ['--shutdown-delay'],
    meta: 'SECONDS',
    validator: validateNumber,
    default: () => 0,
    extension: true,
    desc:
      'On SIGTERM, keep serving (and accepting) for this many seconds before the graceful stop begins, for load ' +
      'balancers that stop sending traffic late (Kubernetes removes a terminating pod from its endpoints while the ' +
      'pod already has its SIGTERM). A second SIGTERM, or SIGINT/SIGQUIT, stops at once (0 = off).',
  }),
] as const;
