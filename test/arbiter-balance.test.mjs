// Keep-alive load spread across workers: 64 connections opened at once must
// land 50 % +- 10 % on each of 2 workers (accept balancing, native/src/balance.h),
// and a worker that dies leaves no stale share behind.
import net from 'node:net';
import t from 'tap';

import { openServerSockets, run, until } from './helpers/gts.mjs';

async function openMany(port, n) {
  const socks = [];
  const pids = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          socks.push(s);
          let buf = '';
          s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
          s.on('data', (d) => {
            buf += d;
            const m = /"pid":(\d+)/.exec(buf);
            if (m) resolve(Number(m[1]));
          });
          s.on('error', reject);
        }),
    ),
  );
  const counts = new Map();
  for (const p of pids) counts.set(p, (counts.get(p) ?? 0) + 1);
  return { socks, counts };
}

/** Closes the connections, then waits until the workers have seen every close (their shares are back to 0). */
function closeAll(port, socks) {
  for (const s of socks) s.destroy();
  return until(() => openServerSockets(port) === 0, { timeoutMs: 20000, everyMs: 20 });
}

/**
 * Waits until each of `pids` takes connections: its boot line comes before its listener and its slot in the
 * shared balance page, and a worker not there yet lets the other take every connection.
 */
function allAccepting(port, pids) {
  return until(
    async () => {
      const { socks, counts } = await openMany(port, 8);
      await closeAll(port, socks);
      return pids.every((p) => counts.has(p));
    },
    { timeoutMs: 30000, everyMs: 100 },
  );
}

t.test('64 keep-alive connections spread evenly over 2 workers', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', '--keep-alive', '60', 'test.fixtures.apps.control']);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  await until(async () => g.workers().length === 2);
  t.ok(await allAccepting(port, g.workers()), 'both workers take connections');
  for (let round = 0; round < 3; round++) {
    const { socks, counts } = await openMany(port, 64);
    const shares = [...counts.values()];
    t.equal(shares.length, 2, `round ${round}: both workers got connections (${shares.join(' / ')})`);
    for (const c of shares)
      t.ok(
        c >= 26 && c <= 38,
        `round ${round}: ${c} of 64 connections (${((100 * c) / 64).toFixed(0)} %) is within 50 +- 10 %`,
      );
    t.ok(await closeAll(port, socks), `round ${round}: every connection closed in the workers`);
  }
  g.kill('SIGTERM');
  await g.exit;
});

t.test('a killed worker leaves no stale share: its replacement takes connections', async (t) => {
  const g = run(t, ['-w', '2', '-b', '127.0.0.1:0', '--keep-alive', '60', 'test.fixtures.apps.control']);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  await until(async () => g.workers().length === 2);
  const first = await openMany(port, 32);
  const busiest = [...first.counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  process.kill(busiest, 'SIGKILL');
  await g.waitFor(/Booting worker/, { count: 3 });
  t.ok(await closeAll(port, first.socks), 'the first connections are closed in the workers');
  await until(async () => g.workers().length === 2);
  t.ok(await allAccepting(port, g.workers()), 'the replacement and the other worker take connections');
  const { socks, counts } = await openMany(port, 64);
  const shares = [...counts.values()];
  t.equal(shares.length, 2, `both live workers got connections (${shares.join(' / ')})`);
  for (const c of shares) t.ok(c >= 26 && c <= 38, `${c} of 64 within 50 +- 10 %`);
  for (const s of socks) s.destroy();
  g.kill('SIGTERM');
  await g.exit;
});
