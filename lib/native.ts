// The numbered native contract (must match native/src/addon.cc).
import { loadAddon } from './addon-loader.js';

export interface NativeErrorInfo {
  code: string;
  status: number;
  reason: string;
}

/**
 * TLS options as the addon reads them (every key required): the SSL settings
 * after the ssl_context hook (lib/server.ts tlsOptions()).
 */
export interface NativeTlsOptions {
  certfile: string;
  keyfile: string; // '' = the key is in certfile
  ca_certs: string; // '' = none
  cert_reqs: number; // 0 none, 1 optional, 2 required
  min_version: number; // 12 (TLS 1.2) or 13 (TLS 1.3)
  ciphers: string; // TLS 1.2 cipher list ('' = OpenSSL's default)
  ciphersuites: string; // TLS 1.3 suites ('' = OpenSSL's default)
  groups: string; // key-exchange groups ('' = OpenSSL's default)
  alpn: readonly string[];
  session_tickets: number;
  passphrase: string;
  suppress_ragged_eofs: boolean;
  /** certificates by the client's server name: exact lower-case names or '*.' one-level wildcards */
  sni: readonly NativeTlsSniEntry[];
}

/** One SNI certificate (the default certfile/keyfile serve no or an unknown server name). */
export interface NativeTlsSniEntry {
  name: string;
  certfile: string;
  keyfile: string; // '' = the key is in certfile
  passphrase: string;
}

/** A native setting's value as the addon reads it (lists as arrays). */
export type NativeOptionValue = number | boolean | string | readonly string[] | NativeTlsOptions | null;

/**
 * Options of `new NativeServer()`: every registry setting marked `native: true`
 * under its own name (lists as arrays), plus the worker's accept-balancing slot.
 * Every key is required: the addon has no defaults and throws on a missing one.
 * Which keys exist is the registry's business (lib/config/settings.ts, a layer
 * above this one): lib/server.ts builds them typed as `NativeSettings`.
 */
export interface NativeOptions {
  readonly [setting: string]: NativeOptionValue;
  /** the shared accept-balancing page (arbiter), or -1 */
  balance_fd: number;
  balance_slot: number;
  /** TLS on every listener, or null (plain HTTP) */
  tls: NativeTlsOptions | null;
}

/** The callbacks the addon calls, in CB slot order (see native/src/addon.cc). */
export type NativeCallbacks = [
  onRequest: (id: number, blob: string, inlineBody: Buffer | undefined) => void,
  onBody: (id: number, chunk: Buffer) => void,
  onBodyEnd: (id: number, errCode: number) => void,
  onAbort: (id: number, why: number) => void,
  onDrain: (id: number) => void,
  onProtocolError: (errCode: number, remoteAddr: string, detail: string) => void,
  onClosed: () => void,
  onNotice: (message: string) => void,
  /**
   * a whole message: `length` bytes at `offset` in `slab`, shared by consecutive messages (never reused); for
   * a WebSocket upgraded with WS_UPGRADE_TRANSIENT, the message's own ArrayBuffer, detached once this returns
   */
  onWsMessage: (id: number, slab: ArrayBuffer, offset: number, length: number, isBinary: boolean) => void,
  onWsDrain: (id: number) => void,
  onWsClose: (id: number, code: number, reason: string) => void,
];

export interface NativeServer {
  addListener(fd: number, isUnix: boolean, backlog: number): void;
  /**
   * respond(id, status, headerBlock, nHeaders, body, flags | headKey << 8) -> RespondResult.
   * With strings, the head is validated into native head slot `headKey` (0: scratch);
   * with status undefined, the head already in slot `headKey` is used (lib/http/head-cache.ts).
   */
  respond(
    id: number,
    status: string | undefined,
    headers: string | undefined,
    nHeaders: number,
    body: string | Uint8Array | undefined,
    flags: number,
  ): number;
  write(id: number, chunk: string | Uint8Array | undefined, final: boolean): number;
  pause(id: number, pause: boolean): void;
  abort(id: number): void;
  /** a 103 Early Hints head (headers as respond()'s block) before the response; none for HTTP/1.0 -> RespondResult */
  earlyHints(id: number, headers: string, nHeaders: number): number;
  /**
   * sendfile: the next respond() with R.file sends this regular file (a copy of fd, from its
   * current offset) as the body. Returns its length from there, or -1 (not a regular file, TLS).
   */
  prepareFile(id: number, fd: number): number;
  close(graceful: boolean): void;
  connections(): number;
  /** the TLS facts of a request's connection as 'KEY\0value\0...' (mod_ssl names), or undefined */
  tlsInfo(id: number): string | undefined;
  /** HTTP/2: the application read n bytes of the request body (the stream's window reopens by that much) */
  consume(id: number, n: number): void;
  /** HTTP/2: response trailers (headers as respond()'s block), sent after the body -> RespondResult */
  trailers(id: number, headers: string, nHeaders: number): number;
  /**
   * WebSocket: accepts the valid handshake of request `id` (the 101 goes out with `protocol` and the extra
   * headers, a block as respond()'s). The WebSocket's own id, or WS_UPGRADE error (< 0).
   */
  wsUpgrade(
    id: number,
    protocol: string | undefined,
    headers: string | undefined,
    nHeaders: number,
    flags: number,
  ): number;
  /**
   * a message (flags: WS_SEND_BINARY | WS_SEND_COMPRESS): > 0 queued, -1 queued above the high-water mark
   * (wait for onWsDrain), 0 dropped
   */
  wsSend(id: number, data: string | Uint8Array, flags: number): number;
  /** the close handshake: a close frame with this code and reason */
  wsEnd(id: number, code: number, reason: string): void;
  /** closes the TCP connection at once (onWsClose(id, 1006) follows) */
  wsClose(id: number): void;
  /** bytes queued for the client, not yet taken by the kernel */
  wsBuffered(id: number): number;
  /** the negotiated Sec-WebSocket-Extensions ('' when none) */
  wsExtensions(id: number): string;
}

export interface NativeBinding {
  NativeServer: new (options: NativeOptions, callbacks: NativeCallbacks, meta: Uint32Array) => NativeServer;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): number;
  /** null, or the one-line reason these TLS options cannot make a context (missing/mismatched cert or key...) */
  tlsCheck(options: NativeTlsOptions): string | null;
  /** TLS handshakes completed in this process */
  tlsHandshakes(): number;
  listenUnix(path: string, backlog: number, umask: number): number;
  sockName(fd: number): { family: 'inet' | 'inet6' | 'unix'; host: string; port: number } | null;
  setInheritable(fd: number, inheritable: boolean): boolean;
  closeFd(fd: number): void;
  /**
   * The whole-server stop: new connections to this listening socket are dropped at the
   * kernel from now on (a socket filter), so that the workers can accept and answer
   * everything already queued before the last fd closes. stop=false removes it.
   */
  listenerStop(fd: number, stop?: boolean): boolean;
  /** whether listenerStop(fd) is in effect on this socket */
  listenerStopping(fd: number): boolean;
  /** the shared accept-balancing page for `slots` workers (master); returns its fd */
  balanceCreate(slots: number): number;
  /** marks a worker slot as empty (master, when a worker exits) */
  balanceVacate(fd: number, slot: number): boolean;
  /** the value of a native promise already fulfilled, else the promise itself (V8 reads its state; no then()) */
  promiseValue<T>(this: void, p: Promise<T>): T | Promise<T>;
  /** sd_notify(3) over $NOTIFY_SOCKET: 1 sent, 0 when NOTIFY_SOCKET is unset */
  sdNotify(state: string): number;
  /** a non-blocking unix datagram socket (StatsD and syslog to unix paths): its fd */
  unixDgramSocket(): number;
  /** one datagram to `path` ('@name': abstract); bytes sent or -errno (-11 EAGAIN: the receiver is full) */
  unixDgramSend(fd: number, path: string, data: Buffer): number;
  /** the peer of a connected unix socket (SO_PEERCRED) */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** reaps exited children whose pids are not in `keep` (PID 1's orphans); returns the pids reaped */
  reapOrphans(keep: number[]): number[];
  errors: NativeErrorInfo[];
  /** environ keys of common request headers, indexed by meta slot values with KNOWN_KEY set */
  headerKeys: string[];
  /** number of native response-head slots (slot 0 is scratch) */
  headSlots: number;
  llhttpVersion: string;
  /** this build and this node have HTTP/2 (nghttp2's header at build time, node's nghttp2 at run time) */
  http2: boolean;
}

// meta[] slots
export const M = {
  count: 0,
  flags: 1,
  methodEnd: 2,
  targetEnd: 3,
  pathEnd: 4,
  queryEnd: 5,
  remoteEnd: 6,
  remotePortEnd: 7,
  proxyProtoEnd: 8,
  proxySrcEnd: 9,
  proxyDstEnd: 10,
  proxySrcPort: 11,
  proxyDstPort: 12,
  contentLengthLo: 13,
  contentLengthHi: 14,
  headers: 16,
} as const;

export const F = {
  keepAlive: 1 << 8,
  bodyFollows: 1 << 9,
  chunked: 1 << 10,
  expectContinue: 1 << 11,
  trusted: 1 << 12,
  unix: 1 << 13,
  proxy: 1 << 14,
  head: 1 << 15,
  upgrade: 1 << 16,
  scriptName: 1 << 17,
  hasLength: 1 << 18,
  http2: 1 << 19,
  websocket: 1 << 20,
} as const;

/** a meta key slot with this bit set holds an index into headerKeys instead of an end offset */
export const KNOWN_KEY = 0x80000000;
/** a meta value slot with this bit added: its environ key may repeat an earlier one of the request */
export const MAYBE_REPEAT = 0x40000000;

/** respond() flags */
export const R = { final: 1, close: 2, whole: 4, file: 8 } as const;

/** respond()/write() results */
export const Result = {
  ok: 0,
  backpressure: 1,
  badStatus: 2,
  badHeader: 3,
  badContentLength: 4,
  stale: 5,
  invalidState: 6,
} as const;

/** callbacks[] slots */
export const CB = {
  request: 0,
  body: 1,
  bodyEnd: 2,
  abort: 3,
  drain: 4,
  protocolError: 5,
  closed: 6,
  notice: 7,
  wsMessage: 8,
  wsDrain: 9,
  wsClose: 10,
} as const;

/** wsSend flags */
export const WS_SEND_BINARY = 1;
export const WS_SEND_COMPRESS = 2;
/** wsUpgrade() errors */
export const WS_UPGRADE = { notHandshake: -1, draining: -2, protocol: -3, badHeader: -4 } as const;
/** wsUpgrade()'s flags: each message in an ArrayBuffer of its own, detached once message() returns */
export const WS_UPGRADE_TRANSIENT = 1;

/** why abort(id, why) came (native Abort) */
export const ABORT = { gone: -1, timeout: 1, timeoutClosed: 2 } as const;

export const native: NativeBinding = loadAddon<NativeBinding>();
