// StatsD client (Gunicorn's gunicorn/instrument/statsd.py names and types).
// Never blocks or slows a request. Gunicorn sends one datagram per metric per
// request; here the request metrics are aggregated as a StatsD server would:
// the counters (gunicorn.requests, gunicorn.request.status.<code>) are summed
// and sent as one line each per flush, read from the recorder's counts
// (lib/metrics/recorder.ts: pull()) at the flush, so a request does no StatsD
// work at all; the request timers go out as lines of their own, as many as fit
// one datagram (MAX_DATAGRAM), a batch sent when full or at the next FLUSH_MS
// tick. A StatsD server sums counters and collects timers over its own flush
// interval (10 s by default), so the figures it computes are the same; only
// the arrival is up to FLUSH_MS later. A request duration timed as a sample of
// w requests (lib/metrics/recorder.ts, under load) carries StatsD's sample rate
// `|@1/w`; when the socket's send queue is full the batch is dropped and
// counted (`dropped`). statsd_host HOST:PORT is UDP; unix://PATH (Gunicorn's
// form; unix:PATH too) a unix datagram socket, sent through the addon
// (lib/unix-datagram.ts), where a full receiver queue is a drop as well.
import dgram from 'node:dgram';
import net from 'node:net';
import { UnixDatagram } from '../unix-datagram.js';

const MAX_DATAGRAM = 1432;
const MAX_QUEUE = 64;
/** the flush interval: counters summed over it, a partial batch of timers sent at it */
const FLUSH_MS = 1000;
/** request timers per batch: at most 64, and what fits one datagram with a few counter lines */
const MAX_TIMERS = 64;
/** "000" ... "999": the milliseconds' fraction without number-to-string work per request */
const FRAC = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** a sampled timer's rate suffix for weight w (it stands for w requests): "|@0.0625"; '' for 1 */
function rateSuffix(w: number): string {
  return w <= 1 ? '' : `|@${Number((1 / w).toPrecision(6))}`;
}
const RATES = Array.from({ length: 257 }, (_, w) => rateSuffix(w));

export class StatsdUnavailable extends Error {}

/**
 * What StatsD's client reads of the request counts at its flush (here): the recorder (lib/metrics/recorder.ts)
 * counts each request once, by method and status code, and both StatsD and Prometheus take their
 * differences from those counts when they send, not per request.
 */
export interface RequestCounts {
  /** adds the requests finished since the last call: total, and by status code (code 100-999) */
  pull(add: (code: number, n: number) => void): number;
}

export type StatsdAddress = { host: string; port: number } | { path: string };

export function parseStatsdHost(addr: string): StatsdAddress {
  if (addr.startsWith('unix:')) {
    const path = addr.slice(addr.startsWith('unix://') ? 7 : 5);
    if (path === '') throw new Error(`statsd_host ${addr}: expected unix://PATH`);
    return { path };
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(addr.trim());
  if (m === null) throw new Error(`statsd_host ${addr}: expected HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 8125 };
}

export class StatsdClient {
  dropped = 0;
  sent = 0;
  /** resolves once the socket is connected (lines sent before that are dropped) */
  readonly ready: Promise<void>;
  private readonly socket: dgram.Socket | null = null;
  private readonly unix: UnixDatagram | null = null;
  private readonly prefix: string;
  private readonly tags: string;
  private counters = new Map<string, number>();
  private lines: string[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  // the request metrics (gunicorn.requests, .request.duration, .request.status.<code>) as numbers
  private requests = 0;
  private readonly statusCounts = new Float64Array(1000);
  private source: RequestCounts | null = null;
  private readonly statusSeen: number[] = [];
  private readonly durationsUs = new Float64Array(MAX_TIMERS);
  private readonly weights = new Float64Array(MAX_TIMERS);
  private readonly timersPerBatch: number;
  private nDurations = 0;

  constructor(addr: string, prefix = '', dogstatsdTags = '') {
    const address = parseStatsdHost(addr);
    this.prefix = prefix === '' || prefix.endsWith('.') ? prefix : `${prefix}.`;
    this.tags = dogstatsdTags === '' ? '' : `|#${dogstatsdTags}`;
    const timerLine = `${this.prefix}gunicorn.request.duration:99999.999|ms|@0.000976562${this.tags}\n`.length;
    this.timersPerBatch = Math.max(
      1,
      Math.min(MAX_TIMERS, Math.floor((MAX_DATAGRAM - 3 * (timerLine + 8)) / timerLine)),
    );
    if ('path' in address) {
      this.unix = new UnixDatagram(address.path);
      this.ready = Promise.resolve();
      return;
    }
    const { host, port } = address;
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.socket = socket;
    // ECONNREFUSED from a connected UDP socket when nobody listens: metrics are best effort
    socket.on('error', () => {
      this.dropped++;
    });
    this.ready = new Promise((resolve) => socket.once('connect', () => resolve()));
    socket.connect(port, host);
    socket.unref();
  }

  increment(name: string, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    this.schedule();
  }

  decrement(name: string, value = 1): void {
    this.increment(name, -value);
  }

  gauge(name: string, value: number): void {
    this.lines.push(`${this.prefix}${name}:${value}|g${this.tags}`);
    this.schedule();
  }

  /** a timer, in milliseconds */
  timing(name: string, ms: number): void {
    this.lines.push(`${this.prefix}${name}:${ms}|ms${this.tags}`);
    this.schedule();
  }

  histogram(name: string, value: number): void {
    this.lines.push(`${this.prefix}${name}:${value}|h${this.tags}`);
    this.schedule();
  }

  /** the request counts are read from `source` at each flush (RequestRecorder: pull()); the interval runs from now */
  attach(source: RequestCounts): void {
    this.source = source;
    this.schedule();
  }

  /**
   * a request duration in seconds, and its weight: 1 for a request timed on its own, w > 1 for a sample
   * standing for w requests (sent as `|@1/w`; lib/metrics/recorder.ts samples under load)
   */
  duration(seconds: number, weight = 1): void {
    this.weights[this.nDurations] = weight;
    this.durationsUs[this.nDurations++] = seconds * 1e6;
    if (this.nDurations === this.timersPerBatch) this.flush();
    else this.schedule();
  }

  /** the source's request counts since the last flush, into `requests` and the status counts */
  private readonly addStatus = (code: number, n: number): void => {
    if (this.statusCounts[code] === 0) this.statusSeen.push(code);
    this.statusCounts[code]! += n;
  };

  /** one interval timer for the client's life (no timer set and cleared per batch) */
  private schedule(): void {
    this.scheduled = true;
    if (this.timer === null) {
      this.timer = setInterval(() => {
        if (this.scheduled || this.source !== null) this.flush();
      }, FLUSH_MS);
      this.timer.unref();
    }
  }

  /** the request metrics, as one string of lines (no trailing newline), '' if none */
  private requestLines(): string {
    if (this.source !== null) this.requests += this.source.pull(this.addStatus);
    const p = this.prefix;
    const tags = this.tags;
    const name = `${p}gunicorn.request.duration:`;
    let out = '';
    for (let i = 0; i < this.nDurations; i++) {
      const us = Math.round(this.durationsUs[i]!);
      const w = this.weights[i]!;
      const rate = w < RATES.length ? RATES[w]! : rateSuffix(w);
      out += `${i === 0 ? name : `\n${name}`}${Math.floor(us / 1000)}.${FRAC[us % 1000]}|ms${rate}${tags}`;
    }
    this.nDurations = 0;
    if (this.requests > 0) out += `${out === '' ? '' : '\n'}${p}gunicorn.requests:${this.requests}|c|@1.0${tags}`;
    this.requests = 0;
    for (const c of this.statusSeen) {
      out += `\n${p}gunicorn.request.status.${c}:${this.statusCounts[c]}|c|@1.0${tags}`;
      this.statusCounts[c] = 0;
    }
    this.statusSeen.length = 0;
    return out;
  }

  /** sends what this batch collected */
  flush(): void {
    this.scheduled = false;
    const requests = this.requestLines(); // timersPerBatch timers and the counters: one datagram, usually
    const lines = this.lines;
    this.lines = [];
    if (requests.length > MAX_DATAGRAM) lines.unshift(...requests.split('\n'));
    else if (requests !== '') this.send(requests);
    for (const [name, v] of this.counters) lines.push(`${this.prefix}${name}:${v}|c|@1.0${this.tags}`);
    this.counters.clear();
    let packet = '';
    for (const l of lines) {
      if (packet !== '' && packet.length + 1 + l.length > MAX_DATAGRAM) {
        this.send(packet);
        packet = '';
      }
      packet = packet === '' ? l : `${packet}\n${l}`;
    }
    if (packet !== '') this.send(packet);
  }

  private send(packet: string): void {
    if (this.unix !== null) {
      // a full receiver (EAGAIN), nobody listening (ECONNREFUSED, ENOENT): dropped and counted
      if (this.unix.send(packet) < 0) this.dropped++;
      else this.sent++;
      return;
    }
    if (this.socket === null) return;
    if (this.socket.getSendQueueCount() > MAX_QUEUE) {
      this.dropped++;
      return;
    }
    try {
      // no callback: a send error comes as the socket's 'error' event (counted there)
      this.socket.send(packet);
      this.sent++;
    } catch {
      this.dropped++; // not connected (yet) or closed
    }
  }

  close(): void {
    this.flush();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unix?.close();
    try {
      this.socket?.close();
    } catch {
      /* closed */
    }
  }
}
