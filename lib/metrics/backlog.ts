// The kernel's accept queue length of a listening TCP socket (gunicorn.backlog,
// enable_backlog_metric). Gunicorn reads tcpi_unacked from TCP_INFO; for a
// listener the kernel reports the same counter (sk_ack_backlog) as the
// rx_queue column of its /proc/net/tcp{,6} line, found by the socket's inode
// (/proc/self/fd/FD -> socket:[INODE]). Linux only; unix-socket listeners have
// no such counter. No native code: native/ does not offer TCP_INFO yet.
import fs from 'node:fs';

export interface BacklogProvider {
  /** listener label -> connections waiting in the accept queue */
  read(): Map<string, number>;
}

const LISTEN = '0A';

/** null (with the reason) when the kernel counter cannot be read for any of these listeners */
export function procBacklogProvider(
  listeners: ReadonlyArray<{ fd: number; label: string; tcp: boolean }>,
): BacklogProvider | string {
  if (process.platform !== 'linux')
    return 'enable_backlog_metric: not available on this platform (reads /proc/net/tcp, Linux only)';
  const tcp = listeners.filter((l) => l.tcp);
  if (tcp.length === 0) return 'enable_backlog_metric: no TCP listener (unix sockets have no accept-queue counter)';
  const inodes = new Map<string, string>();
  for (const l of tcp) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${l.fd}`));
      if (m) inodes.set(m[1]!, l.label);
    } catch {
      /* no /proc */
    }
  }
  if (inodes.size === 0) return 'enable_backlog_metric: not available (/proc/self/fd is not readable)';
  return {
    read() {
      const out = new Map<string, number>();
      for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
        let text: string;
        try {
          text = fs.readFileSync(file, 'latin1');
        } catch {
          continue;
        }
        for (const line of text.split('\n')) {
          const f = line.trim().split(/\s+/);
          // sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
          if (f.length < 10 || f[3] !== LISTEN) continue;
          const label = inodes.get(f[9]!);
          if (label === undefined) continue;
          out.set(label, parseInt(f[4]!.split(':')[1]!, 16));
        }
      }
      return out;
    },
  };
}
