// A unix datagram sender (StatsD to unix://PATH, syslog to /dev/log): Node has no
// API for AF_UNIX SOCK_DGRAM, so the addon owns one non-blocking socket and
// sends each datagram with sendto(2). Never blocks: a full receiver queue gives
// EAGAIN, which the caller counts as a drop.
import os from 'node:os';
import { native } from './native.js';

const { EAGAIN, EPROTOTYPE, EBADF } = os.constants.errno;
export { EAGAIN, EPROTOTYPE };

export class UnixDatagram {
  private fd: number;

  /** `path`: a filesystem path, or '@name' for Linux's abstract namespace */
  constructor(readonly path: string) {
    this.fd = native.unixDgramSocket();
  }

  /** bytes sent, or -errno (-EAGAIN: the receiver is full; -ECONNREFUSED/-ENOENT: nobody listens) */
  send(data: string | Buffer): number {
    if (this.fd < 0) return -EBADF;
    return native.unixDgramSend(this.fd, this.path, typeof data === 'string' ? Buffer.from(data) : data);
  }

  close(): void {
    if (this.fd >= 0) native.closeFd(this.fd);
    this.fd = -1;
  }
}
