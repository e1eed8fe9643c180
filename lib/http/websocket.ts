// WebSockets served by the native core (docs/design/websocket.md §4): the
// `ws` object an application gets (the uWebSockets.js / Bun shape), its
// handlers, and the table that routes the native callbacks (message, drain,
// close) to them. The protocol (framing, UTF-8, ping/pong, the close handshake,
// limits) is native/src/ws_session.cc's; this file only crosses to JS.
import type { Logger } from '../logging/logger.js';
import { inspect } from 'node:util';

import { WS_SEND_BINARY, WS_SEND_COMPRESS, WS_UPGRADE, WS_UPGRADE_TRANSIENT, type NativeServer } from '../native.js';

/** a request id's connection slot bits (native/src/server.cc kSlotBits) */
const SLOT_MASK = (1 << 20) - 1;

export interface WebSocketHandlers<T = unknown> {
  open?(ws: ServerWebSocket<T>): unknown;
  message?(ws: ServerWebSocket<T>, data: Buffer, isBinary: boolean): unknown;
  drain?(ws: ServerWebSocket<T>): unknown;
  close?(ws: ServerWebSocket<T>, code: number, reason: string): unknown;
  /**
   * `data` is valid only until message() returns: then it is empty (length 0), as uWebSockets.js has it. An
   * async message() must not count on it after its first await. Copy what you keep (`Buffer.from(data)`).
   * The server can then reuse
   * the memory while it is still in the CPU cache: cheaper for messages of a few KiB and up, dearer for
   * small ones. Default false: `data` is the app's to keep.
   */
  transientMessages?: boolean;
}

export interface UpgradeOptions<T = unknown> {
  /** per-connection user data: `ws.data` */
  data?: T;
  /** the subprotocol chosen (one the client offered in Sec-WebSocket-Protocol) */
  protocol?: string;
  /** extra headers of the 101 response, as [name, value] pairs */
  headers?: readonly (readonly [string, string])[];
}

/** environ['gunicorn.websocket'] */
export type UpgradeFn = <T>(handlers: WebSocketHandlers<T>, options?: UpgradeOptions<T>) => ServerWebSocket<T>;

/** What a message can be: a string is sent as UTF-8 (text unless isBinary), bytes as they are. */
export type WebSocketData = string | ArrayBufferView | ArrayBuffer;

/** server.upgrade()'s options (Bun's): `headers` as a Headers, a record or [name, value] pairs */
export interface FetchUpgradeOptions<T = unknown> {
  /** per-connection user data: `ws.data` */
  data?: T;
  /**
   * the subprotocol chosen (one the client offered in Sec-WebSocket-Protocol); a `Sec-WebSocket-Protocol`
   * in `headers` (as Bun apps set it) is taken as this
   */
  protocol?: string;
  /** extra headers of the 101 response */
  headers?: Headers | Record<string, string> | readonly (readonly [string, string])[];
}

/**
 * The second argument of a fetch-style handler, `fetch(request, server)`: one object per worker (Bun's
 * Server, the WebSocket part of it).
 */
export interface FetchServer {
  /**
   * Accepts `request`'s WebSocket handshake with the app's `websocket` handlers: the 101 goes out, `open(ws)`
   * runs, and the handler returns nothing (`undefined`). False when `request` is not a valid WebSocket
   * handshake (a plain request, HTTP/2, a Request gunicorn-ts did not make). Throws WebSocketNotEnabled
   * (code GTS_ERR_NO_WEBSOCKET_HANDLERS) when the app has no `websocket` handlers, a TypeError for bad
   * options or a subprotocol the client did not offer, an Error when the request was already answered.
   */
  upgrade<T = undefined>(request: Request, options?: FetchUpgradeOptions<T>): boolean;
  /**
   * Sends to every subscriber of `topic` in this worker; returns how many took it. With websocket_compression
   * negotiated, messages of 128 bytes or more are compressed unless `compress` is false.
   */
  publish(topic: string, data: WebSocketData, isBinary?: boolean, compress?: boolean): number;
}

/** server.upgrade() in a fetch-style app that has no `websocket` handlers */
export class WebSocketNotEnabled extends Error {
  readonly code = 'GTS_ERR_NO_WEBSOCKET_HANDLERS';
  constructor() {
    super(
      'GTS_ERR_NO_WEBSOCKET_HANDLERS: server.upgrade() in a fetch app without websocket handlers: give them beside fetch, ' +
        '`export default { fetch, websocket: { open, message, drain, close } }`',
    );
  }
}

const HANDLER_NAMES = ['open', 'message', 'drain', 'close'] as const;

/** handlers.transientMessages, checked: a boolean or absent */
function transientOf(h: WebSocketHandlers<unknown>): boolean | string {
  const v: unknown = h.transientMessages;
  if (v === undefined || typeof v === 'boolean') return v === true;
  return `transientMessages must be a boolean, got ${inspect(v)}`;
}

/**
 * Checks a fetch app's `websocket` (Bun's shape: `{ fetch, websocket: { open, message, drain, close } }`):
 * the handlers object, or a one-line reason it cannot be used (Bun's options and ping/pong handlers are not
 * taken silently: the limits are settings here, and pings are answered by the server).
 */
export function checkHandlers(h: unknown): WebSocketHandlers | string {
  if (h === null || typeof h !== 'object') {
    return `websocket must be an object of handlers { open, message, drain, close }, got ${inspect(h)}`;
  }
  for (const k of Object.keys(h)) {
    const v: unknown = (h as Record<string, unknown>)[k];
    if ((HANDLER_NAMES as readonly string[]).includes(k)) {
      if (v !== undefined && typeof v !== 'function') return `websocket.${k} must be a function, got ${inspect(v)}`;
    } else if (k === 'transientMessages') {
      const t = transientOf(h);
      if (typeof t === 'string') return `websocket.${t}`;
    } else if (k === 'ping' || k === 'pong') {
      return `websocket.${k}: no ping/pong handlers here (the server answers pings itself and sends its own every websocket_ping_interval)`;
    } else {
      return (
        `websocket.${k} is not supported: the handlers are open, message, drain and close (and the option ` +
        'transientMessages); the limits are the ' +
        'settings websocket_max_message_size, websocket_max_backpressure, websocket_ping_interval, ' +
        'websocket_idle_timeout and websocket_compression'
      );
    }
  }
  return h;
}

/** data as send() takes it, or a TypeError naming `what` */
function checkData(data: unknown, what: string): void {
  if (typeof data !== 'string' && !ArrayBuffer.isView(data) && !(data instanceof ArrayBuffer)) {
    throw new TypeError(`${what}: data must be a string, ArrayBuffer or ArrayBufferView, got ${inspect(data)}`);
  }
}

// The WebSocketTables of this process that have subscribers (one per native server: a worker has one;
// serve() in-process, one per call): the package-level publish() goes through them.
const withTopics = new Set<WebSocketTable>();

/**
 * Sends to every subscriber of `topic` in this process (a worker: its own WebSockets, not other workers');
 * for HTTP handlers of any shape ("POST /notify" broadcasts). Returns how many subscribers took it: 0 where
 * nothing is subscribed, and in a process that serves no native WebSockets (the arbiter, `-k node`).
 */
export function publish(topic: string, data: WebSocketData, isBinary?: boolean, compress = true): number {
  if (typeof topic !== 'string') throw new TypeError(`publish(): topic must be a string, got ${inspect(topic)}`);
  checkData(data, 'publish()');
  if (withTopics.size === 0) return 0;
  const binary = isBinary ?? typeof data !== 'string';
  const bytes = typeof data === 'string' ? Buffer.from(data) : data; // encoded once for all the tables
  let n = 0;
  for (const table of withTopics) n += table.publish(topic, bytes, binary, undefined, compress);
  return n;
}

const enum State {
  Open = 1,
  Closing = 2,
  Closed = 3,
}

export class ServerWebSocket<T = unknown> {
  /** 1 open, 2 closing (our close frame sent), 3 closed */
  readyState: State = State.Open;
  /** the topics this connection is subscribed to (created on the first subscribe) */
  topics: Set<string> | undefined = undefined;

  constructor(
    private readonly table: WebSocketTable,
    readonly id: number,
    readonly handlers: WebSocketHandlers<T>,
    readonly data: T,
    readonly protocol: string,
    readonly remoteAddress: string,
  ) {}

  /** the negotiated Sec-WebSocket-Extensions (permessage-deflate with its parameters), or '' */
  get extensions(): string {
    return this.readyState === State.Closed ? '' : this.table.native.wsExtensions(this.id);
  }

  /**
   * Sends a message (text for a string unless isBinary, binary for bytes unless isBinary is false).
   * Returns > 0 when queued, -1 when queued above the high-water mark (wait for the `drain` handler),
   * 0 when dropped (websocket_max_backpressure reached, or the connection is closing). With permessage-deflate
   * negotiated (websocket_compression), messages of 128 bytes or more are compressed unless `compress` is false.
   */
  send(data: string | ArrayBufferView | ArrayBuffer, isBinary?: boolean, compress = true): number {
    if (this.readyState !== State.Open) return 0;
    let bytes: string | Uint8Array;
    if (typeof data === 'string') bytes = data;
    else if (data instanceof Uint8Array) bytes = data;
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else throw new TypeError(`ws.send() takes a string, ArrayBuffer or ArrayBufferView, got ${inspect(data)}`);
    const binary = isBinary ?? typeof data !== 'string';
    return this.table.native.wsSend(this.id, bytes, (binary ? WS_SEND_BINARY : 0) | (compress ? WS_SEND_COMPRESS : 0));
  }

  /** bytes queued for the client and not yet taken by the kernel */
  getBufferedAmount(): number {
    return this.readyState === State.Closed ? 0 : this.table.native.wsBuffered(this.id);
  }

  /** the close handshake: close(code, reason) follows when the client answers (or the connection drops) */
  end(code = 1000, reason = ''): void {
    if (this.readyState !== State.Open) return;
    if (
      !Number.isInteger(code) ||
      !(
        code === 1000 ||
        (code >= 3000 && code <= 4999) ||
        (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006)
      )
    ) {
      throw new RangeError(`ws.end(): invalid close code ${inspect(code)}`);
    }
    if (Buffer.byteLength(reason) > 123) throw new RangeError('ws.end(): the reason is over 123 bytes');
    this.readyState = State.Closing;
    this.table.native.wsEnd(this.id, code, reason);
  }

  /** closes the connection at once, without the close handshake: close(1006) follows */
  close(): void {
    if (this.readyState === State.Closed) return;
    this.table.native.wsClose(this.id);
  }

  /** the `ws` library's name for close() */
  terminate(): void {
    this.close();
  }

  /**
   * Pub/sub within this worker process: messages published to `topic` reach this connection. Exact names, no
   * wildcards. Across workers and machines it is a broker's job (Redis, NATS): each worker subscribes there
   * and republishes locally.
   */
  subscribe(topic: string): void {
    if (typeof topic !== 'string') throw new TypeError(`ws.subscribe(): topic must be a string, got ${inspect(topic)}`);
    if (this.readyState === State.Closed) return;
    (this.topics ??= new Set()).add(topic);
    this.table.subscribe(this, topic);
  }

  unsubscribe(topic: string): void {
    if (this.topics?.delete(topic) === true) this.table.unsubscribe(this, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.topics?.has(topic) ?? false;
  }

  /** sends to every subscriber of `topic` in this worker except this connection; returns how many took it */
  publish(topic: string, data: string | ArrayBufferView | ArrayBuffer, isBinary?: boolean, compress = true): number {
    return this.table.publish(topic, data, isBinary, this, compress);
  }

  /** runs fn: sends are always corked (one write per read or per loop turn) */
  cork(fn: () => void): void {
    fn();
  }
}

/** The WebSockets of one worker's server, by connection slot (as the dispatchers' exchanges are). */
export class WebSocketTable {
  native!: NativeServer;
  private readonly bySlot: (ServerWebSocket<unknown> | undefined)[] = [];
  private readonly topics = new Map<string, Set<ServerWebSocket<unknown>>>();

  constructor(private readonly log: Logger) {}

  /**
   * Accepts the handshake of request `requestId` (its environ had gunicorn.websocket, or server.upgrade() of
   * a fetch app) and calls open(ws); undefined when the request is no WebSocket handshake in flight. Throws
   * a TypeError for bad handlers or options and an Error when the worker is stopping. `api` names the caller
   * in the messages.
   */
  upgrade<T>(
    requestId: number,
    remoteAddress: string,
    handlers: WebSocketHandlers<T>,
    options: UpgradeOptions<T> = {},
    api = 'gunicorn.websocket',
  ): ServerWebSocket<T> | undefined {
    if (handlers === null || typeof handlers !== 'object') {
      throw new TypeError(`${api}(handlers, options): handlers must be an object, got ${inspect(handlers)}`);
    }
    for (const k of HANDLER_NAMES) {
      const fn: unknown = (handlers as Record<string, unknown>)[k];
      if (fn !== undefined && typeof fn !== 'function') {
        throw new TypeError(`${api}(): handlers.${k} must be a function, got ${inspect(fn)}`);
      }
    }
    const transient = transientOf(handlers);
    if (typeof transient === 'string') throw new TypeError(`${api}(): handlers.${transient}`);
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`${api}(): options must be an object, got ${inspect(options)}`);
    }
    const protocol = options.protocol;
    if (protocol !== undefined && (typeof protocol !== 'string' || protocol === '')) {
      throw new TypeError(`${api}(): options.protocol must be a non-empty string, got ${inspect(protocol)}`);
    }
    let block: string | undefined;
    let n = 0;
    if (options.headers !== undefined) {
      if (!Array.isArray(options.headers)) {
        throw new TypeError(`${api}(): options.headers must be an array of [name, value] pairs`);
      }
      block = '';
      for (const h of options.headers) {
        if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
          throw new TypeError(`${api}(): each header must be a [name, value] pair of strings, got ${inspect(h)}`);
        }
        block += `${h[0]}\0${h[1]}\n`;
        n++;
      }
    }
    const id = this.native.wsUpgrade(requestId, protocol, block, n, transient ? WS_UPGRADE_TRANSIENT : 0);
    if (id < 0) {
      switch (id) {
        case WS_UPGRADE.protocol:
          throw new TypeError(`${api}(): the client did not offer the subprotocol ${inspect(protocol)}`);
        case WS_UPGRADE.badHeader:
          throw new TypeError(`${api}(): invalid header in ${inspect(options.headers)}`);
        case WS_UPGRADE.draining:
          throw new Error(`${api}(): the worker is stopping`);
        default:
          return undefined;
      }
    }
    const ws = new ServerWebSocket<T>(this, id, handlers, options.data as T, protocol ?? '', remoteAddress);
    this.bySlot[id & SLOT_MASK] = ws;
    if (handlers.open !== undefined) {
      try {
        this.settle(ws, handlers.open(ws));
      } catch (e) {
        this.failed(ws, e);
      }
    }
    return ws;
  }

  subscribe(ws: ServerWebSocket<unknown>, topic: string): void {
    let set = this.topics.get(topic);
    if (set === undefined) {
      this.topics.set(topic, (set = new Set()));
      withTopics.add(this);
    }
    set.add(ws);
  }

  unsubscribe(ws: ServerWebSocket<unknown>, topic: string): void {
    const set = this.topics.get(topic);
    if (set === undefined) return;
    set.delete(ws);
    if (set.size === 0) {
      this.topics.delete(topic);
      if (this.topics.size === 0) withTopics.delete(this);
    }
  }

  /** the message to every subscriber of `topic` (but `except`); the number that took it (send() != 0) */
  publish(
    topic: string,
    data: WebSocketData,
    isBinary?: boolean,
    except?: ServerWebSocket<unknown>,
    compress = true,
  ): number {
    if (typeof topic !== 'string') throw new TypeError(`publish(): topic must be a string, got ${inspect(topic)}`);
    checkData(data, 'publish()');
    const set = this.topics.get(topic);
    if (set === undefined) return 0;
    const binary = isBinary ?? typeof data !== 'string';
    // encoded once for all the subscribers (and, with websocket_compression shared, deflated once: the
    // native side keeps the last compressed message)
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let n = 0;
    for (const ws of set) {
      if (ws !== except && ws.send(bytes, binary, compress) !== 0) n++;
    }
    return n;
  }

  private find(id: number): ServerWebSocket<unknown> | undefined {
    const ws = this.bySlot[id & SLOT_MASK];
    return ws !== undefined && ws.id === id ? ws : undefined;
  }

  /** a handler's result: a rejected promise is logged and closes the connection with 1011, as a throw does */
  private settle(ws: ServerWebSocket<unknown>, r: unknown): void {
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(undefined, (e: unknown) => this.failed(ws, e));
    }
  }

  private failed(ws: ServerWebSocket<unknown>, e: unknown): void {
    this.log.exception('Error handling WebSocket', e);
    if (ws.readyState === State.Open) ws.end(1011, 'internal error');
  }

  /**
   * A message: `length` bytes at `offset` in a slab the native core shares between consecutive messages
   * (docs/design/websocket.md §4). The handler gets a Buffer view, no copy; the slab is never reused, so
   * an app may keep it (which keeps the slab's 64 KiB alive). With transientMessages the ArrayBuffer is the
   * message's own and the native side detaches it once this returns.
   */
  onMessage(id: number, slab: ArrayBuffer, offset: number, length: number, isBinary: boolean): void {
    const ws = this.find(id);
    if (ws === undefined || ws.readyState !== State.Open) return;
    const h = ws.handlers;
    if (h.message === undefined) return;
    try {
      this.settle(ws, h.message(ws, Buffer.from(slab, offset, length), isBinary));
    } catch (e) {
      this.failed(ws, e);
    }
  }

  onDrain(id: number): void {
    const ws = this.find(id);
    if (ws === undefined) return;
    const h = ws.handlers;
    if (h.drain === undefined) return;
    try {
      this.settle(ws, h.drain(ws));
    } catch (e) {
      this.failed(ws, e);
    }
  }

  onClose(id: number, code: number, reason: string): void {
    const ws = this.find(id);
    if (ws === undefined) return;
    this.bySlot[id & SLOT_MASK] = undefined;
    ws.readyState = State.Closed;
    if (ws.topics !== undefined) {
      for (const topic of ws.topics) this.unsubscribe(ws, topic);
      ws.topics = undefined;
    }
    const h = ws.handlers;
    if (h.close === undefined) return;
    try {
      const r = h.close(ws, code, reason);
      if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(undefined, (e: unknown) => this.log.exception('Error handling WebSocket', e));
      }
    } catch (e) {
      this.log.exception('Error handling WebSocket', e);
    }
  }
}
