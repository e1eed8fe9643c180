// serve(application, bind | options): a server in the calling process.
import { Dispatcher, type RequestHooks } from './http/handler.js';
import type { EnvironContext, ListenerInfo } from './http/environ.js';
import { Logger } from './logging/logger.js';
import { native, type NativeOptions, type NativeServer } from './native.js';
import { openListeners, unlinkListener, type OpenListener } from './listeners.js';
import { NATIVE_SETTINGS, resolveSettings, type Settings } from './config/settings.js';
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

export type ServeOptions = Partial<Record<keyof Settings, unknown>> & { bind?: string | string[] };

/** The native core's options: the registry's `native: true` settings, each under its own name. */
export function nativeOptions(cfg: Settings, balance?: { fd: number; slot: number }): NativeOptions {
  const o: Record<string, unknown> = { balance_fd: balance?.fd ?? -1, balance_slot: balance?.slot ?? 0 };
  for (const s of NATIVE_SETTINGS) o[s.name] = cfg[s.name];
  return o as unknown as NativeOptions;
}

export function environContext(cfg: Settings, listeners: ListenerInfo[], log: Logger, multiprocess: boolean): EnvironContext {
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
  const d = new Dispatcher(app, environContext(cfg, infos, log, opts.multiprocess ?? false), log, cfg.limit_request_fields, opts.hooks);
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

/**
 * Serves `application` from this process.
 *
 *     const srv = await serve(app, '127.0.0.1:8000');
 *     await srv.close();
 *
 * Options take Gunicorn's setting names (keepalive, limit_request_line, ...).
 * With `workers: N > 1` this process becomes the arbiter (master) and the
 * entry script runs again in each worker, where serve() serves (see
 * lib/app/serve-app.ts).
 */
export async function serve(application: Application, bindOrOptions: string | string[] | ServeOptions = {}): Promise<ServerHandle> {
  if (typeof application !== 'function') {
    throw new TypeError('serve(application, bind): application must be a function (environ, start_response)');
  }
  const options: ServeOptions = typeof bindOrOptions === 'string' || Array.isArray(bindOrOptions)
    ? { bind: bindOrOptions }
    : { ...bindOrOptions };
  const cfg = resolveSettings(options as Record<string, unknown>);
  if (cfg.workers > 1) {
    // the pre-fork arbiter; loaded lazily (it imports this module)
    const { serveWorkers } = await import('./app/serve-app.js');
    return serveWorkers(application, options as Record<string, unknown>);
  }
  const log = new Logger({ errorlog: cfg.errorlog, loglevel: cfg.loglevel });
  const listeners = await openListeners(cfg.bind, { backlog: cfg.backlog, reusePort: cfg.reuse_port, umask: cfg.umask });
  const { server, closed } = startServer(application, cfg, listeners, log);
  const addresses = listeners.map((l) => l.info);
  let closing: Promise<void> | null = null;
  return {
    addresses,
    url: addresses[0]?.url ?? '',
    connections: () => server.connections(),
    close() {
      if (closing) return closing;
      server.close(true);
      closing = new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.close(false), cfg.graceful_timeout * 1000);
        timer.unref();
        void closed.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
