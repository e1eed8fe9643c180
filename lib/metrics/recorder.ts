// Per-request metrics, where requests run (a worker, or serve()'s process).
// Built only when StatsD or Prometheus is on: with both off nothing is
// recorded and the request path does no work for metrics at all.
// A request costs one typed-array increment (counts by method and status
// code; the code parsed only when the status string changes) and, for a
// timed one, the clock: no string, no Map, no closure, no call into StatsD.
// StatsD's counters are the differences of those counts at its flush (pull(),
// lib/metrics/statsd.ts: one datagram per interval or per full batch of
// timers); Prometheus's leave with the next heartbeat (take()), so there is no
// IPC per request.
//
// Request durations are sampled under load. Reading the clock costs about 380
// instructions (performance.now(), Node 20; Date.now() about 300), and timing a
// request reads it twice: 7 % of a hello request on its own. So while a
// worker starts at most TIMED_PER_TICK requests per TICK_MS (32 a second), every request is
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

import type { RequestMeter } from '../http/handler.js';
import type { RequestCounts, StatsdClient } from './statsd.js';

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

/** a method's label index (record() tests for GET first) */
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

/** the sampling period, ms */
export const TICK_MS = 1000;
/** requests per tick timed at most (about): all of them below this rate */
export const TIMED_PER_TICK = 32;

const NC = STATUS_CLASSES.length;
const NB = DURATION_BUCKETS.length;
/** counts[method * CODES + code]: code 100-999, 0 for a status without three digits */
const CODES = 1000;

/** a status line's code ("200 OK" -> 200), 0 when it does not start with three digits 1xx-9xx */
function statusCode(status: string): number {
  const d0 = status.charCodeAt(0) - 48;
  const d1 = status.charCodeAt(1) - 48;
  const d2 = status.charCodeAt(2) - 48;
  return d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 ? d0 * 100 + d1 * 10 + d2 : 0;
}

export class RequestRecorder implements RequestCounts, RequestMeter {
  /** requests finished (in-flight = started - done) */
  done = 0;
  // cumulative counts by [method * CODES + code], and the indexes counted at least once (the only ones the
  // readers scan): per request one typed-array increment, no string, no Map, no call into StatsD
  private readonly counts = new Float64Array(METHOD_LABELS.length * CODES);
  private readonly seen: number[] = [];
  // what take() (Prometheus) and pull() (StatsD) saw last: their differences are the counts since
  private readonly takenCounts: Float64Array;
  private readonly pulledCounts: Float64Array;
  private pulledDone = 0;
  private takenDone = 0;
  // the last status seen and its code: an application answers with the same few status strings, so the
  // code is parsed only when the string differs (an identical string compares by pointer)
  private lastStatus = '';
  /** CODES when Prometheus needs the method (the counts' stride), 0 when StatsD alone does not */
  private readonly byMethod: number;
  private lastCode = 0;
  private readonly hist = new Float64Array(NB + 1);
  private sum = 0;
  // sampling: begin() times a request when `skip` runs out; k set by rate()
  private doneAtTick = 0;
  private tickAt = -1;
  private k = 1;
  /** requests until the next timed one (RequestMeter: the dispatcher counts it down, calls start() at 0) */
  skip = 0;
  private seed = 0x2545f491; // xorshift32 state
  // `done` at the last timed request (a timed request's StatsD weight is the requests since) and at the
  // last point the histogram counted (a timed request, or take(): its weight)
  private timedDone = 0;
  private histDone = 0;
  // the bucket and duration of the last timed request (take() counts the untimed ones since with it)
  private lastBucket = 0;
  private lastSeconds = 0;

  constructor(
    private readonly statsd: StatsdClient | null,
    private readonly aggregate: boolean,
    /** the clock (ms); tests pass their own */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.byMethod = aggregate ? CODES : 0;
    this.takenCounts = new Float64Array(aggregate ? this.counts.length : 0);
    this.pulledCounts = new Float64Array(statsd !== null ? this.counts.length : 0);
    statsd?.attach(this);
  }

  /** a request starts: its start time when it is to be timed, else -1 */
  begin(): number {
    return --this.skip > 0 ? -1 : this.start();
  }

  /** RequestMeter: `skip` ran out, this request is timed: the next gap, and the start time */
  start(): number {
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
    const perTick = this.tickAt < 0 ? 0 : ((this.done - this.doneAtTick) * TICK_MS) / ms;
    this.tickAt = now;
    this.doneAtTick = this.done;
    let k = 1;
    while (k * TIMED_PER_TICK < perTick && k < 1 << 20) k *= 2;
    this.k = k;
    if (k === 1) this.skip = 1;
  }

  /** one finished request: status as the application gave it ("200 OK"), startedAt from begin() (-1: untimed) */
  record(method: string, status: string, startedAt: number): void {
    this.done++;
    let code = this.lastCode;
    if (status !== this.lastStatus) {
      code = statusCode(status);
      this.lastStatus = status;
      this.lastCode = code;
    }
    // GET by one string comparison (the method is a fresh slice of the request: compared by content)
    const i = (this.byMethod === 0 ? 0 : method === 'GET' ? 0 : methodIndex(method) * CODES) + code;
    if (this.counts[i]!++ === 0) this.seen.push(i);
    if (startedAt >= 0) this.timed(startedAt);
  }

  /** the rest of a timed request: its duration to StatsD and the histogram */
  private timed(startedAt: number): void {
    const now = this.now();
    const seconds = now > startedAt ? (now - startedAt) / 1000 : 0;
    this.rate(now);
    if (this.statsd !== null) {
      this.statsd.duration(seconds, this.done - this.timedDone);
    }
    this.timedDone = this.done;
    if (!this.aggregate) return;
    let b = 0;
    while (b < NB && seconds > DURATION_BUCKETS[b]!) b++;
    const wh = this.done - this.histDone;
    this.histDone = this.done;
    this.hist[b]! += wh;
    this.sum += seconds * wh;
    this.lastBucket = b;
    this.lastSeconds = seconds;
  }

  /** RequestCounts: the requests since the last pull, for StatsD's flush */
  pull(add: (code: number, n: number) => void): number {
    const n = this.done - this.pulledDone;
    if (n === 0) return 0;
    this.pulledDone = this.done;
    const byCode = new Map<number, number>();
    for (const i of this.seen) {
      const d = this.counts[i]! - this.pulledCounts[i]!;
      if (d === 0) continue;
      this.pulledCounts[i] = this.counts[i]!;
      const code = i % CODES;
      if (code !== 0) byCode.set(code, (byCode.get(code) ?? 0) + d);
    }
    for (const [code, d] of byCode) add(code, d);
    return n;
  }

  /** sends the StatsD lines of this batch now (before an exit) */
  flushStatsd(): void {
    this.statsd?.flush();
  }

  /** the counts since the last call, or null if none */
  take(): RequestDelta | null {
    if (!this.aggregate || this.done === this.takenDone) return null;
    this.takenDone = this.done;
    if (this.done > this.histDone) {
      // the untimed requests since the last timed one: counted with it (the histogram's count stays exact)
      const left = this.done - this.histDone;
      this.hist[this.lastBucket]! += left;
      this.sum += this.lastSeconds * left;
      this.histDone = this.done;
    }
    const by: Record<string, number> = {};
    for (const i of this.seen) {
      const d = this.counts[i]! - this.takenCounts[i]!;
      if (d === 0) continue;
      this.takenCounts[i] = this.counts[i]!;
      const code = i % CODES;
      const cls = code >= 100 && code < 600 ? Math.floor(code / 100) - 1 : NC - 1;
      const key = `${METHOD_LABELS[Math.floor(i / CODES)]} ${STATUS_CLASSES[cls]}`;
      by[key] = (by[key] ?? 0) + d;
    }
    const d: RequestDelta = { by, hist: Array.from(this.hist), sum: this.sum };
    this.hist.fill(0);
    this.sum = 0;
    return d;
  }
}
