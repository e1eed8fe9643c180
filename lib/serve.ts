// serve(application, bind | options): a server in the calling process.
import { serveWorkers } from './app/serve-app.js';
import { servedApp } from './app/shape.js';
import { startNodeServer } from './workers/node-server.js';
import { createLogger, loadLoggerClass } from './logging/factory.js';
import { startLocalMetrics } from './metrics/local.js';
import { openListeners, unlinkListener, type OpenListener } from './listeners.js';
import type { Logger } from './logging/logger.js';
import { native } from './native.js';
import { resolveSettings, type Settings } from './config/settings.js';
import { checkTls, isTls, startServer, type ServerHandle } from './server.js';
import { AppShapeError, decideShape, type AppObject, type ShapeDecision } from './http/shape.js';
import type { NodeHandler } from './types.js';

export type { ServerHandle } from './server.js';

export type ServeOptions = Partial<Record<keyof Settings, unknown>> & { bind?: string | string[] };

/**
 * Serves `application` from this process: a function (environ, start_response),
 * or a fetch-style application (an object with a fetch method, or with
 * `worker_class: 'fetch'` a function (request) => Response).
 *
 *     const srv = await serve(app, '127.0.0.1:8000');
 *     await srv.close();
 *
 * Options take Gunicorn's setting names (keepalive, limit_request_line, ...).
 * With `workers: N > 1` this process becomes the arbiter (master) and the
 * entry script runs again in each worker, where serve() serves (see
 * lib/app/serve-app.ts).
 */
export function serve(application: AppObject, bindOrOptions?: string | string[] | ServeOptions): Promise<ServerHandle>;
/** A (req, res) app: an Express or Koa app, a Fastify instance, or a node:http listener with worker_class 'node'. */
export function serve(
  application: NodeHandler | object,
  bindOrOptions?: string | string[] | ServeOptions,
): Promise<ServerHandle>;
export async function serve(
  application: unknown,
  bindOrOptions: string | string[] | ServeOptions = {},
): Promise<ServerHandle> {
  const options: ServeOptions =
    typeof bindOrOptions === 'string' || Array.isArray(bindOrOptions) ? { bind: bindOrOptions } : { ...bindOrOptions };
  const cfg = resolveSettings(options);
  let shape: ShapeDecision;
  try {
    shape = decideShape(application, cfg.worker_class, 'serve()');
  } catch (e) {
    if (!(e instanceof AppShapeError)) throw e;
    throw new TypeError(
      `serve(application, bind): application must be a function (environ, start_response) or a fetch handler: ${e.message}`,
    );
  }
  // a (req, res) app: servedApp() (in serveNode) builds its handler, or says why it cannot (an AppImportError)
  const asNode = shape.kind === 'node';
  if (cfg.workers > 1) {
    // the pre-fork arbiter
    return serveWorkers(application as AppObject, options);
  }
  const tlsError = checkTls(cfg);
  if (tlsError !== null) throw new Error(tlsError);
  if (asNode) return serveNode(application, cfg);
  const log = await openLog(cfg);
  const listeners = await openAll(cfg);
  // StatsD / metrics_bind: null when both are off (then no per-request hook at all)
  let connections = () => 0;
  const metrics = await startLocalMetrics(cfg, log, () => connections());
  // the WSGI dispatcher calls the recorder itself (hooks.meter: no closure per request, an untimed request
  // is a counter decrement); the fetch-style one through `after`
  const recorder = metrics?.recorder;
  const hooks =
    recorder === undefined
      ? {}
      : shape.kind === 'fetch'
        ? {
            after: (env: { REQUEST_METHOD: string }, status: string, _sent: number, startedAt: number) =>
              recorder.record(env.REQUEST_METHOD, status, startedAt),
          }
        : { meter: recorder };
  const app = shape as Exclude<ShapeDecision, { kind: 'node' }>;
  log.info(`Application: ${app.how}`);
  const { server, closed } = startServer(app, cfg, listeners, log, { hooks });
  connections = () => server.connections();
  return serverHandle(cfg, listeners, server, closed, {
    // ours alone: stop new connections at the socket, answer what is queued, then close
    stop: () => {
      for (const l of listeners) if (l.owned && !cfg.reuse_port) native.listenerStop(l.fd);
    },
    after: async () => {
      await metrics?.close();
    },
  });
}

/**
 * serve() of a (req, res) app in this process (an Express, Koa or Fastify
 * app, or worker_class 'node'): node:http on the bound sockets, as a -k node
 * worker serves them (graceful close() included).
 */
async function serveNode(application: unknown, cfg: Settings): Promise<ServerHandle> {
  const served = await servedApp(application, 'node', 'serve()');
  if (served.kind !== 'node') throw new TypeError('serve(): not a (req, res) application');
  const log = await openLog(cfg);
  log.info(served.how);
  const listeners = await openAll(cfg);
  const server = startNodeServer(served.handler, cfg, listeners, log, { request: () => {} }, served.extras);
  return serverHandle(cfg, listeners, server, server.closed, {
    after: () => {
      for (const l of listeners) unlinkListener(l);
    },
  });
}

/** The logger of a server in this process: logger_class and its plugin. */
async function openLog(cfg: Settings): Promise<Logger> {
  const log = createLogger(cfg);
  log.plugin = await loadLoggerClass(cfg.logger_class, cfg);
  return log;
}

/** The bound sockets of a server in this process. */
function openAll(cfg: Settings): Promise<OpenListener[]> {
  return openListeners(cfg.bind, { backlog: cfg.backlog, reusePort: cfg.reuse_port, umask: cfg.umask });
}

/**
 * The handle serve() returns, for the native core's server and node:http's alike: the addresses (https:
 * URLs under TLS), and close(): graceful, then forced at graceful_timeout; `stop` runs first, `after`
 * once the server has closed.
 */
function serverHandle(
  cfg: Settings,
  listeners: OpenListener[],
  server: { connections(): number; close(graceful: boolean): void },
  closed: Promise<void>,
  on: { stop?: () => void; after: () => void | Promise<void> },
): ServerHandle {
  const tls = isTls(cfg);
  const addresses = listeners.map((l) =>
    tls && l.info.kind === 'tcp' ? { ...l.info, url: l.info.url.replace(/^http:/, 'https:') } : l.info,
  );
  let closing: Promise<void> | null = null;
  return {
    addresses,
    url: addresses[0]?.url ?? '',
    connections: () => server.connections(),
    close() {
      if (closing) return closing;
      on.stop?.();
      server.close(true);
      const timer = setTimeout(() => server.close(false), cfg.graceful_timeout * 1000);
      timer.unref();
      closing = closed.then(async () => {
        clearTimeout(timer);
        await on.after();
      });
      return closing;
    },
  };
}
