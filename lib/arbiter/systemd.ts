// systemd socket activation and readiness, as Gunicorn's systemd.py.
import { native } from '../native.js';

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
 * sd_notify(state) when $NOTIFY_SOCKET is set: one AF_UNIX datagram sent by
 * this (the main) process, so the default NotifyAccess=main works. Returns what
 * happened, for the debug log.
 */
export function sdNotify(state: string): string {
  if (!process.env.NOTIFY_SOCKET) return 'no NOTIFY_SOCKET';
  try {
    return native.sdNotify(state) === 1 ? 'sent' : 'no NOTIFY_SOCKET';
  } catch (e) {
    return `sd_notify failed: ${(e as Error).message}`;
  }
}
