// The internal server module: one native server on already-open listener fds,
// with its Dispatcher, environ context and native options. serve() (one
// process) and a worker (lib/workers/worker.ts) both start theirs here.
import { Dispatcher, type RequestHooks } from './http/handler.js';
import type { EnvironContext, ListenerInfo } from './http/environ.js';
import type { Logger } from './logging/logger.js';
import { native, type NativeOptions, type NativeServer } from './native.js';
import { unlinkListener, type OpenListener } from './listeners.js';
import { NATIVE_SETTINGS, type NativeSettings, type Settings } from './config/settings.js';
import { SERVER_SOFTWARE } from './version.js';
import { FileWrapper } from './http/file-wrapper.js';
import type { Application } from './types.js';

export interface ServerHandle {
  /** the bound addresses (the real port when port 0 was asked for) */
  readonly addresses: readonly ListenerInfo[];
  /** first address as a URL, e.g. http://127.0.0.1:8000 */
  readonly url: string;
  /** currently open client connections (0 in the master of a worker pool: connections live in the workers) */
  connections(): number;
  /** graceful: stop accepting, finish in-flight requests (up to graceful_timeout), close idle connections */
  close(): Promise<void>;
}

/** The native core's options: the registry's `native: true` settings, each under its own name. */
export function nativeOptions(cfg: Settings, balance?: { fd: number; slot: number }): NativeOptions & NativeSettings {
  const o: Record<string, unknown> = { balance_fd: balance?.fd ?? -1, balance_slot: balance?.slot ?? 0 };
  for (const s of NATIVE_SETTINGS) o[s.name] = cfg[s.name];
  return o as unknown as NativeOptions & NativeSettings;
}

export function environContext(
  cfg: Settings,
  listeners: ListenerInfo[],
  log: Logger,
  multiprocess: boolean,
): EnvironContext {
  const secure = new Map<string, string>();
  for (const [k, v] of Object.entries(cfg.secure_scheme_headers)) {
    secure.set(`HTTP_${k.toUpperCase().replace(/-/g, '_')}`, v);
  }
  return {
    listeners,
    serverSoftware: SERVER_SOFTWARE,
    multiprocess,
    scriptName: process.env.SCRIPT_NAME ?? '',
    secureHeaders: secure.size > 0 ? secure : null,
    errors: log.errors,
    fileWrapper: FileWrapper,
  };
}

/** Runs the native server on already-open listener fds (used by serve() and by workers). */
export function startServer(
  app: Application,
  cfg: Settings,
  listeners: OpenListener[],
  log: Logger,
  opts: { multiprocess?: boolean; hooks?: RequestHooks; balance?: { fd: number; slot: number } } = {},
): { server: NativeServer; dispatcher: Dispatcher; closed: Promise<void> } {
  const infos = listeners.map((l) => l.info);
  const d = new Dispatcher(
    app,
    environContext(cfg, infos, log, opts.multiprocess ?? false),
    log,
    cfg.limit_request_fields,
    opts.hooks,
  );
  const server = new native.NativeServer(nativeOptions(cfg, opts.balance), d.callbacks(), d.meta);
  d.native = server;
  const closed = new Promise<void>((resolve) => {
    d.onClosed = () => {
      for (const l of listeners) unlinkListener(l);
      resolve();
    };
  });
  for (const l of listeners) server.addListener(l.fd, l.info.kind === 'unix', cfg.backlog);
  return { server, dispatcher: d, closed };
}
