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

/** method label index: the common methods, then 'other' (an unusual method must not grow the label set) */
export const METHOD_LABELS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'other'] as const;

function methodIndex(m: string): number {
  switch (m) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    default:
      return 7;
  }
}

const NC = STATUS_CLASSES.length;
const NB = DURATION_BUCKETS.length;

export class RequestRecorder {
  /** requests finished (in-flight = started - done) */
  done = 0;
  // [method * NC + class] counts and per-bucket counts since the last take(): numbers only, no strings per request
  private readonly by = new Float64Array(METHOD_LABELS.length * NC);
  private readonly hist = new Float64Array(NB + 1);
  private sum = 0;
  private pending = false;

  constructor(
    private readonly statsd: StatsdClient | null,
    private readonly aggregate: boolean,
  ) {}

  /** one finished request: status as the application gave it ("200 OK"), duration in seconds */
  record(method: string, status: string, seconds: number): void {
    this.done++;
    // the status code's digits, read without slicing
    const d0 = status.charCodeAt(0) - 48;
    const d1 = status.charCodeAt(1) - 48;
    const d2 = status.charCodeAt(2) - 48;
    const code = d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 ? d0 * 100 + d1 * 10 + d2 : 0;
    if (this.statsd !== null) this.statsd.request(code, seconds);
    if (!this.aggregate) return;
    const cls = code >= 100 && code < 600 ? d0 - 1 : NC - 1;
    this.by[methodIndex(method) * NC + cls]!++;
    let i = 0;
    while (i < NB && seconds > DURATION_BUCKETS[i]!) i++;
    this.hist[i]!++;
    this.sum += seconds;
    this.pending = true;
  }

  /** sends the StatsD lines of this batch now (before an exit) */
  flushStatsd(): void {
    this.statsd?.flush();
  }

  /** the counts since the last call, or null if none */
  take(): RequestDelta | null {
    if (!this.pending) return null;
    const by: Record<string, number> = {};
    for (let m = 0; m < METHOD_LABELS.length; m++) {
      for (let c = 0; c < NC; c++) {
        const n = this.by[m * NC + c]!;
        if (n > 0) by[`${METHOD_LABELS[m]} ${STATUS_CLASSES[c]}`] = n;
      }
    }
    const d: RequestDelta = { by, hist: Array.from(this.hist), sum: this.sum };
    this.by.fill(0);
    this.hist.fill(0);
    this.sum = 0;
    this.pending = false;
    return d;
  }
}
