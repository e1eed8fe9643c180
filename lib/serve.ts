// serve(application, bind | options): a server in the calling process.
// (performance from perf_hooks: the global `performance` is a getter on globalThis, a slow global load per request)
import { performance } from 'node:perf_hooks';

import { serveWorkers } from './app/serve-app.js';
import { createLogger, loadLoggerClass } from './logging/factory.js';
import { startLocalMetrics } from './metrics/local.js';
import { openListeners } from './listeners.js';
import { native } from './native.js';
import { resolveSettings, type Settings } from './config/settings.js';
import { checkTls, isTls, startServer, type ServerHandle } from './server.js';
import type { Application } from './types.js';

export type { ServerHandle } from './server.js';

export type ServeOptions = Partial<Record<keyof Settings, unknown>> & { bind?: string | string[] };

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
export async function serve(
  application: Application,
  bindOrOptions: string | string[] | ServeOptions = {},
): Promise<ServerHandle> {
  if (typeof application !== 'function') {
    throw new TypeError('serve(application, bind): application must be a function (environ, start_response)');
  }
  const options: ServeOptions =
    typeof bindOrOptions === 'string' || Array.isArray(bindOrOptions) ? { bind: bindOrOptions } : { ...bindOrOptions };
  const cfg = resolveSettings(options);
  if (cfg.workers > 1) {
    // the pre-fork arbiter
    return serveWorkers(application, options);
  }
  const tlsError = checkTls(cfg);
  if (tlsError !== null) throw new Error(tlsError);
  const log = createLogger(cfg);
  log.plugin = await loadLoggerClass(cfg.logger_class, cfg);
  const listeners = await openListeners(cfg.bind, {
    backlog: cfg.backlog,
    reusePort: cfg.reuse_port,
    umask: cfg.umask,
  });
  // StatsD / metrics_bind: null when both are off (then no per-request hook at all)
  let connections = () => 0;
  const metrics = await startLocalMetrics(cfg, log, () => connections());
  const hooks =
    metrics === null
      ? {}
      : {
          after: (env: { REQUEST_METHOD: string }, status: string, _sent: number, startedAt: number) =>
            metrics.recorder.record(env.REQUEST_METHOD, status, (performance.now() - startedAt) / 1000),
        };
  const { server, closed } = startServer(application, cfg, listeners, log, { hooks });
  connections = () => server.connections();
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
      // ours alone: stop new connections at the socket, answer what is queued, then close
      for (const l of listeners) if (l.owned && !cfg.reuse_port) native.listenerStop(l.fd);
      server.close(true);
      closing = new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.close(false), cfg.graceful_timeout * 1000);
        timer.unref();
        void closed.then(async () => {
          clearTimeout(timer);
          await metrics?.close();
          resolve();
        });
      });
      return closing;
    },
  };
}
