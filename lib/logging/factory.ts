// Builds a process's loggers from the settings: the error log (text or JSON,
// syslog, logger_class) and the access log. Used by the arbiter, workers and
// serve().
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import type { Settings } from '../config/settings.js';
import { AccessLog } from './access.js';
import { Logger, type LoggerPlugin } from './logger.js';
import { parseSyslogAddress, SyslogSink, SyslogUnavailable } from './syslog.js';

type LogSettings = Pick<
  Settings,
  | 'errorlog'
  | 'loglevel'
  | 'log_format'
  | 'syslog'
  | 'syslog_addr'
  | 'syslog_prefix'
  | 'syslog_facility'
  | 'proc_name'
  | 'default_proc_name'
>;

/** the error log of this process */
export function createLogger(s: LogSettings): Logger {
  const log = new Logger({ errorlog: s.errorlog, loglevel: s.loglevel, format: s.log_format });
  if (s.syslog) {
    try {
      const prefix = s.syslog_prefix ?? (s.proc_name ?? s.default_proc_name).replace(/:/g, '.');
      log.syslog = new SyslogSink(parseSyslogAddress(s.syslog_addr), s.syslog_facility, prefix);
      log.syslog.onError = (m) => {
        const sink = log.syslog;
        log.syslog = null; // say it in the file, not to the failing destination
        log.warning(m);
        log.syslog = sink;
      };
    } catch (e) {
      log.warning(e instanceof SyslogUnavailable ? e.message : `syslog is off: ${(e as Error).message}`);
    }
  }
  return log;
}

/** the access log, or null when no access line goes anywhere (accesslog unset, no syslog, no logger_class access()) */
export function createAccessLog(
  s: Pick<Settings, 'accesslog' | 'access_log_format' | 'log_format' | 'disable_redirect_access_to_syslog'>,
  log: Logger,
): AccessLog | null {
  const syslog = log.syslog !== null && !s.disable_redirect_access_to_syslog ? log.syslog : null;
  const plugin = typeof log.plugin?.access === 'function' ? log.plugin : null;
  if (s.accesslog === null && syslog === null && plugin === null) return null;
  return new AccessLog(s.accesslog, s.access_log_format, { json: s.log_format === 'json', syslog, plugin });
}

export class LoggerClassError extends Error {}

/**
 * logger_class: 'PATH:ClassName' (a file relative to the working directory, or
 * a package), 'PATH' (its default export), or the class itself. The instance
 * is constructed with the resolved settings and replaces the built-in output.
 */
export async function loadLoggerClass(
  value: Settings['logger_class'],
  settings: Record<string, unknown>,
): Promise<LoggerPlugin | null> {
  if (value === null) return null;
  let Cls: unknown = value;
  if (typeof value === 'string') {
    const i = value.lastIndexOf(':');
    const hasName = i > 1; // "C:\..." is not a class name
    const spec = hasName ? value.slice(0, i) : value;
    const name = hasName ? value.slice(i + 1) : 'default';
    let url: string;
    try {
      url =
        spec.startsWith('.') || path.isAbsolute(spec)
          ? pathToFileURL(path.resolve(spec)).href
          : pathToFileURL(createRequire(path.join(process.cwd(), 'package.json')).resolve(spec)).href;
    } catch (e) {
      throw new LoggerClassError(`logger_class ${value}: cannot find ${spec}: ${(e as Error).message}`);
    }
    let mod: Record<string, unknown>;
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (e) {
      throw new LoggerClassError(`logger_class ${value}: cannot load ${spec}: ${(e as Error).message}`);
    }
    Cls = mod[name];
    if (Cls === undefined && name === 'default') Cls = (mod as { default?: unknown }).default;
  }
  if (typeof Cls !== 'function') throw new LoggerClassError(`logger_class ${String(value)}: not a class`);
  return new (Cls as new (cfg: Record<string, unknown>) => LoggerPlugin)(settings);
}
