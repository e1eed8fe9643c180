// The caller's side of the dirty pool (Gunicorn 25's gunicorn/dirty/client.py):
// a request handler runs a job in a dirty worker and awaits its result.
//
//   import { getDirtyClient } from 'gunicorn-ts';
//   const thumb = await getDirtyClient().execute('images:ImageApp', 'resize', bytes, 256);
//
// One connection per process to the master's dirty socket (GUNICORN_DIRTY_SOCKET),
// calls multiplexed on it by id; it is connected at the first call and again
// after it was lost. It does not keep the process alive while no call is pending.
import net from 'node:net';
import v8 from 'node:v8';

import {
  DIRTY_SOCKET_ENV,
  DirtyConnectionError,
  DirtyError,
  DirtyProtocolError,
  encodeFrame,
  errorFromInfo,
  FrameReader,
  type Frame,
  type DirtyRequest,
  type DirtyResponse,
} from './dirty-protocol.js';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class DirtyClient {
  private sock: net.Socket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly socketPath: string) {}

  /**
   * Runs `action` of the dirty app `appPath` (a dirty_apps entry, MODULE:EXPORT)
   * with `args` in a dirty worker. Resolves with what the job returned (or its
   * promise resolved to); rejects with a DirtyError: DirtyAppError with the job's
   * error message, DirtyTimeoutError, DirtyWorkerError, DirtyConnectionError ...
   */
  execute(appPath: string, action: string, ...args: unknown[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const req: DirtyRequest = { id, app: appPath, action };
      let frame: Buffer;
      try {
        frame = encodeFrame(req, v8.serialize(args));
      } catch (e) {
        reject(new DirtyError(`The arguments of ${appPath}.${action} cannot be sent: ${(e as Error).message}`));
        return;
      }
      const sock = this.connect();
      this.pending.set(id, { resolve, reject });
      sock.ref();
      sock.write(frame);
    });
  }

  /** Gunicorn's name for the same call (every call is asynchronous in Node). */
  executeAsync(appPath: string, action: string, ...args: unknown[]): Promise<unknown> {
    return this.execute(appPath, action, ...args);
  }

  /** Closes the connection; pending calls reject with DirtyConnectionError. */
  close(): void {
    this.sock?.destroy();
    this.lost(new DirtyConnectionError('Dirty client closed'));
  }

  private connect(): net.Socket {
    if (this.sock !== null) return this.sock;
    const sock = net.createConnection(this.socketPath);
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        sock.destroy();
        this.lost(e as DirtyProtocolError);
        return;
      }
      for (const f of frames) this.answer(f.header as DirtyResponse, f.payload);
    });
    sock.on('error', (e) => {
      if (this.sock === sock) this.lost(new DirtyConnectionError(`Failed to reach the dirty pool: ${e.message}`));
    });
    sock.on('close', () => {
      if (this.sock === sock) this.lost(new DirtyConnectionError('Connection to the dirty pool lost'));
    });
    this.sock = sock;
    return sock;
  }

  private answer(m: DirtyResponse, payload: Buffer): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.sock?.unref();
    if (!m.ok) {
      p.reject(errorFromInfo(m.error));
      return;
    }
    try {
      p.resolve(v8.deserialize(payload));
    } catch (e) {
      p.reject(new DirtyProtocolError(`undecodable result: ${(e as Error).message}`));
    }
  }

  private lost(err: Error): void {
    this.sock = null;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

let client: DirtyClient | null = null;

/**
 * The process's dirty client (Gunicorn's get_dirty_client). Throws DirtyError
 * when there is no dirty pool (dirty_workers and dirty_apps unset).
 */
export function getDirtyClient(): DirtyClient {
  if (client !== null) return client;
  const path = process.env[DIRTY_SOCKET_ENV];
  if (!path) {
    throw new DirtyError(
      'Dirty socket path not configured. Make sure dirty_workers > 0 and dirty_apps are configured.',
    );
  }
  client = new DirtyClient(path);
  return client;
}

/** Closes the process's dirty client (Gunicorn's close_dirty_client). */
export function closeDirtyClient(): void {
  client?.close();
  client = null;
}
