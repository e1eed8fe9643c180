// Runs the gunicorn-ts command (or an example script) as a real process for
// tests: collects its error log, waits for log lines, sends signals, and
// drives bounded load over loopback.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/gunicorn-ts.js');
export const APPS = path.join(ROOT, 'test/fixtures/apps');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `node <script> ...args`; returns a handle with the output so far and helpers. */
export function run(t, args, { script = BIN, env = {}, cwd = ROOT, prefix = [], node = process.execPath } = {}) {
  // prefix: a command that runs node, e.g. ['unshare', '--pid', '--fork', '--mount-proc'] (then `pid` is its pid)
  // node: another Node binary (the TypeScript test runs one that strips types)
  const argv = [...prefix, node, script, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: { ...process.env, TZ: 'UTC', GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '', PORT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const h = {
    child,
    pid: child.pid,
    stdout: '',
    stderr: '',
    exited: null,
    waiters: [],
    exit: null,
  };
  const poke = () => {
    for (const w of [...h.waiters]) w();
  };
  child.stdout.on('data', (d) => {
    h.stdout += d;
    poke();
  });
  child.stderr.on('data', (d) => {
    h.stderr += d;
    poke();
  });
  h.exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      h.exited = { code, signal };
      poke();
      resolve({ code, signal });
    }),
  );
  /** waits until `re` matches stderr (or stdout) `count` times; rejects after timeoutMs */
  h.waitFor = (re, { timeoutMs = 10000, count = 1, from = 'stderr' } = {}) =>
    new Promise((resolve, reject) => {
      const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
      const check = () => {
        const all = [...h[from].matchAll(g)];
        if (all.length >= count) {
          done();
          resolve(all[count - 1]);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${re} in:\n${h.stderr}`));
      }, timeoutMs);
      const w = () => {
        check();
      };
      const done = () => {
        clearTimeout(timer);
        h.waiters = h.waiters.filter((x) => x !== w);
      };
      if (!check()) h.waiters.push(w);
    });
  h.port = async () => Number((await h.waitFor(/Listening at: https?:\/\/127\.0\.0\.1:(\d+)/))[1]);
  h.kill = (sig) => {
    try {
      process.kill(child.pid, sig);
    } catch {
      /* gone */
    }
  };
  /** pids of live workers, from the log (booted minus exited) */
  h.workers = () => {
    const booted = [...h.stderr.matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]));
    const gone = new Set(
      [...h.stderr.matchAll(/Worker exiting \(pid: (\d+)\)|Worker \(pid:(\d+)\) (?:exited|was sent)/g)].map((m) =>
        Number(m[1] ?? m[2]),
      ),
    );
    return booted.filter((p) => !gone.has(p) && alive(p));
  };
  t.teardown(async () => {
    if (h.exited === null) {
      h.kill('SIGKILL');
      await h.exit;
    }
    for (const p of [...h.stderr.matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1]))) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  return h;
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One request to 127.0.0.1 (http, or https with `tls: true`; certificates not verified): node's request options
 * over the defaults (GET, timeout 10 s), then `body` (data, or a function given the request to write and end
 * it). Resolves {status, headers, body} or {error}.
 */
export function httpRequest({ tls = false, ...opts } = {}, body) {
  return new Promise((resolve) => {
    const req = (tls ? https : http).request(
      { host: '127.0.0.1', method: 'GET', rejectUnauthorized: false, timeout: 10000, ...opts },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', (e) => resolve({ error: e.code ?? e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.code ?? e.message }));
    if (typeof body === 'function') body(req);
    else req.end(body);
  });
}

/** One GET over a fresh connection (Connection: close). Resolves {status, body, headers} or {error}. */
export function get(port, p = '/', { timeoutMs = 5000, headers = {} } = {}) {
  return httpRequest({ port, path: p, agent: false, headers: { Connection: 'close', ...headers }, timeout: timeoutMs });
}

/**
 * Continuous load: `concurrency` loops of GETs until stop() is called (or
 * maxMs passes). Returns {stop(): Promise<{ok, failed, errors, bodies}>}.
 */
export function load(port, { concurrency = 4, maxMs = 20000, path: p = '/' } = {}) {
  let running = true;
  const stats = { ok: 0, failed: 0, errors: [], bodies: new Map() };
  const deadline = Date.now() + maxMs;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running && Date.now() < deadline) {
      const r = await get(port, p);
      if (r.status === 200) {
        stats.ok++;
        stats.bodies.set(r.body, (stats.bodies.get(r.body) ?? 0) + 1);
      } else {
        stats.failed++;
        if (stats.errors.length < 10) stats.errors.push(r.error ?? r.status);
      }
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

/**
 * The CLI with one worker on a free loopback port (`--graceful-timeout 5`, then `args`), once the worker has
 * booted: { g, port, pid } (pid: the worker's).
 */
export async function startOneWorker(t, args) {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', '--graceful-timeout', '5', ...args]);
  const port = await g.port();
  const m = await g.waitFor(/Booting worker with pid: (\d+)/);
  return { g, port, pid: Number(m[1]) };
}

/** Polls fn() until it returns truthy or timeoutMs passes; returns the last value. */
export async function until(fn, { timeoutMs = 10000, everyMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  let v;
  while (Date.now() < end) {
    v = await fn();
    if (v) return v;
    await sleep(everyMs);
  }
  return v;
}

/** pids whose parent is `ppid` (from /proc) */
export function children(ppid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * Runs the gunicorn-ts command with `args` to its exit, for a start that must
 * be refused: {status, stderr, errors (its "Error:" lines)}.
 */
export function runToExit(args, { timeoutMs = 20000 } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, GUNICORN_CMD_ARGS: '', WEB_CONCURRENCY: '' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stderr: r.stderr, errors: r.stderr.split('\n').filter((l) => l.startsWith('Error:')) };
}

/** Checks a refused start: exit 1, one error line matching `want`, no listener and no worker. */
export function checkRefused(t, name, args, want) {
  const r = runToExit(args);
  t.equal(r.status, 1, `${name}: exit 1`);
  t.equal(r.errors.length, 1, `${name}: one error line`);
  t.match(r.errors[0], want, name);
  t.notMatch(r.stderr, /Booting worker|Listening at/, `${name}: no listener, no worker`);
}

/**
 * Server-side TCP connections on `port` that the server has not closed yet (ESTABLISHED, including those
 * still in the accept queue, or CLOSE_WAIT), from /proc/net/tcp and tcp6: 0 once every worker has seen
 * every close.
 */
export function openServerSockets(port) {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, addr, , state] = line.trim().split(/\s+/);
      if (addr?.endsWith(local) && (state === '01' || state === '08')) n++;
    }
  }
  return n;
}
