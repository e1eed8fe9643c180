// A worker process: Gunicorn's Worker.init_process() then run(), on the
// native core. Spawned by the arbiter; the listening sockets are inherited
// fds. Signals: TERM graceful, INT/QUIT quick (worker_int), ABRT
// (worker_abort, exit 1), USR1 reopen logs. A heartbeat goes to the master
// over IPC from the event loop, so a blocked loop is detected as a timeout.
import { performance } from 'node:perf_hooks';

import type { Config } from '../config/config.js';
import type { AccessLog } from '../logging/access.js';
import { createAccessLog, createLogger, loadLoggerClass } from '../logging/factory.js';
import type { Logger } from '../logging/logger.js';
import { RequestRecorder } from '../metrics/recorder.js';
import { residentSetSize } from '../metrics/rss.js';
import { StatsdClient } from '../metrics/statsd.js';
import type { OpenListener } from '../listeners.js';
import type { RequestHooks } from '../http/handler.js';
import { startServer } from '../server.js';
import type { AppObject, ServedApp } from '../http/shape.js';
import type { Application, Environ, NodeExtras, NodeHandler, ResponseHeaders } from '../types.js';
import { defaults } from '../config/settings.js';
import { ignoredUnderNode, startNodeServer } from './node-server.js';
import { hookRequest, hookResponse } from './request.js';
import {
  APP_LOAD_ERROR,
  AppImportError,
  takeBootState,
  WORKER_BOOT_ERROR,
  type MasterMessage,
  type WorkerBootState,
  type WorkerMessage,
  type WorkerStats,
} from './protocol.js';
import { Reloader } from './reloader.js';
import { awaitWithin } from './await-hook.js';

/** What the worker needs from the application object (BaseApplication). */
export interface WorkerApp {
  cfg: Config;
  wsgi(): Promise<AppObject>;
  /** what to serve: a WSGI-style or fetch-style app on the native core, or a (req, res) handler on node:http (-k node) */
  served(): Promise<ServedApp>;
}

/** What a worker serves with: the native core, or node:http (-k node). */
interface Serving {
  connections(): number;
  close(graceful: boolean): void;
  readonly closed: Promise<void>;
  /** "METHOD URI" of the requests in flight */
  inFlight(): string[];
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
  /** the loaded application object (any shape) */
  wsgi: AppObject | null = null;
  /** its shape under worker_class (lib/http/shape.ts) */
  shape: ServedApp | null = null;
  private access: AccessLog | null = null;
  private server: Serving | null = null;
  /** 'node' when serving a (req, res) handler with node:http */
  serving: 'native' | 'node' = 'native';
  private stopping = false;
  private readonly master: MasterView;
  private reloader: Reloader | null = null;
  private readonly balance: WorkerBootState['balance'];
  private readonly responses = new WeakMap<Environ, ResponseState>();
  /** stray async errors (unhandledRejection, uncaughtException) so far: see max_unhandled_errors */
  unhandled_errors = 0;
  /** StatsD / Prometheus counts; null (no work per request) when both are off */
  private recorder: RequestRecorder | null = null;

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
    this.log = createLogger(this.cfg.all);
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
    try {
      this.log.plugin = await loadLoggerClass(this.cfg.get('logger_class'), this.cfg.serializable());
    } catch (e) {
      this.log.exception('Exception in worker process', e);
      return this.exit(WORKER_BOOT_ERROR);
    }
    this.log.info(`Booting worker with pid: ${this.pid}`);
    let served: ServedApp;
    try {
      await this.cfg.get('post_fork')(this.master, this);
      this.initProcess();
      this.startHeartbeat();
      served = await this.app.served();
      this.wsgi = await this.app.wsgi();
      this.shape = served;
    } catch (e) {
      if (e instanceof AppImportError) {
        this.log.debug(`Exception while loading the application\n${e.stack ?? e.message}`);
        process.stderr.write(`${e.message}\n`);
        return this.exit(APP_LOAD_ERROR);
      }
      this.log.exception('Exception in worker process', e);
      return this.exit(WORKER_BOOT_ERROR);
    }
    if (this.cfg.get('reload')) {
      this.reloader = new Reloader(this.cfg, this.log, (file) => this.reloadOn(file));
      this.reloader.start();
    }
    this.access = createAccessLog(this.cfg.all, this.log);
    this.recorder = this.createRecorder();
    const post = this.cfg.get('post_request');
    // the access log and post_request read the response's headers, its size and duration; the metrics
    // only its status, and the recorder times a sample of the requests under load (lib/metrics/recorder.ts)
    const capture = this.access !== null || post !== this.cfg.settings.post_request!.default();
    const recorder = this.recorder;
    const wantAfter = capture || recorder !== null;
    // -k node's words are a whole line (lib/app/shape.ts); the native core's shapes say what the object is
    this.log.info(served.kind === 'node' ? served.how : `Application: ${served.how}`);
    if (served.kind === 'node') {
      this.server = this.startNode(served.handler, wantAfter, served.extras);
    } else {
      let native: ReturnType<typeof startServer>;
      if (served.kind === 'fetch') {
        // the hooks get a WSGI environ only when something reads it (pre/post_request, access log, metrics)
        const after = wantAfter
          ? (env: Environ, status: string, sent: number, started: number, headers?: ResponseHeaders) =>
              this.afterRequest(env, status, sent, started, headers)
          : undefined;
        const callPre = this.callsPreRequest();
        native = startServer(served, this.cfg.all, this.sockets, this.log, {
          multiprocess: this.cfg.get('workers') > 1,
          balance: this.balance,
          hooks: { pre: (env) => this.beginRequest(env, callPre), after, environ: wantAfter || callPre },
        });
      } else {
        let hooks: RequestHooks = {};
        if (capture) hooks = { after: (env, status, sent, started) => this.afterRequest(env, status, sent, started) };
        // the dispatcher calls the recorder itself: an untimed request is a counter decrement (RequestMeter)
        else if (recorder !== null) hooks = { meter: recorder };
        native = startServer(
          { ...served, app: this.handler(served.app, capture) },
          this.cfg.all,
          this.sockets,
          this.log,
          {
            multiprocess: this.cfg.get('workers') > 1,
            balance: this.balance,
            hooks,
          },
        );
      }
      this.server = {
        connections: () => native.server.connections(),
        close: (graceful) => native.server.close(graceful),
        closed: native.closed,
        inFlight: () => native.dispatcher.inFlight().map((e) => `${e.REQUEST_METHOD} ${e.RAW_URI}`),
      };
    }
    void this.server.closed.then(() => this.lastBeat()).then(() => this.exit(0));
    this.booted = true;
    await this.awaitHook('post_worker_init', this);
    this.send({ gts: 'booted' });
    if (this.log.isEnabled('debug')) {
      const cpu = process.cpuUsage();
      const spare =
        activatedAt === null
          ? ''
          : `, ${(performance.now() - activatedAt).toFixed(1)} ms after it was activated as a spare`;
      this.log.debug(
        `Worker booted ${performance.now().toFixed(1)} ms after its process started (${((cpu.user + cpu.system) / 1000).toFixed(1)} ms CPU)${spare}`,
      );
    }
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
    this.installErrorPolicy();
    const parentGone = () => {
      if (!this.alive) return;
      this.log.info(`Parent changed, shutting down: ${this.toString()}`);
      this.handleExit();
    };
    process.on('disconnect', parentGone);
    // a master killed while this worker booted: its 'disconnect' has passed already
    if (!process.connected) parentGone();
  }

  private startHeartbeat(): void {
    const timeout = this.cfg.get('timeout');
    const every = timeout > 0 ? Math.max(50, Math.min(1000, (timeout * 1000) / 4)) : 1000;
    this.send(this.beat());
    setInterval(() => this.send(this.beat()), every).unref();
  }

  // ---- operations: the heartbeat's counts, StatsD and Prometheus (lib/metrics/)

  /** the heartbeat message: this worker's counts, and the request metrics since the last one */
  private beat(): WorkerMessage {
    const rss = residentSetSize(); // undefined without /proc (a chroot): then no memory figure, no memory check
    const st: WorkerStats = {
      nr: this.nr,
      done: this.recorder?.done ?? null,
      c: this.server?.connections() ?? 0,
      rss: rss ?? 0,
    };
    const m = this.recorder?.take();
    // rss at the top level: the master's max_worker_memory check reads it
    return m ? { gts: 'hb', rss, st, m } : { gts: 'hb', rss, st };
  }

  /** with metrics on: the counts since the last heartbeat reach the master before this worker exits */
  private lastBeat(): Promise<void> {
    if (this.recorder === null || !process.connected) return Promise.resolve();
    this.recorder.flushStatsd();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 500);
      process.send!(this.beat(), undefined, undefined, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** StatsD (statsd_host) and Prometheus (metrics_bind) per-request metrics; null when both are off */
  private createRecorder(): RequestRecorder | null {
    const host = this.cfg.get('statsd_host');
    let statsd: StatsdClient | null = null;
    if (host !== null) {
      try {
        statsd = new StatsdClient(host, this.cfg.get('statsd_prefix'), this.cfg.get('dogstatsd_tags'));
      } catch {
        /* the master said why (unix datagram sockets are not available yet) */
      }
    }
    this.log.counter = statsd;
    const aggregate = this.cfg.get('metrics_bind') !== null;
    return statsd !== null || aggregate ? new RequestRecorder(statsd, aggregate) : null;
  }

  /** max_requests: counts one request; the last one starts a graceful restart after it. */
  private countRequest(): void {
    this.nr += 1;
    if (this.nr >= this.max_requests && this.alive) {
      this.log.info('Autorestarting worker after current request.');
      this.send({ gts: 'exiting', reason: 'max_requests' });
      this.alive = false;
      setImmediate(() => this.stop(true));
    }
  }

  /** whether pre_request is set (or debug logging on, which Gunicorn's default hook uses) */
  private callsPreRequest(): boolean {
    return this.cfg.get('pre_request') !== this.cfg.settings.pre_request!.default() || this.log.isEnabled('debug');
  }

  /** Before each request of the native core, WSGI- or fetch-style: request counting (max_requests), pre_request. */
  private beginRequest(environ: Environ | undefined, callPre: boolean): void {
    this.countRequest();
    if (callPre && environ !== undefined) this.cfg.get('pre_request')(this, hookRequest(environ));
  }

  /**
   * -k node: node:http on the inherited sockets (node-server.ts), with the
   * same request counting, pre_request/post_request hooks, access log and
   * metrics; the hooks get the minimal environ of nodeEnviron().
   */
  private startNode(handler: NodeHandler, wantAfter: boolean, extras?: NodeExtras): Serving {
    this.serving = 'node';
    const ignored = ignoredUnderNode(this.cfg.all, defaults());
    if (ignored.length > 0)
      this.log.warning(`-k node: node:http serves the requests; these settings do not apply: ${ignored.join(', ')}`);
    if (this.balance) this.log.debug("-k node: accept balancing is the native core's; node:http accepts as it can");
    const preRequest = this.cfg.get('pre_request');
    const callPre = this.callsPreRequest();
    return startNodeServer(
      handler,
      this.cfg.all,
      this.sockets,
      this.log,
      {
        request: (env) => {
          this.countRequest();
          if (callPre) preRequest(this, hookRequest(env()));
        },
        after: wantAfter
          ? (env, status, headers, sent, started) => {
              this.afterRequest(env, status, sent, started, headers);
            }
          : undefined,
        error: () => void this.exit(WORKER_BOOT_ERROR),
      },
      extras,
    );
  }

  /** Wraps the application: request counting (max_requests), pre_request, response capture. */
  private handler(app: Application, capture: boolean): Application {
    const callPre = this.callsPreRequest();
    return (environ, startResponse) => {
      this.beginRequest(environ, callPre);
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

  private afterRequest(
    environ: Environ,
    status: string,
    sent: number,
    startedAt: number,
    respHeaders?: ResponseHeaders,
  ): void {
    const state = respHeaders === undefined ? this.responses.get(environ) : undefined;
    const headers = respHeaders ?? state?.headers ?? [];
    const st = status || state?.status || '';
    if (this.access !== null) {
      this.access.log({ environ, status: st, headers, sent, durationUs: (performance.now() - startedAt) * 1000 });
    }
    // every request timed here (startedAt from performance.now()): the recorder reads the clock once more
    if (this.recorder !== null) this.recorder.record(environ.REQUEST_METHOD, st, startedAt);
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
    if (this.server === null) {
      void this.exit(0);
      return;
    }
    if (this.stopping && graceful) return;
    if (graceful && !this.stopping) this.hook('worker_stopping', this);
    this.stopping = true;
    this.reloader?.stop();
    this.server.close(graceful);
    if (graceful) {
      const t = setTimeout(() => this.server!.close(false), this.cfg.get('graceful_timeout') * 1000);
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
    setTimeout(() => void this.exit(0), 100).unref();
  }

  private handleAbort(): void {
    this.alive = false;
    this.hook('worker_abort', this);
    void this.exit(1);
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

  private exiting: Promise<never> | null = null;
  /**
   * Gunicorn's `finally:` of spawn_worker: log, worker_exit hook (awaited up to
   * graceful_timeout when it returns a promise), exit. Never resolves.
   */
  exit(code: number): Promise<never> {
    // a second call (QUIT's timer after the server closed) waits for the first
    this.exiting ??= (async () => {
      this.log.info(`Worker exiting (pid: ${this.pid})`);
      await this.awaitHook('worker_exit', this.master, this);
      process.exit(code);
    })();
    return this.exiting;
  }

  /** A hook that may return a promise: awaited up to graceful_timeout; an overrun is logged. */
  private async awaitHook(name: 'post_worker_init' | 'worker_exit', ...args: unknown[]): Promise<void> {
    await awaitWithin(
      () => (this.cfg.get(name) as (...a: unknown[]) => unknown)(...args),
      this.cfg.get('graceful_timeout'),
      (e) => this.log.exception(`Exception in ${name} hook`, e),
      (s) => this.log.warning(`The ${name} hook did not finish within graceful_timeout (${s} s); going on`),
    );
  }

  // ------------------------------------------------------------ stray async errors

  /**
   * Node does not know where a stray error came from; the requests in flight
   * when it surfaced (async ones, tracked by the dispatcher at no per-request
   * cost) are the candidates.
   */
  private requestsInFlight(): string {
    const live = this.server?.inFlight() ?? [];
    if (live.length === 0) return ' (no request in flight)';
    const shown = live.slice(0, 5).join(', ');
    return ` (requests in flight: ${shown}${live.length > 5 ? `, and ${live.length - 5} more` : ''})`;
  }

  /**
   * The error policy (README, "Resilience"): a stray async error is logged with
   * the requests in flight, counted, and the worker keeps serving; after
   * max_unhandled_errors of them it restarts gracefully (drain, then exit).
   */
  private installErrorPolicy(): void {
    process.on('unhandledRejection', (reason) => this.strayError('Unhandled promise rejection', reason));
    process.on('uncaughtException', (err) => this.strayError('Uncaught exception', err));
  }

  private strayError(kind: string, err: unknown): void {
    this.unhandled_errors += 1;
    this.log.exception(
      `${kind} in worker (pid:${this.pid}), #${this.unhandled_errors}${this.requestsInFlight()}; still serving`,
      err,
    );
    const max = this.cfg.get('max_unhandled_errors');
    if (max > 0 && this.unhandled_errors >= max && this.alive && this.server !== null) {
      this.log.warning(
        `Restarting worker (pid:${this.pid}) gracefully after ${this.unhandled_errors} unhandled errors (max_unhandled_errors)`,
      );
      this.alive = false;
      setImmediate(() => this.stop(true));
    }
  }

  /** Calls a server hook in this worker; an exception is logged, never fatal. */
  private hook(name: 'worker_int' | 'worker_abort' | 'worker_exit' | 'worker_stopping', ...args: unknown[]): void {
    try {
      (this.cfg.get(name) as (...a: unknown[]) => unknown)(...args);
    } catch (e) {
      this.log.exception(`Exception in ${name} hook`, e);
    }
  }
}

/** Entry for a spawned worker: builds the Worker from the master's state and boots it. */
export async function runWorker(app: WorkerApp): Promise<Worker> {
  const taken = takeBootState();
  const state = 'spare' in taken ? await waitForActivation() : taken;
  const w = new Worker(app, state);
  await w.boot();
  return w;
}

/**
 * A spare worker (spare_workers): modules and configuration are loaded; it
 * tells the master it is ready and waits for its boot state. The master gone
 * first: it exits.
 */
let activatedAt: number | null = null;
function waitForActivation(): Promise<WorkerBootState> {
  return new Promise((resolve) => {
    const onMessage = (m: MasterMessage) => {
      if (m?.gts !== 'activate') return;
      process.removeListener('message', onMessage);
      process.removeListener('disconnect', onDisconnect);
      activatedAt = performance.now();
      resolve(m.state);
    };
    const onDisconnect = () => process.exit(0);
    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
    if (process.connected) process.send!({ gts: 'spare' } satisfies WorkerMessage);
  });
}
