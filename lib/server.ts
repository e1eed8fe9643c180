// The internal server module: one native server on already-open listener fds,
// with its Dispatcher, environ context and native options. serve() (one
// process) and a worker (lib/workers/worker.ts) both start theirs here.
import { Dispatcher, type RequestHooks } from './http/handler.js';
import type { EnvironContext, ListenerInfo } from './http/environ.js';
import type { Logger } from './logging/logger.js';
import { native, type NativeServer } from './native.js';
import { unlinkListener, type OpenListener } from './listeners.js';
import type { Settings } from './config/settings.js';
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

/** The native core's options, derived from the settings registry. */
export function nativeOptions(cfg: Settings, balance?: { fd: number; slot: number }): Record<string, unknown> {
  return {
    balance_fd: balance?.fd ?? -1,
    balance_slot: balance?.slot ?? 0,
    limit_request_line: cfg.limit_request_line,
    limit_request_fields: cfg.limit_request_fields,
    limit_request_field_size: cfg.limit_request_field_size,
    limit_request_body: cfg.limit_request_body,
    permit_obsolete_folding: cfg.permit_obsolete_folding,
    strip_header_spaces: cfg.strip_header_spaces,
    permit_unconventional_http_method: cfg.permit_unconventional_http_method,
    permit_unconventional_http_version: cfg.permit_unconventional_http_version,
    casefold_http_method: cfg.casefold_http_method,
    header_map: cfg.header_map,
    proxy_protocol: cfg.proxy_protocol,
    proxy_allow_ips: cfg.proxy_allow_ips.join(','),
    forwarded_allow_ips: cfg.forwarded_allow_ips.join(','),
    forwarder_headers: cfg.forwarder_headers.join(','),
    keepalive: cfg.keepalive,
    header_timeout: cfg.header_timeout,
    worker_connections: cfg.worker_connections,
  };
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
