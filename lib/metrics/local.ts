// StatsD and Prometheus for serve() in one process (no master, no heartbeat):
// the recorder's counts are merged at each scrape.
import type http from 'node:http';
import { residentSetSize } from './rss.js';

import type { Settings } from '../config/settings.js';
import type { Logger } from '../logging/logger.js';
import { native } from '../native.js';
import { VERSION } from '../version.js';
import { MetricsRegistry, startMetricsServer } from './prometheus.js';
import { RequestRecorder } from './recorder.js';
import { StatsdClient, StatsdUnavailable } from './statsd.js';

export interface LocalMetrics {
  recorder: RequestRecorder;
  close(): Promise<void>;
}

/** null when statsd_host and metrics_bind are both unset (then nothing is recorded) */
export async function startLocalMetrics(
  cfg: Settings,
  log: Logger,
  connections: () => number,
): Promise<LocalMetrics | null> {
  let statsd: StatsdClient | null = null;
  if (cfg.statsd_host !== null) {
    try {
      statsd = new StatsdClient(cfg.statsd_host, cfg.statsd_prefix, cfg.dogstatsd_tags);
    } catch (e) {
      log.warning(e instanceof StatsdUnavailable ? e.message : `StatsD is off: ${(e as Error).message}`);
    }
  }
  log.counter = statsd;
  if (cfg.enable_backlog_metric)
    log.warning('enable_backlog_metric: not available in serve() with one process (the pre-fork master sends it)');
  if (statsd === null && cfg.metrics_bind === null) return null;
  const recorder = new RequestRecorder(statsd, cfg.metrics_bind !== null);
  let srv: http.Server | null = null;
  if (cfg.metrics_bind !== null) {
    const registry = new MetricsRegistry();
    const started = Date.now() / 1000;
    srv = await startMetricsServer(cfg.metrics_bind, () => {
      const d = recorder.take();
      if (d !== null) registry.merge(d);
      return registry.render({
        workers: [
          {
            pid: process.pid,
            age: 1,
            requests: recorder.done,
            done: recorder.done,
            connections: connections(),
            rss: residentSetSize() ?? 0,
            heartbeatAge: 0,
          },
        ],
        backlog: null,
        build: { version: VERSION, node: process.version, llhttp: native.llhttpVersion },
        startTime: started,
      });
    });
  }
  return {
    recorder,
    async close() {
      statsd?.close();
      if (srv !== null) {
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      }
    },
  };
}
