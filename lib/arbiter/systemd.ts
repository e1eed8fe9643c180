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

/** CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC (libuv's hrtime is CLOCK_MONOTONIC). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * How often to send WATCHDOG=1: half of $WATCHDOG_USEC (systemd's advice), when
 * it is set for this process ($WATCHDOG_PID unset or this pid); else null.
 */
export function watchdogIntervalMs(): number | null {
  const usec = Number(process.env.WATCHDOG_USEC ?? 0);
  const pid = process.env.WATCHDOG_PID;
  if (!Number.isFinite(usec) || usec <= 0 || !process.env.NOTIFY_SOCKET) return null;
  if (pid !== undefined && pid !== '' && Number(pid) !== process.pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}
