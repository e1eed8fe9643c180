// Prometheus: the master's view of the whole server, aggregated from the
// workers' heartbeats (lib/metrics/recorder.ts), answered on a separate bind
// (metrics_bind) in the text exposition format, version 0.0.4.
import http from 'node:http';

import { DURATION_BUCKETS, type RequestDelta } from './recorder.js';

export interface WorkerSample {
  pid: number;
  age: number;
  /** requests started, finished (in-flight = started - finished) */
  requests: number;
  done: number;
  connections: number;
  rss: number | null;
  heartbeatAge: number;
}

export interface ServerSample {
  workers: WorkerSample[];
  /** listener -> accept queue length; null when enable_backlog_metric is off or unavailable */
  backlog: Map<string, number> | null;
  build: Record<string, string>;
  startTime: number;
}

export const RESTART_REASONS = ['timeout', 'max_requests', 'memory', 'crash'] as const;

export class MetricsRegistry {
  private readonly requests = new Map<string, number>();
  private readonly hist: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  private sum = 0;
  readonly restarts = new Map<string, number>(RESTART_REASONS.map((r) => [r, 0]));

  merge(d: RequestDelta): void {
    for (const [k, v] of Object.entries(d.by)) {
      if (typeof v === 'number' && Number.isFinite(v)) this.requests.set(k, (this.requests.get(k) ?? 0) + v);
    }
    if (Array.isArray(d.hist) && d.hist.length === this.hist.length) {
      for (let i = 0; i < d.hist.length; i++) this.hist[i]! += Number(d.hist[i]) || 0;
    }
    this.sum += Number(d.sum) || 0;
  }

  restart(reason: string): void {
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
  }

  render(s: ServerSample): string {
    const out: string[] = [];
    const head = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    head('gunicorn_ts_requests_total', 'counter', 'Requests finished, by method and status class.');
    for (const [k, v] of [...this.requests].sort()) {
      const [method, cls] = k.split(' ');
      out.push(`gunicorn_ts_requests_total{method="${label(method!)}",status="${label(cls!)}"} ${v}`);
    }
    head(
      'gunicorn_ts_request_duration_seconds',
      'histogram',
      'Request duration, from the request head to the last byte written.',
    );
    let cum = 0;
    DURATION_BUCKETS.forEach((b, i) => {
      cum += this.hist[i]!;
      out.push(`gunicorn_ts_request_duration_seconds_bucket{le="${b}"} ${cum}`);
    });
    cum += this.hist[DURATION_BUCKETS.length]!;
    out.push(`gunicorn_ts_request_duration_seconds_bucket{le="+Inf"} ${cum}`);
    out.push(`gunicorn_ts_request_duration_seconds_sum ${num(this.sum)}`);
    out.push(`gunicorn_ts_request_duration_seconds_count ${cum}`);
    head(
      'gunicorn_ts_requests_in_flight',
      'gauge',
      'Requests started and not finished, at the last heartbeat of each worker.',
    );
    out.push(`gunicorn_ts_requests_in_flight ${s.workers.reduce((n, w) => n + Math.max(0, w.requests - w.done), 0)}`);
    head('gunicorn_ts_workers', 'gauge', 'Worker processes.');
    out.push(`gunicorn_ts_workers ${s.workers.length}`);
    head('gunicorn_ts_worker_connections', 'gauge', 'Open client connections per worker.');
    for (const w of s.workers) out.push(`gunicorn_ts_worker_connections{pid="${w.pid}"} ${w.connections}`);
    head('gunicorn_ts_worker_requests_total', 'counter', 'Requests started per worker (since it booted).');
    for (const w of s.workers) out.push(`gunicorn_ts_worker_requests_total{pid="${w.pid}"} ${w.requests}`);
    head('gunicorn_ts_worker_heartbeat_age_seconds', 'gauge', 'Seconds since the last heartbeat of each worker.');
    for (const w of s.workers)
      out.push(`gunicorn_ts_worker_heartbeat_age_seconds{pid="${w.pid}"} ${num(w.heartbeatAge)}`);
    head('gunicorn_ts_worker_resident_memory_bytes', 'gauge', 'Resident set size of each worker.');
    for (const w of s.workers)
      if (w.rss !== null) out.push(`gunicorn_ts_worker_resident_memory_bytes{pid="${w.pid}"} ${w.rss}`);
    head('gunicorn_ts_worker_restarts_total', 'counter', 'Workers replaced, by reason.');
    for (const [r, v] of [...this.restarts].sort())
      out.push(`gunicorn_ts_worker_restarts_total{reason="${label(r)}"} ${v}`);
    if (s.backlog !== null) {
      head(
        'gunicorn_ts_accept_queue_length',
        'gauge',
        "Connections waiting in the kernel's accept queue, per TCP listener.",
      );
      for (const [l, v] of s.backlog) out.push(`gunicorn_ts_accept_queue_length{listener="${label(l)}"} ${v}`);
    }
    head('gunicorn_ts_start_time_seconds', 'gauge', 'Start time of the master, seconds since the epoch.');
    out.push(`gunicorn_ts_start_time_seconds ${num(s.startTime)}`);
    head('gunicorn_ts_build_info', 'gauge', 'Versions, as labels; the value is 1.');
    out.push(
      `gunicorn_ts_build_info{${Object.entries(s.build)
        .map(([k, v]) => `${k}="${label(v)}"`)
        .join(',')}} 1`,
    );
    return `${out.join('\n')}\n`;
  }
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(6).replace(/0+$/, '');
}

/** HOST:PORT, [IPv6]:PORT */
export function parseMetricsBind(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(addr.trim());
  if (m === null || m[2] === undefined) throw new Error(`metrics_bind ${addr}: expected HOST:PORT`);
  return { host: (m[1] || '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** The /metrics endpoint: GET /metrics only, nothing else. Resolves once listening. */
export async function startMetricsServer(addr: string, render: () => string): Promise<http.Server> {
  const { host, port } = parseMetricsBind(addr);
  const srv = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  srv.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  srv.unref();
  return srv;
}
