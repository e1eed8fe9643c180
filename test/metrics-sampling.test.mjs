// Request durations sampled under load (lib/metrics/recorder.ts): counts stay
// exact, StatsD receives the sampled timers with their rate (|@1/w, to a real
// UDP listener), the Prometheus histogram's count stays exact. The recorder is
// driven with a clock the test sets, so "load" is a number of requests per
// simulated 100 ms.
import dgram from 'node:dgram';
import t from 'tap';

import { RequestRecorder, TICK_MS, TIMED_PER_TICK } from '../dist/metrics/recorder.js';
import { StatsdClient } from '../dist/metrics/statsd.js';
import { until } from './helpers/gts.mjs';

/**
 * A RequestRecorder on a clock the test sets (`clock.t`, ms), its StatsD client sending to a real UDP listener on
 * 127.0.0.1 (closed at the test's end): { rec, clock, statsd, lines() } (lines: every StatsD line received so far).
 */
async function recorderWithStatsd(t, prefix = '', tags = '') {
  const sock = dgram.createSocket('udp4');
  const got = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  const statsd = new StatsdClient(`127.0.0.1:${sock.address().port}`, prefix, tags);
  t.teardown(() => statsd.close());
  await statsd.ready;
  const clock = { t: 1000 };
  const rec = new RequestRecorder(statsd, true, () => clock.t);
  const lines = () => got.flatMap((d) => d.split('\n'));
  return { rec, clock, statsd, lines };
}

/** runs `n` requests through the recorder, `perTick` of them per simulated TICK_MS, each lasting `ms(i)` */
async function drive(rec, clock, n, perTick, ms) {
  let timed = 0;
  for (let i = 0; i < n; i++) {
    if (i % 256 === 0) await new Promise((r) => setTimeout(r, 1)); // the datagrams leave (a bounded send queue)
    const started = rec.begin();
    if (started >= 0) timed++;
    clock.t += ms(i);
    rec.record(i % 10 === 0 ? 'POST' : 'GET', i % 4 === 0 ? '404 Not Found' : '200 OK', started);
    clock.t += TICK_MS / perTick - ms(i);
  }
  return timed;
}

t.test('at a low rate every request is timed: one plain timer per request', async (t) => {
  const { rec, clock, statsd, lines } = await recorderWithStatsd(t);
  const timed = await drive(rec, clock, 200, TIMED_PER_TICK / 2, () => 2);
  t.equal(timed, 200, 'all timed');
  t.equal(rec.sampling, 1);
  statsd.flush();
  await until(() => lines().filter((l) => l.startsWith('gunicorn.request.duration:')).length >= 200, {
    timeoutMs: 5000,
  });
  const timers = lines().filter((l) => l.startsWith('gunicorn.request.duration:'));
  t.equal(timers.length, 200);
  t.ok(
    timers.every((l) => l === 'gunicorn.request.duration:2.000|ms'),
    'no sample rate',
  );
  const d = rec.take();
  t.equal(
    d.hist.reduce((a, b) => a + b, 0),
    200,
  );
  t.equal(d.hist[0], 200, '2 ms: the first bucket (5 ms)');
  t.ok(Math.abs(d.sum - 0.4) < 1e-9, 'sum of durations');
});

t.test('under load 1 in k is timed; counts and weights add up exactly', async (t) => {
  const { rec, clock, statsd, lines } = await recorderWithStatsd(t, 'shop', 'env:test');
  const N = 20000;
  const perTick = 1000; // 10,000 requests a second: k = 32 (32 * TIMED_PER_TICK >= 1000)
  // durations 0.05 ms (90 %) and 30 ms (10 %), in a fixed pattern
  const timed = await drive(rec, clock, N, perTick, (i) => (i % 10 === 9 ? 30 : 0.05));
  t.equal(rec.sampling, 32, 'k from the rate');
  t.ok(timed < N / 10, `${timed} of ${N} timed`);
  t.ok(timed > N / 64, 'but a fair sample');
  statsd.flush();
  const sum = (name) =>
    lines()
      .filter((l) => l.startsWith(`shop.${name}:`))
      .reduce((n, l) => n + Number(l.slice(l.indexOf(':') + 1, l.indexOf('|'))), 0);
  await until(() => sum('gunicorn.requests') >= N, { timeoutMs: 5000 });
  t.equal(sum('gunicorn.requests'), N, 'gunicorn.requests: every request');
  t.equal(sum('gunicorn.request.status.404'), N / 4, 'status counts: every request');
  t.equal(sum('gunicorn.request.status.200'), (3 * N) / 4);
  await until(() => lines().filter((l) => l.startsWith('shop.gunicorn.request.duration:')).length >= timed, {
    timeoutMs: 5000,
  });
  const timers = lines().filter((l) => l.startsWith('shop.gunicorn.request.duration:'));
  t.equal(timers.length, timed, 'one timer per timed request');
  t.ok(
    timers.every((l) => /^shop\.gunicorn\.request\.duration:\d+\.\d{3}\|ms(\|@0\.\d+)?\|#env:test$/.test(l)),
    'StatsD timer lines, sampled ones with their rate before the tags',
  );
  // what a StatsD server counts: each line 1/rate times
  const counted = timers.reduce((n, l) => {
    const m = /\|@([\d.]+)/.exec(l);
    return n + (m ? Math.round(1 / Number(m[1])) : 1);
  }, 0);
  t.ok(counted <= N && counted > N - 64, `timer count as StatsD sees it: ${counted} of ${N}`);
  const slow = timers.filter((l) => l.includes(':30.000|')).length;
  t.ok(slow > 0 && slow < timed, 'both durations sampled');
  const d = rec.take();
  const count = d.hist.reduce((a, b) => a + b, 0);
  t.equal(count, N, 'the histogram counts every request');
  t.equal(d.by['GET 2xx'] + d.by['GET 4xx'] + d.by['POST 2xx'] + d.by['POST 4xx'], N, 'request counts exact');
  // about 10 % took 30 ms: the 50 ms bucket (index 3) holds an estimate of them
  t.ok(d.hist[3] > N * 0.03 && d.hist[3] < N * 0.2, `the 30 ms estimate: ${d.hist[3]}`);
  t.equal(rec.take(), null, 'nothing more');
});

t.test('back to a low rate: every request timed again', async (t) => {
  const clock = { t: 1000 };
  const rec = new RequestRecorder(null, true, () => clock.t);
  await drive(rec, clock, 5000, 2000, () => 0.01);
  t.ok(rec.sampling > 1, 'sampling under load');
  const k = rec.sampling;
  // a quiet spell, then requests at a low rate: within 2k of them, every one is timed again
  clock.t += 5000;
  await drive(rec, clock, 2 * k, 4, () => 1);
  t.equal(rec.sampling, 1);
  const timed = await drive(rec, clock, 40, 4, () => 1);
  t.equal(timed, 40, 'all timed after the load');
  const d = rec.take();
  t.equal(
    d.hist.reduce((a, b) => a + b, 0),
    5000 + 2 * k + 40,
  );
});

t.test('StatsD counters are summed per flush from the recorder counts (no StatsD work per request)', async (t) => {
  const { rec, statsd, lines } = await recorderWithStatsd(t);
  // 3,000 untimed requests (a full batch of timers would be sent with the counters so far)
  const methods = ['GET', 'HEAD', 'PUT', 'PROPFIND'];
  const statuses = ['200 OK', '304 Not Modified', '503 Busy', 'xyz'];
  for (let i = 0; i < 3000; i++) rec.record(methods[i % 4], statuses[i % 4], -1);
  statsd.flush();
  await until(() => lines().some((l) => l.startsWith('gunicorn.requests:')), { timeoutMs: 5000 });
  const requests = lines().filter((l) => l.startsWith('gunicorn.requests:'));
  t.same(requests, ['gunicorn.requests:3000|c|@1.0'], 'one counter line for the batch, every request in it');
  const status = lines()
    .filter((l) => l.startsWith('gunicorn.request.status.'))
    .sort();
  t.same(
    status,
    [
      'gunicorn.request.status.200:750|c|@1.0',
      'gunicorn.request.status.304:750|c|@1.0',
      'gunicorn.request.status.503:750|c|@1.0',
    ],
    'status codes summed; a status without a code is not one',
  );
  const d = rec.take();
  t.same(
    d.by,
    {
      'GET 2xx': 750,
      'HEAD 3xx': 750,
      'PUT 5xx': 750,
      'other other': 750,
    },
    'Prometheus: by method and status class, from the same counts',
  );
  t.equal(rec.done, 3000);
  // the next flush sends only what came since
  rec.record('GET', '200 OK', -1);
  statsd.flush();
  await until(() => lines().filter((l) => l.startsWith('gunicorn.requests:')).length === 2, { timeoutMs: 5000 });
  t.same(
    lines().filter((l) => l.startsWith('gunicorn.requests:') || l.startsWith('gunicorn.request.status.200')),
    [
      'gunicorn.requests:3000|c|@1.0',
      'gunicorn.request.status.200:750|c|@1.0',
      'gunicorn.requests:1|c|@1.0',
      'gunicorn.request.status.200:1|c|@1.0',
    ],
  );
  t.same(rec.take().by, { 'GET 2xx': 1 });
});
