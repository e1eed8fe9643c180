// Access log: Gunicorn's access_log_format with its atoms, compiled once.
// Values go through SafeAtoms rules, stricter than Gunicorn's: '"' is escaped
// as '\"', '\' as '\\', and control characters (C0, DEL, C1, U+2028/2029)
// as \xHH / \uHHHH, in every atom, so a request cannot forge or split a log
// line; unknown atoms render as '-'; {name}i / {name}o / {name}e keys are
// looked up lower-cased.
import fs from 'node:fs';

import type { Environ, ResponseHeaders } from '../types.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "[22/Aug/2026:10:22:28 +0000]": strftime('[%d/%b/%Y:%H:%M:%S %z]') in local time */
export function accessDate(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${off >= 0 ? '+' : '-'}${pad(Math.floor(a / 60))}${pad(a % 60)}]`;
}

export interface AccessRecord {
  environ: Environ;
  status: string; // "200 OK" as the app gave it
  headers: ResponseHeaders; // response headers as the app gave them
  sent: number; // body bytes sent
  durationUs: number; // request time in microseconds
}

function basicUser(environ: Environ): string | null {
  const auth = environ.HTTP_AUTHORIZATION;
  if (typeof auth !== 'string') return null;
  const parts = auth.split(' ');
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'basic') return null;
  try {
    const dec = Buffer.from(parts[1]!, 'base64').toString('latin1');
    const i = dec.indexOf(':');
    return i < 0 ? null : dec.slice(0, i);
  } catch {
    return null;
  }
}

const ENVIRON_HEADERS: Record<string, string> = { 'content-type': 'CONTENT_TYPE', 'content-length': 'CONTENT_LENGTH' };

/** The value of one atom, before escaping; undefined renders '-'. */
export function atom(key: string, r: AccessRecord): unknown {
  const e = r.environ;
  switch (key) {
    case 'h':
      return e.REMOTE_ADDR ?? '-';
    case 'l':
      return '-';
    case 'u':
      return basicUser(e) || '-';
    case 't':
      return accessDate();
    case 'r':
      return `${e.REQUEST_METHOD} ${e.RAW_URI} ${e.SERVER_PROTOCOL}`;
    case 's':
      return r.status.trim().split(/\s+/, 1)[0] || '-';
    case 'm':
      return e.REQUEST_METHOD;
    case 'U':
      return e.PATH_INFO;
    case 'q':
      return e.QUERY_STRING;
    case 'H':
      return e.SERVER_PROTOCOL;
    case 'b':
      return String(r.sent);
    case 'B':
      return r.sent;
    case 'f':
      return e.HTTP_REFERER ?? '-';
    case 'a':
      return e.HTTP_USER_AGENT ?? '-';
    case 'T':
      return Math.floor(r.durationUs / 1e6);
    case 'D':
      return Math.round(r.durationUs);
    case 'M':
      return Math.floor(r.durationUs / 1000);
    case 'L': {
      const us = Math.round(r.durationUs);
      return `${Math.floor(us / 1e6)}.${pad(us % 1e6, 6)}`;
    }
    case 'p':
      return `<${process.pid}>`;
    default:
      break;
  }
  const m = /^\{(.*)\}([ioe])$/s.exec(key);
  if (m === null) return undefined;
  const name = m[1]!.toLowerCase();
  if (m[2] === 'i') {
    const k = ENVIRON_HEADERS[name] ?? `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    return e[k];
  }
  if (m[2] === 'o') {
    let v: string | undefined;
    for (const [hk, hv] of r.headers) if (hk.toLowerCase() === name) v = hv;
    return v;
  }
  for (const [k, v] of Object.entries(e)) if (k.toLowerCase() === name) return v;
  return undefined;
}

const UNSAFE = /[\x00-\x1f"\\\x7f-\x9f\u2028\u2029]/;

const UNSAFE_ALL = /[\x00-\x1f"\\\x7f-\x9f\u2028\u2029]/g;

function escapeChar(c: string): string {
  if (c === '"') return '\\"';
  if (c === '\\') return '\\\\';
  const n = c.charCodeAt(0);
  return n > 0xff ? `\\u${n.toString(16)}` : `\\x${n.toString(16).padStart(2, '0')}`;
}

/** An atom's text with '"', '\' and control characters escaped (one line, no forged quotes). */
export function escapeAtom(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, escapeChar) : s;
}

function render(v: unknown): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return escapeAtom(v);
  if (v === null) return 'None';
  // an object-valued environ entry (wsgi.input, wsgi.errors...) is named by its class, as Python's str() does
  if (typeof v === 'object' || typeof v === 'function')
    return `<${(v as { constructor?: { name?: string } }).constructor?.name ?? 'object'} object>`;
  const primitive = v as number | boolean | bigint | symbol; // what is left
  return String(primitive);
}

type Part = string | { key: string };

/** Compiles a %(atom)s format once; returns the line renderer. */
export function compileAccessFormat(fmt: string): (r: AccessRecord) => string {
  const parts: Part[] = [];
  const re = /%\(((?:[^()]|\([^)]*\))*?)\)[-#0 +]*\d*(?:\.\d+)?[sdirfa]|%%/g;
  let last = 0;
  for (let m = re.exec(fmt); m !== null; m = re.exec(fmt)) {
    if (m.index > last) parts.push(fmt.slice(last, m.index));
    parts.push(m[0] === '%%' ? '%' : { key: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < fmt.length) parts.push(fmt.slice(last));
  return (r) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : render(atom(p.key, r));
    return s;
  };
}

// log_format = 'json': the access record, one JSON object per line
const str = (v: unknown): string | null => {
  if (v === undefined || v === null || v === '-') return null;
  if (typeof v === 'object' || typeof v === 'function') return render(v);
  const primitive = v as string | number | boolean | bigint | symbol;
  return String(primitive);
};

/** an access log record: Gunicorn's atoms as named fields (absent values are null) */
export function jsonAccessLine(r: AccessRecord): string {
  const status = Number(atom('s', r));
  const o = {
    time: new Date().toISOString(),
    logger: 'gunicorn.access',
    pid: process.pid,
    remote_addr: str(atom('h', r)), // h
    user: str(atom('u', r)), // u
    request: str(atom('r', r)), // r
    method: str(atom('m', r)), // m
    path: str(atom('U', r)), // U
    query: str(atom('q', r)), // q
    protocol: str(atom('H', r)), // H
    status: Number.isFinite(status) ? status : null, // s
    bytes: r.sent, // B
    referer: str(atom('f', r)), // f
    user_agent: str(atom('a', r)), // a
    duration_us: Math.round(r.durationUs), // D
  };
  return `${JSON.stringify(o)}\n`;
}

/** Where access lines go besides the file: JSON lines, syslog, a logger_class's access(). */
export interface AccessOutputs {
  json?: boolean;
  syslog?: { send(level: string, name: 'access', msg: string): void } | null;
  plugin?: { access?(resp: unknown, req: unknown, environ: unknown, requestTime: number): void } | null;
}

export class AccessLog {
  private fd: number;
  private readonly format: (r: AccessRecord) => string;
  private readonly json: boolean;
  private readonly syslog: AccessOutputs['syslog'];
  private readonly plugin: AccessOutputs['plugin'];

  /** path null: no file (syslog or a logger_class only) */
  constructor(
    private readonly path: string | null,
    format: string,
    outputs: AccessOutputs = {},
  ) {
    this.format = compileAccessFormat(format);
    this.json = outputs.json === true;
    this.syslog = outputs.syslog ?? null;
    this.plugin = outputs.plugin?.access ? outputs.plugin : null;
    this.fd = this.open();
  }

  private open(): number {
    if (this.path === null || this.plugin !== null) return -1;
    return this.path === '-' ? 1 : fs.openSync(this.path, 'a');
  }

  log(r: AccessRecord): void {
    if (this.plugin) {
      try {
        const e = r.environ;
        this.plugin.access!(
          { status: r.status, headers: r.headers, sent: r.sent },
          {
            method: e.REQUEST_METHOD,
            path: e.PATH_INFO,
            query: e.QUERY_STRING,
            uri: e.RAW_URI,
            version: e.SERVER_PROTOCOL,
          },
          e,
          r.durationUs / 1e6,
        );
      } catch {
        /* a failing logger_class must not take the worker down */
      }
      return;
    }
    if (this.fd >= 0) {
      try {
        fs.writeSync(this.fd, this.json ? jsonAccessLine(r) : `${this.format(r)}\n`);
      } catch {
        /* a full disk must not take the worker down */
      }
    }
    if (this.syslog) this.syslog.send('info', 'access', this.format(r));
  }

  /** USR1 */
  reopen(): void {
    if (this.path === null || this.path === '-' || this.fd < 0) return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }
}
