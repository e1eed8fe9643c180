// A dirty worker process (Gunicorn 25's gunicorn/dirty/worker.py): loads the
// dirty apps it was given, then runs the jobs the master sends it over IPC,
// up to dirty_threads at a time, and answers each with its result or error.
//
// dirty_threads in Node: jobs share this process's event loop and the app
// instances (as Gunicorn's threads share them). Async jobs overlap; a
// synchronous CPU-bound job holds the loop until it returns, which is the
// point: it holds it here, not in a request worker. The heartbeat comes from
// the same loop, so a job stuck longer than dirty_timeout stops it and the
// master restarts this process.
import v8 from 'node:v8';

import type { Config } from '../config/config.js';
import { createLogger, loadLoggerClass } from '../logging/factory.js';
import type { Logger } from '../logging/logger.js';
import { awaitWithin } from './await-hook.js';
import {
  takeDirtyBootState,
  type DirtyBootState,
  type DirtyErrorInfo,
  type DirtyMasterMessage,
  type DirtyWorkerMessage,
} from './dirty-protocol.js';
import { APP_LOAD_ERROR, AppImportError, WORKER_BOOT_ERROR } from './protocol.js';

/** A loaded dirty app: its methods are the jobs; init() and close() are optional. */
export type DirtyAppInstance = Record<string, unknown>;
/** Loads one dirty_apps entry (lib/app/import.ts's importDirtyApp). */
export type DirtyAppLoader = (spec: string, cwd: string) => Promise<DirtyAppInstance>;

/** names that are never jobs: Object.prototype's, the lifecycle methods' callers cannot reach */
const NOT_ACTIONS = new Set(['constructor', ...Object.getOwnPropertyNames(Object.prototype)]);

export class DirtyWorker {
  readonly pid = process.pid;
  readonly ppid: number;
  readonly age: number;
  readonly cfg: Config;
  log: Logger;
  /** the dirty_apps entries this worker loads (Gunicorn's app_paths) */
  readonly app_paths: string[];
  /** app name -> instance */
  readonly apps = new Map<string, DirtyAppInstance>();
  alive = true;
  booted = false;
  /** jobs running now */
  private inFlight = 0;
  private exiting: Promise<never> | null = null;

  constructor(cfg: Config, state: DirtyBootState) {
    this.ppid = state.ppid;
    this.age = state.age;
    this.cfg = cfg;
    for (const [k, v] of Object.entries(state.settings)) if (k in cfg.settings) cfg.set(k, v);
    this.log = createLogger(cfg.all);
    this.app_paths = state.apps;
  }

  toString(): string {
    return `<DirtyWorker ${this.pid}>`;
  }

  private send(m: DirtyWorkerMessage): void {
    if (process.connected) process.send!(m, undefined, undefined, () => {});
  }

  async boot(load: DirtyAppLoader): Promise<void> {
    try {
      process.title = `gunicorn-ts: dirty-worker [${this.cfg.procName}]`;
    } catch {
      /* not allowed here */
    }
    try {
      this.log.plugin = await loadLoggerClass(this.cfg.get('logger_class'), this.cfg.serializable());
    } catch (e) {
      this.log.exception('Exception in dirty worker process', e);
      return this.exit(WORKER_BOOT_ERROR);
    }
    this.log.info(`Booting dirty worker with pid: ${this.pid} (apps: ${this.app_paths.join(', ')})`);
    try {
      this.initProcess();
      this.startHeartbeat();
      for (const spec of this.app_paths) {
        const app = await load(spec, this.cfg.get('chdir'));
        if (typeof app.init === 'function') await (app.init as () => unknown).call(app);
        this.apps.set(spec, app);
      }
    } catch (e) {
      if (e instanceof AppImportError) {
        process.stderr.write(`${e.message}\n`);
        return this.exit(APP_LOAD_ERROR);
      }
      this.log.exception('Exception while loading the dirty apps', e);
      return this.exit(WORKER_BOOT_ERROR);
    }
    process.on('message', (m: DirtyMasterMessage) => {
      if (m?.gts === 'job') void this.run(m);
      else if (m?.gts === 'stop') this.stop();
    });
    await this.awaitHook('dirty_worker_init', this);
    this.booted = true;
    this.send({ gts: 'booted' });
  }

  private initProcess(): void {
    process.umask(this.cfg.get('umask'));
    const gid = this.cfg.get('group');
    const uid = this.cfg.get('user');
    if (process.getegid && gid !== process.getegid()) process.setgid!(gid);
    if (process.geteuid && uid !== process.geteuid()) process.setuid!(uid);
    process.on('SIGTERM', () => this.stop());
    process.on('SIGQUIT', () => this.quit());
    process.on('SIGINT', () => this.quit());
    process.on('SIGABRT', () => void this.exit(1));
    process.on('SIGUSR1', () => this.log.reopen());
    process.on('SIGHUP', () => this.log.debug('dirty worker: SIGHUP ignored'));
    process.on('SIGWINCH', () => {});
    process.on('unhandledRejection', (e) => this.log.exception('Unhandled promise rejection in dirty worker', e));
    process.on('disconnect', () => {
      if (!this.alive) return;
      this.log.info(`Parent changed, shutting down: ${this.toString()}`);
      this.stop();
    });
    if (!process.connected) this.stop();
  }

  private startHeartbeat(): void {
    const timeout = this.cfg.get('dirty_timeout');
    const every = timeout > 0 ? Math.max(50, Math.min(1000, (timeout * 1000) / 4)) : 1000;
    this.send({ gts: 'hb' });
    setInterval(() => this.send({ gts: 'hb' }), every).unref();
  }

  /** One job: the app's method, awaited; its result or error goes back with the job's id. */
  private async run(job: Extract<DirtyMasterMessage, { gts: 'job' }>): Promise<void> {
    const { id, app: name, action } = job;
    const app = this.apps.get(name);
    const fail = (error: DirtyErrorInfo) => this.send({ gts: 'res', id, ok: false, error });
    if (app === undefined) {
      fail({ kind: 'DirtyAppNotFoundError', message: `Dirty app not found: ${name}`, app: name, action });
      return;
    }
    const method = action.startsWith('_') || NOT_ACTIONS.has(action) ? undefined : app[action];
    if (typeof method !== 'function') {
      fail({ kind: 'DirtyAppError', message: `Unknown action: ${action}`, app: name, action, errorType: 'Error' });
      return;
    }
    this.inFlight += 1;
    try {
      const args = v8.deserialize(job.args) as unknown[];
      const result = await (method as (...a: unknown[]) => unknown).apply(app, args);
      try {
        this.send({ gts: 'res', id, ok: true, result: v8.serialize(result) });
      } catch (e) {
        fail({
          kind: 'DirtyAppError',
          message: `The result of ${name}.${action} cannot be sent: ${(e as Error).message}`,
          app: name,
          action,
          errorType: (e as Error).name,
        });
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      fail({
        kind: 'DirtyAppError',
        message: err.message,
        app: name,
        action,
        errorType: err.name,
        traceback: err.stack,
      });
    } finally {
      this.inFlight -= 1;
      if (!this.alive && this.inFlight === 0) void this.exit(0);
    }
  }

  /** TERM: no new jobs come (the master stops sending); the running ones finish, then the apps close. */
  stop(): void {
    if (!this.alive) return;
    this.alive = false;
    if (this.inFlight === 0) void this.exit(0);
  }

  /** QUIT/INT: a quick stop, without close() (Gunicorn's "immediate exit, no cleanup") */
  private quit(): void {
    this.log.info(`Dirty worker exiting (pid: ${this.pid})`);
    process.exit(0);
  }

  /** close() of every app (awaited, bounded by dirty_graceful_timeout), then exit. */
  exit(code: number): Promise<never> {
    this.alive = false;
    this.exiting ??= (async () => {
      if (code === 0) {
        for (const [name, app] of this.apps) {
          if (typeof app.close !== 'function') continue;
          await awaitWithin(
            () => (app.close as () => unknown).call(app),
            this.cfg.get('dirty_graceful_timeout'),
            (e) => this.log.exception(`Exception in close() of ${name}`, e),
            (s) => this.log.warning(`close() of ${name} did not finish within dirty_graceful_timeout (${s} s)`),
          );
        }
      }
      this.log.info(`Dirty worker exiting (pid: ${this.pid})`);
      process.exit(code);
    })();
    return this.exiting;
  }

  private async awaitHook(name: 'dirty_worker_init', ...args: unknown[]): Promise<void> {
    await awaitWithin(
      () => (this.cfg.get(name) as (...a: unknown[]) => unknown)(...args),
      this.cfg.get('dirty_graceful_timeout'),
      (e) => this.log.exception(`Exception in ${name} hook`, e),
      (s) => this.log.warning(`The ${name} hook did not finish within dirty_graceful_timeout (${s} s); going on`),
    );
  }
}

/** Entry for a spawned dirty worker: builds it from the master's state and boots it. */
export async function runDirtyWorker(app: { cfg: Config }, load: DirtyAppLoader): Promise<DirtyWorker> {
  const w = new DirtyWorker(app.cfg, takeDirtyBootState());
  await w.boot(load);
  return w;
}
