// What the WSGI dispatcher (handler.ts) and the fetch dispatcher (fetch.ts)
// share: the native callbacks table, the table of the exchanges that native
// callbacks may still name (per connection slot), and an exchange's life
// outside its application's response: pause/resume of the request body,
// backpressure (drain), the client going away (abort), request_timeout, an
// application error, and the error pages. Each dispatcher builds what its
// application gets (an environ, a Request) and sends what it returns.
import type { Logger } from '../logging/logger.js';
import { inspect } from 'node:util';

import { ABORT, CB, M, R, Result, native, type NativeCallbacks, type NativeServer } from '../native.js';
import type { EnvironContext } from './environ.js';
import { errorInfo, errorPage } from './errors.js';
import { HeadCache } from './head-cache.js';
import { bodyError, disconnected, type Input } from './input.js';
import { WebSocketTable } from './websocket.js';

// a module constant: no property load per call. promiseValue reads V8's own promise state (the addon's one
// use of V8 outside N-API, native/src/addon.cc): checked once on this Node, and left unused (every promise
// waited for with then(), as before) if it does not answer as expected.
const promiseValue: (p: Promise<unknown>) => unknown = (() => {
  const probe = {};
  const pending = new Promise<never>(() => undefined);
  const rejected = Promise.reject(new Error('probe'));
  rejected.catch(() => undefined);
  try {
    const f = native.promiseValue;
    if (f(Promise.resolve(probe)) === probe && f(pending) === pending && f(rejected) === rejected) return f;
  } catch {
    /* below */
  }
  return (p: Promise<unknown>) => p;
})();

/** a request id's connection slot bits (native/src/server.cc kSlotBits) */
export const SLOT_MASK = (1 << 20) - 1;
const HTML_HEADER = 'Content-Type\0text/html\n';

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

/**
 * One request and its response, as the table, the native callbacks and the functions below see it: the
 * dispatchers' exchanges (handler.ts Exchange, fetch.ts FetchExchange) add the application's side. An
 * interface and functions, not a base class: a derived class's construction (one per request) is not
 * inlined where the exchange is made, and cost hello about 330 instructions per request (bench/callgrind.mjs).
 */
export interface TableExchange {
  readonly id: number;
  readonly d: { readonly native: NativeServer; readonly log: Logger; track(ex: never): void };
  input: Input;
  /** the response status line sent ("200 OK") */
  status: string;
  headSent: boolean;
  finished: boolean;
  aborted: boolean;
  tracked: boolean;
  drainWaiter: (() => void) | null;
  /** body bytes sent, for the post-request hook */
  sent: number;
  /** "METHOD target" of the request, for log lines ('' when not known) */
  describe(): string;
  /** the request target, for the debug line of an error after a disconnect */
  target(): string;
  /** the request is over for the application: its response (iterable, stream, signal) is let go */
  cancel(): void;
  /** the response is done (sent, cut short or abandoned): once; the post-request hook runs here */
  finish(): void;
  /** the response head, with `body` (the first chunk, or the whole body with R.final | R.whole): respond()'s result */
  sendHead(body: string | Uint8Array | undefined, flags: number): number;
  /** counts body bytes sent, for the post-request hook */
  count(chunk: string | Uint8Array | undefined): void;
  abort(): void;
  sendError(status: string, message: string): void;
}

/** keeps the exchange reachable for the native callbacks (body, abort, drain) */
export function keepExchange(ex: TableExchange): void {
  if (!ex.tracked && !ex.finished) {
    ex.tracked = true;
    ex.d.track(ex as never);
  }
}

/** a write that met backpressure may go on */
export function drainExchange(ex: TableExchange): void {
  const w = ex.drainWaiter;
  ex.drainWaiter = null;
  if (w) w();
}

/** resolves at the drain of a write that met backpressure (or at an abort) */
export function drained(ex: TableExchange): Promise<void> {
  return new Promise<void>((resolve) => (ex.drainWaiter = resolve));
}

/** the client went away: the request body fails, the application's response is let go */
export function abortExchange(ex: TableExchange): void {
  if (ex.aborted || ex.finished) return;
  ex.aborted = true;
  ex.input?.fail(disconnected());
  ex.cancel();
  drainExchange(ex);
}

/**
 * request_timeout passed (native core): answer 503 when nothing was sent (`answer`), else the native core
 * has closed the connection. Either way the request is over: the application's response is let go, the
 * request body fails, and the access log has its line.
 */
export function timeoutExchange(ex: TableExchange, answer: boolean): void {
  if (ex.aborted || ex.finished) return;
  const what = ex.describe();
  if (answer) {
    ex.d.log.error(`Request timeout (request_timeout): ${what}; answered 503`);
    ex.sendError('503 Service Unavailable', 'The application did not answer in time.');
  } else {
    ex.d.log.error(`Request timeout (request_timeout): ${what}; the response was cut short`);
  }
  ex.aborted = true; // whatever the application does next goes nowhere
  ex.input?.fail(disconnected());
  ex.cancel();
  drainExchange(ex);
  ex.finish();
}

/** the application failed: a 500 when nothing was sent, else the connection is closed (a truncated response) */
export function failExchange(ex: TableExchange, err: unknown): void {
  if (ex.finished) return;
  if (ex.aborted) {
    ex.d.log.debug(`Error after client disconnect on ${ex.target()}: ${String(err)}`);
    ex.finish();
    return;
  }
  ex.d.log.exception(`Error handling request ${ex.describe()}`.trimEnd(), err);
  if (!ex.headSent) {
    ex.sendError('500 Internal Server Error', '');
  } else {
    // headers are out: close so that a truncated response never looks complete
    ex.d.native.abort(ex.id);
    ex.finish();
  }
}

/** an error page ("404 Not Found", message), and the connection closed after it */
export function sendErrorPage(ex: TableExchange, status: string, message: string): void {
  const page = errorPage(status.slice(4), message);
  ex.status = status;
  ex.d.native.respond(ex.id, status, HTML_HEADER, 1, page, R.final | R.whole | R.close);
  ex.headSent = true;
  ex.sent = Buffer.byteLength(page);
  ex.finish();
}

/**
 * A respond() result other than ok/backpressure: stale (the connection is gone) aborts and is returned;
 * anything else is the application's mistake, thrown (`headers()`: its headers, for the message).
 */
export function refused(ex: TableExchange, r: number, headers: () => unknown): number {
  if (r === Result.stale) {
    ex.abort();
    return r;
  }
  const what =
    r === Result.badStatus
      ? `invalid status line ${inspect(ex.status)}`
      : r === Result.badContentLength
        ? 'invalid Content-Length header'
        : `invalid header in ${inspect(headers())}`;
  throw new Error(`Invalid response from the application: ${what}`);
}

/** one chunk of a streamed body (the head goes with the first): the native result; stale aborts */
export function sendChunk(ex: TableExchange, chunk: string | Uint8Array): number {
  let r: number;
  if (!ex.headSent) {
    r = ex.sendHead(chunk, 0);
  } else {
    r = ex.d.native.write(ex.id, chunk, false);
    ex.count(chunk);
  }
  if (r === Result.stale) ex.abort();
  return r;
}

/** the end of a streamed body (the head alone if nothing was sent) */
export function endStream(ex: TableExchange): void {
  if (!ex.headSent) ex.sendHead(undefined, R.final | R.whole);
  else ex.d.native.write(ex.id, undefined, true);
}

/**
 * A dispatcher's table: the native callbacks, and the exchange each connection slot's callbacks name.
 * Subclasses make an exchange per request (onRequest).
 */
export abstract class ExchangeTable<X extends TableExchange & { timeout(answer: boolean): void; drain(): void }> {
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
  protected readonly live: (X | undefined)[] = [];
  readonly heads = new HeadCache(native.headSlots);
  /** the WebSockets this server's requests upgraded to */
  readonly ws: WebSocketTable;
  onClosed: () => void = () => {};
  /** promises still to be waited for without reading their state (fulfilled(): after a pending one) */
  private peekSkip = 0;
  /** what peekSkip was set to after the last pending one (0 after a fulfilled one) */
  private peekBackoff = 0;

  constructor(
    readonly ctx: EnvironContext,
    readonly log: Logger,
    fieldsLimit: number,
  ) {
    this.ws = new WebSocketTable(log);
    this.meta = new Uint32Array(16 + 2 * Math.max(1, Math.min(fieldsLimit || 32768, 32768)) + 2);
  }

  /**
   * An application's promise already fulfilled (an async function that returned without waiting for
   * anything): its value, read by the native core (native.promiseValue), so that the response goes out as a
   * sync application's would, with no then(), no reaction job and no microtask turn. Otherwise (a promise
   * still pending or rejected, or not made by Promise itself) `p`, to be waited for. Only a promise whose
   * constructor is Promise (as an async function's): `await` does not call then() on one either, while it
   * does on a subclass or another thenable. Reading the state costs about 250 instructions (an N-API call):
   * after a promise found pending, the next 1, 2, 4 ... 64 are not read (an application that always waits
   * pays about 4 a request), and one found fulfilled has every one read again.
   */
  fulfilled(p: PromiseLike<unknown>): unknown {
    if ((p as Promise<unknown>).constructor !== Promise) return p;
    if (this.peekSkip !== 0) {
      this.peekSkip--;
      return p;
    }
    const v = promiseValue(p as Promise<unknown>);
    if (v !== p) {
      if (this.peekBackoff !== 0) this.peekBackoff = 0;
      return v;
    }
    this.peekBackoff = this.peekBackoff === 0 ? 1 : Math.min(this.peekBackoff * 2, 64);
    this.peekSkip = this.peekBackoff;
    return p;
  }
  /** a request head from the native core (its offsets in `meta`) */
  protected abstract onRequest(id: number, blob: string, body: Buffer | undefined): void;

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
    cbs[CB.wsMessage] = (id: number, slab: ArrayBuffer, offset: number, length: number, isBinary: boolean) =>
      this.ws.onMessage(id, slab, offset, length, isBinary);
    cbs[CB.wsDrain] = (id: number) => this.ws.onDrain(id);
    cbs[CB.wsClose] = (id: number, code: number, reason: string) => this.ws.onClose(id, code, reason);
    return cbs;
  }

  track(ex: X): void {
    this.live[ex.id & SLOT_MASK] = ex; // ToInt32 keeps the low bits of any integer
  }
  untrack(ex: X): void {
    const i = ex.id & SLOT_MASK;
    if (this.live[i] === ex) this.live[i] = undefined;
  }
  protected find(id: number): X | undefined {
    const ex = this.live[id & SLOT_MASK];
    return ex !== undefined && ex.id === id ? ex : undefined;
  }

  /**
   * A request refused before its application runs (Gunicorn's 400s): one warning line naming the client
   * (`blob`: the request's blob, its address at the meta offsets), then the error page.
   */
  protected badRequest(ex: X, blob: string, code: number, message: string): void {
    const info = errorInfo(code);
    this.log.warning(
      `Invalid request from ip=${blob.substring(this.meta[M.queryEnd]!, this.meta[M.remoteEnd]) || 'unix'}: ${info.code}: ${message}`,
    );
    ex.sendError(`${info.status} ${info.reason}`, message);
  }
}
