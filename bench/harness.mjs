// What bench/callgrind.mjs and bench/syscalls.mjs share: their options, starting a server of bench/servers on a
// port the kernel picks (the server is given port 0 and prints `listening <url>`: the port is read back from
// there, so two runs at once never collide), and the keep-alive load (8 connections, one request in flight on
// each, bounded in time).
import { spawn } from 'node:child_process';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `--name value` from the command line, or `dflt` */
export function option(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}

/** `--name` given on the command line */
export const flag = (name) => process.argv.slice(2).includes(`--${name}`);

/**
 * Starts `command args...` (the server's own arguments hold its port: pass 0) and waits for its `listening
 * <url>` line (stdout or stderr), at most `timeoutMs`. Resolves { child, port, log() }; throws (after killing
 * the server) when it exits first, does not start in time, or names no port.
 */
export async function startServer(command, args, { env = process.env, timeoutMs = 30_000, name = command } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const end = Date.now() + timeoutMs;
  while (!/listening/i.test(log) && child.exitCode === null && Date.now() < end) await sleep(100);
  const port = Number(/listening \w+:\/\/[^\s/]*:(\d+)/i.exec(log)?.[1] ?? 0);
  if (!port) {
    child.kill('SIGKILL');
    throw new Error(`${name} did not start (or named no port in its "listening" line):\n${log}`);
  }
  return { child, port, log: () => log };
}

/** stops a server started by startServer(): SIGTERM, and resolves once it exited */
export async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/**
 * `n` requests over 8 keep-alive connections, one in flight on each (`req`: the raw request; answers are read by
 * their Content-Length). `connect()` opens a connection (plain TCP to 127.0.0.1:port unless given, e.g. TLS,
 * with `connectEvent` its ready event). Rejects after `timeoutMs`.
 */
export function loadKeepAlive(
  n,
  { port, req, connect = () => net.connect(port, '127.0.0.1'), connectEvent = 'connect', timeoutMs = 60_000 },
) {
  const per = Math.ceil(n / 8);
  return Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise((resolve, reject) => {
          const s = connect();
          const timer = setTimeout(() => {
            s.destroy();
            reject(new Error(`load: ${timeoutMs / 1000} s passed`));
          }, timeoutMs);
          let left = per;
          let buf = '';
          s.on(connectEvent, () => s.write(req));
          s.on('data', (d) => {
            buf += d;
            for (;;) {
              const he = buf.indexOf('\r\n\r\n');
              if (he < 0) return;
              const m = /content-length: (\d+)/i.exec(buf.slice(0, he));
              const end = he + 4 + Number(m ? m[1] : 0);
              if (buf.length < end) return;
              buf = buf.slice(end);
              if (--left === 0) {
                clearTimeout(timer);
                s.destroy();
                resolve();
                return;
              }
              s.write(req);
            }
          });
          s.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
          });
        }),
    ),
  );
}
