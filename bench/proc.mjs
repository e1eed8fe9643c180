// Shared by the benchmark scripts: server CPU time from /proc and medians.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second (utime/stime in /proc/<pid>/stat count these). */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** [utime, stime] in ticks of a process and all its descendants (a master and its workers). */
export function cpuTicks(pid) {
  const total = [0, 0];
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    total[0] += Number(fields[11]);
    total[1] += Number(fields[12]);
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) {
        const [u, s] = cpuTicks(Number(k));
        total[0] += u;
        total[1] += s;
      }
    }
  } catch {
    /* exited */
  }
  return total;
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
