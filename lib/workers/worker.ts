// A worker process: Gunicorn's Worker.init_process() then run(), on the
// native core. Spawned by the arbiter; the listening sockets are inherited
// fds. Signals: TERM graceful, INT/QUIT quick (worker_int), ABRT
// (worker_abort, exit 1), USR1 reopen logs. A heartbeat goes to the master
// over IPC from the event loop, so a blocked loop is detected as a timeout.
import { performance } from 'node:perf_hooks';

import type { Config } from '../config/config.js';
import { AccessLog } from '../logging/access.js';
import { Logger } from '../logging/logger.js';
import type { OpenListener } from '../listeners.js';
import { startServer } from '../server.js';
import type { Application, Environ, ResponseHeaders } from '../types.js';
import { hookRequest, hookResponse } from './request.js';
import {
  APP_LOAD_ERROR,
  AppImportError,
  takeBootState,
  WORKER_BOOT_ERROR,
  type WorkerBootState,
  type WorkerMessage,
} from './protocol.js';
import { Reloader } from './reloader.js';

/** What the worker needs from the application object (BaseApplication). */
export interface WorkerApp {
  cfg: Config;
  wsgi(): Promise<Application>;
}

/** The `server` argument of hooks that run in a worker (post_fork, worker_exit): the master, seen from here. */
export interface MasterView {
  pid: number;
  cfg: Config;
  log: Logger;
  app: WorkerApp;
}

interface ResponseState {
  status: string;
  headers: ResponseHeaders;
}

export class Worker {
  readonly pid = process.pid;
  readonly ppid: number;
  readonly age: number;
  readonly cfg: Config;
  log: Logger;
  alive = true;
  booted = false;
  /** requests handled */
  nr = 0;
  readonly max_requests: number;
  readonly sockets: OpenListener[];
  wsgi: Application | null = null;
  private access: AccessLog | null = null;
  private server: ReturnType<typeof startServer> | null = null;
  private stopping = false;
  private readonly master: MasterView;
  private reloader: Reloader | null = null;
  private readonly balance: WorkerBootState['balance'];
  private readonly responses = new WeakMap<Environ, ResponseState>();

  constructor(
    readonly app: WorkerApp,
    state: WorkerBootState,
  ) {
    this.ppid = state.ppid;
    this.age = state.age;
    this.cfg = app.cfg;
    for (const [k, v] of Object.entries(state.settings)) {
      if (k in this.cfg.settings) this.cfg.set(k, v);
    }
    this.log = new Logger({ errorlog: this.cfg.get('errorlog'), loglevel: this.cfg.get('loglevel') });
    const max = this.cfg.get('max_requests');
    const jitter = this.cfg.get('max_requests_jitter');
    this.max_requests = max > 0 ? max + Math.floor(Math.random() * (jitter + 1)) : Number.MAX_SAFE_INTEGER;
    this.sockets = state.listeners.map((l) => ({ fd: l.fd, info: l.info, owned: false }));
    this.balance = state.balance;
    this.master = { pid: this.ppid, cfg: this.cfg, log: this.log, app };
  }

  toString(): string {
    return `<Worker ${this.pid}>`;
  }

  private send(m: WorkerMessage): void {
    if (process.connected) process.send!(m, undefined, undefined, () => {});
  }

  /** Gunicorn's spawn_worker (child side) + init_process + run. Resolves once serving. */
  async boot(): Promise<void> {
    try {
      process.title = `gunicorn-ts: worker [${this.cfg.procName}]`;
    } catch {
      /* not allowed here */
    }
    this.log.info(`Booting worker with pid: ${this.pid}`);
    try {
      await this.cfg.get('post_fork')(this.master, this);
      this.initProcess();
      this.startHeartbeat();
      this.wsgi = await this.app.wsgi();
    } catch (e) {
      if (e instanceof AppImportError) {
        this.log.debug(`Exception while loading the application\n${e.stack ?? e.message}`);
        process.stderr.write(`${e.message}\n`);
        this.exit(APP_LOAD_ERROR);
      }
      this.log.exception('Exception in worker process', e);
      this.exit(WORKER_BOOT_ERROR);
    }
    if (this.cfg.get('reload')) {
      this.reloader = new Reloader(this.cfg, this.log, (file) => this.reloadOn(file));
      this.reloader.start();
    }
    const accesslog = this.cfg.get('accesslog');
    if (accesslog !== null) this.access = new AccessLog(accesslog, this.cfg.get('access_log_format'));
    const post = this.cfg.get('post_request');
    const wantAfter = this.access !== null || post !== this.cfg.settings.post_request!.default();
    this.server = startServer(this.handler(this.wsgi, wantAfter), this.cfg.all, this.sockets, this.log, {
      multiprocess: this.cfg.get('workers') > 1,
      balance: this.balance,
      hooks: wantAfter ? { after: (env, status, sent, started) => this.afterRequest(env, status, sent, started) } : {},
    });
    void this.server.closed.then(() => this.exit(0));
    this.booted = true;
    try {
      await this.cfg.get('post_worker_init')(this);
    } catch (e) {
      this.log.exception('Exception in post_worker_init hook', e);
    }
    this.send({ gts: 'booted' });
  }

  /** uid/gid/umask, signals, parent watch (Gunicorn's init_process before load_wsgi). */
  private initProcess(): void {
    process.umask(this.cfg.get('umask'));
    const gid = this.cfg.get('group');
    const uid = this.cfg.get('user');
    if (process.getegid && gid !== process.getegid()) process.setgid!(gid);
    const initgroups = (process as unknown as { initgroups?: (u: number, g: number) => void }).initgroups;
    if (this.cfg.get('initgroups') && initgroups) initgroups(uid, gid);
    if (process.geteuid && uid !== process.geteuid()) process.setuid!(uid);
    process.on('SIGTERM', () => this.handleExit());
    process.on('SIGQUIT', () => this.handleQuit());
    process.on('SIGINT', () => this.handleQuit());
    process.on('SIGABRT', () => this.handleAbort());
    process.on('SIGUSR1', () => this.handleUsr1());
    process.on('SIGWINCH', () => this.log.debug('worker: SIGWINCH ignored.'));
    process.on('disconnect', () => {
      if (!this.alive) return;
      this.log.info(`Parent changed, shutting down: ${this}`);
      this.handleExit();
    });
  }

  private startHeartbeat(): void {
    const timeout = this.cfg.get('timeout');
    const every = timeout > 0 ? Math.max(50, Math.min(1000, (timeout * 1000) / 4)) : 1000;
    this.send({ gts: 'hb' });
    setInterval(() => this.send({ gts: 'hb' }), every).unref();
  }

  /** Wraps the application: request counting (max_requests), pre_request, response capture. */
  private handler(app: Application, capture: boolean): Application {
    const preRequest = this.cfg.get('pre_request');
    const callPre = preRequest !== this.cfg.settings.pre_request!.default() || this.log.isEnabled('debug');
    return (environ, startResponse) => {
      this.nr += 1;
      if (this.nr >= this.max_requests && this.alive) {
        this.log.info('Autorestarting worker after current request.');
        this.alive = false;
        setImmediate(() => this.stop(true));
      }
      if (callPre) preRequest(this, hookRequest(environ));
      if (!capture) return app(environ, startResponse);
      const state: ResponseState = { status: '', headers: [] };
      this.responses.set(environ, state);
      return app(environ, (status, headers, exc) => {
        state.status = status;
        state.headers = headers;
        return startResponse(status, headers, exc);
      });
    };
  }

  private afterRequest(environ: Environ, status: string, sent: number, startedAt: number): void {
    const state = this.responses.get(environ);
    const headers = state?.headers ?? [];
    const st = status || state?.status || '';
    if (this.access !== null) {
      this.access.log({ environ, status: st, headers, sent, durationUs: (performance.now() - startedAt) * 1000 });
    }
    const post = this.cfg.get('post_request');
    if (post !== this.cfg.settings.post_request!.default()) {
      try {
        const req = hookRequest(environ);
        if (post.length === 2) post(this, req);
        else if (post.length === 3) post(this, req, environ);
        else post(this, req, environ, hookResponse(st, headers, sent));
      } catch (e) {
        this.log.exception('Exception in post_request hook', e);
      }
    }
  }

  /** Stops accepting; in-flight requests finish (graceful) or connections close now. */
  stop(graceful: boolean): void {
    this.alive = false;
    if (this.server === null) this.exit(0);
    if (this.stopping && graceful) return;
    this.stopping = true;
    this.reloader?.stop();
    this.server!.server.close(graceful);
    if (graceful) {
      const t = setTimeout(() => this.server!.server.close(false), this.cfg.get('graceful_timeout') * 1000);
      t.unref();
    }
  }

  private handleExit(): void {
    this.stop(true);
  }

  private handleQuit(): void {
    this.alive = false;
    this.hook('worker_int', this);
    this.stop(false);
    setTimeout(() => this.exit(0), 100).unref();
  }

  private handleAbort(): void {
    this.alive = false;
    this.hook('worker_abort', this);
    this.exit(1);
  }

  private handleUsr1(): void {
    this.log.reopen();
    this.access?.reopen();
  }

  private reloadOn(file: string): void {
    this.log.info(`Worker reloading: ${file} modified`);
    this.alive = false;
    this.hook('worker_int', this);
    this.stop(true);
  }

  private exited = false;
  /** Gunicorn's `finally:` of spawn_worker: log, worker_exit hook, exit. */
  exit(code: number): never {
    if (!this.exited) {
      this.exited = true;
      this.log.info(`Worker exiting (pid: ${this.pid})`);
      this.hook('worker_exit', this.master, this);
    }
    process.exit(code);
  }

  /** Calls a server hook in this worker; an exception is logged, never fatal. */
  private hook(name: 'worker_int' | 'worker_abort' | 'worker_exit', ...args: unknown[]): void {
    try {
      (this.cfg.get(name) as (...a: unknown[]) => unknown)(...args);
    } catch (e) {
      this.log.exception(`Exception in ${name} hook`, e);
    }
  }
}

/** Entry for a spawned worker: builds the Worker from the master's state and boots it. */
export async function runWorker(app: WorkerApp): Promise<Worker> {
  const w = new Worker(app, takeBootState());
  await w.boot();
  return w;
}
