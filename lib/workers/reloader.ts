// --reload: runs inside each worker, as Gunicorn's reloader does. Watches the
// application's source files (every .js/.mjs/.cjs/.ts/.json under --chdir,
// node_modules and dot-directories excluded) plus reload_extra_files (a '*'
// in the last path segment is re-expanded on each pass). On a change the
// worker exits gracefully and the master starts a fresh one.
import fs from 'node:fs';
import path from 'node:path';

import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';

const SOURCE = /\.(?:[cm]?js|[cm]?ts|json)$/;
const MAX_FILES = 10000;

function walk(dir: string, out: string[]): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (out.length >= MAX_FILES) return;
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && SOURCE.test(e.name)) out.push(p);
  }
}

function expand(pattern: string, base: string): string[] {
  const abs = path.resolve(base, pattern);
  const name = path.basename(abs);
  if (!name.includes('*')) return [abs];
  const re = new RegExp(
    `^${name
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  try {
    return fs
      .readdirSync(path.dirname(abs))
      .filter((f) => re.test(f))
      .map((f) => path.join(path.dirname(abs), f));
  } catch {
    return [];
  }
}

export class Reloader {
  private readonly mtimes = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private watcher: fs.FSWatcher | null = null;

  constructor(
    private readonly cfg: Config,
    private readonly log: Logger,
    private readonly onChange: (file: string) => void,
  ) {}

  private files(): string[] {
    const out: string[] = [];
    walk(this.cfg.get('chdir'), out);
    for (const p of this.cfg.get('reload_extra_files')) out.push(...expand(p, this.cfg.get('chdir')));
    return out;
  }

  /** one poll pass: the first sighting of a file only records its mtime */
  check(): void {
    for (const f of this.files()) {
      let m: number;
      try {
        m = fs.statSync(f).mtimeMs;
      } catch {
        continue;
      }
      const old = this.mtimes.get(f);
      this.mtimes.set(f, m);
      if (old !== undefined && old !== m) {
        this.stop();
        this.onChange(f);
        return;
      }
    }
  }

  start(): void {
    if (this.cfg.get('reload_engine') === 'inotify') {
      const dir = this.cfg.get('chdir');
      this.watcher = fs.watch(dir, { recursive: true }, (_ev, name) => {
        if (name && SOURCE.test(name) && !name.split(path.sep).some((s) => s === 'node_modules' || s.startsWith('.'))) {
          this.stop();
          this.onChange(path.join(dir, name));
        }
      });
      this.watcher.unref();
    }
    this.check();
    this.timer = setInterval(() => this.check(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}
