// Runs the application for each request the native core hands over, and
// turns what it returns into native respond()/write() calls.
//
// Lifetime rules: a request lives from onRequest until its response is
// finished or the client disconnects (onAbort). The application's iterable is
// always closed (close() called once), also on error and on disconnect.
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';

import { ABORT, CB, F, M, R, Result, native, type NativeCallbacks, type NativeServer } from '../native.js';
import type { Logger } from '../logging/logger.js';
import type { Application, Chunk, Environ, ResponseBody, ResponseHeaders, StartResponse, WriteFn } from '../types.js';
import { addTlsInfo, buildEnviron, SchemeConflict, ScriptNameMismatch, type EnvironContext } from './environ.js';
import { bodyError, disconnected, FlowControl, Input, type InputControl } from './input.js';
import { ErrorCode, errorInfo, errorPage } from './errors.js';
import { FileWrapper } from './file-wrapper.js';
import { HeadCache } from './head-cache.js';

// meta[] slot of the request flags. A module constant: reading M.flags (an
// imported object's property) in onRequest cost about 130 instructions per
// request (node bench/callgrind.mjs --workload hello: 10,450 against 10,320).
const FLAGS_SLOT = M.flags;
const HTML_HEADER = 'Content-Type\0text/html\n';
const EMPTY_INPUT = new Input(undefined, null);
const NO_HEADERS: ResponseHeaders = [];
const SLOT_MASK = (1 << 20) - 1; // a request id's connection slot bits (native/src/server.cc kSlotBits)

export interface RequestHooks {
  /**
   * called after each response (Gunicorn post_request / access log); may be undefined.
   * `headers`: the response headers, from a fetch-style exchange (lib/http/fetch.ts)
   */
  after?: (environ: Environ, status: string, sent: number, startedAt: number, headers?: ResponseHeaders) => void;
  /**
   * with `after`: a request's startedAt (a performance.now() reading, or -1 when this request is not to be
   * timed: lib/metrics/recorder.ts samples under load); default performance.now() for every request
   */
  begin?: () => number;
  /** with `after`: whether it reads `sent` (bytes of body sent; counting them costs a byteLength per chunk); default true */
  sent?: boolean;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

function joinChunks(list: readonly unknown[]): Chunk | undefined {
  const n = list.length;
  if (n === 0) return undefined;
  if (n === 1) {
    const c = list[0];
    if (typeof c === 'string' || c instanceof Uint8Array) return c;
    throw new TypeError(`response body items must be strings or Uint8Arrays, got ${inspect(c)}`);
  }
  let strings = true;
  for (const c of list) {
    if (typeof c !== 'string') {
      strings = false;
      if (!(c instanceof Uint8Array))
        throw new TypeError(`response body items must be strings or Uint8Arrays, got ${inspect(c)}`);
    }
  }
  if (strings) return (list as string[]).join('');
  return Buffer.concat(list.map((c) => (typeof c === 'string' ? Buffer.from(c) : (c as Uint8Array))));
}

export class Dispatcher {
  readonly meta: Uint32Array;
  native!: NativeServer;
  // The exchange that native callbacks (body, abort, drain) may still name, per
  // connection slot (a request id's low bits, native/src/server.cc: id = seq <<
  // 20 | slot): a store and a clear per tracked request. A Map keyed by the id
  // (a heap number) cost an async hello about 660 instructions per request
  // (hashing in C++, its table shrunk and regrown every time; bench/callgrind.mjs).
  // A newer request on a slot replaces the older one: the native core only
  // calls back for a slot's current request, and moves on (the next pipelined
  // request, or a new connection) only once the older one is answered or aborted.
  private readonly live: (Exchange | undefined)[] = [];
  readonly heads = new HeadCache(native.headSlots);
  /** hooks.after counts the body bytes sent */
  readonly countSent: boolean;
  onClosed: () => void = () => {};

  constructor(
    readonly app: Application,
    readonly ctx: EnvironContext,
    readonly log: Logger,
    fieldsLimit: number,
    readonly hooks: RequestHooks = {},
  ) {
    this.meta = new Uint32Array(16 + 2 * Math.max(1, Math.min(fieldsLimit || 32768, 32768)) + 2);
    this.countSent = hooks.after !== undefined && hooks.sent !== false;
  }

  callbacks(): NativeCallbacks {
    const cbs = [] as unknown as NativeCallbacks;
    cbs[CB.request] = (id: number, blob: string, body: Buffer | undefined) => this.onRequest(id, blob, body);
    cbs[CB.body] = (id: number, chunk: Buffer) => this.find(id)?.input.push(chunk);
    cbs[CB.bodyEnd] = (id: number, code: number) => {
      const ex = this.find(id);
      if (ex === undefined) return;
      if (code === 0) ex.input.end();
      else ex.input.fail(bodyError(code));
    };
    cbs[CB.abort] = (id: number, why: number) => {
      const ex = this.find(id);
      if (ex === undefined) return;
      if (why === ABORT.gone) ex.abort();
      else ex.timeout(why === ABORT.timeout);
    };
    cbs[CB.drain] = (id: number) => this.find(id)?.drain();
    cbs[CB.protocolError] = (code: number, ip: string, detail: string) => {
      this.log.warning(`Invalid request from ip=${ip || 'unix'}: ${errorInfo(code).code}: ${detail}`);
    };
    cbs[CB.closed] = () => this.onClosed();
    cbs[CB.notice] = (message: string) => this.log.error(message);
    return cbs;
  }

  track(ex: Exchange): void {
    this.live[ex.id & SLOT_MASK] = ex; // ToInt32 keeps the low bits of any integer
  }
  untrack(ex: Exchange): void {
    const i = ex.id & SLOT_MASK;
    if (this.live[i] === ex) this.live[i] = undefined;
  }
  private find(id: number): Exchange | undefined {
    const ex = this.live[id & SLOT_MASK];
    return ex !== undefined && ex.id === id ? ex : undefined;
  }

  /** the environs of the requests in flight that the dispatcher tracks (async or streaming ones); for error reports */
  inFlight(): Environ[] {
    const out: Environ[] = [];
    for (const ex of this.live) if (ex !== undefined && ex.environ !== undefined) out.push(ex.environ);
    return out;
  }

  private onRequest(id: number, blob: string, body: Buffer | undefined): void {
    const flags = this.meta[FLAGS_SLOT]!;
    const follows = (flags & F.bodyFollows) !== 0;
    const ex = new Exchange(this, id);
    // a request without a body shares one ended, empty input
    const h2 = (flags & F.http2) !== 0;
    const control = follows ? (h2 ? new FlowControl(ex, (n) => this.native.consume(id, n)) : ex) : null;
    const input = follows || body !== undefined ? new Input(body, control) : EMPTY_INPUT;
    ex.input = input;
    if (follows) ex.keep();
    let environ: Environ;
    try {
      environ = buildEnviron(this.ctx, blob, this.meta, input, ex.earlyHints);
      if (this.ctx.tlsClientInfo) addTlsInfo(environ, this.native.tlsInfo(id));
      if (h2) environ['gunicorn.http2.send_trailers'] = (headers: ResponseHeaders) => ex.sendTrailers(headers);
    } catch (e) {
      if (e instanceof SchemeConflict) {
        const info = errorInfo(ErrorCode.INVALID_SCHEME_HEADERS);
        this.log.warning(
          `Invalid request from ip=${blob.substring(this.meta[M.queryEnd]!, this.meta[M.remoteEnd])}: ${info.code}: ${e.message}`,
        );
        ex.sendError(`${info.status} ${info.reason}`, e.message);
      } else if (e instanceof ScriptNameMismatch) {
        // Gunicorn's ConfigurationProblem
        ex.sendError('500 Internal Server Error', e.message);
      } else {
        ex.fail(e);
      }
      return;
    }
    ex.start(environ);
  }
}

export class Exchange implements InputControl {
  input!: Input;
  environ!: Environ;
  private status = '';
  private headers: ResponseHeaders = NO_HEADERS; // a copy of what start_response() got (none on a head-cache hit)
  private headerCount = 0;
  private headerBlock = '';
  private headKey = 0; // HeadCache slot that held this head at start_response(), 0 if none
  private headGen = 0;
  private statusSet = false;
  private headSent = false;
  private finished = false;
  aborted = false;
  private body: ResponseBody | null = null;
  private closed = false;
  private tracked = false;
  private drainWaiter: (() => void) | null = null;
  private startedAt = 0;
  private sent = 0;

  constructor(
    private readonly d: Dispatcher,
    readonly id: number,
  ) {}

  // InputControl: wsgi.input asks the native core to stop/resume reading
  pause(paused: boolean): void {
    this.d.native.pause(this.id, paused);
  }

  start(environ: Environ): void {
    this.environ = environ;
    const hooks = this.d.hooks;
    if (hooks.after !== undefined) this.startedAt = hooks.begin !== undefined ? hooks.begin() : performance.now();
    let result: ResponseBody | Promise<ResponseBody>;
    try {
      result = this.d.app(environ, this.startResponse);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (!Array.isArray(result) && isThenable(result)) {
      this.keep();
      this.settle(result);
      return;
    }
    this.consume(result);
  }

  // An async application's result: one then() with two closures. Its own method: the closures capture
  // `this`, and a function whose closures do gets a context allocated on every call (start() runs for
  // every request). Cheaper than an async method awaiting it (node bench/callgrind.mjs --workload
  // hello-async: 11,691 instructions per request against 11,923-12,003): no generator object, no promise
  // of its own, no await closures. The rest of the async application's cost over the sync one (about
  // 1,100) is its own promise, one reaction job and the microtask checkpoint after the native callback:
  // shared reaction functions without closures would save about 100 more (measured with a single pending
  // exchange, 11,596), but a reaction function has no way to find its exchange. Another thenable goes
  // through Promise.resolve() first, as await would: a then() that throws or calls back twice is contained.
  private settle(result: PromiseLike<ResponseBody>): void {
    (result instanceof Promise ? (result as Promise<ResponseBody>) : Promise.resolve(result)).then(
      (r) => this.consume(r),
      (e) => this.fail(e),
    );
  }

  /** keep this exchange reachable for onBody/onAbort/onDrain */
  keep(): void {
    if (!this.tracked && !this.finished) {
      this.tracked = true;
      this.d.track(this);
    }
  }

  readonly startResponse: StartResponse = (status, headers, exc_info) => {
    if (exc_info !== undefined && exc_info !== null) {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- PEP 3333: re-raise the app's exc_info as it is
      if (this.headSent) throw exc_info; // PEP 3333: re-raise once headers are out
    } else if (this.statusSet) {
      throw new Error('start_response() called twice without exc_info');
    }
    if (typeof status !== 'string') throw new TypeError(`status must be a string, got ${inspect(status)}`);
    if (!Array.isArray(headers))
      throw new TypeError(`headers must be an array of [name, value] pairs, got ${inspect(headers)}`);
    for (const h of headers) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
        throw new TypeError(`each header must be a [name, value] pair of strings, got ${inspect(h)}`);
      }
    }
    const heads = this.d.heads;
    const key = heads.find(status, headers);
    this.headKey = key;
    if (key !== 0) {
      this.headGen = heads.gen[key]!;
      this.headerBlock = heads.block(key);
    } else {
      let block = '';
      for (const h of headers) block += `${h[0]}\0${h[1]}\n`;
      this.headerBlock = block;
    }
    this.status = status;
    this.headers = key !== 0 ? NO_HEADERS : headers.map((h) => [h[0], h[1]] as [string, string]);
    this.headerCount = headers.length;
    this.statusSet = true;
    return this.write;
  };

  /**
   * wsgi.early_hints (Gunicorn 25): a `103 Early Hints` head before the response, e.g.
   * `[['Link', '</style.css>; rel=preload; as=style']]`. Ignored once the response has started,
   * and for HTTP/1.0 clients (the native core leaves them out).
   */
  readonly earlyHints = (headers: ResponseHeaders): void => {
    if (!Array.isArray(headers)) throw new TypeError(`early hints must be an array of [name, value] pairs`);
    let block = '';
    for (const h of headers) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
        throw new TypeError(`each early hint must be a [name, value] pair of strings, got ${inspect(h)}`);
      }
      block += `${h[0]}\0${h[1]}\n`;
    }
    if (this.headSent || this.finished || this.aborted) return;
    const r = this.d.native.earlyHints(this.id, block, headers.length);
    if (r === Result.badHeader) throw new Error(`Invalid early hints header in ${inspect(headers)}`);
  };

  /**
   * gunicorn.http2.send_trailers (HTTP/2 only): response trailers, e.g. `[['grpc-status', '0']]`, sent after
   * the body (call it before the body ends). Ignored once the response has finished.
   */
  sendTrailers(headers: ResponseHeaders): void {
    if (!Array.isArray(headers)) throw new TypeError(`trailers must be an array of [name, value] pairs`);
    let block = '';
    for (const h of headers) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
        throw new TypeError(`each trailer must be a [name, value] pair of strings, got ${inspect(h)}`);
      }
      block += `${h[0]}\0${h[1]}\n`;
    }
    if (this.finished || this.aborted) return;
    const r = this.d.native.trailers(this.id, block, headers.length);
    if (r === Result.badHeader) throw new Error(`Invalid trailer in ${inspect(headers)}`);
  }

  /** PEP 3333's write(): sends body bytes now. Prefer returning an iterable. */
  private readonly write: WriteFn = (chunk) => {
    if (this.finished || this.aborted) return;
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      throw new TypeError(`write() takes a string or Uint8Array, got ${inspect(chunk)}`);
    }
    if (!this.headSent) this.sendHead(chunk, 0);
    else {
      this.d.native.write(this.id, chunk, false);
      this.count(chunk);
    }
  };

  /** bytes of body sent, for the post-request hook (access log); not counted when it does not read them */
  private count(chunk: Chunk | undefined): void {
    if (chunk !== undefined && this.d.countSent) {
      this.sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    }
  }

  private sendHead(body: Chunk | undefined, flags: number): number {
    if (!this.statusSet) throw new Error('the application returned a body without calling start_response()');
    const heads = this.d.heads;
    const n = this.headerCount;
    let r: number;
    if (this.headKey !== 0 && heads.gen[this.headKey] === this.headGen) {
      // the native side holds this head validated: send its slot number only
      r = this.d.native.respond(this.id, undefined, undefined, n, body, flags | (this.headKey << 8));
    } else if (this.headKey !== 0) {
      // the slot was reused since start_response(): send the strings, uncached
      r = this.d.native.respond(this.id, this.status, this.headerBlock, n, body, flags);
    } else {
      const key = heads.claim();
      r = this.d.native.respond(this.id, this.status, this.headerBlock, n, body, flags | (key << 8));
      if (r === Result.ok || r === Result.backpressure) heads.fill(key, this.status, this.headers, this.headerBlock);
    }
    if (r === Result.ok || r === Result.backpressure) {
      this.headSent = true;
      this.count(body);
      return r;
    }
    if (r === Result.stale) {
      this.abort();
      return r;
    }
    const what =
      r === Result.badStatus
        ? `invalid status line ${inspect(this.status)}`
        : r === Result.badContentLength
          ? 'invalid Content-Length header'
          : `invalid header in ${inspect(
              this.headerBlock
                .split('\n')
                .filter(Boolean)
                .map((l) => l.split('\0')),
            )}`;
    throw new Error(`Invalid response from the application: ${what}`);
  }

  private consume(body: ResponseBody): void {
    this.body = body;
    if (this.aborted) {
      this.finish();
      this.closeBody(); // a body that came after a timeout is still closed
      return;
    }
    try {
      if (Array.isArray(body)) {
        const whole = joinChunks(body);
        if (!this.headSent) {
          this.sendHead(whole, R.final | R.whole);
        } else {
          this.count(whole);
          this.d.native.write(this.id, whole, true);
        }
        this.finish();
        return;
      }
      if (
        body === null ||
        body === undefined ||
        (typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function' &&
          typeof (body as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function')
      ) {
        throw new TypeError(`the application must return an iterable or async iterable, got ${inspect(body)}`);
      }
    } catch (e) {
      this.fail(e);
      return;
    }
    if (body instanceof FileWrapper && this.d.ctx.sendfile && this.sendFile(body)) return;
    this.keep();
    void this.stream(body);
  }

  /** Gunicorn's sendfile: a wrapped regular file is sent by the native core, no blocks through JS. */
  private sendFile(body: FileWrapper): boolean {
    const fd = body.fileno();
    if (fd === undefined || this.headSent) return false;
    const length = this.d.native.prepareFile(this.id, fd);
    if (length < 0) return false;
    try {
      this.sendHead(undefined, R.final | R.file);
    } catch (e) {
      this.fail(e);
      return true;
    }
    if (this.d.hooks.after !== undefined) this.sent = length;
    this.finish();
    return true;
  }

  private async stream(body: ResponseBody): Promise<void> {
    const it: Iterator<unknown> | AsyncIterator<unknown> =
      typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
        ? (body as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (body as Iterable<unknown>)[Symbol.iterator]();
    try {
      for (;;) {
        let step = it.next();
        if (isThenable(step)) step = await step;
        if (this.aborted) break;
        if (step.done) break;
        const chunk = step.value;
        if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
          throw new TypeError(`response body items must be strings or Uint8Arrays, got ${inspect(chunk)}`);
        }
        let r: number;
        if (!this.headSent) {
          r = this.sendHead(chunk, 0);
        } else {
          r = this.d.native.write(this.id, chunk, false);
          this.count(chunk);
        }
        if (r === Result.stale) this.abort();
        if (this.aborted) break;
        if (r === Result.backpressure) await new Promise<void>((resolve) => (this.drainWaiter = resolve));
        if (this.aborted) break;
      }
      if (!this.aborted) {
        if (!this.headSent) this.sendHead(undefined, R.final | R.whole);
        else this.d.native.write(this.id, undefined, true);
      } else if (typeof it.return === 'function') {
        await it.return();
      }
      this.finish();
    } catch (e) {
      this.fail(e);
    }
  }

  drain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    if (w) w();
  }

  /** the client went away */
  abort(): void {
    if (this.aborted || this.finished) return;
    this.aborted = true;
    this.input?.fail(disconnected());
    this.drain();
    this.closeBody();
  }

  /**
   * request_timeout passed (native core): answer 503 when nothing was sent (`answer`), else the
   * native core has closed the connection. Either way the request is over: the application's
   * iterable is closed, wsgi.input fails, and the access log has its line.
   */
  timeout(answer: boolean): void {
    if (this.aborted || this.finished) return;
    const e = this.environ;
    const what = e ? `${e.REQUEST_METHOD} ${e.RAW_URI}` : '';
    if (answer) {
      this.d.log.error(`Request timeout (request_timeout): ${what}; answered 503`);
      this.sendError('503 Service Unavailable', 'The application did not answer in time.');
    } else {
      this.d.log.error(`Request timeout (request_timeout): ${what}; the response was cut short`);
    }
    this.aborted = true; // whatever the application does next goes nowhere
    this.input?.fail(disconnected());
    this.drain();
    this.finish();
    this.closeBody();
  }

  fail(err: unknown): void {
    if (this.finished) return;
    if (this.aborted) {
      this.d.log.debug(`Error after client disconnect on ${this.environ?.RAW_URI ?? '?'}: ${String(err)}`);
      this.finish();
      return;
    }
    const e = this.environ;
    this.d.log.exception(`Error handling request ${e ? `${e.REQUEST_METHOD} ${e.RAW_URI}` : ''}`.trimEnd(), err);
    if (!this.headSent) {
      this.sendError('500 Internal Server Error', '');
    } else {
      // headers are out: close so that a truncated response never looks complete
      this.d.native.abort(this.id);
      this.finish();
    }
  }

  sendError(status: string, message: string): void {
    const reason = status.slice(4);
    const page = errorPage(reason, message);
    this.status = status;
    this.d.native.respond(this.id, status, HTML_HEADER, 1, page, R.final | R.whole | R.close);
    this.headSent = true;
    this.sent = Buffer.byteLength(page);
    this.finish();
  }

  private closeBody(): void {
    if (this.closed || this.body === null) return;
    this.closed = true;
    const b = this.body as { close?: () => unknown } | null;
    if (b !== null && typeof b === 'object' && typeof b.close === 'function') {
      try {
        const r = b.close();
        if (isThenable(r))
          (r as Promise<unknown>).then(undefined, (e) => this.d.log.exception('Error closing the response body', e));
      } catch (e) {
        this.d.log.exception('Error closing the response body', e);
      }
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closeBody();
    if (this.tracked) this.d.untrack(this);
    const after = this.d.hooks.after;
    if (after !== undefined && this.environ !== undefined) {
      try {
        after(this.environ, this.status, this.sent, this.startedAt);
      } catch (e) {
        this.d.log.exception('Error in post-request hook', e);
      }
    }
  }
}
