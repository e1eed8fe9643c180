// Error log in Gunicorn's format: "[YYYY-MM-DD HH:MM:SS +0000] [PID] [LEVEL] message".
import fs from 'node:fs';

export const LEVELS = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 } as const;
export type LevelName = keyof typeof LEVELS;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** "[2026-08-22 10:22:28 +0000]" in local time, like Python's "%Y-%m-%d %H:%M:%S %z". */
export function logDate(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `[${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}]`;
}

export class Logger {
  private level: number;
  private fd: number;
  private readonly path: string;

  constructor(opts: { errorlog?: string; loglevel?: LevelName } = {}) {
    this.level = LEVELS[opts.loglevel ?? 'info'];
    this.path = opts.errorlog ?? '-';
    this.fd = this.open();
  }

  private open(): number {
    if (this.path === '-') return 2;
    return fs.openSync(this.path, 'a');
  }

  /** USR1: reopen the log file (logrotate). */
  reopen(): void {
    if (this.path === '-') return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }

  /** closes the log file (not stderr) */
  close(): void {
    if (this.fd !== 2) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = 2;
    }
  }

  setLevel(level: LevelName): void {
    this.level = LEVELS[level];
  }

  isEnabled(level: LevelName): boolean {
    return LEVELS[level] >= this.level;
  }

  log(level: LevelName, msg: string): void {
    if (LEVELS[level] < this.level) return;
    const line = `${logDate()} [${process.pid}] [${level.toUpperCase()}] ${msg}\n`;
    try {
      fs.writeSync(this.fd, line);
    } catch {
      /* a closed or full log must not take the server down */
    }
  }

  debug(msg: string): void {
    this.log('debug', msg);
  }
  info(msg: string): void {
    this.log('info', msg);
  }
  warning(msg: string): void {
    this.log('warning', msg);
  }
  error(msg: string): void {
    this.log('error', msg);
  }
  critical(msg: string): void {
    this.log('critical', msg);
  }
  exception(msg: string, err: unknown): void {
    const detail = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    this.log('error', `${msg}\n${detail}`);
  }

  /** wsgi.errors: a stream the application can write diagnostics to. */
  readonly errors = {
    write: (s: string | Uint8Array) => {
      try {
        if (typeof s === 'string') fs.writeSync(this.fd, s);
        else fs.writeSync(this.fd, s);
      } catch {
        /* ignore */
      }
    },
    writelines: (lines: Iterable<string>) => {
      for (const l of lines) this.errors.write(l);
    },
    flush: () => {},
  };
}
