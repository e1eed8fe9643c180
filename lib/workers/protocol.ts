// What a master tells a worker it spawns (one env variable, read once and
// removed), and what a worker tells its master: messages over the IPC
// channel and its exit status.
import type { ListenerInfo } from '../http/environ.js';
import type { RequestDelta } from '../metrics/recorder.js';

export const WORKER_ENV = 'GUNICORN_TS_WORKER';

/** fds of the listeners start at this stdio slot in a worker (0-2 stdio, 3 IPC) */
export const FIRST_LISTENER_SLOT = 4;

export interface WorkerBootState {
  age: number;
  ppid: number;
  listeners: Array<{ fd: number; info: ListenerInfo }>;
  settings: Record<string, unknown>;
  /** shared accept-balancing page (fd in this process) and this worker's slot in it */
  balance?: { fd: number; slot: number };
}

/** what the master sends a spare worker (spare_workers) to make it a worker */
export type MasterMessage = { gts: 'activate'; state: WorkerBootState };

/** the environment state of a spare worker: it gets its WorkerBootState later, over IPC */
export interface SpareBootState {
  spare: true;
}
/** a worker's counts at its heartbeat (ctl status, Prometheus): requests started and finished, open connections, RSS */
export interface WorkerStats {
  nr: number;
  /** finished requests; only counted with metrics on (null: not counted) */
  done: number | null;
  c: number;
  rss: number;
}

/**
 * hb: the heartbeat, with `rss` (bytes) when max_worker_memory is set, the worker's counts (st) and, with
 * metrics_bind, the request counts since the last heartbeat (m). spare: a spare worker waits for its state.
 * exiting: the worker stops on its own, and why (max_requests, memory).
 */
export type WorkerMessage =
  | { gts: 'hb'; rss?: number; st?: WorkerStats; m?: RequestDelta }
  | { gts: 'booted' }
  | { gts: 'spare' }
  | { gts: 'exiting'; reason: string };

/** Exit status of a worker that failed to boot: the arbiter halts (Gunicorn's WORKER_BOOT_ERROR). */
export const WORKER_BOOT_ERROR = 3;
/** Exit status of a worker (or preload) that could not load the application: the arbiter halts. */
export const APP_LOAD_ERROR = 4;

/** Gunicorn's AppImportError: the worker exits with APP_LOAD_ERROR (4). Thrown by lib/app/import.ts. */
export class AppImportError extends Error {
  readonly code = 'GTS_ERR_APP_IMPORT';
}

export function isWorkerProcess(): boolean {
  return typeof process.env[WORKER_ENV] === 'string' && typeof process.send === 'function';
}

/** Reads (and removes from the environment) the state the master passed. */
export function takeBootState(): WorkerBootState | SpareBootState {
  const raw = process.env[WORKER_ENV];
  delete process.env[WORKER_ENV];
  if (raw === undefined) throw new Error(`${WORKER_ENV} is not set: not a worker process`);
  return JSON.parse(raw) as WorkerBootState | SpareBootState;
}
