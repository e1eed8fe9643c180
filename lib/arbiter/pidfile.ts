// The master's PID file, as Gunicorn's pidfile.Pidfile: written through a
// temporary file and renamed; refuses to start over a live process; removed
// on exit only if it still holds our pid.
import fs from 'node:fs';
import path from 'node:path';

export class Pidfile {
  private pid: number | null = null;

  constructor(public fname: string) {}

  create(pid: number): void {
    const old = this.validate();
    if (old !== null && old !== pid)
      throw new Error(`Already running on PID ${old} (or pid file '${this.fname}' is stale)`);
    this.pid = pid;
    const dir = path.dirname(path.resolve(this.fname));
    const tmp = path.join(dir, `.${path.basename(this.fname)}.${pid}.tmp`);
    fs.writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    fs.renameSync(tmp, this.fname);
  }

  rename(to: string): void {
    this.unlink();
    this.fname = to;
    if (this.pid !== null) this.create(this.pid);
  }

  unlink(): void {
    try {
      const n = Number(fs.readFileSync(this.fname, 'utf8').trim());
      if (n === this.pid) fs.unlinkSync(this.fname);
    } catch {
      /* gone already */
    }
  }

  /** the pid of a live process named in the file, or null */
  validate(): number | null {
    let n: number;
    try {
      n = Number(fs.readFileSync(this.fname, 'utf8').trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(n) || n <= 0) return null;
    try {
      process.kill(n, 0);
      return n;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? n : null;
    }
  }
}
