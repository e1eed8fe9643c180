// Fetch-style applications on the native core: `(request: Request) => Response`
// (WinterTC; Hono, itty-router, framework adapters). The Request is built from
// the native core's blob and meta offsets directly, not through a WSGI environ,
// and lazily: what a request carries (method, target, Host, the header offsets)
// is copied out of the shared meta array in onRequest; the Headers object, the
// body's ReadableStream, the AbortSignal and the URL string are made only when
// the application asks for them (lib/http/fetch-request.ts). The Response is
// read through its public API, and sent with respond()/write() as the WSGI path
// does: whole bodies in one call, streams chunk by chunk with the native write
// result and onDrain as backpressure.
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';

import { F, KNOWN_KEY, M, MAYBE_REPEAT, R, Result } from '../native.js';
import type { Logger } from '../logging/logger.js';
import type { Environ, ResponseHeaders } from '../types.js';
import {
  addTlsInfo,
  buildEnviron,
  HEADER_KEYS,
  SchemeConflict,
  ScriptNameMismatch,
  secureScheme,
  type EnvironContext,
} from './environ.js';
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
  timeoutExchange,
  type TableExchange,
} from './exchange-table.js';
import { FetchRequest, type RequestFacts } from './fetch-request.js';
import { FlowControl, Input, type InputControl } from './input.js';
import type { RequestHooks } from './handler.js';
import { LightResponse, NativeResponse } from './fetch-response.js';
import type { FetchHandler } from './shape.js';
import {
  WebSocketNotEnabled,
  type FetchServer,
  type FetchUpgradeOptions,
  type WebSocketData,
  type WebSocketHandlers,
  type WebSocketTable,
} from './websocket.js';

const FLAGS_SLOT = M.flags;
const HOST_KEY = KNOWN_KEY + HEADER_KEYS.indexOf('HTTP_HOST');
const EMPTY_INPUT = new Input(undefined, null);
// a Host header the URL can carry: reg-name or IPv4 (RFC 3986 unreserved, sub-delims, pct-encoded), an
// IPv6 literal in brackets, a port. Checked with a table, not a regular expression (170 instructions a request).
const HOST_CHARS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%:[]")
  HOST_CHARS[c.charCodeAt(0)] = 1;
function validHost(blob: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = blob.charCodeAt(i);
    if (c >= 128 || HOST_CHARS[c] === 0) return false;
  }
  return true;
}
// undici's Response keeps its body source (the string or bytes given to the
// constructor) in an internal state object: read it when present, so that a
// whole body goes out without reading its stream. Checked once, on a probe.
const STATE = Object.getOwnPropertySymbols(new NativeResponse('')).find((s) => s.description === 'state');

/** The hooks of a fetch dispatcher: RequestHooks, plus one called before the application. */
export interface FetchHooks extends Omit<RequestHooks, 'begin' | 'sent'> {
  /** each request, before the application runs: environ is built only with `environ: true` */
  pre?: (environ: Environ | undefined) => void;
  /** build a WSGI environ per request for the hooks (pre_request/post_request, access log); default: with `after` */
  environ?: boolean;
}

// the hooks' environ of a fetch-style request: early hints go through earlyHints(request, headers)
const NO_HINTS = (): void => {};

const STATUS_LINES: string[] = [];
function statusLine(code: number, text: string): string {
  if (text !== '') return `${code} ${text}`;
  return (STATUS_LINES[code] ??= `${code} ${STATUS_CODES[code] ?? 'Unknown'}`);
}

/** The client's address of a request (the PROXY protocol's source when it gave one), as REMOTE_ADDR. */
function remoteAddr(blob: string, meta: Uint32Array, flags: number): string {
  if ((flags & F.proxy) !== 0) {
    const proto = blob.substring(meta[M.remotePortEnd]!, meta[M.proxyProtoEnd]);
    if (proto === 'TCP4' || proto === 'TCP6') return blob.substring(meta[M.proxyProtoEnd]!, meta[M.proxySrcEnd]);
  }
  return blob.substring(meta[M.queryEnd]!, meta[M.remoteEnd]);
}

/** A handshake's 101 headers as server.upgrade() takes them (Bun's HeadersInit), and the subprotocol among them. */
function upgradeHeaders(headers: FetchUpgradeOptions['headers']): {
  pairs: [string, string][] | undefined;
  protocol: string | undefined;
} {
  if (headers === undefined) return { pairs: undefined, protocol: undefined };
  let list: [string, string][];
  if (headers instanceof Headers) list = [...headers];
  else if (Array.isArray(headers)) list = headers as [string, string][];
  else if (headers !== null && typeof headers === 'object') list = Object.entries(headers as Record<string, string>);
  else throw new TypeError(`server.upgrade(): options.headers must be a Headers, a record or [name, value] pairs`);
  const pairs: [string, string][] = [];
  let protocol: string | undefined;
  for (const h of list) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
      throw new TypeError(`server.upgrade(): each header must be a [name, value] pair of strings, got ${inspect(h)}`);
    }
    if (h[0].toLowerCase() === 'sec-websocket-protocol') protocol = h[1];
    else pairs.push([h[0], h[1]]);
  }
  return { pairs, protocol };
}

/**
 * `fetch(request, server)`'s second argument (Bun's Server, its WebSocket part): one per dispatcher, made
 * once, so passing it costs a request nothing.
 */
export class FetchWorkerServer implements FetchServer {
  constructor(
    private readonly table: WebSocketTable,
    private readonly handlers: WebSocketHandlers | undefined,
  ) {}

  upgrade<T = undefined>(request: Request, options: FetchUpgradeOptions<T> = {}): boolean {
    const handlers = this.handlers;
    if (handlers === undefined) throw new WebSocketNotEnabled();
    if (!(request instanceof FetchRequest)) return false;
    const ex = FetchRequest.hints(request);
    if (!(ex instanceof FetchExchange) || ex.wsRemote === undefined) return false; // no handshake (or HTTP/2)
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`server.upgrade(): options must be an object, got ${inspect(options)}`);
    }
    const { pairs, protocol } = upgradeHeaders(options.headers);
    if (protocol !== undefined && options.protocol !== undefined && protocol !== options.protocol) {
      throw new TypeError(
        `server.upgrade(): options.protocol ${inspect(options.protocol)} and the Sec-WebSocket-Protocol header ${inspect(protocol)} differ`,
      );
    }
    return ex.upgrade(handlers, { data: options.data, protocol: options.protocol ?? protocol, headers: pairs });
  }

  publish(topic: string, data: WebSocketData, isBinary?: boolean, compress?: boolean): number {
    return this.table.publish(topic, data, isBinary, undefined, compress);
  }
}

/** The fetch dispatcher: the native callbacks and the slot table are ExchangeTable's (exchange-table.ts). */
export class FetchDispatcher extends ExchangeTable<FetchExchange> {
  private readonly envCtx: EnvironContext;
  private readonly wantEnviron: boolean;
  /** the handler's second argument */
  readonly server: FetchWorkerServer;

  constructor(
    readonly handler: FetchHandler,
    ctx: EnvironContext,
    log: Logger,
    fieldsLimit: number,
    readonly hooks: FetchHooks = {},
    websocket?: WebSocketHandlers,
  ) {
    super(ctx, log, fieldsLimit);
    this.server = new FetchWorkerServer(this.ws, websocket);
    // the environ the hooks see: SCRIPT_NAME does not apply to a fetch app (its URL is the whole target)
    this.envCtx = { ...ctx, scriptName: '' };
    this.wantEnviron = hooks.environ ?? hooks.after !== undefined;
  }

  /** the requests in flight that the dispatcher tracks (async or streaming ones); for error reports */
  inFlight(): Array<{ REQUEST_METHOD: string; RAW_URI: string }> {
    const out: Array<{ REQUEST_METHOD: string; RAW_URI: string }> = [];
    for (const ex of this.live) if (ex !== undefined) out.push({ REQUEST_METHOD: ex.f.method, RAW_URI: ex.f.target });
    return out;
  }

  protected onRequest(id: number, blob: string, body: Buffer | undefined): void {
    const meta = this.meta;
    const flags = meta[FLAGS_SLOT]!;
    const methodEnd = meta[M.methodEnd]!;
    const targetEnd = meta[M.targetEnd]!;
    const follows = (flags & F.bodyFollows) !== 0;
    const ctx = this.ctx;
    const f: RequestFacts = {
      blob,
      method: blob.substring(0, methodEnd),
      target: blob.substring(methodEnd, targetEnd),
      scheme: ctx.tls ? 'https' : 'http',
      hostStart: 0,
      hostEnd: -1,
      listener: ctx.listeners[flags >>> 24]!,
      headers: [],
      hints: null,
    };
    const ex = new FetchExchange(this, id, f, (flags & F.head) !== 0);
    f.hints = ex;
    // a valid WebSocket handshake (F.websocket): server.upgrade() may take it
    if ((flags & F.websocket) !== 0) ex.wsRemote = remoteAddr(blob, meta, flags);
    const control = follows
      ? (flags & F.http2) !== 0
        ? new FlowControl(ex, (n) => this.native.consume(id, n))
        : ex
      : null;
    ex.input = follows || body !== undefined ? new Input(body, control) : EMPTY_INPUT;
    if (follows) ex.keep();
    // header offsets: [first key start, key end | KNOWN_KEY + index, value end, ...]
    const n = meta[M.count]!;
    let p = (flags & F.proxy) !== 0 ? meta[M.proxyDstEnd]! : meta[M.remotePortEnd]!;
    const offs = f.headers;
    offs.push(p);
    const secure = (flags & F.trusted) !== 0 ? ctx.secureHeaders : null;
    let scheme: 'http' | 'https' | null = null;
    try {
      for (let i = 0, k = M.headers; i < n; i++, k += 2) {
        const ke = meta[k]!;
        let ve = meta[k + 1]!;
        if (ve >= MAYBE_REPEAT) ve -= MAYBE_REPEAT;
        offs.push(ke, ve);
        const vs = ke >= KNOWN_KEY ? p : ke;
        if (ke === HOST_KEY) {
          f.hostStart = vs;
          f.hostEnd = ve;
        }
        if (secure !== null) {
          const want = secure.get(ke >= KNOWN_KEY ? HEADER_KEYS[ke - KNOWN_KEY]! : blob.substring(p, ke));
          if (want !== undefined) scheme = secureScheme(want, blob.substring(vs, ve), scheme);
        }
        p = ve;
      }
      if (f.hostEnd >= 0 && !validHost(blob, f.hostStart, f.hostEnd)) {
        this.badRequest(ex, blob, ErrorCode.INVALID_HEADER, 'invalid Host header');
        return;
      }
      if (scheme !== null) f.scheme = scheme;
      if (this.wantEnviron) {
        // what the hooks and the access log read (not what the application gets)
        if ((flags & F.scriptName) !== 0) meta[FLAGS_SLOT] = flags & ~F.scriptName;
        ex.environ = buildEnviron(this.envCtx, blob, meta, EMPTY_INPUT, NO_HINTS);
        if (ctx.tlsClientInfo) addTlsInfo(ex.environ, this.native.tlsInfo(id));
      }
    } catch (e) {
      if (e instanceof SchemeConflict) this.badRequest(ex, blob, ErrorCode.INVALID_SCHEME_HEADERS, e.message);
      else if (e instanceof ScriptNameMismatch) ex.sendError('500 Internal Server Error', e.message);
      else ex.fail(e);
      return;
    }
    ex.start();
  }
}

export class FetchExchange implements TableExchange, InputControl {
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
  environ: Environ | undefined = undefined;
  request: FetchRequest | null = null;
  /** a valid WebSocket handshake: the client's address (for ws.remoteAddress); undefined for other requests */
  wsRemote: string | undefined = undefined;
  private respHeaders: ResponseHeaders = [];
  private reader: ReadableStreamDefaultReader<unknown> | null = null;

  constructor(
    readonly d: FetchDispatcher,
    readonly id: number,
    readonly f: RequestFacts,
    private readonly head: boolean,
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

  describe(): string {
    return `${this.f.method} ${this.f.target}`;
  }
  target(): string {
    return this.f.target;
  }
  /** request.signal aborts */
  cancel(): void {
    if (this.request !== null) FetchRequest.abort(this.request);
  }

  start(): void {
    const hooks = this.d.hooks;
    if (hooks.after !== undefined) this.startedAt = performance.now();
    let result: unknown;
    try {
      if (hooks.pre !== undefined) hooks.pre(this.environ);
      const req = new FetchRequest(this.f, this.input === EMPTY_INPUT ? null : this.input);
      this.request = req;
      result = this.d.handler(req as unknown as Request, this.d.server);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (isThenable(result) && !(result instanceof NativeResponse)) {
      // an async handler that returned without waiting for anything: answered now (fulfilled())
      const v = this.d.fulfilled(result);
      if (v !== result) {
        this.respond(v);
        return;
      }
      this.keep();
      void this.settle(result);
      return;
    }
    this.respond(result);
  }

  private async settle(result: PromiseLike<unknown>): Promise<void> {
    let r: unknown;
    try {
      r = await result;
    } catch (e) {
      this.fail(e);
      return;
    }
    this.respond(r);
  }

  private respond(res: unknown): void {
    // aborted (the client went, a timeout answered), or headSent: server.upgrade() took the request (nothing
    // else sends a head before the handler's result) and the 101 was its response. Either way what the
    // handler returned (after an upgrade nothing, as in Bun) is let go.
    if (this.aborted || this.headSent) {
      if (res instanceof NativeResponse && LightResponse.parts(res) === undefined && res.body !== null && !res.bodyUsed)
        res.body.cancel().catch(() => {});
      this.finish();
      return;
    }
    try {
      let whole: string | Uint8Array | Blob | null | undefined;
      const light = LightResponse.parts(res);
      if (light !== undefined) {
        this.status = statusLine(light.status, light.statusText);
        this.respHeaders = light.headers;
        whole = light.body;
      } else {
        res = LightResponse.unwrap(res);
        if (!(res instanceof NativeResponse)) {
          throw new TypeError(`the fetch handler must return a Response (or a promise of one), got ${inspect(res)}`);
        }
        if (res.type === 'error') throw new TypeError('the fetch handler returned Response.error()');
        this.status = statusLine(res.status, res.statusText);
        // Set-Cookie: one field per cookie (Headers iteration may join them)
        const pairs: ResponseHeaders = [];
        for (const [k, v] of res.headers) if (k !== 'set-cookie') pairs.push([k, v]);
        for (const c of res.headers.getSetCookie()) pairs.push(['set-cookie', c]);
        this.respHeaders = pairs;
        // a whole body (string, bytes) goes out without reading its stream
        whole = this.source(res);
      }
      if (whole instanceof Blob) {
        // a Blob (a File) has a known size: read, then sent whole with its Content-Length
        this.keep();
        void this.sendBlob(whole);
        return;
      }
      if (whole !== undefined) {
        this.sendHead(whole ?? undefined, R.final | R.whole);
        this.finish();
        return;
      }
      const stream = (res as Response).body;
      if (stream === null || this.head) {
        // HEAD: the head only (an application's Content-Length stays); the body is not read
        this.sendHead(undefined, stream === null ? R.final | R.whole : R.final);
        if (stream !== null) stream.cancel().catch(() => {});
        this.finish();
        return;
      }
      this.reader = stream.getReader();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.keep();
    void this.stream();
  }

  /** undici's body source when it is a string or bytes and the stream is untouched; else undefined */
  private source(res: Response): string | Uint8Array | Blob | null | undefined {
    if (STATE === undefined || res.bodyUsed) return undefined;
    const body = (res as unknown as Record<symbol, { body?: { source?: unknown } | null } | undefined>)[STATE]?.body;
    if (body === null) return null;
    const src = body?.source;
    if (typeof src === 'string' || src instanceof Uint8Array || src instanceof Blob) return src;
    return undefined;
  }

  private async sendBlob(blob: Blob): Promise<void> {
    try {
      const bytes = new Uint8Array(await blob.arrayBuffer());
      if (!this.aborted) this.sendHead(bytes, R.final | R.whole);
      this.finish();
    } catch (e) {
      this.fail(e);
    }
  }

  sendHead(body: string | Uint8Array | undefined, flags: number): number {
    const heads = this.d.heads;
    const pairs = this.respHeaders;
    const n = pairs.length;
    const key = heads.find(this.status, pairs);
    let r: number;
    if (key !== 0) {
      r = this.d.native.respond(this.id, undefined, undefined, n, body, flags | (key << 8));
    } else {
      let block = '';
      for (const h of pairs) block += `${h[0]}\0${h[1]}\n`;
      const slot = heads.claim();
      r = this.d.native.respond(this.id, this.status, block, n, body, flags | (slot << 8));
      if (r === Result.ok || r === Result.backpressure) heads.fill(slot, this.status, pairs, block);
    }
    if (r === Result.ok || r === Result.backpressure) {
      this.headSent = true;
      this.count(body);
      return r;
    }
    return refused(this, r, () => pairs);
  }

  count(chunk: string | Uint8Array | undefined): void {
    if (chunk !== undefined && this.d.hooks.after !== undefined) {
      this.sent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    }
  }

  private async stream(): Promise<void> {
    const reader = this.reader!;
    try {
      for (;;) {
        const step = await reader.read();
        if (this.aborted) break;
        if (step.done) break;
        const chunk = step.value;
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(`a Response body stream must yield Uint8Arrays, got ${inspect(chunk)}`);
        }
        const r = sendChunk(this, chunk);
        if (this.aborted) break;
        if (r === Result.backpressure) await drained(this);
        if (this.aborted) break;
      }
      if (!this.aborted) endStream(this);
      else {
        await reader.cancel().catch(() => {});
      }
      this.finish();
    } catch (e) {
      reader.cancel(e).catch(() => {});
      this.fail(e);
    }
  }

  /** server.upgrade(request, options): the 101 and open(ws); false when the native core says no handshake */
  upgrade(handlers: WebSocketHandlers, options: FetchUpgradeOptions & { headers?: [string, string][] }): boolean {
    if (this.headSent || this.finished || this.aborted) {
      throw new Error('server.upgrade(): the request can no longer be upgraded (answered, or the client is gone)');
    }
    const ws = this.d.ws.upgrade(this.id, this.wsRemote!, handlers, options, 'server.upgrade');
    if (ws === undefined) return false;
    this.headSent = true;
    this.status = '101 Switching Protocols';
    this.respHeaders = [];
    return true;
  }

  /** earlyHints(request, headers) (lib/http/fetch-request.ts): a 103 Early Hints head before the response */
  earlyHints(headers: ResponseHeaders): void {
    let block = '';
    for (const [name, value] of headers) block += `${name}\0${value}\n`;
    if (this.headSent || this.finished || this.aborted) return;
    const r = this.d.native.earlyHints(this.id, block, headers.length);
    if (r === Result.badHeader) throw new Error(`Invalid early hints header in ${inspect(headers)}`);
  }

  sendError(status: string, message: string): void {
    this.respHeaders = [['Content-Type', 'text/html']];
    sendErrorPage(this, status, message);
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tracked) this.d.untrack(this);
    const after = this.d.hooks.after;
    if (after !== undefined && this.environ !== undefined) {
      try {
        after(this.environ, this.status, this.sent, this.startedAt, this.respHeaders);
      } catch (e) {
        this.d.log.exception('Error in post-request hook', e);
      }
    }
  }
}
