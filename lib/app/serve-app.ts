// serve(application, {workers: N > 1}): the same arbiter as the command line,
// cluster-style. In the master, serve() starts the arbiter and resolves once
// the listeners are bound; each worker runs the entry script again, and its
// serve() call starts serving instead of becoming another master.
import type { ListenerInfo } from '../http/environ.js';
import type { ServerHandle } from '../server.js';
import type { AppObject as Handler } from '../http/shape.js';
import { BaseApplication } from './base.js';

export class ServeApplication extends BaseApplication {
  constructor(
    private readonly handler: Handler,
    private readonly options: Record<string, unknown>,
  ) {
    super();
  }

  override loadConfig(): void {
    for (const [k, v] of Object.entries(this.options)) if (v !== undefined) this.cfg.set(k, v);
  }

  override load(): Handler {
    return this.handler;
  }
}

export async function serveWorkers(application: Handler, options: Record<string, unknown>): Promise<ServerHandle> {
  const r = await new ServeApplication(application, options).startArbiter();
  if ('worker' in r) {
    const w = r.worker;
    const addresses: ListenerInfo[] = w.sockets.map((s) => s.info);
    return {
      addresses,
      url: addresses[0]?.url ?? '',
      connections: () => 0,
      close: () => new Promise<void>(() => w.stop(true)),
    };
  }
  const { arbiter, done } = r;
  const failed = done.then((status) => {
    throw new Error(`serve(): the arbiter stopped with status ${status} before it was ready`);
  });
  await Promise.race([arbiter.ready, failed]);
  failed.catch(() => {});
  void done.then((status) => {
    if (status !== 0) process.exitCode = status;
  });
  const addresses = arbiter.LISTENERS.map((l) => l.info);
  let closing: Promise<void> | null = null;
  return {
    addresses,
    url: addresses[0]?.url ?? '',
    connections: () => 0,
    close() {
      if (closing === null) {
        arbiter.shutdown(true);
        closing = done.then(() => {});
      }
      return closing;
    },
  };
}
