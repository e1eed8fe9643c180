// StatsD client (Gunicorn's gunicorn/instrument/statsd.py names and types).
// Never blocks or slows a request: metrics are buffered and sent once per
// event-loop turn (setImmediate), counters summed over the turn, in datagrams
// of at most MAX_DATAGRAM bytes; when the socket's send queue is full the
// batch is dropped and counted (`dropped`). UDP only: statsd_host unix://PATH
// (a unix datagram socket) is refused, Node has no API for those yet.
import dgram from 'node:dgram';
import net from 'node:net';

const MAX_DATAGRAM = 1432;
const MAX_QUEUE = 64;

export class StatsdUnavailable extends Error {}

export function parseStatsdHost(addr: string): { host: string; port: number } {
  if (addr.startsWith('unix:')) {
    throw new StatsdUnavailable(`statsd_host ${addr}: unix datagram sockets are not available yet; StatsD is off (use HOST:PORT, UDP)`);
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(addr.trim());
  if (m === null) throw new Error(`statsd_host ${addr}: expected HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 8125 };
}

export class StatsdClient {
  dropped = 0;
  sent = 0;
  private readonly socket: dgram.Socket;
  private readonly prefix: string;
  private readonly tags: string;
  private counters = new Map<string, number>();
  private lines: string[] = [];
  private scheduled = false;
  private readonly flushNow = () => this.flush();

  constructor(addr: string, prefix = '', dogstatsdTags = '') {
    const { host, port } = parseStatsdHost(addr);
    this.prefix = prefix === '' || prefix.endsWith('.') ? prefix : `${prefix}.`;
    this.tags = dogstatsdTags === '' ? '' : `|#${dogstatsdTags}`;
    this.socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    // ECONNREFUSED from a connected UDP socket when nobody listens: metrics are best effort
    this.socket.on('error', () => { this.dropped++; });
    this.socket.connect(port, host);
    this.socket.unref();
  }

  increment(name: string, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    this.schedule();
  }

  decrement(name: string, value = 1): void {
    this.increment(name, -value);
  }

  gauge(name: string, value: number): void {
    this.lines.push(`${this.prefix}${name}:${value}|g${this.tags}`);
    this.schedule();
  }

  /** a timer, in milliseconds */
  timing(name: string, ms: number): void {
    this.lines.push(`${this.prefix}${name}:${ms}|ms${this.tags}`);
    this.schedule();
  }

  histogram(name: string, value: number): void {
    this.lines.push(`${this.prefix}${name}:${value}|h${this.tags}`);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  /** sends what this turn collected */
  flush(): void {
    this.scheduled = false;
    const lines = this.lines;
    this.lines = [];
    for (const [name, v] of this.counters) lines.push(`${this.prefix}${name}:${v}|c|@1.0${this.tags}`);
    this.counters.clear();
    let packet = '';
    for (const l of lines) {
      if (packet !== '' && packet.length + 1 + l.length > MAX_DATAGRAM) {
        this.send(packet);
        packet = '';
      }
      packet = packet === '' ? l : `${packet}\n${l}`;
    }
    if (packet !== '') this.send(packet);
  }

  private send(packet: string): void {
    if (this.socket.getSendQueueCount() > MAX_QUEUE) {
      this.dropped++;
      return;
    }
    try {
      this.socket.send(packet, (e) => {
        if (e) this.dropped++;
      });
      this.sent++;
    } catch {
      this.dropped++;  // not connected (yet) or closed
    }
  }

  close(): void {
    this.flush();
    try {
      this.socket.close();
    } catch {
      /* closed */
    }
  }
}
