// The numbered native contract (must match native/src/addon.cc).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeErrorInfo {
  code: string;
  status: number;
  reason: string;
}

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
  close(graceful: boolean): void;
  connections(): number;
}

export interface NativeBinding {
  NativeServer: new (options: Record<string, unknown>, callbacks: Function[], meta: Uint32Array) => NativeServer;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): number;
  listenUnix(path: string, backlog: number, umask: number): number;
  sockName(fd: number): { family: 'inet' | 'inet6' | 'unix'; host: string; port: number } | null;
  setInheritable(fd: number, inheritable: boolean): boolean;
  closeFd(fd: number): void;
  /** the shared accept-balancing page for `slots` workers (master); returns its fd */
  balanceCreate(slots: number): number;
  /** marks a worker slot as empty (master, when a worker exits) */
  balanceVacate(fd: number, slot: number): boolean;
  /** sd_notify(3) over $NOTIFY_SOCKET: 1 sent, 0 when NOTIFY_SOCKET is unset */
  sdNotify(state: string): number;
  errors: NativeErrorInfo[];
  /** environ keys of common request headers, indexed by meta slot values with KNOWN_KEY set */
  headerKeys: string[];
  /** number of native response-head slots (slot 0 is scratch) */
  headSlots: number;
  llhttpVersion: string;
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
} as const;

/** a meta key slot with this bit set holds an index into headerKeys instead of an end offset */
export const KNOWN_KEY = 0x80000000;
/** a meta value slot with this bit added: its environ key may repeat an earlier one of the request */
export const MAYBE_REPEAT = 0x40000000;

/** respond() flags */
export const R = { final: 1, close: 2, whole: 4 } as const;

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
export const CB = { request: 0, body: 1, bodyEnd: 2, abort: 3, drain: 4, protocolError: 5, closed: 6 } as const;

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function load(): NativeBinding {
  const candidates = [
    process.env.GUNICORN_TS_NATIVE,
    path.join(here, '..', 'build', 'Release', 'gunicorn_native.node'),
    path.join(here, '..', 'build', 'Debug', 'gunicorn_native.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  let last: unknown;
  for (const p of candidates) {
    try {
      return require(p) as NativeBinding;
    } catch (e) {
      last = e;
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  throw new Error(
    `gunicorn-ts: the native core is not built (${(last as Error)?.message}); run \`npm run build:native\``,
  );
}

export const native: NativeBinding = load();
