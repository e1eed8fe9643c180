// The master's operations side: StatsD (gunicorn.workers, gunicorn.backlog,
// gunicorn.log.*), the Prometheus endpoint (metrics_bind) aggregated from the
// workers' heartbeats, and the control socket (`gunicorn-ts ctl`). All of it
// is off unless configured (the control socket is on by default, as in
// Gunicorn 25.1); none of it runs per request.
import type net from 'node:net';
import type http from 'node:http';

import type { Config } from '../config/config.js';
import { ControlSocketError, startControlSocket, stopControlSocket, type ControlTarget } from '../control/socket.js';
import type { Logger } from '../logging/logger.js';
import type { OpenListener } from '../listeners.js';
import { procBacklogProvider, type BacklogProvider } from '../metrics/backlog.js';
import { MetricsRegistry, startMetricsServer, type WorkerSample } from '../metrics/prometheus.js';
import { StatsdClient, StatsdUnavailable } from '../metrics/statsd.js';
import { native } from '../native.js';
import { VERSION } from '../version.js';
import type { WorkerMessage, WorkerStats } from '../workers/protocol.js';
import type { WorkerHandle } from './worker-handle.js';

/** What the operations need from the arbiter. */
export interface OperatedMaster {
  readonly pid: number;
  cfg: Config;
  log: Logger;
  readonly WORKERS: Map<number, WorkerHandle>;
  LISTENERS: OpenListener[];
  num_workers: number;
  /** the dirty pool, when dirty_workers and dirty_apps are set */
  readonly dirty?: { status(): unknown } | null;
  shutdown(graceful?: boolean): void;
}

/** the settings whose change on HUP needs a restart of the master to take effect */
const START_ONLY = [
  'statsd_host',
  'statsd_prefix',
  'dogstatsd_tags',
  'metrics_bind',
  'control_socket',
  'control_socket_mode',
  'control_socket_disable',
  'enable_backlog_metric',
] as const;

export class Operations implements ControlTarget {
  statsd: StatsdClient | null = null;
  private registry: MetricsRegistry | null = null;
  private metricsServer: http.Server | null = null;
  private control: net.Server | null = null;
  private controlPath = '';
  private backlog: BacklogProvider | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  private readonly samples = new Map<number, WorkerStats>();
  private readonly spawnedAt = new Map<number, number>();
  private readonly exitReasons = new Map<number, string>();
  private readonly startValues: Record<string, unknown>;

  constructor(private readonly m: OperatedMaster) {
    this.startValues = Object.fromEntries(START_ONLY.map((k) => [k, m.cfg.get(k)]));
  }

  /** after the listeners are bound */
  async start(): Promise<void> {
    const cfg = this.m.cfg;
    const host = cfg.get('statsd_host');
    if (host !== null) {
      try {
        this.statsd = new StatsdClient(host, cfg.get('statsd_prefix'), cfg.get('dogstatsd_tags'));
      } catch (e) {
        this.m.log.warning(e instanceof StatsdUnavailable ? e.message : `StatsD is off: ${(e as Error).message}`);
      }
    }
    this.adoptLogger(this.m.log);
    if (cfg.get('enable_backlog_metric') && this.statsd === null && cfg.get('metrics_bind') === null) {
      this.m.log.warning(
        'enable_backlog_metric: neither statsd_host nor metrics_bind is set, the accept queue length goes nowhere',
      );
    } else if (cfg.get('enable_backlog_metric')) {
      const p = procBacklogProvider(
        this.m.LISTENERS.map((l) => ({ fd: l.fd, label: l.info.url, tcp: l.info.kind !== 'unix' })),
      );
      if (typeof p === 'string') this.m.log.warning(p);
      else this.backlog = p;
    }
    const bind = cfg.get('metrics_bind');
    if (bind !== null) {
      this.registry = new MetricsRegistry();
      this.metricsServer = await startMetricsServer(bind, () => this.renderMetrics());
      const a = this.metricsServer.address() as net.AddressInfo;
      this.m.log.info(`Metrics at: http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`);
    }
    await this.startControl(process.env.GUNICORN_PID !== undefined);
    if (this.statsd !== null) {
      this.timer = setInterval(() => this.tick(), 1000);
      this.timer.unref();
    }
  }

  /** the control socket; a USR2 child (the old master still holds it) takes it when promoted */
  private async startControl(usr2Child: boolean): Promise<void> {
    const cfg = this.m.cfg;
    if (cfg.get('control_socket_disable') || this.control !== null) return;
    const file = cfg.get('control_socket');
    try {
      this.control = await startControlSocket(file, cfg.get('control_socket_mode'), this);
      this.controlPath = file;
      this.m.log.info(`Control socket listening at ${file}`);
    } catch (e) {
      const why = e instanceof ControlSocketError ? e.message : (e as Error).message;
      if (usr2Child) this.m.log.info(`Control socket: ${why}; taken over when this master is promoted`);
      else this.m.log.warning(`Control socket not started: ${why}`);
    }
  }

  /** USR2: the old master is gone */
  async promoted(): Promise<void> {
    await this.startControl(false);
  }

  /** a new error log (HUP): it counts gunicorn.log.* too */
  adoptLogger(log: Logger): void {
    log.counter = this.statsd;
    for (const k of START_ONLY) {
      if (log !== this.m.log || this.m.cfg.get(k) === this.startValues[k]) continue;
      log.warning(`${k} changed: it takes effect when the master restarts`);
    }
  }

  /** once a second with StatsD: the worker count and the accept queue (Gunicorn's main loop) */
  private tick(): void {
    const s = this.statsd!;
    s.gauge('gunicorn.workers', this.m.WORKERS.size);
    if (this.backlog !== null) {
      let n = 0;
      for (const v of this.backlog.read().values()) n += v;
      s.histogram('gunicorn.backlog', n);
    }
  }

  /** a new worker: its heartbeats carry its counts */
  watch(w: WorkerHandle): void {
    this.spawnedAt.set(w.pid, Date.now());
    w.child?.on('message', (msg: WorkerMessage) => {
      if (msg?.gts === 'hb') {
        if (msg.st) this.samples.set(w.pid, msg.st);
        if (msg.m && this.registry !== null) this.registry.merge(msg.m);
      } else if (msg?.gts === 'exiting') {
        this.exitReasons.set(w.pid, String(msg.reason));
      }
    });
  }

  /** a worker is gone: count a restart by reason (a stop the master asked for is none) */
  exited(w: WorkerHandle, code: number | null, signal: NodeJS.Signals | null): void {
    // a worker that said why it leaves (max_requests, memory) but then died by a signal or a non-zero exit the
    // master did not ask for crashed on its way out: the crash is the reason (its last request may be the cause)
    const crashed = !w.terminating && (code !== 0 || signal !== null);
    // max_worker_memory: the master stops a worker over the limit once its replacement has booted (w.recycle)
    const reason = w.aborted
      ? 'timeout'
      : crashed
        ? 'crash'
        : w.recycle
          ? 'memory'
          : (this.exitReasons.get(w.pid) ?? null);
    if (reason !== null) this.registry?.restart(reason);
    this.samples.delete(w.pid);
    this.spawnedAt.delete(w.pid);
    this.exitReasons.delete(w.pid);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.control !== null) stopControlSocket(this.control, this.controlPath);
    this.control = null;
    if (this.metricsServer !== null) {
      const srv = this.metricsServer;
      this.metricsServer = null;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
    this.statsd?.close();
  }

  // ---------------------------------------------------------------- Prometheus

  private workerSamples(): WorkerSample[] {
    const now = performance.now();
    return [...this.m.WORKERS.values()]
      .sort((a, b) => a.age - b.age)
      .map((w) => {
        const s = this.samples.get(w.pid);
        return {
          pid: w.pid,
          age: w.age,
          requests: s?.nr ?? 0,
          done: s?.done ?? s?.nr ?? 0,
          connections: s?.c ?? 0,
          rss: s?.rss ?? null,
          heartbeatAge: Math.max(0, (now - w.lastBeat) / 1000),
        };
      });
  }

  renderMetrics(): string {
    return this.registry!.render({
      workers: this.workerSamples(),
      backlog: this.backlog?.read() ?? null,
      build: { version: VERSION, node: process.version, llhttp: native.llhttpVersion },
      startTime: this.started / 1000,
    });
  }

  // ---------------------------------------------------------------- ControlTarget

  status(): unknown {
    const now = Date.now();
    return {
      master: {
        pid: this.m.pid,
        uptime: (now - this.started) / 1000,
        workers: this.m.WORKERS.size,
        target: this.m.num_workers,
        version: VERSION,
        listeners: this.m.LISTENERS.map((l) => l.info.url),
      },
      workers: this.workerSamples().map((s) => ({
        pid: s.pid,
        age: s.age,
        uptime: (now - (this.spawnedAt.get(s.pid) ?? now)) / 1000,
        requests: s.requests,
        connections: s.connections,
        rss: s.rss,
        heartbeat_age: Math.round(s.heartbeatAge * 1000) / 1000,
        booted: this.m.WORKERS.get(s.pid)?.booted ?? false,
      })),
      ...(this.m.dirty ? { dirty: this.m.dirty.status() } : {}),
    };
  }

  config(): Record<string, unknown> {
    return this.m.cfg.serializable();
  }

  reload(): void {
    process.kill(process.pid, 'SIGHUP');
  }

  add(n: number): number {
    this.m.num_workers += n;
    return this.m.num_workers;
  }

  remove(n: number): number {
    this.m.num_workers = Math.max(1, this.m.num_workers - n);
    return this.m.num_workers;
  }

  reopen(): void {
    process.kill(process.pid, 'SIGUSR1');
  }

  shutdown(graceful: boolean): void {
    // answer first, then stop
    setImmediate(() => this.m.shutdown(graceful));
  }
}
