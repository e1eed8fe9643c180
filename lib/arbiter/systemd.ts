// systemd socket activation and readiness, as Gunicorn's systemd.py.
import { spawnSync } from 'node:child_process';

export const SD_LISTEN_FDS_START = 3;

/** LISTEN_FDS when LISTEN_PID is this process (then both are removed from the environment). */
export function listenFds(unsetEnvironment = true): number {
  const fds = Number(process.env.LISTEN_FDS ?? 0);
  const pid = Number(process.env.LISTEN_PID ?? 0);
  if (pid !== process.pid || !Number.isInteger(fds) || fds <= 0) return 0;
  if (unsetEnvironment) {
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
  }
  return fds;
}

/**
 * sd_notify(state) when $NOTIFY_SOCKET is set. Node cannot send AF_UNIX
 * datagrams, so this runs `systemd-notify --pid=<master>` (the unit needs
 * NotifyAccess=all). Returns what happened, for the debug log.
 */
export function sdNotify(state: string, pid = process.pid): string {
  if (!process.env.NOTIFY_SOCKET) return 'no NOTIFY_SOCKET';
  const r = spawnSync('systemd-notify', [`--pid=${pid}`, ...state.split('\n')], { stdio: 'ignore', timeout: 5000 });
  if (r.error) return `systemd-notify failed: ${r.error.message}`;
  return r.status === 0 ? 'sent' : `systemd-notify exited with ${r.status}`;
}
