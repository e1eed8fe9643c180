// `gunicorn-ts ctl [--socket PATH] [--json] COMMAND [N]`: the control socket's
// client (Gunicorn's gunicornc). Prints a table, or the JSON answer with --json.
import net from 'node:net';

import { defaults } from '../config/settings.js';
import { COMMANDS, type ControlRequest } from './socket.js';

export const CTL_USAGE = `usage: gunicorn-ts ctl [--socket PATH] [--json] COMMAND [N]

commands:
  status        master and workers: pid, age, requests, connections, memory, heartbeat
  config        the master's resolved settings
  reload        reload the configuration and replace the workers gracefully (HUP)
  add [N]       add N workers (TTIN), default 1
  remove [N]    remove N workers (TTOU), default 1
  reopen        reopen the log files (USR1)
  stop          graceful stop (TERM); 'stop --quick' for a quick one (INT)

--socket PATH   the control socket (default: the control_socket setting's default,
                $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl)
--json          print the answer as JSON
`;

/** sends one request, resolves with the master's answer */
export function request(
  file: string,
  req: ControlRequest,
  timeoutMs = 10000,
): Promise<{ ok: boolean; data?: unknown; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    let buf = '';
    s.setEncoding('utf8');
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${file}`));
    }, timeoutMs);
    s.on('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (d: string) => {
      buf += d;
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      const why =
        e.code === 'ENOENT'
          ? 'no such socket (is the master running with this control_socket?)'
          : e.code === 'EACCES'
            ? 'permission denied (only the owner of the socket may use it)'
            : e.code === 'ECONNREFUSED'
              ? 'nobody listens there (a stale socket)'
              : e.message;
      reject(new Error(`${file}: ${why}`));
    });
    s.on('end', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(buf) as { ok: boolean; data?: unknown; error?: string });
      } catch {
        reject(new Error(`${file}: not a control socket answer: ${JSON.stringify(buf.slice(0, 200))}`));
      }
    });
  });
}

const mib = (n: number | null) => (n === null ? '-' : `${(n / 1048576).toFixed(1)} MiB`);

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m ${sec}s` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n');
}

interface StatusData {
  master: { pid: number; uptime: number; workers: number; target: number; version: string };
  workers: Array<{
    pid: number;
    age: number;
    uptime: number;
    requests: number;
    connections: number;
    rss: number | null;
    heartbeat_age: number;
    booted: boolean;
  }>;
  /** the dirty pool (lib/arbiter/dirty.ts's DirtyStatus), when there is one */
  dirty?: {
    target: number;
    queued: number;
    workers: Array<{ pid: number; age: number; apps: string[]; booted: boolean; jobs: number; heartbeat_age: number }>;
  };
}

/** the human-readable form of an answer */
export function formatAnswer(command: string, data: unknown): string {
  if (command === 'status') {
    const s = data as StatusData;
    const head = `master ${s.master.pid}  gunicorn-ts ${s.master.version}  up ${duration(s.master.uptime)}  workers ${s.master.workers}/${s.master.target}`;
    const rows = [['PID', 'AGE', 'UP', 'REQUESTS', 'CONNS', 'RSS', 'HEARTBEAT']];
    for (const w of s.workers) {
      rows.push([
        String(w.pid),
        String(w.age),
        duration(w.uptime),
        String(w.requests),
        String(w.connections),
        mib(w.rss),
        w.booted ? `${w.heartbeat_age.toFixed(1)}s ago` : 'booting',
      ]);
    }
    if (s.dirty === undefined) return `${head}\n${table(rows)}`;
    const d = s.dirty;
    const dirtyRows = [['DIRTY PID', 'AGE', 'JOBS', 'HEARTBEAT', 'APPS']];
    for (const w of d.workers) {
      dirtyRows.push([
        String(w.pid),
        String(w.age),
        String(w.jobs),
        w.booted ? `${w.heartbeat_age.toFixed(1)}s ago` : 'booting',
        w.apps.join(', '),
      ]);
    }
    const dirtyHead = `dirty workers ${d.workers.length}/${d.target}  queued calls ${d.queued}`;
    return `${head}\n${table(rows)}\n\n${dirtyHead}\n${table(dirtyRows)}`;
  }
  if (command === 'config') {
    const c = data as Record<string, unknown>;
    const rows = Object.keys(c)
      .sort()
      .map((k) => [k, JSON.stringify(c[k])]);
    return table([['SETTING', 'VALUE'], ...rows]);
  }
  return Object.entries(data as Record<string, unknown>)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('\n');
}

/** the command; resolves with the exit status */
export async function runCtl(argv: readonly string[], out = process.stdout, err = process.stderr): Promise<number> {
  let file: string | null = null;
  let json = false;
  let quick = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--quick') quick = true;
    else if (a === '-h' || a === '--help') {
      out.write(CTL_USAGE);
      return 0;
    } else if (a === '--socket' || a === '-s') file = argv[++i] ?? null;
    else if (a.startsWith('--socket=')) file = a.slice(9);
    else rest.push(a);
  }
  const [command, count] = rest;
  if (command === undefined || !(COMMANDS as readonly string[]).includes(command) || rest.length > 2 || file === '') {
    err.write(CTL_USAGE);
    return 2;
  }
  const req: ControlRequest = { command };
  if (count !== undefined) req.count = Number(count);
  if (command === 'stop') req.graceful = !quick;
  let answer;
  try {
    answer = await request(file ?? defaults().control_socket, req);
  } catch (e) {
    err.write(`gunicorn-ts ctl: ${(e as Error).message}\n`);
    return 1;
  }
  if (!answer.ok) {
    if (json) out.write(`${JSON.stringify(answer)}\n`);
    err.write(`gunicorn-ts ctl: ${answer.error}\n`);
    return 1;
  }
  out.write(json ? `${JSON.stringify(answer.data, null, 2)}\n` : `${formatAnswer(command, answer.data)}\n`);
  return 0;
}
