// Runs the application for each request the native core hands over, and
// turns what it returns into native respond()/write() calls.
//
// Lifetime rules: a request lives from onRequest until its response is
// finished or the client disconnects (onAbort). The application's iterable is
// always closed (close() called once), also on error and on disconnect.
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';

import { F, M, R, Result } from '../native.js';
import type { Logger } from '../logging/logger.js';
import type { Application, Chunk, Environ, ResponseBody, ResponseHeaders, StartResponse, WriteFn } from '../types.js';
import { addTlsInfo, buildEnviron, SchemeConflict, ScriptNameMismatch, type EnvironContext } from './environ.js';
import { FlowControl, Input, type InputControl } from './input.js';
import { ErrorCode } from './errors.js';
import {
  abortExchange,
  drained,
  drainExchange,
  endStream,
  ExchangeTable,
  failExchange,
  isThenable,
  keepExchange,
  refused,
  sendChunk,
  sendErrorPage,
  SLOT_MASK,
  timeoutExchange,
  type TableExchange,
} from './exchange-table.js';
import { FileWrapper } from './file-wrapper.js';
import type { ServerWebSocket, UpgradeOptions, WebSocketHandlers } from './websocket.js';

// meta[] slot of the request flags. A module constant: reading M.flags (an
// imported object's property) in onRequest cost about 130 instructions per
// request (node bench/callgrind.mjs --workload hello: 10,450 against 10,320).
const FLAGS_SLOT = M.flags;
const EMPTY_INPUT = new Input(undefined, null);
const NO_HEADERS: ResponseHeaders = [];

export interface RequestHooks {
  /**
   * called after each response (Gunicorn post_request / access log); may be undefined.
   * `startedAt`: performance.now() when the request started; `headers`: the response headers, from a
   * fetch-style exchange (lib/http/fetch.ts)
   */
  after?: (environ: Environ, status: string, sent: number, startedAt: number, headers?: ResponseHeaders) => void;
  /** with `after`: whether it reads `sent` (bytes of body sent; counting them costs a byteLength per chunk); default true */
  sent?: boolean;
  /**
   * the request metrics without an `after` hook (lib/metrics/recorder.ts; this dispatcher only, a fetch-style
   * one takes `after`): no closure between the request and the recorder, no call for an untimed start
   */
  meter?: RequestMeter;
}

/** what the dispatcher calls for the request metrics (RequestRecorder) */
export interface RequestMeter {
  /** counted down per request: at 0 the request is timed (start()), otherwise its startedAt is -1 */
  skip: number;
  /** a request to be timed starts: sets the next skip, returns performance.now() */
  start(): number;
  /** a request finished (startedAt: from start(), or -1) */
  record(method: string, status: string, startedAt: number): void;
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

/** wsgi.early_hints' argument checked and packed as the native core takes headers ("name\0value\n" each) */
function hintBlock(headers: ResponseHeaders): string {
  if (!Array.isArray(headers)) throw new TypeError(`early hints must be an array of [name, value] pairs`);
  let block = '';
  for (const h of headers) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
      throw new TypeError(`each early hint must be a [name, value] pair of strings, got ${inspect(h)}`);
    }
    block += `${h[0]}\0${h[1]}\n`;
  }
  return block;
}

/**
 * The reactions to an async application's promise, one pair per connection slot, reused from request to
 * request: `ex` is the exchange whose promise they wait on. A pair still waiting (an aborted request whose
 * application has not answered, when the slot already serves the next one) is left to it, and the slot
 * gets a new pair.
 */
class Reaction {
  ex: Exchange | undefined = undefined;
  readonly ok = (body: ResponseBody): void => {
    const ex = this.ex!;
    this.ex = undefined;
    ex.settled(body);
  };
  readonly err = (e: unknown): void => {
    const ex = this.ex!;
    this.ex = undefined;
    ex.fail(e);
  };
}

/** The WSGI dispatcher: the native callbacks and the slot table are ExchangeTable's (exchange-table.ts). */
export class Dispatcher extends ExchangeTable<Exchange> {
  // wsgi.early_hints, one function per connection slot, made the first time the slot serves a request: it
  // sends on the slot's current exchange (the last one begun, else the tracked one), so no closure is
  // allocated per request (one cost about 100 instructions per request, bench/callgrind.mjs). A function
  // kept by the application past its own request is a no-op once that request is finished, and sends on
  // the slot's next request if called while that one runs (its head not yet sent).
  private readonly hintFns: (Environ['wsgi.early_hints'] | undefined)[] = [];
  /** the exchange begun last: a synchronous application's, untracked (one store a request, no clear) */
  private last: Exchange | undefined = undefined;
  private readonly reactions: (Reaction | undefined)[] = [];
  /** hooks.after counts the body bytes sent */
  readonly countSent: boolean;
  /** hooks.after or hooks.meter is set: one test per request when neither is */
  readonly hooked: boolean;

  constructor(
    readonly app: Application,
    ctx: EnvironContext,
    log: Logger,
    fieldsLimit: number,
    readonly hooks: RequestHooks = {},
  ) {
    super(ctx, log, fieldsLimit);
    this.countSent = hooks.after !== undefined && hooks.sent !== false;
    this.hooked = hooks.after !== undefined || hooks.meter !== undefined;
  }

  /** the slot's Reaction, told that `ex` waits on it */
  reaction(ex: Exchange): Reaction {
    const slot = ex.id & SLOT_MASK;
    let re = this.reactions[slot];
    if (re === undefined || re.ex !== undefined) {
      re = new Reaction();
      this.reactions[slot] = re;
    }
    re.ex = ex;
    return re;
  }

  /** the wsgi.early_hints function of a connection slot (see hintFns) */
  private hintsFor(slot: number): Environ['wsgi.early_hints'] {
    let fn = this.hintFns[slot];
    if (fn === undefined) {
      fn = (headers: ResponseHeaders): void => {
        const block = hintBlock(headers);
        // the exchange begun last is the slot's newest if it is on this slot (a pipelined request may begin
        // inside the respond() of the one before, still tracked)
        const last = this.last;
        const ex = last !== undefined && (last.id & SLOT_MASK) === slot ? last : this.live[slot];
        ex?.earlyHints(block, headers);
      };
      this.hintFns[slot] = fn;
    }
    return fn;
  }

  /** the environs of the requests in flight that the dispatcher tracks (async or streaming ones); for error reports */
  inFlight(): Environ[] {
    const out: Environ[] = [];
    for (const ex of this.live) if (ex !== undefined && ex.environ !== undefined) out.push(ex.environ);
    return out;
  }

  protected onRequest(id: number, blob: string, body: Buffer | undefined): void {
    const flags = this.meta[FLAGS_SLOT]!;
    const follows = (flags & F.bodyFollows) !== 0;
    const ex = new Exchange(this, id);
    // a request without a body shares one ended, empty input
    const h2 = (flags & F.http2) !== 0;
    const control = follows ? (h2 ? new FlowControl(ex, (n) => this.native.consume(id, n)) : ex) : null;
    const input = follows || body !== undefined ? new Input(body, control) : EMPTY_INPUT;
    ex.input = input;
    this.last = ex;
    if (follows) ex.keep();
    let environ: Environ;
    try {
      environ = buildEnviron(this.ctx, blob, this.meta, input, this.hintsFor(id & SLOT_MASK));
      if (this.ctx.tlsClientInfo) addTlsInfo(environ, this.native.tlsInfo(id));
      if (h2) environ['gunicorn.http2.send_trailers'] = (headers: ResponseHeaders) => ex.sendTrailers(headers);
      if ((flags & F.websocket) !== 0) {
        environ['gunicorn.websocket'] = (handlers, options) => ex.upgrade(handlers, options);
      }
    } catch (e) {
      if (e instanceof SchemeConflict) {
        this.badRequest(ex, blob, ErrorCode.INVALID_SCHEME_HEADERS, e.message);
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

export class Exchange implements TableExchange, InputControl {
  input!: Input;
  // the state the shared functions of exchange-table.ts read and write (TableExchange)
  status = '';
  headSent = false;
  finished = false;
  aborted = false;
  tracked = false;
  drainWaiter: (() => void) | null = null;
  startedAt = 0;
  sent = 0;
  environ!: Environ;
  /** the request became a WebSocket (environ['gunicorn.websocket']): the 101 was its response */
  private upgraded = false;
  private headers: ResponseHeaders = NO_HEADERS; // a copy of what start_response() got (none on a head-cache hit)
  private headerCount = 0;
  private headerBlock = '';
  private headKey = 0; // HeadCache slot that held this head at start_response(), 0 if none
  private headGen = 0;
  private statusSet = false;
  private body: ResponseBody | null = null;
  private closed = false;

  constructor(
    readonly d: Dispatcher,
    readonly id: number,
  ) {}

  // InputControl: the request body asks the native core to stop/resume reading
  pause(paused: boolean): void {
    this.d.native.pause(this.id, paused);
  }
  keep(): void {
    keepExchange(this);
  }
  drain(): void {
    drainExchange(this);
  }
  abort(): void {
    abortExchange(this);
  }
  timeout(answer: boolean): void {
    timeoutExchange(this, answer);
  }
  fail(err: unknown): void {
    failExchange(this, err);
  }
  sendError(status: string, message: string): void {
    sendErrorPage(this, status, message);
  }

  describe(): string {
    const e = this.environ;
    return e ? `${e.REQUEST_METHOD} ${e.RAW_URI}` : '';
  }
  target(): string {
    return this.environ?.RAW_URI ?? '?';
  }
  /** the application's iterable is closed */
  cancel(): void {
    this.closeBody();
  }

  start(environ: Environ): void {
    this.environ = environ;
    if (this.d.hooked) {
      const hooks = this.d.hooks;
      const m = hooks.meter;
      if (m !== undefined) this.startedAt = --m.skip > 0 ? -1 : m.start();
      else this.startedAt = performance.now();
    }
    let result: ResponseBody | Promise<ResponseBody>;
    try {
      result = this.d.app(environ, this.startResponse);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (!Array.isArray(result) && isThenable(result)) {
      // an async application that returned without waiting for anything: answered now (fulfilled())
      const v = this.d.fulfilled(result);
      if (v !== result) {
        this.consume(v as ResponseBody);
        return;
      }
      this.keep();
      this.settle(result);
      return;
    }
    this.consume(result);
  }

  // An async application's result not yet fulfilled (start(), ExchangeTable.fulfilled()): one then() with
  // the reaction pair of the connection slot (Reaction), which is told the exchange: no closure and no
  // context allocated per request. Cheaper than an async method awaiting it (no generator object, no promise
  // of its own, no await closures) and than two closures made here. Its cost over a sync application is then
  // its own promise, one reaction job and the microtask checkpoint after the native callback (about 1,100
  // instructions). Another thenable goes through Promise.resolve() first, as await would: a then() that
  // throws or calls back twice is contained.
  private settle(result: PromiseLike<ResponseBody>): void {
    const re = this.d.reaction(this);
    (result instanceof Promise ? (result as Promise<ResponseBody>) : Promise.resolve(result)).then(re.ok, re.err);
  }

  /** an async application's result, from its Reaction */
  settled(body: ResponseBody): void {
    this.consume(body);
  }

  readonly startResponse: StartResponse = (status, headers, exc_info) => {
    if (exc_info !== undefined && exc_info !== null) {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- PEP 3333: re-raise the app's exc_info as it is
      if (this.headSent) throw exc_info; // PEP 3333: re-raise once headers are out
    } else if (this.statusSet) {
      throw new Error('start_response() called twice without exc_info');
    }
    if (typeof status !== 'string') throw new TypeError(`status must be a string, got ${inspect(status)}`);
    if (status.startsWith('101')) {
      // no raw socket to hand over after a 101 (Gunicorn's sync worker gives gunicorn.socket)
      throw new Error(`start_response('${status}'): use environ['gunicorn.websocket'] to accept a WebSocket`);
    }
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
   * `[['Link', '</style.css>; rel=preload; as=style']]` (`block`: hintBlock() of them). Ignored once the
   * response has started, and for HTTP/1.0 clients (the native core leaves them out).
   */
  earlyHints(block: string, headers: ResponseHeaders): void {
    if (this.headSent || this.finished || this.aborted) return;
    const r = this.d.native.earlyHints(this.id, block, headers.length);
    if (r === Result.badHeader) throw new Error(`Invalid early hints header in ${inspect(headers)}`);
  }

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

  /** environ['gunicorn.websocket'](handlers, options): the 101, then the WebSocket is the handlers' */
  upgrade<T>(handlers: WebSocketHandlers<T>, options?: UpgradeOptions<T>): ServerWebSocket<T> {
    if (this.statusSet || this.headSent || this.finished || this.aborted) {
      throw new Error('gunicorn.websocket(): the request can no longer be upgraded (answered, or the client is gone)');
    }
    const ws = this.d.ws.upgrade(this.id, this.environ.REMOTE_ADDR, handlers, options);
    if (ws === undefined) {
      throw new Error('gunicorn.websocket(): the request can no longer be upgraded (answered, or the client is gone)');
    }
    this.upgraded = true;
    this.headSent = true;
    this.statusSet = true;
    this.status = '101 Switching Protocols';
    return ws;
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
  count(chunk: Chunk | undefined): void {
    if (chunk !== undefined && this.d.countSent) {
      this.sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    }
  }

  sendHead(body: Chunk | undefined, flags: number): number {
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
    return refused(this, r, () =>
      this.headerBlock
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\0')),
    );
  }

  private consume(body: ResponseBody): void {
    this.body = body;
    if (this.upgraded) {
      // the 101 was the response; what the application returned is let go (closed if it can be)
      this.finish();
      return;
    }
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
        const r = sendChunk(this, chunk);
        if (this.aborted) break;
        if (r === Result.backpressure) await drained(this);
        if (this.aborted) break;
      }
      if (!this.aborted) endStream(this);
      else if (typeof it.return === 'function') {
        await it.return();
      }
      this.finish();
    } catch (e) {
      this.fail(e);
    }
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

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closeBody();
    if (this.tracked) this.d.untrack(this);
    if (!this.d.hooked || this.environ === undefined) return;
    const { after, meter } = this.d.hooks;
    if (meter !== undefined) meter.record(this.environ.REQUEST_METHOD, this.status, this.startedAt);
    if (after !== undefined) {
      try {
        after(this.environ, this.status, this.sent, this.startedAt);
      } catch (e) {
        this.d.log.exception('Error in post-request hook', e);
      }
    }
  }
}
