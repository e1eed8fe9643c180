// Per-request metrics, where requests run (a worker, or serve()'s process).
// Built only when StatsD or Prometheus is on: with both off nothing is
// recorded and the request path does no work for metrics at all.
// StatsD lines go out once per event-loop turn (lib/metrics/statsd.ts);
// Prometheus counts are summed here and leave with the next heartbeat
// (take()), so there is no IPC per request.
import type { StatsdClient } from './statsd.js';

/** upper bounds (seconds) of the request duration histogram; +Inf is implied */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

/** counts since the last take(): what a worker's heartbeat carries */
export interface RequestDelta {
  /** "METHOD STATUS_CLASS" -> requests */
  by: Record<string, number>;
  /** per-bucket (not cumulative) counts, DURATION_BUCKETS.length + 1 long (the last is +Inf) */
  hist: number[];
  /** sum of durations, seconds */
  sum: number;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);

export class RequestRecorder {
  /** requests finished (in-flight = started - done) */
  done = 0;
  private by = new Map<string, number>();
  private hist: number[] = new Array(DURATION_BUCKETS.length + 1).fill(0);
  private sum = 0;
  private pending = false;

  constructor(private readonly statsd: StatsdClient | null, private readonly aggregate: boolean) {}

  /** one finished request: status as the application gave it ("200 OK"), duration in seconds */
  record(method: string, status: string, seconds: number): void {
    this.done++;
    const code = status.length >= 3 ? status.slice(0, 3) : status;
    if (this.statsd !== null) {
      this.statsd.increment('gunicorn.requests');
      this.statsd.timing('gunicorn.request.duration', Math.round(seconds * 1e6) / 1e3);
      this.statsd.increment(`gunicorn.request.status.${code}`);
    }
    if (!this.aggregate) return;
    const c = code.charCodeAt(0) - 48;
    const cls = code.length === 3 && c >= 1 && c <= 5 ? STATUS_CLASSES[c - 1] : 'other';
    // an unusual method must not grow the label set without bound
    const key = `${METHODS.has(method) ? method : 'other'} ${cls}`;
    this.by.set(key, (this.by.get(key) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.hist[i]!++;
    this.sum += seconds;
    this.pending = true;
  }

  /** sends the StatsD lines of this turn now (before an exit) */
  flushStatsd(): void {
    this.statsd?.flush();
  }

  /** the counts since the last call, or null if none */
  take(): RequestDelta | null {
    if (!this.pending) return null;
    const d: RequestDelta = { by: Object.fromEntries(this.by), hist: this.hist, sum: this.sum };
    this.by = new Map();
    this.hist = new Array(DURATION_BUCKETS.length + 1).fill(0);
    this.sum = 0;
    this.pending = false;
    return d;
  }
}
