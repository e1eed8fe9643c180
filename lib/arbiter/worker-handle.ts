// The master's record of one worker process (Gunicorn's Worker object as the
// arbiter sees it): the `worker` argument of pre_fork and child_exit.
import type { ChildProcess } from 'node:child_process';

import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';

export class WorkerHandle {
  pid = 0;
  child: ChildProcess | null = null;
  /** monotonic ms of the last heartbeat (spawn time until the first one) */
  lastBeat = performance.now();
  /** SIGABRT sent after a timeout; SIGKILL on the next tick */
  aborted = false;
  booted = false;
  /** SIGTERM/SIGQUIT sent: no longer counted in the pool */
  terminating = false;
  exitCode: number | null = null;
  /** slot in the master's accept-balancing page */
  slot = -1;
  exitSignal: NodeJS.Signals | null = null;

  constructor(
    readonly age: number,
    readonly ppid: number,
    readonly cfg: Config,
    readonly log: Logger,
  ) {}

  get alive(): boolean {
    return !this.terminating && this.exitCode === null && this.exitSignal === null;
  }

  toString(): string {
    return `<Worker ${this.pid}>`;
  }
}
