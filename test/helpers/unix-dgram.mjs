// A real unix datagram receiver (Node has none): /usr/bin/python3 binds an
// AF_UNIX SOCK_DGRAM socket at `path` and prints each datagram as one hex line.
import { spawn } from 'node:child_process';

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[2]))
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    print(s.recv(65536).hex(), flush=True)
`;

/**
 * Starts the receiver; resolves { got } once it is bound. `got` holds each datagram (latin1).
 * The receiver is killed at teardown. `rcvbuf` sets its SO_RCVBUF.
 */
export function unixDgramListener(t, path, { rcvbuf = 212992 } = {}) {
  const p = spawn('/usr/bin/python3', ['-c', RECEIVER, path, String(rcvbuf)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => p.kill('SIGKILL'));
  const got = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the unix datagram receiver did not start')), 10000);
    p.on('error', reject);
    p.stdout.setEncoding('latin1');
    p.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready') {
          clearTimeout(timer);
          resolve({ got, process: p });
        } else got.push(Buffer.from(line, 'hex').toString('latin1'));
      }
    });
  });
}
