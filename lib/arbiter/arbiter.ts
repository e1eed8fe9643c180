// The master process, Gunicorn's Arbiter: binds the listeners, keeps
// `num_workers` worker processes alive, and reacts to signals. Signal
// handlers only queue; the main loop (run) dispatches to handle<Signal>()
// and then murders silent workers and adjusts the pool.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

import type { Config } from '../config/config.js';
import { createLogger, loadLoggerClass } from '../logging/factory.js';
import type { Logger } from '../logging/logger.js';
import { closeListener, openListeners, type OpenListener } from '../listeners.js';
import { VERSION } from '../version.js';
import type { AppObject } from '../http/shape.js';
import { native } from '../native.js';
import { checkTls, isTls } from '../server.js';
import {
  APP_LOAD_ERROR,
  AppImportError,
  FIRST_LISTENER_SLOT,
  WORKER_BOOT_ERROR,
  WORKER_ENV,
  type WorkerBootState,
  type WorkerMessage,
} from '../workers/protocol.js';
import { awaitWithin } from '../workers/await-hook.js';
import { DirtyPool } from './dirty.js';
import { Operations } from './operations.js';
import { Pidfile } from './pidfile.js';
import { inheritsOrphans, reapOrphans } from './reaper.js';
import { listenFds, monotonicUsec, sdNotify, SD_LISTEN_FDS_START, watchdogIntervalMs } from './systemd.js';
import { WorkerHandle } from './worker-handle.js';

/** What the arbiter needs from the application object. */
export interface ArbiterApp {
  cfg: Config;
  wsgi(): Promise<AppObject>;
  /** re-reads the configuration (HUP) */
  reload(): Promise<void>;
  /** forget a preloaded application so that wsgi() loads it again */
  callable: AppObject | null;
}

export class HaltServer extends Error {
  constructor(
    readonly reason: string | null,
    readonly exitStatus = 1,
  ) {
    super(reason ?? 'halt');
  }
}
class StopServer extends Error {}

const SIGNALS = [
  'SIGHUP',
  'SIGQUIT',
  'SIGINT',
  'SIGTERM',
  'SIGTTIN',
  'SIGTTOU',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
] as const;
type Sig = (typeof SIGNALS)[number] | 'SIGCHLD';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What a re-executed master (USR2) or worker must be started with: this process's own command line. */
export interface StartContext {
  execPath: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Options of new Arbiter(app, options): the command line a re-executed master
 * (USR2) or a worker starts with, and how processes are started and signalled.
 * Tests replace spawn and kill with fakes (test/arbiter-unit.test.mjs).
 */
export interface ArbiterOptions extends Partial<StartContext> {
  /** starts a worker, or the new master on USR2 (default: child_process.spawn) */
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** sends a signal to a worker (default: process.kill); throws ESRCH for a process that is gone */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

/** a spare worker process (spare_workers) */
interface Spare {
  pid: number;
  child: ChildProcess;
  born: number;
  /** it said it waits for its boot state */
  ready: boolean;
  terminating: boolean;
  detach(): void;
}

/** worker slots in the accept-balancing page; more workers than this accept unbalanced */
const BALANCE_SLOTS = 1024;

export class Arbiter {
  readonly pid = process.pid;
  cfg: Config;
  log: Logger;
  readonly WORKERS = new Map<number, WorkerHandle>();
  LISTENERS: OpenListener[] = [];
  master_name = 'Master';
  /** the old master while this one is a USR2 child not yet promoted */
  master_pid = 0;
  reexec_pid = 0;
  systemd = false;
  /** the listeners came from an old master (USR2, GUNICORN_FD): ours alone once it is gone */
  private inheritedFromMaster = false;
  private _num_workers: number | null = null;
  private worker_age = 0;
  /** shared accept-balancing page (native/src/balance.h), -1 if unavailable */
  private balanceFd = -1;
  private pidfile: Pidfile | null = null;
  private readonly queue: Sig[] = [];
  private readonly exited: Array<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> = [];
  private wake: (() => void) | null = null;
  private readonly handlers = new Map<string, () => void>();
  private procName: string;
  private lastCount = -1;
  private halted = false;
  private readonly ctx: StartContext;
  private readonly spawnProcess: NonNullable<ArbiterOptions['spawn']>;
  private readonly killProcess: NonNullable<ArbiterOptions['kill']>;
  private readonly envSetByRawEnv = new Map<string, string | undefined>();
  private markReady: () => void = () => {};
  // resilience (issue 13): crash-loop back-off, shutdown_delay, systemd watchdog
  /** crashes at boot in a row (exits within min_uptime) */
  private crashStreak = 0;
  private lastCrashAt = 0;
  /** monotonic ms before which no worker is spawned (crash-loop back-off) */
  private nextSpawnAt = 0;
  /** monotonic ms at which a delayed SIGTERM (shutdown_delay) stops the server */
  private stopAt = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** spare_workers: processes started ahead, configuration loaded, waiting to become a worker */
  private readonly spares = new Map<number, Spare>();
  /** StatsD, Prometheus, the control socket (lib/arbiter/operations.ts) */
  ops: Operations | null = null;
  /** the dirty pool (dirty_workers, dirty_apps): lib/arbiter/dirty.ts */
  dirty: DirtyPool | null = null;
  /** resolves once the listeners are bound (after when_ready) */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    readonly app: ArbiterApp,
    options: ArbiterOptions = {},
  ) {
    this.cfg = app.cfg;
    this.log = createLogger(this.cfg.all);
    this.procName = this.cfg.procName;
    const { spawn: spawnProcess = spawn, kill: killProcess = (pid, sig) => process.kill(pid, sig), ...ctx } = options;
    this.spawnProcess = spawnProcess;
    this.killProcess = killProcess;
    this.ctx = {
      execPath: process.execPath,
      args: [...process.execArgv, ...process.argv.slice(1)],
      cwd: process.cwd(),
      env: { ...process.env },
      ...ctx,
    };
  }

  get num_workers(): number {
    return this._num_workers ?? 0;
  }

  set num_workers(value: number) {
    const old = this._num_workers;
    this._num_workers = value;
    this.hook('nworkers_changed', this, value, old);
  }

  // ---------------------------------------------------------------- main loop

  /** Runs until stopped; resolves with the exit status. */
  async run(): Promise<number> {
    try {
      await this.start();
    } catch (e) {
      if (e instanceof HaltServer) return this.halt(e.reason, e.exitStatus);
      // a pidfile naming a live master, a bind failure: Gunicorn's "Error: ..." and exit 1
      process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
      this.pidfile?.unlink();
      this.removeSignals();
      return 1;
    }
    try {
      await this.manageWorkers();
      this.manageDirty();
      for (;;) {
        this.maybePromoteMaster();
        await this.sleep();
        for (const sig of this.queue.splice(0)) await this.dispatch(sig);
        if (inheritsOrphans()) reapOrphans(this.WORKERS.keys(), this.log);
        if (this.stopAt !== 0 && performance.now() >= this.stopAt) throw new StopServer();
        this.murderWorkers();
        await this.manageWorkers();
        this.manageDirty();
      }
    } catch (e) {
      if (e instanceof StopServer) return this.halt();
      if (e instanceof HaltServer) return this.halt(e.reason, e.exitStatus);
      this.log.exception('Unhandled exception in main loop', e);
      await this.stop(false).catch(() => {});
      this.pidfile?.unlink();
      this.removeSignals();
      return 255;
    }
  }

  private async dispatch(sig: Sig): Promise<void> {
    const name = sig.slice(3).toLowerCase();
    if (sig === 'SIGCHLD') this.log.debug(`Handling signal: ${name}`);
    else this.log.info(`Handling signal: ${name}`);
    switch (sig) {
      case 'SIGHUP':
        return this.handleHup();
      case 'SIGTERM':
        return this.handleTerm();
      case 'SIGINT':
        return this.handleInt();
      case 'SIGQUIT':
        return this.handleQuit();
      case 'SIGTTIN':
        return this.handleTtin();
      case 'SIGTTOU':
        return this.handleTtou();
      case 'SIGUSR1':
        return this.handleUsr1();
      case 'SIGUSR2':
        return this.handleUsr2();
      case 'SIGWINCH':
        return this.handleWinch();
      case 'SIGCHLD':
        return this.handleChld();
    }
  }

  /** waits up to 1 s for a signal, a child exit or a worker message */
  private sleep(): Promise<void> {
    if (this.queue.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
      const t = setTimeout(done, this.sleepMs());
      this.wake = done;
    });
  }

  private signal(sig: Sig): void {
    if (sig !== 'SIGCHLD' && this.queue.length >= 5) return; // Gunicorn caps its queue at 5
    this.queue.push(sig);
    this.wake?.();
  }

  /** Asks the running loop to stop, as the signal would (used by serve()'s close()). */
  shutdown(graceful = true): void {
    this.signal(graceful ? 'SIGTERM' : 'SIGQUIT');
  }

  // ---------------------------------------------------------------- start / stop

  private async start(): Promise<void> {
    this.log.plugin = await loadLoggerClass(this.cfg.get('logger_class'), this.cfg.serializable());
    this.log.info(`Starting gunicorn-ts ${VERSION}`);
    if (process.env.GUNICORN_PID) {
      this.master_pid = Number(process.env.GUNICORN_PID);
      this.procName = `${this.procName}.2`;
      this.master_name = 'Master.2';
    }
    this.applyRawEnv();
    const pidfile = this.cfg.get('pidfile');
    if (pidfile !== null) {
      this.pidfile = new Pidfile(this.master_pid ? `${pidfile}.2` : pidfile);
      this.pidfile.create(this.pid);
    }
    this.hook('on_starting', this);
    this.initSignals();
    this.setTitle();
    if (this.cfg.get('preload_app')) await this.preload();
    // TLS: a missing, unreadable, mismatched or encrypted certificate/key stops
    // start-up here (one line, exit 1), before any worker exists.
    const tlsError = checkTls(this.cfg.all);
    if (tlsError !== null) throw new Error(tlsError);
    this.LISTENERS = await this.createListeners();
    this.balanceFd = this.createBalance();
    this.ops = new Operations(this);
    await this.ops.start();
    await this.startDirty();
    this.log.info(`Listening at: ${this.listeningAt()} (${this.pid})`);
    this.log.info(`Using worker: ${this.cfg.get('worker_class')}`);
    this.log.debug(`sd_notify: ${sdNotify('READY=1\nSTATUS=Gunicorn arbiter booted')}`);
    this.startWatchdog();
    if (this.log.isEnabled('debug')) {
      this.log.debug('Current configuration:');
      for (const line of this.cfg.toString().split('\n')) this.log.debug(`  ${line.replace(/\s+=\s/, ': ')}`);
    }
    this.num_workers = this.cfg.get('workers');
    if (this.cfg.get('reload')) this.log.warning('Reloader is on. Use in development only!');
    this.log.debug('Arbiter booted');
    await this.awaitHook('when_ready', this);
    this.markReady();
  }

  private async preload(): Promise<void> {
    try {
      await this.app.wsgi();
    } catch (e) {
      if (e instanceof AppImportError) {
        process.stderr.write(`${e.message}\n`);
        throw new HaltServer('App failed to load.', APP_LOAD_ERROR);
      }
      this.log.exception('Exception while preloading the application', e);
      throw new HaltServer('App failed to load.', APP_LOAD_ERROR);
    }
  }

  /** systemd LISTEN_FDS > GUNICORN_FD (USR2) > bind */
  private listeningAt(): string {
    const tls = isTls(this.cfg.all);
    return this.LISTENERS.map((l) => (tls ? l.info.url.replace(/^http:/, 'https:') : l.info.url)).join(',');
  }

  private async createListeners(): Promise<OpenListener[]> {
    const opts = {
      backlog: this.cfg.get('backlog'),
      reusePort: this.cfg.get('reuse_port'),
      umask: this.cfg.get('umask'),
    };
    const n = listenFds();
    if (n > 0) {
      this.systemd = true;
      return openListeners(
        Array.from({ length: n }, (_, i) => `fd://${SD_LISTEN_FDS_START + i}`),
        opts,
      );
    }
    const inherited = process.env.GUNICORN_FD;
    if (inherited) {
      delete process.env.GUNICORN_FD;
      this.inheritedFromMaster = true;
      return openListeners(
        inherited.split(',').map((fd) => `fd://${fd.trim()}`),
        opts,
      );
    }
    return openListeners(this.cfg.get('bind'), opts);
  }

  /** stop(graceful): close listeners, TERM (or QUIT) workers, wait graceful_timeout, then KILL. */
  async stop(graceful = true): Promise<void> {
    const unlink = this.reexec_pid === 0 && this.master_pid === 0 && !this.systemd && !this.cfg.get('reuse_port');
    for (const l of this.LISTENERS) {
      // The last owner of a socket (no USR2 partner, not systemd's, not an fd:// we were
      // handed) stops new connections at it before the workers close it: they then accept and
      // answer what the kernel has queued instead of leaving it to be reset (native/src/server.h).
      if (graceful && unlink && (l.owned || this.inheritedFromMaster)) native.listenerStop(l.fd);
      if (!unlink) l.owned = false; // a USR2 pair, systemd or reuse_port: the socket file stays
      closeListener(l);
    }
    this.LISTENERS = [];
    this.killSpares();
    const sig = graceful ? 'SIGTERM' : 'SIGQUIT';
    const limit = performance.now() + this.cfg.get('graceful_timeout') * 1000;
    this.killWorkers(sig);
    while (this.WORKERS.size > 0 && performance.now() < limit) {
      await sleep(100);
      this.reapWorkers(false);
    }
    this.killWorkers('SIGKILL');
    const hard = performance.now() + 2000;
    while (this.WORKERS.size > 0 && performance.now() < hard) {
      await sleep(50);
      this.reapWorkers(false);
    }
    // the dirty pool last: draining requests may still call it
    const dirty = this.dirty;
    this.dirty = null;
    await dirty?.stop(graceful);
  }

  private async halt(reason: string | null = null, exitStatus = 0): Promise<number> {
    if (this.halted) return exitStatus;
    this.halted = true;
    this.log.debug(`sd_notify: ${sdNotify('STOPPING=1')}`);
    if (this.watchdog !== null) clearInterval(this.watchdog);
    await this.stop();
    await this.ops?.close();
    const logf = exitStatus === 0 ? (m: string) => this.log.info(m) : (m: string) => this.log.error(m);
    logf(`Shutting down: ${this.master_name}`);
    if (reason !== null) logf(`Reason: ${reason}`);
    this.pidfile?.unlink();
    await this.awaitHook('on_exit', this);
    this.removeSignals();
    return exitStatus;
  }

  // ---------------------------------------------------------------- signals

  private initSignals(): void {
    for (const sig of SIGNALS) {
      const h = () => this.signal(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
  }

  private removeSignals(): void {
    for (const [sig, h] of this.handlers) process.removeListener(sig, h);
    this.handlers.clear();
  }

  /** HUP: re-read the configuration, start new workers, gracefully stop the old ones. */
  async handleHup(): Promise<void> {
    this.log.info(`Hang up: ${this.master_name}`);
    this.log.debug(`sd_notify: ${sdNotify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`)}`);
    try {
      await this.reload();
    } finally {
      this.log.debug(`sd_notify: ${sdNotify('READY=1')}`);
    }
  }

  handleTerm(): void {
    const delay = this.cfg.get('shutdown_delay');
    if (delay > 0 && this.stopAt === 0) {
      // Kubernetes: keep serving while the endpoints learn that this pod is going
      this.stopAt = performance.now() + delay * 1000;
      this.log.info(`Serving ${delay} s more before the graceful stop (shutdown_delay); SIGTERM again to stop now`);
      this.log.debug(`sd_notify: ${sdNotify('STOPPING=1')}`);
      return;
    }
    throw new StopServer();
  }

  async handleInt(): Promise<never> {
    await this.stop(false);
    throw new StopServer();
  }

  async handleQuit(): Promise<never> {
    await this.stop(false);
    throw new StopServer();
  }

  handleTtin(): void {
    this.num_workers += 1;
  }

  handleTtou(): void {
    if (this.num_workers <= 1) return;
    this.num_workers -= 1;
  }

  handleUsr1(): void {
    this.log.reopen();
    this.killWorkers('SIGUSR1');
    this.dirty?.reopen();
  }

  handleUsr2(): void {
    this.reexec();
  }

  handleWinch(): void {
    if (this.cfg.get('daemon')) {
      this.log.info('graceful stop of workers');
      this.num_workers = 0;
      this.killWorkers('SIGTERM');
    } else {
      this.log.debug('SIGWINCH ignored. Not daemonized');
    }
  }

  handleChld(): void {
    this.reapWorkers(true);
  }

  // ---------------------------------------------------------------- reload / reexec

  private applyRawEnv(): void {
    for (const [k, v] of Object.entries(this.cfg.env)) {
      if (!this.envSetByRawEnv.has(k)) this.envSetByRawEnv.set(k, process.env[k]);
      process.env[k] = v;
    }
  }

  private restoreEnv(): void {
    for (const [k, v] of this.envSetByRawEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    this.envSetByRawEnv.clear();
  }

  async reload(): Promise<void> {
    this.killSpares(); // they loaded the old configuration
    const oldBind = this.cfg.get('bind').join('\n');
    this.restoreEnv();
    await this.app.reload();
    // A certificate or key being replaced (or half-copied): check before the
    // new workers read it; on failure keep the running workers and say why.
    const tlsError = checkTls(this.app.cfg.all);
    if (tlsError !== null) {
      this.applyRawEnv();
      this.log.error(`Reload failed, keeping the running workers: ${tlsError}`);
      return;
    }
    this.cfg = this.app.cfg;
    this.applyRawEnv();
    const old = this.log;
    this.log = createLogger(this.cfg.all);
    this.log.plugin = await loadLoggerClass(this.cfg.get('logger_class'), this.cfg.serializable());
    this.ops?.adoptLogger(this.log);
    old.close();
    if (this.cfg.get('preload_app')) {
      this.app.callable = null;
      await this.preload();
    }
    if (this.cfg.get('bind').join('\n') !== oldBind && !this.systemd) {
      const fresh = await openListeners(this.cfg.get('bind'), {
        backlog: this.cfg.get('backlog'),
        reusePort: this.cfg.get('reuse_port'),
        umask: this.cfg.get('umask'),
      });
      for (const l of this.LISTENERS) closeListener(l);
      this.LISTENERS = fresh;
      this.log.info(`Listening at: ${this.listeningAt()} (${this.pid})`);
    }
    await this.reloadDirty();
    this.hook('on_reload', this);
    this.procName = this.master_pid ? `${this.cfg.procName}.2` : this.cfg.procName;
    this.setTitle();
    const pidfile = this.cfg.get('pidfile');
    if (pidfile !== null) {
      const want = this.master_pid ? `${pidfile}.2` : pidfile;
      if (this.pidfile === null) {
        this.pidfile = new Pidfile(want);
        this.pidfile.create(this.pid);
      } else if (this.pidfile.fname !== want) this.pidfile.rename(want);
    }
    this.num_workers = this.cfg.get('workers');
    // new workers first; manageWorkers() then stops the oldest once they are up
    for (let i = 0; i < this.cfg.get('workers'); i++) this.spawnWorker();
  }

  /** USR2: start a new master that inherits the listening sockets. */
  reexec(): void {
    if (this.reexec_pid !== 0) {
      this.log.warning('USR2 signal ignored. Child exists.');
      return;
    }
    if (this.master_pid !== 0) {
      this.log.warning('USR2 signal ignored. Parent exists.');
      return;
    }
    this.hook('pre_exec', this);
    const fds = this.LISTENERS.map((l) => l.fd);
    const env: NodeJS.ProcessEnv = {
      ...this.ctx.env,
      GUNICORN_PID: String(this.pid),
      GUNICORN_FD: fds.map((_, i) => String(3 + i)).join(','),
    };
    delete env[WORKER_ENV];
    let child: ChildProcess;
    try {
      child = this.spawnProcess(this.ctx.execPath, this.ctx.args, {
        cwd: this.ctx.cwd,
        env,
        stdio: ['inherit', 'inherit', 'inherit', ...fds],
      });
    } catch (e) {
      this.log.exception('Failed to start a new master', e);
      return;
    }
    if (child.pid === undefined) {
      this.log.error('Failed to start a new master');
      return;
    }
    this.reexec_pid = child.pid;
    child.on('exit', (code, signal) => {
      this.exited.push({ pid: child.pid!, code, signal });
      this.signal('SIGCHLD');
    });
  }

  /** A USR2 child becomes the master when its parent (the old master) is gone. */
  private maybePromoteMaster(): void {
    if (this.master_pid === 0 || process.ppid === this.master_pid) return;
    this.log.info('Master has been promoted.');
    this.master_name = 'Master';
    this.master_pid = 0;
    this.procName = this.cfg.procName;
    delete process.env.GUNICORN_PID;
    this.setTitle();
    const pidfile = this.cfg.get('pidfile');
    if (this.pidfile !== null && pidfile !== null) this.pidfile.rename(pidfile);
    void this.ops?.promoted();
  }

  // ---------------------------------------------------------------- the dirty pool (lib/arbiter/dirty.ts)

  private async startDirty(): Promise<void> {
    if (!DirtyPool.enabled(this.cfg)) return;
    this.dirty = new DirtyPool(this.cfg, this.log, {
      ...this.ctx,
      spawn: this.spawnProcess,
      kill: this.killProcess,
      captureFd: () => this.captureFd(),
      wake: () => this.wake?.(),
    });
    await this.dirty.start();
  }

  /** HUP: a new generation of dirty workers (new code); the pool starts or stops if dirty_* changed so. */
  private async reloadDirty(): Promise<void> {
    if (this.dirty === null) return this.startDirty();
    if (DirtyPool.enabled(this.cfg)) return this.dirty.reload(this.cfg, this.log);
    const dirty = this.dirty;
    this.dirty = null;
    await dirty.stop(true);
  }

  /** the pool's heartbeat check and respawns; a dirty app that cannot load halts the server */
  private manageDirty(): void {
    this.dirty?.tick();
    const fatal = this.dirty?.fatal;
    if (fatal) throw new HaltServer(fatal.reason, fatal.status);
  }

  // ---------------------------------------------------------------- workers

  /** Spawns or stops workers so that `num_workers` are running. */
  async manageWorkers(): Promise<void> {
    this.checkStable();
    let active = this.active();
    if (active.length < this.num_workers && !this.backingOff()) {
      await this.spawnWorkers();
      active = this.active();
    }
    // stop the oldest extras (a worker over max_worker_memory first), but not while their replacements are still booting
    while (active.length > this.num_workers) {
      const victim = active.find((w) => w.recycle) ?? active[0]!;
      const rest = active.filter((w) => w !== victim);
      const booting = rest.some((w) => !w.booted);
      if (victim.booted && booting && rest.filter((w) => w.booted).length < this.num_workers) break;
      this.killWorker(victim, 'SIGTERM');
      active = rest;
    }
    if (active.length !== this.lastCount) {
      this.lastCount = active.length;
      this.log.debug(`${active.length} workers`);
    }
    this.replenishSpares(active);
  }

  /** workers that count toward the pool, oldest first */
  private active(): WorkerHandle[] {
    return [...this.WORKERS.values()].filter((w) => !w.terminating).sort((a, b) => a.age - b.age);
  }

  private async spawnWorkers(): Promise<void> {
    const missing = this.num_workers - this.active().length;
    for (let i = 0; i < missing; i++) {
      this.spawnWorker();
      await sleep(Math.random() * 100);
    }
  }

  spawnWorker(): WorkerHandle {
    this.worker_age += 1;
    const w = new WorkerHandle(this.worker_age, this.pid, this.cfg, this.log);
    this.hook('pre_fork', this, w);
    // accept balancing: the lowest slot no live worker holds
    const taken = new Set([...this.WORKERS.values()].map((x) => x.slot));
    let slot = 0;
    while (taken.has(slot)) slot++;
    w.slot = slot;
    const balance =
      this.balanceFd >= 0 && slot < BALANCE_SLOTS
        ? { fd: FIRST_LISTENER_SLOT + this.LISTENERS.length, slot }
        : undefined;
    const state: WorkerBootState = {
      age: w.age,
      ppid: this.pid,
      listeners: this.LISTENERS.map((l, i) => ({ fd: FIRST_LISTENER_SLOT + i, info: l.info })),
      settings: this.cfg.serializable(),
      balance,
    };
    const spare = this.takeSpare();
    if (spare !== null) return this.activateSpare(spare, w, state);
    const out = this.captureFd();
    const stdio: Array<number | 'inherit' | 'ipc'> = [
      out ?? 'inherit',
      out ?? 'inherit',
      out ?? 'inherit',
      'ipc',
      ...this.LISTENERS.map((l) => l.fd),
    ];
    if (balance) stdio.push(this.balanceFd);
    const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: JSON.stringify(state) };
    delete env.GUNICORN_FD;
    delete env.GUNICORN_PID;
    const child = this.spawnProcess(this.ctx.execPath, this.ctx.args, { cwd: this.ctx.cwd, env, stdio });
    if (out !== null) fs.closeSync(out);
    child.on('error', (e) => this.log.error(`Failed to spawn a worker: ${e.message}`));
    if (child.pid === undefined) return w;
    this.adopt(w, child);
    return w;
  }

  /** Makes a started process the worker `w`: its heartbeats, boot message and exit. */
  private adopt(w: WorkerHandle, child: ChildProcess): void {
    w.pid = child.pid!;
    w.child = child;
    this.WORKERS.set(w.pid, w);
    this.ops?.watch(w);
    child.on('message', (m: WorkerMessage) => {
      if (m?.gts === 'hb') {
        w.lastBeat = performance.now();
        if (m.rss !== undefined) this.checkMemory(w, m.rss);
      } else if (m?.gts === 'booted') {
        w.booted = true;
        w.lastBeat = performance.now();
        this.wake?.();
      }
    });
    child.on('exit', (code, signal) => {
      this.exited.push({ pid: w.pid, code, signal });
      this.signal('SIGCHLD');
    });
  }

  /** Workers publish their connection counts here so that they accept in turns (even keep-alive spread). */
  private createBalance(): number {
    try {
      return native.balanceCreate(BALANCE_SLOTS);
    } catch (e) {
      this.log.warning(`Accept balancing disabled: ${(e as Error).message}`);
      return -1;
    }
  }

  private vacate(w: WorkerHandle): void {
    if (this.balanceFd >= 0 && w.slot >= 0) native.balanceVacate(this.balanceFd, w.slot);
  }

  /** capture_output: workers write stdout/stderr into the error log file */
  private captureFd(): number | null {
    const errorlog = this.cfg.get('errorlog');
    if (!this.cfg.get('capture_output') || errorlog === '-') return null;
    return fs.openSync(errorlog, 'a');
  }

  killWorker(w: WorkerHandle, sig: NodeJS.Signals): void {
    if (sig === 'SIGTERM' || sig === 'SIGQUIT') w.terminating = true;
    try {
      this.killProcess(w.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') {
        this.WORKERS.delete(w.pid);
        this.vacate(w);
        this.hook('worker_exit', this, w);
      }
    }
  }

  killWorkers(sig: NodeJS.Signals): void {
    for (const w of [...this.WORKERS.values()]) this.killWorker(w, sig);
  }

  /** Heartbeat check: silent for `timeout` s -> SIGABRT, still there on a later tick -> SIGKILL. */
  murderWorkers(): void {
    const timeout = this.cfg.get('timeout');
    if (!timeout) return;
    const now = performance.now();
    for (const w of this.WORKERS.values()) {
      if (now - w.lastBeat <= timeout * 1000) continue;
      if (!w.aborted) {
        this.log.critical(`WORKER TIMEOUT (pid:${w.pid})`);
        w.aborted = true;
        this.killWorker(w, 'SIGABRT');
      } else {
        this.killWorker(w, 'SIGKILL');
      }
    }
  }

  /** CHLD: account for exited workers; exit status 3/4 halts the server. */
  reapWorkers(mayHalt: boolean): void {
    for (const { pid, code, signal } of this.exited.splice(0)) {
      if (pid === this.reexec_pid) {
        this.reexec_pid = 0;
        continue;
      }
      const spare = this.spares.get(pid);
      if (spare !== undefined) {
        this.spares.delete(pid);
        if (!spare.terminating) this.log.warning(`Spare worker (pid:${pid}) exited (code ${code}, signal ${signal})`);
        this.noteExit(spare, code, signal);
        continue;
      }
      const w = this.WORKERS.get(pid);
      if (w === undefined) {
        this.log.debug(`Reaped unknown process pid:${pid}`);
        continue;
      }
      w.exitCode = code;
      w.exitSignal = signal;
      this.WORKERS.delete(pid);
      this.vacate(w);
      this.ops?.exited(w, code, signal);
      if (code !== null && code !== 0) this.log.error(`Worker (pid:${pid}) exited with code ${code}.`);
      if (signal !== null) {
        if (signal === 'SIGKILL') this.log.error(`Worker (pid:${pid}) was sent SIGKILL! Perhaps out of memory?`);
        else if (signal === 'SIGTERM') this.log.info(`Worker (pid:${pid}) was sent SIGTERM!`);
        else this.log.warning(`Worker (pid:${pid}) was sent ${signal}!`);
      }
      this.hook('child_exit', this, w);
      this.noteExit(w, code, signal);
      if (mayHalt && code === WORKER_BOOT_ERROR) throw new HaltServer('Worker failed to boot.', WORKER_BOOT_ERROR);
      if (mayHalt && code === APP_LOAD_ERROR) throw new HaltServer('App failed to load.', APP_LOAD_ERROR);
    }
  }

  // ---------------------------------------------------------------- resilience

  /** how long the main loop may sleep: 1 s, less while a back-off or a shutdown_delay ends sooner */
  private sleepMs(): number {
    const now = performance.now();
    let ms = 1000;
    if (this.nextSpawnAt > now) ms = Math.min(ms, this.nextSpawnAt - now);
    if (this.stopAt !== 0) ms = Math.min(ms, Math.max(0, this.stopAt - now));
    return Math.max(1, Math.ceil(ms));
  }

  /** A worker exit: one that failed within min_uptime of its start (not stopped by us) extends the crash streak. */
  private noteExit(
    w: Pick<WorkerHandle, 'pid' | 'born' | 'terminating'>,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (w.terminating || (code === 0 && signal === null)) return;
    const now = performance.now();
    const minUptime = this.cfg.get('min_uptime') * 1000;
    if (now - w.born >= minUptime) return;
    this.crashStreak += 1;
    this.lastCrashAt = now;
    const after = this.cfg.get('max_quick_restarts');
    if (after === 0 || this.crashStreak < after) return;
    const delay = Math.min(this.cfg.get('restart_backoff_max'), 0.1 * 2 ** (this.crashStreak - after));
    this.nextSpawnAt = now + delay * 1000;
    this.log.warning(
      `Worker (pid:${w.pid}) exited ${((now - w.born) / 1000).toFixed(2)} s after its start: ` +
        `${this.crashStreak} crashes at boot in a row (min_uptime ${this.cfg.get('min_uptime')} s); ` +
        `next worker in ${delay.toFixed(1)} s`,
    );
  }

  private backingOff(): boolean {
    return this.nextSpawnAt > performance.now();
  }

  /** The crash streak ends when a worker started after the last crash has stayed up min_uptime. */
  private checkStable(): void {
    if (this.crashStreak === 0) return;
    const now = performance.now();
    const minUptime = this.cfg.get('min_uptime') * 1000;
    for (const w of this.WORKERS.values()) {
      if (w.born > this.lastCrashAt && w.booted && now - w.born >= minUptime) {
        if (this.crashStreak >= this.cfg.get('max_quick_restarts'))
          this.log.info(`Workers are up again after ${this.crashStreak} crashes at boot`);
        this.crashStreak = 0;
        this.nextSpawnAt = 0;
        return;
      }
    }
  }

  /** max_worker_memory: a worker over the limit gets a replacement; manageWorkers() then stops it gracefully. */
  private checkMemory(w: WorkerHandle, rss: number): void {
    const limit = this.cfg.get('max_worker_memory');
    if (limit <= 0 || rss <= limit || w.terminating || !w.booted) return;
    // one replacement at a time (another one if the first died at boot)
    if (w.recycle && this.active().length > this.num_workers) return;
    if (this.backingOff()) return;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    this.log.warning(
      `Worker (pid:${w.pid}) uses ${mib(rss)} (RSS), over max_worker_memory ${mib(limit)}: replacing it`,
    );
    w.recycle = true;
    this.spawnWorker();
    this.wake?.();
  }

  /**
   * spare_workers: a process started ahead of need runs the entry script, loads
   * the modules and the configuration, then waits for its boot state. A worker
   * that dies (kill -9, a crash, max_requests) is replaced by it at once
   * instead of by a process that still has to start Node.
   */
  private spawnSpare(): void {
    const out = this.captureFd();
    const stdio: Array<number | 'inherit' | 'ipc'> = [
      out ?? 'inherit',
      out ?? 'inherit',
      out ?? 'inherit',
      'ipc',
      ...this.LISTENERS.map((l) => l.fd),
    ];
    if (this.balanceFd >= 0) stdio.push(this.balanceFd);
    const env: NodeJS.ProcessEnv = { ...process.env, [WORKER_ENV]: JSON.stringify({ spare: true }) };
    delete env.GUNICORN_FD;
    delete env.GUNICORN_PID;
    const child = this.spawnProcess(this.ctx.execPath, this.ctx.args, { cwd: this.ctx.cwd, env, stdio });
    if (out !== null) fs.closeSync(out);
    child.on('error', (e) => this.log.error(`Failed to spawn a spare worker: ${e.message}`));
    if (child.pid === undefined) return;
    const pid = child.pid;
    const onMessage = (m: WorkerMessage) => {
      if (m?.gts !== 'spare') return;
      spare.ready = true;
      this.log.debug(`Spare worker (pid:${pid}) ready`);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      this.exited.push({ pid, code, signal });
      this.signal('SIGCHLD');
    };
    const spare: Spare = {
      pid,
      child,
      born: performance.now(),
      ready: false,
      terminating: false,
      detach: () => {
        child.removeListener('message', onMessage);
        child.removeListener('exit', onExit);
      },
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    this.spares.set(pid, spare);
    this.log.debug(`Started spare worker (pid:${pid})`);
  }

  /** A spare that is waiting for its boot state, taken out of the spares. */
  private takeSpare(): Spare | null {
    for (const s of this.spares.values()) {
      if (s.ready && !s.terminating) {
        this.spares.delete(s.pid);
        s.detach();
        return s;
      }
    }
    return null;
  }

  private activateSpare(s: Spare, w: WorkerHandle, state: WorkerBootState): WorkerHandle {
    this.adopt(w, s.child);
    try {
      s.child.send({ gts: 'activate', state });
    } catch (e) {
      // gone meanwhile: its exit event is now this worker's
      this.log.warning(`Spare worker (pid:${s.pid}) could not be activated: ${(e as Error).message}`);
    }
    this.log.debug(`Spare worker (pid:${s.pid}) becomes worker ${w.age}`);
    return w;
  }

  /** One more spare per tick, once every worker has booted (never competing with a booting worker for CPU). */
  private replenishSpares(active: WorkerHandle[]): void {
    const want = this.cfg.get('spare_workers');
    if (this.spares.size >= want || this.LISTENERS.length === 0 || this.backingOff()) return;
    if (active.some((w) => !w.booted)) return;
    this.spawnSpare();
  }

  private killSpares(): void {
    for (const s of this.spares.values()) {
      if (s.terminating) continue;
      s.terminating = true;
      try {
        this.killProcess(s.pid, 'SIGTERM');
      } catch {
        /* gone: reaped from its exit event */
      }
    }
  }

  /** WATCHDOG=1 every half WATCHDOG_USEC, from the master's event loop (a stuck master misses it). */
  private startWatchdog(): void {
    const every = watchdogIntervalMs();
    if (every === null) return;
    this.log.debug(`sd_notify: watchdog every ${every} ms`);
    this.watchdog = setInterval(() => sdNotify('WATCHDOG=1'), every);
    this.watchdog.unref();
  }

  /**
   * Calls a hook and awaits what it returns, up to graceful_timeout (worker_exit,
   * on_exit, post_worker_init and when_ready may be async); an overrun is logged
   * and the server goes on.
   */
  private async awaitHook(name: 'when_ready' | 'on_exit', ...args: unknown[]): Promise<void> {
    await awaitWithin(
      () => this.cfg.get(name)(...args),
      this.cfg.get('graceful_timeout'),
      (e) => this.log.exception(`Exception in ${name} hook`, e),
      (s) => this.log.warning(`The ${name} hook did not finish within graceful_timeout (${s} s); going on`),
    );
  }

  // ---------------------------------------------------------------- helpers

  private setTitle(): void {
    try {
      process.title = `gunicorn-ts: master [${this.procName}]`;
    } catch {
      /* not permitted */
    }
  }

  /** Calls a server hook; an exception is logged, never fatal (as Gunicorn's hooks in the master). */
  private hook(
    name:
      | 'on_starting'
      | 'on_reload'
      | 'when_ready'
      | 'pre_fork'
      | 'pre_exec'
      | 'child_exit'
      | 'worker_exit'
      | 'nworkers_changed'
      | 'on_exit',
    ...args: unknown[]
  ): void {
    try {
      const r = this.cfg.get(name)(...args);
      if (r && typeof (r as Promise<unknown>).then === 'function')
        (r as Promise<unknown>).catch((e) => this.log.exception(`Exception in ${name} hook`, e));
    } catch (e) {
      this.log.exception(`Exception in ${name} hook`, e);
    }
  }
}
