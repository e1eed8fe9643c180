// The control socket (Gunicorn 25.1's model): a unix stream socket, mode 0600
// by default, where the master answers one JSON request per connection:
//   -> {"command":"status"}\n        <- {"ok":true,"data":{...}}\n
// Access control: the socket's file mode (0600: only its owner may connect),
// its directory (created 0700 when gunicorn-ts creates it), and the peer's
// credentials (SO_PEERCRED through the addon): a connection from a user other
// than the master's (or root) is refused even when a looser
// control_socket_mode lets it connect.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { native } from '../native.js';

export const COMMANDS = ['status', 'config', 'reload', 'add', 'remove', 'reopen', 'stop'] as const;
export type Command = (typeof COMMANDS)[number];

export interface ControlRequest {
  command: string;
  /** add/remove: how many workers; stop: graceful (default true) */
  count?: number;
  graceful?: boolean;
}

/** What the control socket asks of the master (lib/arbiter/operations.ts implements it). */
export interface ControlTarget {
  status(): unknown;
  config(): Record<string, unknown>;
  reload(): void;
  /** returns the new number of workers */
  add(n: number): number;
  remove(n: number): number;
  reopen(): void;
  shutdown(graceful: boolean): void;
}

export class ControlSocketError extends Error {}

const MAX_REQUEST = 64 * 1024;

/**
 * Listens at `file` with `mode`. A live socket there (another master answers)
 * is left alone: ControlSocketError. A stale one is replaced.
 */
export async function startControlSocket(file: string, mode: number, target: ControlTarget): Promise<net.Server> {
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(file);
  } catch {
    /* absent */
  }
  if (st !== null) {
    if (!st.isSocket()) throw new ControlSocketError(`${file} exists and is not a socket`);
    if (await answers(file)) throw new ControlSocketError(`${file} is in use by another master`);
    fs.unlinkSync(file);
  }
  const srv = net.createServer((conn) => serve(conn, target));
  // created with no permission for anyone, then opened to `mode`: never briefly world-connectable
  // (a pipe binds synchronously inside listen(), so the umask is restored at once)
  const listening = new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.once('listening', () => {
      srv.off('error', reject);
      resolve();
    });
  });
  const old = process.umask(0o777);
  try {
    srv.listen(file);
  } finally {
    process.umask(old);
  }
  await listening;
  fs.chmodSync(file, mode);
  srv.unref();
  return srv;
}

export function stopControlSocket(srv: net.Server, file: string): void {
  srv.close();
  try {
    if (fs.lstatSync(file).isSocket()) fs.unlinkSync(file);
  } catch {
    /* gone */
  }
}

function answers(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    const t = setTimeout(() => {
      s.destroy();
      resolve(true);
    }, 1000);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** null when the peer may use the socket, else why not */
export function peerRefusal(conn: net.Socket): string | null {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'permission denied: the peer credentials cannot be read';
  let uid: number;
  try {
    uid = native.peerCred(fd).uid;
  } catch (e) {
    return `permission denied: ${(e as Error).message}`;
  }
  const owner = process.geteuid?.() ?? uid;
  return uid === owner || uid === 0
    ? null
    : `permission denied: uid ${uid} is not the control socket's owner (uid ${owner})`;
}

function serve(conn: net.Socket, target: ControlTarget): void {
  const refused = peerRefusal(conn);
  if (refused !== null) {
    conn.on('error', () => {});
    conn.end(`${JSON.stringify({ ok: false, error: refused })}\n`);
    return;
  }
  let buf = '';
  conn.setEncoding('utf8');
  conn.setTimeout(10000, () => conn.destroy());
  conn.on('error', () => {});
  conn.on('data', (d: string) => {
    buf += d;
    if (buf.length > MAX_REQUEST) {
      conn.end(`${JSON.stringify({ ok: false, error: 'request too large' })}\n`);
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    conn.removeAllListeners('data');
    let reply: unknown;
    try {
      reply = { ok: true, data: run(JSON.parse(buf.slice(0, nl)) as ControlRequest, target) };
    } catch (e) {
      reply = { ok: false, error: (e as Error).message };
    }
    conn.end(`${JSON.stringify(reply)}\n`);
  });
}

function run(req: ControlRequest, target: ControlTarget): unknown {
  const n = req.count === undefined ? 1 : Number(req.count);
  if ((req.command === 'add' || req.command === 'remove') && !(Number.isInteger(n) && n >= 1 && n <= 1024)) {
    throw new Error(`${req.command}: the count must be an integer from 1 to 1024`);
  }
  switch (req.command) {
    case 'status':
      return target.status();
    case 'config':
      return target.config();
    case 'reload':
      target.reload();
      return { reloading: true };
    case 'add':
      return { workers: target.add(n) };
    case 'remove':
      return { workers: target.remove(n) };
    case 'reopen':
      target.reopen();
      return { reopened: true };
    case 'stop':
      target.shutdown(req.graceful !== false);
      return { stopping: true };
    default:
      throw new Error(`unknown command ${JSON.stringify(req.command)}: one of ${COMMANDS.join(', ')}`);
  }
}
