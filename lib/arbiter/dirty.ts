// The dirty pool (Gunicorn 25's dirty arbiter), run by the master: a separate
// set of worker processes for blocking or CPU-heavy jobs. Request workers
// connect to its unix socket (GUNICORN_DIRTY_SOCKET, lib/workers/dirty-client.ts)
// and send calls; the pool queues each one, hands it to a dirty worker that has
// the app loaded and a free slot (dirty_threads), and sends the answer back.
//
// The master's loop calls tick() every iteration: heartbeat timeouts, the
// SIGKILL after a SIGABRT, retiring the previous generation after a HUP, and
// spawning what is missing (with a back-off in a crash loop). Dirty workers'
// exits are handled when they happen: their running jobs fail with
// DirtyWorkerError, dirty_worker_exit runs, and the next tick replaces them.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { Config } from '../config/config.js';
import { parseDirtySpec, type DirtySpec } from '../config/dirty-settings.js';
import type { Logger } from '../logging/logger.js';
import {
  DIRTY_SOCKET_ENV,
  DIRTY_WORKER_ENV,
  encodeFrame,
  FrameReader,
  type Frame,
  type DirtyBootState,
  type DirtyErrorInfo,
  type DirtyRequest,
  type DirtyResponse,
  type DirtyWorkerMessage,
} from '../workers/dirty-protocol.js';
import { APP_LOAD_ERROR, WORKER_BOOT_ERROR, WORKER_ENV } from '../workers/protocol.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** a call from a request worker */
interface Job {
  /** the pool's id (unique across connections) */
  id: number;
  /** the caller's id on its connection */
  callerId: number;
  conn: net.Socket;
  app: string;
  action: string;
  /** v8.serialize() bytes of the arguments, passed on undecoded */
  args: Buffer;
  timer: NodeJS.Timeout | null;
}

/** The master's record of one dirty worker: the `worker` of dirty_post_fork and dirty_worker_exit. */
export class DirtyWorkerHandle {
  pid = 0;
  child: ChildProcess | null = null;
  booted = false;
  /** SIGTERM/SIGQUIT sent, or timed out: no more jobs */
  terminating = false;
  aborted = false;
  abortedAt = 0;
  lastBeat = performance.now();
  readonly born = performance.now();
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** jobs running there, by pool id */
  readonly jobs = new Map<number, Job>();
  /** tie-break between equally busy workers: least recently given a job */
  lastUsed = 0;

  constructor(
    readonly age: number,
    readonly ppid: number,
    /** the dirty_apps entries it loads (Gunicorn's app_paths) */
    readonly app_paths: string[],
    /** the reload generation (HUP) it belongs to */
    readonly gen: number,
  ) {}

  get alive(): boolean {
    return !this.terminating && this.exitCode === null && this.exitSignal === null;
  }

  toString(): string {
    return `<DirtyWorker ${this.pid}>`;
  }
}

/** the `dirty` part of the control socket's status */
export interface DirtyStatus {
  socket: string;
  target: number;
  queued: number;
  workers: Array<{ pid: number; age: number; apps: string[]; booted: boolean; jobs: number; heartbeat_age: number }>;
}

export interface DirtyPoolOptions {
  execPath: string;
  args: string[];
  cwd: string;
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** stdout/stderr of a new worker (capture_output), or null to inherit */
  captureFd?: () => number | null;
  /** wakes the master's loop (a dirty worker exited, a back-off ended) */
  wake?: () => void;
}

export class DirtyPool {
  /** the master's pid (Gunicorn's dirty arbiter has its own process; here the master is the arbiter) */
  readonly pid = process.pid;
  readonly workers = new Map<number, DirtyWorkerHandle>();
  num_workers: number;
  socket_path = '';
  /** set when a dirty worker could not load its apps: the master halts */
  fatal: { reason: string; status: number } | null = null;
  private specs: DirtySpec[];
  private server: net.Server | null = null;
  private dir = '';
  private readonly queue: Job[] = [];
  private gen = 0;
  private age = 0;
  private nextId = 1;
  private uses = 0;
  private stopping = false;
  private crashStreak = 0;
  private lastCrashAt = 0;
  private nextSpawnAt = 0;
  private readonly spawnProcess: NonNullable<DirtyPoolOptions['spawn']>;
  private readonly killProcess: NonNullable<DirtyPoolOptions['kill']>;

  /** The pool runs when dirty_workers > 0 and dirty_apps is not empty (as Gunicorn). */
  static enabled(cfg: Config): boolean {
    return cfg.get('dirty_workers') > 0 && cfg.get('dirty_apps').length > 0;
  }

  constructor(
    public cfg: Config,
    public log: Logger,
    private readonly opts: DirtyPoolOptions,
  ) {
    this.num_workers = cfg.get('dirty_workers');
    this.specs = cfg.get('dirty_apps').map((s) => parseDirtySpec(s)!);
    this.spawnProcess = opts.spawn ?? spawn;
    this.killProcess = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
  }

  /** Gunicorn's dirty_apps paths (MODULE:EXPORT), the names callers use */
  get app_paths(): string[] {
    return this.specs.map((s) => s.path);
  }

  // ---------------------------------------------------------------- start / stop

  /** Opens the socket (a private directory under the temporary directory) and runs on_dirty_starting. */
  async start(): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gunicorn-ts-dirty-'));
    this.socket_path = path.join(this.dir, 'dirty.sock');
    const server = net.createServer((conn) => this.accept(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socket_path, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error(`Dirty socket error: ${e.message}`));
    this.server = server;
    this.giveToWorkerUser();
    process.env[DIRTY_SOCKET_ENV] = this.socket_path;
    this.log.info(
      `Dirty pool listening at: unix:${this.socket_path} (${this.num_workers} workers, apps: ${this.app_paths.join(', ')})`,
    );
    this.hook('on_dirty_starting', this);
  }

  /** Request workers that drop privileges (user/group) must still reach the socket. */
  private giveToWorkerUser(): void {
    const uid = this.cfg.get('user');
    const gid = this.cfg.get('group');
    if (process.geteuid?.() !== 0 || (uid === 0 && gid === 0)) return;
    fs.chownSync(this.dir, uid, gid);
    fs.chownSync(this.socket_path, uid, gid);
  }

  /**
   * Stops the pool: no new calls, queued ones fail, SIGTERM (graceful: running
   * jobs finish and the apps close) or SIGQUIT to every dirty worker, SIGKILL
   * after dirty_graceful_timeout.
   */
  async stop(graceful = true): Promise<void> {
    this.stopping = true;
    this.server?.close();
    for (const job of this.queue.splice(0)) this.fail(job, noWorkers(job.app, 'the dirty pool is stopping'));
    const sig = graceful ? 'SIGTERM' : 'SIGQUIT';
    for (const w of [...this.workers.values()]) this.kill(w, sig);
    const limit = performance.now() + this.cfg.get('dirty_graceful_timeout') * 1000;
    while (this.workers.size > 0 && performance.now() < limit) await sleep(50);
    for (const w of [...this.workers.values()]) this.kill(w, 'SIGKILL');
    const hard = performance.now() + 2000;
    while (this.workers.size > 0 && performance.now() < hard) await sleep(50);
    if (process.env[DIRTY_SOCKET_ENV] === this.socket_path) delete process.env[DIRTY_SOCKET_ENV];
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** HUP: the new configuration; a new generation of dirty workers replaces the running one once it has booted. */
  reload(cfg: Config, log: Logger): void {
    this.cfg = cfg;
    this.log = log;
    this.num_workers = cfg.get('dirty_workers');
    this.specs = cfg.get('dirty_apps').map((s) => parseDirtySpec(s)!);
    this.gen += 1;
    this.log.info('Reloading dirty workers');
  }

  /** for `gunicorn-ts ctl status`: the pool's socket, target, queued calls and each dirty worker */
  status(): DirtyStatus {
    const now = performance.now();
    return {
      socket: this.socket_path,
      target: this.num_workers,
      queued: this.queue.length,
      workers: [...this.workers.values()].map((w) => ({
        pid: w.pid,
        age: w.age,
        apps: w.app_paths,
        booted: w.booted,
        jobs: w.jobs.size,
        heartbeat_age: Math.round(now - w.lastBeat) / 1000,
      })),
    };
  }

  /** USR1: the dirty workers reopen their log files. */
  reopen(): void {
    for (const w of this.workers.values()) this.kill(w, 'SIGUSR1');
  }

  // ---------------------------------------------------------------- the master's tick

  tick(): void {
    if (this.stopping) return;
    this.murder();
    this.checkStable();
    this.retire();
    this.spawnMissing();
  }

  /** Heartbeat silent for dirty_timeout: SIGABRT; still there a second later: SIGKILL. */
  private murder(): void {
    const timeout = this.cfg.get('dirty_timeout');
    const now = performance.now();
    for (const w of this.workers.values()) {
      if (w.aborted) {
        if (now - w.abortedAt >= 1000) this.kill(w, 'SIGKILL');
      } else if (timeout > 0 && now - w.lastBeat > timeout * 1000) {
        this.log.critical(`DIRTY WORKER TIMEOUT (pid:${w.pid})`);
        this.abort(w);
      }
    }
  }

  private abort(w: DirtyWorkerHandle): void {
    if (w.aborted) return;
    w.aborted = true;
    w.abortedAt = performance.now();
    w.terminating = true;
    this.kill(w, 'SIGABRT');
  }

  /** After a HUP: the previous generation gets SIGTERM once the new one is complete and booted. */
  private retire(): void {
    const old = [...this.workers.values()].filter((w) => w.gen !== this.gen && !w.terminating);
    if (old.length === 0) return;
    const current = this.current();
    const complete = current.length >= this.num_workers || this.assignment().length === 0;
    if (!complete || current.some((w) => !w.booted)) return;
    for (const w of old) this.kill(w, 'SIGTERM');
  }

  /** dirty workers of the current generation that are not stopping */
  private current(): DirtyWorkerHandle[] {
    return [...this.workers.values()].filter((w) => w.gen === this.gen && !w.terminating);
  }

  private spawnMissing(): void {
    if (this.nextSpawnAt > performance.now()) return;
    while (this.current().length < this.num_workers) {
      const apps = this.assignment();
      if (apps.length === 0) break;
      this.spawnWorker(apps);
    }
    // TTOU-like shrink after a HUP that lowered dirty_workers is done by retire(); extras of this generation:
    const extra = this.current().sort((a, b) => b.age - a.age);
    while (extra.length > this.num_workers) this.kill(extra.shift()!, 'SIGTERM');
  }

  /**
   * The apps a new dirty worker loads: every app, except those with a limit
   * (MODULE:EXPORT:N) that N workers of this generation already load. A worker
   * that died is so replaced by one with the apps it had.
   */
  private assignment(): string[] {
    const current = this.current();
    return this.specs
      .filter((s) => s.workers === null || current.filter((w) => w.app_paths.includes(s.path)).length < s.workers)
      .map((s) => s.path);
  }

  private spawnWorker(apps: string[]): DirtyWorkerHandle {
    this.age += 1;
    const w = new DirtyWorkerHandle(this.age, this.pid, apps, this.gen);
    const state: DirtyBootState = { age: w.age, ppid: this.pid, apps, settings: this.cfg.serializable() };
    const out = this.opts.captureFd?.() ?? null;
    const env: NodeJS.ProcessEnv = { ...process.env, [DIRTY_WORKER_ENV]: JSON.stringify(state) };
    delete env[WORKER_ENV];
    delete env.GUNICORN_FD;
    delete env.GUNICORN_PID;
    const child = this.spawnProcess(this.opts.execPath, this.opts.args, {
      cwd: this.opts.cwd,
      env,
      stdio: [out ?? 'inherit', out ?? 'inherit', out ?? 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    if (out !== null) fs.closeSync(out);
    child.on('error', (e) => this.log.error(`Failed to spawn a dirty worker: ${e.message}`));
    if (child.pid === undefined) {
      // counted as a crash at boot: the back-off keeps this from spinning
      this.noteExit(w);
      return w;
    }
    w.pid = child.pid;
    w.child = child;
    this.workers.set(w.pid, w);
    child.on('message', (m: DirtyWorkerMessage) => this.onMessage(w, m));
    child.on('exit', (code, signal) => this.onExit(w, code, signal));
    this.hook('dirty_post_fork', this, w);
    this.log.info(`Spawned dirty worker (pid: ${w.pid}) with apps: ${apps.join(', ')}`);
    return w;
  }

  private onMessage(w: DirtyWorkerHandle, m: DirtyWorkerMessage): void {
    if (m?.gts === 'hb') {
      w.lastBeat = performance.now();
    } else if (m?.gts === 'booted') {
      w.booted = true;
      w.lastBeat = performance.now();
      this.log.debug(`Dirty worker (pid: ${w.pid}) booted`);
      this.dispatch();
      this.opts.wake?.();
    } else if (m?.gts === 'res') {
      const job = w.jobs.get(m.id);
      if (job === undefined) return; // timed out meanwhile
      w.jobs.delete(m.id);
      if (job.timer !== null) clearTimeout(job.timer);
      if (m.ok) this.reply(job, { id: job.id, ok: true }, m.result);
      else this.reply(job, m);
      this.dispatch();
    }
  }

  private onExit(w: DirtyWorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    w.exitCode = code;
    w.exitSignal = signal;
    this.workers.delete(w.pid);
    const how = signal !== null ? `was sent ${signal}` : `exited with code ${code}`;
    if (signal === 'SIGKILL') this.log.error(`Dirty worker (pid:${w.pid}) was sent SIGKILL!`);
    else if (signal !== null && signal !== 'SIGTERM')
      this.log.warning(`Dirty worker (pid:${w.pid}) was sent ${signal}!`);
    else if (code !== 0 && code !== null) this.log.error(`Dirty worker (pid:${w.pid}) exited with code ${code}.`);
    else this.log.info(`Dirty worker exited (pid:${w.pid})`);
    for (const job of w.jobs.values()) {
      if (job.timer !== null) clearTimeout(job.timer);
      this.fail(job, {
        kind: 'DirtyWorkerError',
        message: `Dirty worker (pid:${w.pid}) ${how} while running ${job.app}.${job.action}`,
        pid: w.pid,
      });
    }
    w.jobs.clear();
    this.hook('dirty_worker_exit', this, w);
    if (!w.booted && !this.stopping && (code === APP_LOAD_ERROR || code === WORKER_BOOT_ERROR)) {
      this.fatal = {
        reason: code === APP_LOAD_ERROR ? 'Dirty app failed to load.' : 'Dirty worker failed to boot.',
        status: code,
      };
    }
    this.noteExit(w);
    this.opts.wake?.();
  }

  // ---------------------------------------------------------------- crash-loop back-off (min_uptime, restart_backoff_max)

  private noteExit(w: DirtyWorkerHandle): void {
    if (w.terminating || this.stopping || (w.exitCode === 0 && w.exitSignal === null)) return;
    const now = performance.now();
    if (now - w.born >= this.cfg.get('min_uptime') * 1000) return;
    this.crashStreak += 1;
    this.lastCrashAt = now;
    if (this.crashStreak < 2) return; // the first quick exit is replaced at once
    const delay = Math.min(this.cfg.get('restart_backoff_max'), 0.1 * 2 ** (this.crashStreak - 2));
    this.nextSpawnAt = now + delay * 1000;
    this.log.warning(
      `Dirty worker (pid:${w.pid}) exited ${((now - w.born) / 1000).toFixed(2)} s after its start: ` +
        `${this.crashStreak} crashes at boot in a row; next dirty worker in ${delay.toFixed(1)} s`,
    );
    setTimeout(() => this.opts.wake?.(), delay * 1000 + 1).unref();
  }

  private checkStable(): void {
    if (this.crashStreak === 0) return;
    const now = performance.now();
    const minUptime = this.cfg.get('min_uptime') * 1000;
    for (const w of this.workers.values()) {
      if (w.born > this.lastCrashAt && w.booted && now - w.born >= minUptime) {
        this.crashStreak = 0;
        this.nextSpawnAt = 0;
        return;
      }
    }
  }

  // ---------------------------------------------------------------- calls

  private accept(conn: net.Socket): void {
    const reader = new FrameReader();
    conn.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        this.log.warning(`Dirty socket: ${(e as Error).message}; closing the connection`);
        conn.destroy();
        return;
      }
      for (const { header, payload } of frames) {
        const r = header as Partial<DirtyRequest>;
        if (typeof r?.id !== 'number' || typeof r.app !== 'string' || typeof r.action !== 'string') {
          this.log.warning('Dirty socket: malformed call; closing the connection');
          conn.destroy();
          return;
        }
        this.submit(conn, r as DirtyRequest, payload);
      }
    });
    conn.on('error', () => {});
    conn.on('close', () => {
      // queued calls of a caller that is gone are dropped; running ones finish unanswered
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const job = this.queue[i]!;
        if (job.conn !== conn) continue;
        if (job.timer !== null) clearTimeout(job.timer);
        this.queue.splice(i, 1);
      }
    });
  }

  private submit(conn: net.Socket, r: DirtyRequest, args: Buffer): void {
    const job: Job = {
      id: this.nextId++,
      callerId: r.id,
      conn,
      app: r.app,
      action: r.action,
      args,
      timer: null,
    };
    if (!this.app_paths.includes(job.app) && ![...this.workers.values()].some((w) => w.app_paths.includes(job.app))) {
      this.fail(job, {
        kind: 'DirtyAppNotFoundError',
        message: `Dirty app not found: ${job.app} (dirty_apps: ${this.app_paths.join(', ')})`,
        app: job.app,
        action: job.action,
      });
      return;
    }
    if (this.stopping) {
      this.fail(job, noWorkers(job.app, 'the dirty pool is stopping'));
      return;
    }
    const timeout = this.cfg.get('dirty_timeout');
    if (timeout > 0) {
      job.timer = setTimeout(() => {
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        this.fail(job, {
          kind: 'DirtyTimeoutError',
          message: `No dirty worker took ${job.app}.${job.action} within dirty_timeout (${timeout} s)`,
          timeout,
        });
      }, timeout * 1000);
    }
    this.queue.push(job);
    this.dispatch();
  }

  /** Hands queued calls, oldest first, to dirty workers with the app and a free slot. */
  private dispatch(): void {
    const threads = this.cfg.get('dirty_threads');
    for (let i = 0; i < this.queue.length;) {
      const job = this.queue[i]!;
      const w = this.pick(job.app, threads);
      if (w === null) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.run(w, job);
    }
  }

  /** the least busy booted worker with the app (the current generation first), least recently used on a tie */
  private pick(app: string, threads: number): DirtyWorkerHandle | null {
    let best: DirtyWorkerHandle | null = null;
    const rank = (w: DirtyWorkerHandle) => [w.gen === this.gen ? 0 : 1, w.jobs.size, w.lastUsed];
    for (const w of this.workers.values()) {
      if (!w.booted || !w.alive || w.jobs.size >= threads || !w.app_paths.includes(app)) continue;
      if (best === null || lexLess(rank(w), rank(best))) best = w;
    }
    return best;
  }

  private run(w: DirtyWorkerHandle, job: Job): void {
    if (job.timer !== null) clearTimeout(job.timer);
    job.timer = null;
    w.lastUsed = ++this.uses;
    w.jobs.set(job.id, job);
    const timeout = this.cfg.get('dirty_timeout');
    if (timeout > 0) {
      job.timer = setTimeout(() => {
        if (!w.jobs.delete(job.id)) return;
        this.log.critical(
          `DIRTY WORKER TIMEOUT (pid:${w.pid}): ${job.app}.${job.action} ran over dirty_timeout (${timeout} s)`,
        );
        this.fail(job, {
          kind: 'DirtyTimeoutError',
          message: `${job.app}.${job.action} did not finish within dirty_timeout (${timeout} s)`,
          timeout,
        });
        this.abort(w);
      }, timeout * 1000);
    }
    try {
      w.child!.send({ gts: 'job', id: job.id, app: job.app, action: job.action, args: job.args });
    } catch (e) {
      w.jobs.delete(job.id);
      if (job.timer !== null) clearTimeout(job.timer);
      this.fail(job, {
        kind: 'DirtyWorkerError',
        message: `Dirty worker (pid:${w.pid}) unreachable: ${(e as Error).message}`,
        pid: w.pid,
      });
    }
  }

  private reply(job: Job, r: DirtyResponse, result?: Uint8Array): void {
    if (job.conn.destroyed) return;
    const out: DirtyResponse = r.ok ? { id: job.callerId, ok: true } : { id: job.callerId, ok: false, error: r.error };
    job.conn.write(encodeFrame(out, result));
  }

  private fail(job: Job, error: DirtyErrorInfo): void {
    this.reply(job, { id: job.id, ok: false, error });
  }

  // ---------------------------------------------------------------- helpers

  kill(w: DirtyWorkerHandle, sig: NodeJS.Signals): void {
    if (sig === 'SIGTERM' || sig === 'SIGQUIT' || sig === 'SIGKILL') w.terminating = true;
    if (sig === 'SIGTERM' && w.booted && w.child?.connected) {
      // after the jobs already sent (a signal could overtake them): see DirtyMasterMessage
      try {
        w.child.send({ gts: 'stop' });
        return;
      } catch {
        /* the channel is closing: the signal then */
      }
    }
    try {
      this.killProcess(w.pid, sig);
    } catch {
      /* gone: its exit event does the rest */
    }
  }

  /** A dirty hook in the master: an exception is logged, never fatal. */
  private hook(name: 'on_dirty_starting' | 'dirty_post_fork' | 'dirty_worker_exit', ...args: unknown[]): void {
    try {
      const r = (this.cfg.get(name) as (...a: unknown[]) => unknown)(...args);
      if (r && typeof (r as Promise<unknown>).then === 'function')
        (r as Promise<unknown>).catch((e) => this.log.exception(`Exception in ${name} hook`, e));
    } catch (e) {
      this.log.exception(`Exception in ${name} hook`, e);
    }
  }
}

function noWorkers(app: string, why: string): DirtyErrorInfo {
  return { kind: 'DirtyNoWorkersAvailableError', message: `No dirty worker for ${app}: ${why}`, app };
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
