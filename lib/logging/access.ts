// Access log: Gunicorn's access_log_format with its atoms, compiled once.
// Values go through SafeAtoms rules: '"' is escaped as '\"'; unknown atoms
// render as '-'; {name}i / {name}o / {name}e keys are looked up lower-cased.
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

function render(v: unknown): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return v.replace(/"/g, '\\"');
  if (v === null) return 'None';
  return String(v);
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

export class AccessLog {
  private fd: number;
  private readonly format: (r: AccessRecord) => string;

  constructor(
    private readonly path: string,
    format: string,
  ) {
    this.format = compileAccessFormat(format);
    this.fd = this.open();
  }

  private open(): number {
    return this.path === '-' ? 1 : fs.openSync(this.path, 'a');
  }

  log(r: AccessRecord): void {
    try {
      fs.writeSync(this.fd, `${this.format(r)}\n`);
    } catch {
      /* a full disk must not take the worker down */
    }
  }

  /** USR1 */
  reopen(): void {
    if (this.path === '-') return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }
}
