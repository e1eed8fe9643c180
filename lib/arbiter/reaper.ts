// PID 1 of a container inherits every orphan in its PID namespace and must wait() for them, or they stay
// zombies (an app whose child leaves a grandchild behind). Gunicorn gets this from its waitpid(-1) loop;
// libuv waits only for the children it spawned, so the master reaps the rest by pid, leaving libuv's own
// children (every ChildProcess still running, workers included) to libuv.
import type { ChildProcess } from 'node:child_process';

import type { Logger } from '../logging/logger.js';
import { native } from '../native.js';

/** Whether this process inherits orphans: PID 1 of its namespace (a container's init). */
export const inheritsOrphans = (): boolean => process.pid === 1;

/** Children libuv is waiting for: every ChildProcess handle that is still open. */
function libuvChildren(): number[] {
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof getHandles !== 'function') return [];
  const pids: number[] = [];
  for (const h of getHandles.call(process)) {
    const pid = (h as Partial<ChildProcess>).pid;
    if (typeof pid === 'number' && typeof (h as Partial<ChildProcess>).kill === 'function') pids.push(pid);
  }
  return pids;
}

/** Reaps exited orphans; `known` are pids the arbiter tracks (workers, a re-exec'd master). */
export function reapOrphans(known: Iterable<number>, log: Logger): number {
  const reaped = native.reapOrphans([...new Set([...known, ...libuvChildren()])]);
  for (const pid of reaped) log.debug(`Reaped orphan process (pid: ${pid})`);
  return reaped.length;
}
