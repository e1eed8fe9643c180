// Error log in Gunicorn's format: "[YYYY-MM-DD HH:MM:SS +0000] [PID] [LEVEL] message",
// or one JSON object per line (log_format = 'json'); also to syslog, counted
// in StatsD (gunicorn.log.*), or handed to a logger_class (lib/logging/factory.ts).
import fs from 'node:fs';

import { jsonErrorLine } from './json.js';
import type { SyslogSink } from './syslog.js';

/** A logger_class instance: Gunicorn's logger methods (all optional here). */
export interface LoggerPlugin {
  critical?(msg: string): void;
  error?(msg: string): void;
  warning?(msg: string): void;
  info?(msg: string): void;
  debug?(msg: string): void;
  exception?(msg: string, err: unknown): void;
  access?(resp: unknown, req: unknown, environ: unknown, requestTime: number): void;
  reopen_files?(): void;
  close?(): void;
}

/** what the logger counts in StatsD (gunicorn.log.critical|error|warning|exception) */
export interface LogCounter {
  increment(name: string, value?: number): void;
}

export const LEVELS = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 } as const;
export type LevelName = keyof typeof LEVELS;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function detail(err: unknown): string {
  return err instanceof Error ? (err.stack ?? String(err)) : String(err);
}

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

  private readonly json: boolean;
  /** log_format json / syslog / logger_class / StatsD counters: set by lib/logging/factory.ts and the process's operations */
  syslog: SyslogSink | null = null;
  plugin: LoggerPlugin | null = null;
  counter: LogCounter | null = null;

  constructor(opts: { errorlog?: string; loglevel?: LevelName; format?: 'text' | 'json' } = {}) {
    this.level = LEVELS[opts.loglevel ?? 'info'];
    this.path = opts.errorlog ?? '-';
    this.json = opts.format === 'json';
    this.fd = this.open();
  }

  private open(): number {
    if (this.path === '-') return 2;
    return fs.openSync(this.path, 'a');
  }

  /** USR1: reopen the log file (logrotate). */
  reopen(): void {
    try {
      this.plugin?.reopen_files?.();
    } catch {
      /* the plugin's own business */
    }
    if (this.path === '-') return;
    const old = this.fd;
    this.fd = this.open();
    fs.closeSync(old);
  }

  /** closes the log file (not stderr) */
  close(): void {
    this.syslog?.close();
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
    if (this.counter !== null && LEVELS[level] >= LEVELS.warning) this.counter.increment(`gunicorn.log.${level}`);
    this.write(level, msg);
  }

  private write(level: LevelName, msg: string, err?: unknown): void {
    if (this.plugin !== null) {
      try {
        if (err !== undefined && this.plugin.exception) this.plugin.exception(msg, err);
        else this.plugin[level]?.(err === undefined ? msg : `${msg}\n${detail(err)}`);
      } catch {
        /* a failing logger_class must not take the server down */
      }
      return;
    }
    const line = this.json
      ? jsonErrorLine(level, msg, process.pid, err === undefined ? undefined : detail(err))
      : `${logDate()} [${process.pid}] [${level.toUpperCase()}] ${err === undefined ? msg : `${msg}\n${detail(err)}`}\n`;
    try {
      fs.writeSync(this.fd, line);
    } catch {
      /* a closed or full log must not take the server down */
    }
    if (this.syslog !== null) this.syslog.send(level, 'error', err === undefined ? msg : `${msg}\n${detail(err)}`);
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
    if (LEVELS.error < this.level) return;
    this.counter?.increment('gunicorn.log.exception');
    this.write('error', msg, err);
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
