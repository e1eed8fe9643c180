// Bind addresses (Gunicorn's syntax) -> listening fds. Listeners are plain fds
// so that the arbiter can create them once and hand them to worker processes.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';

import type { ListenerInfo } from './http/environ.js';
import { native } from './native.js';

export type BindSpec =
  | { kind: 'tcp'; host: string; port: number; spec: string }
  | { kind: 'unix'; path: string; spec: string }
  | { kind: 'fd'; fd: number; spec: string };

export class BindError extends Error {
  readonly code = 'GTS_ERR_BIND';
}

/** Parses one bind address: HOST, HOST:PORT, [IPv6]:PORT, unix:PATH, unix://PATH, fd://N. */
export function parseBind(spec: string): BindSpec {
  const s = spec.trim();
  if (s.startsWith('unix:')) {
    const path = s.startsWith('unix://') ? s.slice(7) : s.slice(5);
    if (path === '') throw new BindError(`Invalid bind address ${JSON.stringify(spec)}: empty unix socket path`);
    return { kind: 'unix', path, spec };
  }
  if (s.startsWith('fd://')) {
    const n = s.slice(5);
    if (!/^\d+$/.test(n)) throw new BindError(`Invalid bind address ${JSON.stringify(spec)}: fd must be a number`);
    return { kind: 'fd', fd: Number(n), spec };
  }
  let host: string;
  let port = '8000';
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw new BindError(`Invalid bind address ${JSON.stringify(spec)}: missing ']'`);
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new BindError(`Invalid bind address ${JSON.stringify(spec)}`);
      port = rest.slice(1);
    }
    if (!net.isIPv6(host)) throw new BindError(`Invalid bind address ${JSON.stringify(spec)}: not an IPv6 address`);
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      if (s.indexOf(':') !== i)
        throw new BindError(`Invalid bind address ${JSON.stringify(spec)}: put IPv6 addresses in brackets`);
      host = s.slice(0, i);
      port = s.slice(i + 1);
    } else {
      host = s;
    }
    if (host === '') host = '0.0.0.0';
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
    throw new BindError(`'${port}' is not a valid port number.`);
  }
  return { kind: 'tcp', host, port: Number(port), spec };
}

export interface OpenListener {
  fd: number;
  info: ListenerInfo;
  owned: boolean; // we created it (and unlink a unix path on close)
}

function describe(fd: number): ListenerInfo {
  const n = native.sockName(fd);
  if (n === null) throw new BindError(`fd ${fd} is not a socket`);
  if (n.family === 'unix')
    return { kind: 'unix', host: '', port: 0, portText: '', path: n.host, url: `unix:${n.host}` };
  const url = n.family === 'inet6' ? `http://[${n.host}]:${n.port}` : `http://${n.host}:${n.port}`;
  return { kind: 'tcp', host: n.host, port: n.port, portText: String(n.port), path: '', url };
}

async function resolveHost(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  // Gunicorn binds names over IPv4 unless the address is an IPv6 literal.
  try {
    return (await dns.lookup(host, { family: 4 })).address;
  } catch {
    try {
      return (await dns.lookup(host, { family: 6 })).address;
    } catch {
      throw new BindError(`Cannot resolve bind host ${JSON.stringify(host)}`);
    }
  }
}

export interface ListenOptions {
  backlog: number;
  reusePort: boolean;
  umask: number;
}

/** Creates (or adopts) every listener; closes what it opened if one fails. */
export async function openListeners(binds: readonly string[], opts: ListenOptions): Promise<OpenListener[]> {
  const out: OpenListener[] = [];
  try {
    for (const b of binds) {
      const spec = parseBind(b);
      let fd: number;
      let owned = true;
      if (spec.kind === 'fd') {
        fd = spec.fd;
        owned = false;
        native.listenerStop(fd, false); // a socket a stopped server left with new connections blocked
      } else if (spec.kind === 'unix') {
        fd = native.listenUnix(spec.path, opts.backlog, opts.umask);
      } else {
        const host = await resolveHost(spec.host);
        try {
          fd = native.listenTcp(host, spec.port, opts.backlog, opts.reusePort);
        } catch (e) {
          const err = e as Error & { code?: string };
          const msg =
            err.code === 'EADDRINUSE'
              ? `Connection in use: ('${spec.host}', ${spec.port})`
              : `Cannot bind ${spec.spec}: ${err.message}`;
          throw Object.assign(new BindError(msg), { cause: err, errno: err.code });
        }
      }
      out.push({ fd, info: describe(fd), owned });
    }
  } catch (e) {
    for (const l of out) if (l.owned) closeListener(l);
    throw e;
  }
  return out;
}

/** Closes a listener fd that no server has adopted yet, and removes its unix socket file. */
export function closeListener(l: OpenListener): void {
  native.closeFd(l.fd);
  unlinkListener(l);
}

/** Removes the socket file of a unix listener we created (after the server closed the fd). */
export function unlinkListener(l: OpenListener): void {
  if (l.owned && l.info.kind === 'unix') {
    try {
      fs.unlinkSync(l.info.path);
    } catch {
      /* already gone */
    }
  }
}
