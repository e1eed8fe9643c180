// The dirty pool's wire formats and errors (Gunicorn 25's gunicorn/dirty/).
//
// Request worker -> master: one unix stream socket (GUNICORN_DIRTY_SOCKET),
// calls multiplexed on it by id. A frame: a 4-byte big-endian length, then a
// 4-byte header length, the header (v8.serialize() of {id, app, action} or
// {id, ok, error}) and the payload: the arguments or the result as
// v8.serialize() bytes (structured clone: strings, numbers, Buffers and typed
// arrays, Dates, Maps, Sets, plain objects and arrays, Errors). The master
// decodes headers only; payloads go through it as bytes, to the dirty worker
// over the child's IPC channel (`serialization: 'advanced'`) and back.
import v8 from 'node:v8';

/** the unix socket of the master's dirty pool (Gunicorn's name), set for every worker */
export const DIRTY_SOCKET_ENV = 'GUNICORN_DIRTY_SOCKET';
/** a dirty worker's boot state (JSON), as WORKER_ENV for a request worker */
export const DIRTY_WORKER_ENV = 'GUNICORN_TS_DIRTY_WORKER';
/** Gunicorn's limit on one message */
export const MAX_FRAME = 64 * 1024 * 1024;

export interface DirtyBootState {
  age: number;
  ppid: number;
  /** dirty_apps entries (MODULE:EXPORT) this worker loads */
  apps: string[];
  settings: Record<string, unknown>;
}

/** a call's header: client -> master (its payload: the arguments array) */
export interface DirtyRequest {
  id: number;
  app: string;
  action: string;
}

/** what an error looks like on the wire */
export interface DirtyErrorInfo {
  /** the DirtyError subclass (DirtyAppError ...) */
  kind: string;
  message: string;
  /** the job's error class name (TypeError ...) for DirtyAppError */
  errorType?: string;
  traceback?: string;
  app?: string;
  action?: string;
  timeout?: number;
  pid?: number;
}

/** an answer's header: master -> client (its payload, when ok: the result) */
export type DirtyResponse = { id: number; ok: true } | { id: number; ok: false; error: DirtyErrorInfo };

/** dirty worker -> master over IPC: `result` is the v8.serialize() bytes of what the job returned */
export type DirtyWorkerMessage =
  | { gts: 'hb' }
  | { gts: 'booted' }
  | { gts: 'res'; id: number; ok: true; result: Uint8Array }
  | { gts: 'res'; id: number; ok: false; error: DirtyErrorInfo };
/**
 * master -> dirty worker over IPC: a job, or a graceful stop. The master stops a dirty worker with a
 * message rather than SIGTERM: it then comes after every job sent before it, none of which is lost.
 */
export type DirtyMasterMessage = ({ gts: 'job'; args: Uint8Array } & DirtyRequest) | { gts: 'stop' };

export function isDirtyWorkerProcess(): boolean {
  return typeof process.env[DIRTY_WORKER_ENV] === 'string' && typeof process.send === 'function';
}

/** Reads (and removes from the environment) the state the master passed to a dirty worker. */
export function takeDirtyBootState(): DirtyBootState {
  const raw = process.env[DIRTY_WORKER_ENV];
  delete process.env[DIRTY_WORKER_ENV];
  if (raw === undefined) throw new Error(`${DIRTY_WORKER_ENV} is not set: not a dirty worker process`);
  return JSON.parse(raw) as DirtyBootState;
}

// ---------------------------------------------------------------- framing

/** One frame: the header (encoded here) and the payload bytes (already encoded, or none). */
export function encodeFrame(header: unknown, payload: Uint8Array = EMPTY): Buffer {
  const h = v8.serialize(header);
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(4 + h.length + payload.length, 0);
  head.writeUInt32BE(h.length, 4);
  return Buffer.concat([head, h, payload]);
}
const EMPTY = new Uint8Array(0);

export interface Frame {
  header: unknown;
  /** a copy, not a view of the stream's buffer */
  payload: Buffer;
}

/** Splits a byte stream into frames; throws DirtyProtocolError on an oversized or undecodable one. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME) throw new DirtyProtocolError(`message of ${len} bytes is over the ${MAX_FRAME} limit`);
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const hlen = len >= 4 ? body.readUInt32BE(0) : -1;
      if (hlen < 0 || hlen > len - 4) throw new DirtyProtocolError('malformed frame');
      try {
        out.push({ header: v8.deserialize(body.subarray(4, 4 + hlen)), payload: Buffer.from(body.subarray(4 + hlen)) });
      } catch (e) {
        throw new DirtyProtocolError(`undecodable message: ${(e as Error).message}`);
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------- errors (Gunicorn's gunicorn/dirty/errors.py)

/** Base class of the errors a dirty call rejects with. */
export class DirtyError extends Error {
  override name = 'DirtyError';
}
/** The job did not answer within dirty_timeout (its dirty worker is restarted). */
export class DirtyTimeoutError extends DirtyError {
  override name = 'DirtyTimeoutError';
  constructor(
    message: string,
    readonly timeout: number,
  ) {
    super(message);
  }
}
/** The dirty pool's socket could not be reached, or the connection was lost. */
export class DirtyConnectionError extends DirtyError {
  override name = 'DirtyConnectionError';
}
/** The dirty worker running the job died (crash, kill -9, out of memory). */
export class DirtyWorkerError extends DirtyError {
  override name = 'DirtyWorkerError';
  constructor(
    message: string,
    readonly workerId?: number,
  ) {
    super(message);
  }
}
/** The job threw (or rejected): message, errorType and traceback are the job's error's. */
export class DirtyAppError extends DirtyError {
  override name = 'DirtyAppError';
  constructor(
    message: string,
    readonly appPath?: string,
    readonly action?: string,
    readonly errorType?: string,
    readonly traceback?: string,
  ) {
    super(message);
  }
}
/** No app of that name is in dirty_apps. */
export class DirtyAppNotFoundError extends DirtyAppError {
  override name = 'DirtyAppNotFoundError';
}
/** No dirty worker has loaded the app (all crashed, or the pool is stopping). */
export class DirtyNoWorkersAvailableError extends DirtyError {
  override name = 'DirtyNoWorkersAvailableError';
  constructor(
    message: string,
    readonly appPath?: string,
  ) {
    super(message);
  }
}
/** A malformed message on the dirty socket. */
export class DirtyProtocolError extends DirtyError {
  override name = 'DirtyProtocolError';
}

/** The error a caller's promise rejects with, from its wire form. */
export function errorFromInfo(e: DirtyErrorInfo): DirtyError {
  switch (e.kind) {
    case 'DirtyTimeoutError':
      return new DirtyTimeoutError(e.message, e.timeout ?? 0);
    case 'DirtyConnectionError':
      return new DirtyConnectionError(e.message);
    case 'DirtyWorkerError':
      return new DirtyWorkerError(e.message, e.pid);
    case 'DirtyAppError':
      return new DirtyAppError(e.message, e.app, e.action, e.errorType, e.traceback);
    case 'DirtyAppNotFoundError':
      return new DirtyAppNotFoundError(e.message, e.app, e.action);
    case 'DirtyNoWorkersAvailableError':
      return new DirtyNoWorkersAvailableError(e.message, e.app);
    case 'DirtyProtocolError':
      return new DirtyProtocolError(e.message);
    default:
      return new DirtyError(e.message);
  }
}
