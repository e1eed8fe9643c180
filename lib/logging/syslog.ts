// syslog: Gunicorn's SysLogHandler lines, "<PRI>gunicorn.PREFIX.NAME: [PID] message\0",
// to udp://HOST:PORT, tcp://HOST:PORT or unix://PATH. unix://PATH#dgram is a
// datagram socket (e.g. /dev/log, sent through the addon: lib/unix-datagram.ts),
// unix://PATH#stream a stream socket, and a bare unix://PATH tries a datagram
// first and falls back to a stream when the socket is one (EPROTOTYPE), as
// Python's SysLogHandler does for Gunicorn.
import dgram from 'node:dgram';
import net from 'node:net';
import util from 'node:util';
import { EAGAIN, EPROTOTYPE, UnixDatagram } from '../unix-datagram.js';

export const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  security: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};
/** Python's SysLogHandler.mapPriority */
export const SEVERITY: Record<string, number> = { debug: 7, info: 6, warning: 4, error: 3, critical: 2 };

export type SyslogAddress =
  { kind: 'udp' | 'tcp'; host: string; port: number } | { kind: 'unix'; path: string; type?: 'dgram' | 'stream' };

export class SyslogUnavailable extends Error {}

/** Gunicorn's parse_syslog_address */
export function parseSyslogAddress(addr: string): SyslogAddress {
  if (addr.startsWith('unix://')) {
    const [p, type] = addr.slice(7).split('#', 2) as [string, string | undefined];
    if (p === '') throw new Error(`syslog_addr ${addr}: expected unix://PATH`);
    if (type === undefined) return { kind: 'unix', path: p };
    if (type !== 'dgram' && type !== 'stream') {
      throw new Error(`syslog_addr ${addr}: the socket type after # must be dgram or stream`);
    }
    return { kind: 'unix', path: p, type };
  }
  const m = /^(udp|tcp):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(addr);
  if (m === null) throw new Error(`syslog_addr ${addr}: expected udp://HOST:PORT, tcp://HOST:PORT or unix://PATH`);
  return { kind: m[1] as 'udp' | 'tcp', host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : 514 };
}

/** One syslog destination; lines are sent in the background and dropped (counted) when it cannot keep up. */
export class SyslogSink {
  dropped = 0;
  private udp: dgram.Socket | null = null;
  private unixDgram: UnixDatagram | null = null;
  /** a bare unix://PATH turned out to be a stream socket */
  private unixStream = false;
  private stream: net.Socket | null = null;
  private connecting = false;
  private pending: string[] = [];
  private readonly facility: number;
  /** told once about a destination that refuses (e.g. a unix datagram socket given as unix://PATH) */
  onError: (message: string) => void = () => {};
  private reported = false;

  constructor(
    readonly address: SyslogAddress,
    facility: string,
    private readonly prefix: string,
  ) {
    this.facility = FACILITIES[facility] ?? 1;
  }

  /** "gunicorn.PREFIX.error" / "gunicorn.PREFIX.access" */
  line(level: string, name: 'error' | 'access', msg: string): string {
    const pri = this.facility * 8 + (SEVERITY[level] ?? 6);
    return `<${pri}>gunicorn.${this.prefix}.${name}: [${process.pid}] ${msg}\0`;
  }

  send(level: string, name: 'error' | 'access', msg: string): void {
    const data = this.line(level, name, msg);
    const a = this.address;
    if (a.kind === 'udp') {
      if (this.udp === null) {
        this.udp = dgram.createSocket(net.isIPv6(a.host) ? 'udp6' : 'udp4');
        this.udp.on('error', () => {
          this.dropped++;
        });
        this.udp.unref();
      }
      if (this.udp.getSendQueueCount?.() > 256) {
        this.dropped++;
        return;
      }
      this.udp.send(data, a.port, a.host, (e) => {
        if (e) this.dropped++;
      });
      return;
    }
    if (a.kind === 'unix' && a.type !== 'stream' && !this.unixStream) {
      this.unixDgram ??= new UnixDatagram(a.path);
      const r = this.unixDgram.send(data);
      if (r >= 0) return;
      if (r === -EPROTOTYPE && a.type === undefined) {
        this.unixStream = true; // unix://PATH names a stream socket: use it from now on
        this.unixDgram.close();
        this.unixDgram = null;
      } else {
        this.dropped++;
        if (r !== -EAGAIN) this.reportOnce(`syslog: cannot send to unix://${a.path}: ${util.getSystemErrorName(r)}`);
        return;
      }
    }
    if (this.stream === null || this.stream.destroyed) {
      if (this.pending.length >= 1024) {
        this.dropped++;
        return;
      }
      this.pending.push(data);
      this.connect();
      return;
    }
    if (this.stream.writableLength > 1 << 20) {
      this.dropped++;
      return;
    }
    this.stream.write(data);
  }

  private connect(): void {
    if (this.connecting) return;
    this.connecting = true;
    const a = this.address;
    const s =
      a.kind === 'unix' ? net.connect(a.path) : net.connect((a as { port: number }).port, (a as { host: string }).host);
    s.unref();
    s.on('connect', () => {
      this.connecting = false;
      this.stream = s;
      for (const d of this.pending.splice(0)) s.write(d);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      this.connecting = false;
      this.reportOnce(
        e.code === 'EPROTOTYPE' && a.kind === 'unix'
          ? `syslog_addr unix://${a.path}#stream is a datagram socket (use unix://${a.path} or #dgram)`
          : `syslog: cannot connect: ${e.message}`,
      );
      this.dropped += this.pending.length;
      this.pending = [];
    });
    s.on('close', () => {
      if (this.stream === s) this.stream = null;
    });
  }

  private reportOnce(message: string): void {
    if (this.reported) return;
    this.reported = true;
    this.onError(message);
  }

  close(): void {
    this.unixDgram?.close();
    this.unixDgram = null;
    this.udp?.close();
    this.udp = null;
    this.stream?.end();
    this.stream = null;
  }
}
