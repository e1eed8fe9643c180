// Per-request metrics, where requests run (a worker, or serve()'s process).
// Built only when StatsD or Prometheus is on: with both off nothing is
// recorded and the request path does no work for metrics at all.
// StatsD lines go out in batches (lib/metrics/statsd.ts); Prometheus counts
// are summed here and leave with the next heartbeat (take()), so there is no
// IPC per request.
//
// Request durations are sampled under load. Reading the clock costs about 380
// instructions (performance.now(), Node 20; Date.now() about 300), and timing a
// request reads it twice: 7 % of a hello request on its own. So while a
// worker starts at most TIMED_PER_TICK requests per TICK_MS, every request is
// timed (exact figures at ordinary rates, and in the tests); above that, 1 in k
// on average (k a power of two, set from the rate measured at the timed
// requests, at most once per TICK_MS, so that about TIMED_PER_TICK per TICK_MS
// are timed; no timer of its own: the clock reads of the timed requests drive
// it, so after a busy spell up to 2k requests pass before all are timed again).
// The gap to the next timed request is random (1 to 2k - 1): a fixed 1-in-k
// would alias with periodic traffic (every 10th request slow, k = 32: the
// sample sees all of them or none). Counts stay exact: gunicorn.requests,
// gunicorn.request.status.<code> and gunicorn_ts_requests_total count every
// request. A timed duration stands for itself and the untimed requests
// finished since the previous timed one (its weight w): StatsD receives it as
// a sampled timer (`|@1/w`, StatsD's own sampling notation: the server counts
// it w times, percentiles come from the samples), the Prometheus histogram
// counts it w times in its bucket (so _count and the +Inf bucket are exact,
// the buckets and _sum an estimate from a systematic sample).
import { performance } from 'node:perf_hooks';

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
  // GET by its characters: the method is a slice of the request's string, compared by content, not identity
  if (m.length === 3 && m.charCodeAt(0) === 71 && m.charCodeAt(1) === 69 && m.charCodeAt(2) === 84) return 0;
  switch (m) {
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

/** the sampling period, ms */
export const TICK_MS = 100;
/** requests per tick timed at most (about): all of them below this rate */
export const TIMED_PER_TICK = 32;

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
  // sampling: begin() times a request when `skip` runs out; k set by rate()
  private begun = 0;
  private begunAtTick = 0;
  private tickAt = -1;
  private k = 1;
  private skip = 0;
  private seed = 0x2545f491; // xorshift32 state
  // untimed requests finished since the last timed one: for StatsD's weight, for the histogram's (reset by take())
  private untimed = 0;
  private histUntimed = 0;
  // the bucket and duration of the last timed request (take() counts the untimed ones since with it)
  private lastBucket = 0;
  private lastSeconds = 0;

  constructor(
    private readonly statsd: StatsdClient | null,
    private readonly aggregate: boolean,
    /** the clock (ms); tests pass their own */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** a request starts: its start time when it is to be timed, else -1 */
  begin(): number {
    this.begun++;
    if (--this.skip > 0) return -1;
    if (this.k > 1) {
      let x = this.seed;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.seed = x;
      this.skip = 1 + ((x >>> 0) % (2 * this.k - 1));
    } else {
      this.skip = 1;
    }
    return this.now();
  }

  /** 1 in how many requests begin() times now, on average (1: all) */
  get sampling(): number {
    return this.k;
  }

  /** at a timed request's end (the clock just read): sets k from the rate since the last time, at most once per tick */
  private rate(now: number): void {
    const ms = now - this.tickAt;
    if (this.tickAt >= 0 && ms < TICK_MS) return;
    const perTick = this.tickAt < 0 ? 0 : ((this.begun - this.begunAtTick) * TICK_MS) / ms;
    this.tickAt = now;
    this.begunAtTick = this.begun;
    let k = 1;
    while (k * TIMED_PER_TICK < perTick && k < 1 << 20) k *= 2;
    this.k = k;
    if (k === 1) this.skip = 1;
  }

  /** one finished request: status as the application gave it ("200 OK"), startedAt from begin() (-1: untimed) */
  record(method: string, status: string, startedAt: number): void {
    this.done++;
    // the status code's digits, read without slicing
    const d0 = status.charCodeAt(0) - 48;
    const d1 = status.charCodeAt(1) - 48;
    const d2 = status.charCodeAt(2) - 48;
    const code = d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 ? d0 * 100 + d1 * 10 + d2 : 0;
    let seconds = -1;
    let w = 0; // 0: untimed
    if (startedAt >= 0) {
      const now = this.now();
      seconds = now > startedAt ? (now - startedAt) / 1000 : 0;
      w = this.untimed + 1;
      this.untimed = 0;
      this.rate(now);
    } else {
      this.untimed++;
    }
    if (this.statsd !== null) this.statsd.request(code, seconds, w);
    if (!this.aggregate) return;
    const cls = code >= 100 && code < 600 ? d0 - 1 : NC - 1;
    this.by[methodIndex(method) * NC + cls]!++;
    this.pending = true;
    if (w === 0) {
      this.histUntimed++;
      return;
    }
    let i = 0;
    while (i < NB && seconds > DURATION_BUCKETS[i]!) i++;
    const wh = this.histUntimed + 1;
    this.histUntimed = 0;
    this.hist[i]! += wh;
    this.sum += seconds * wh;
    this.lastBucket = i;
    this.lastSeconds = seconds;
  }

  /** sends the StatsD lines of this batch now (before an exit) */
  flushStatsd(): void {
    this.statsd?.flush();
  }

  /** the counts since the last call, or null if none */
  take(): RequestDelta | null {
    if (!this.pending) return null;
    if (this.histUntimed > 0) {
      // the untimed requests since the last timed one: counted with it (the histogram's count stays exact)
      this.hist[this.lastBucket]! += this.histUntimed;
      this.sum += this.lastSeconds * this.histUntimed;
      this.histUntimed = 0;
    }
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
