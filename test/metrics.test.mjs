// Metrics with real receivers: StatsD to a UDP listener, Prometheus scraped
// and parsed strictly (test/helpers/prometheus.mjs), the backlog metric.
import dgram from 'node:dgram';
import http from 'node:http';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { APPS, get, run, sleep, until } from './helpers/gts.mjs';
import { exchange, request } from './helpers/client.mjs';
import { parsePrometheus, sample } from './helpers/prometheus.mjs';
import { unixDgramListener } from './helpers/unix-dgram.mjs';

const APP = ['--chdir', APPS, 'ops:application', '-b', '127.0.0.1:0', '--no-control-socket'];

async function udpListener(t) {
  const sock = dgram.createSocket('udp4');
  const got = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  return { port: sock.address().port, got };
}

/** writes n pipelined GETs on one connection; resolves the number of 200 responses read (30 s at most) */
function pipelined(port, n) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let seen = 0;
    let tail = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(seen);
    };
    const timer = setTimeout(done, 30000);
    s.setEncoding('latin1');
    s.on('data', (d) => {
      const text = tail + d;
      seen += text.split('HTTP/1.1 200 ').length - 1;
      // keep what could start a match cut by the read (12 bytes, less than one match), after the last match
      const last = text.lastIndexOf('HTTP/1.1 200 ');
      tail = text.slice(Math.max(last >= 0 ? last + 13 : 0, text.length - 12));
      if (seen >= n) done();
    });
    s.on('error', done);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
  });
}

function scrape(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
      })
      .on('error', reject);
  });
}

t.test("StatsD: Gunicorn's metrics to a UDP listener, prefixed and tagged, counts equal to the requests", async (t) => {
  const rx = await udpListener(t);
  const h = run(t, [
    ...APP,
    '-w',
    '2',
    '--statsd-host',
    `127.0.0.1:${rx.port}`,
    '--statsd-prefix',
    'shop',
    '--dogstatsd-tags',
    'env:test,app:ops',
  ]);
  const port = await h.port();
  await h.waitFor(/Booting worker/, { count: 2 });
  const N = 30;
  for (let i = 0; i < N; i++)
    t.equal((await get(port, i % 3 === 0 ? '/status/404' : '/')).status, i % 3 === 0 ? 404 : 200);
  // a request the parser refuses: a warning in the worker, counted as gunicorn.log.warning
  await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
  const lines = () => rx.got.flatMap((d) => d.split('\n'));
  const sum = (name, type) =>
    lines()
      .filter((l) => l.startsWith(`shop.${name}:`) && l.includes(`|${type}`))
      .reduce((n, l) => n + Number(l.slice(l.indexOf(':') + 1, l.indexOf('|'))), 0);
  await until(() => sum('gunicorn.requests', 'c') >= N && lines().some((l) => l.startsWith('shop.gunicorn.workers:')), {
    timeoutMs: 5000,
  });
  t.equal(sum('gunicorn.requests', 'c'), N, 'gunicorn.requests counts every request');
  t.equal(lines().filter((l) => l.startsWith('shop.gunicorn.request.duration:')).length, N, 'one timer per request');
  t.ok(
    lines()
      .filter((l) => l.startsWith('shop.gunicorn.request.duration:'))
      .every((l) => /:\d+(\.\d+)?\|ms\|#env:test,app:ops$/.test(l)),
    'timers in ms',
  );
  t.equal(sum('gunicorn.request.status.200', 'c'), N - N / 3);
  t.equal(sum('gunicorn.request.status.404', 'c'), N / 3);
  t.ok(
    lines().some((l) => /^shop\.gunicorn\.workers:2\|g\|#env:test,app:ops$/.test(l)),
    'gunicorn.workers gauge from the master',
  );
  await until(() => sum('gunicorn.log.warning', 'c') >= 1, { timeoutMs: 3000 });
  t.ok(sum('gunicorn.log.warning', 'c') >= 1, 'warnings are counted');
  t.ok(
    lines().every((l) => l.endsWith('|#env:test,app:ops')),
    'every line carries the DogStatsD tags',
  );
  t.ok(
    rx.got.every((d) => Buffer.byteLength(d) <= 1432),
    'datagrams stay small',
  );
  t.ok(rx.got.length < N * 3, `batched: ${rx.got.length} datagrams for ${N} requests`);
});

t.test(
  'StatsD to unix:///PATH (a datagram socket): counts equal to the requests; a stalled receiver never blocks',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-statsd-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sock = path.join(dir, 'statsd.sock');
    // a small receive buffer, so that a stopped receiver fills up within a few datagrams
    const rx = await unixDgramListener(t, sock, { rcvbuf: 4096 });
    const h = run(t, [...APP, '--statsd-host', `unix://${sock}`, '--statsd-prefix', 'u']);
    const port = await h.port();
    await h.waitFor(/Booting worker/);
    const lines = () => rx.got.flatMap((d) => d.split('\n'));
    const sum = (name) =>
      lines()
        .filter((l) => l.startsWith(`u.${name}:`) && l.includes('|c'))
        .reduce((n, l) => n + Number(l.slice(l.indexOf(':') + 1, l.indexOf('|'))), 0);
    const N = 20;
    for (let i = 0; i < N; i++) t.equal((await get(port, '/')).status, 200);
    await until(() => sum('gunicorn.requests') >= N && lines().some((l) => l.startsWith('u.gunicorn.workers:')), {
      timeoutMs: 5000,
    });
    t.equal(sum('gunicorn.requests'), N, 'gunicorn.requests over the unix socket');
    t.equal(sum('gunicorn.request.status.200'), N);
    t.ok(
      lines().some((l) => /^u\.gunicorn\.workers:1\|g$/.test(l)),
      'the master sends there too',
    );

    // the receiver stops reading: its queue fills, sends get EAGAIN and are dropped; requests go on
    rx.process.kill('SIGSTOP');
    // 20,000 pipelined requests: ~300 datagrams, more than a unix socket queues for a stopped reader
    const M = 20000;
    const answered = await pipelined(port, M);
    t.equal(answered, M, `${M} requests answered while the StatsD receiver was stopped`);
    rx.process.kill('SIGCONT');
    // what was queued before the receiver stopped now arrives; the rest was dropped
    let before = -1;
    await until(
      async () => {
        const now = sum('gunicorn.requests');
        const settled = now === before;
        before = now;
        await sleep(200);
        return settled;
      },
      { timeoutMs: 10000 },
    );
    t.ok(before < N + M, `datagrams were dropped while stopped (${before - N} of ${M} requests reported)`);
    for (let i = 0; i < N; i++) await get(port, '/');
    await until(() => sum('gunicorn.requests') > before, { timeoutMs: 5000 });
    t.pass('reporting resumes once the receiver reads again');
  },
);

t.test('Prometheus: the master answers /metrics on its own bind, the whole server aggregated', async (t) => {
  // --timeout 10 (heartbeats every second): on a loaded machine a worker may take seconds to boot (the timeout
  // covers the boot) or to send a heartbeat without being killed for it; /block/30000 below overruns it
  const h = run(t, [...APP, '-w', '2', '--metrics-bind', '127.0.0.1:0', '--max-requests', '10', '--timeout', '10']);
  const port = await h.port();
  const mport = Number((await h.waitFor(/Metrics at: http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  t.not(mport, port, 'a separate port');
  await h.waitFor(/Booting worker/, { count: 2, timeoutMs: 30000 });
  t.equal(
    (await get(port, '/metrics', { timeoutMs: 30000 })).body.startsWith('ok'), // the first: maybe before a worker is up
    true,
    'the application bind serves the application, not the metrics',
  );
  const sent = { GET2: 1, GET4: 0, POST2: 0, GET5: 0 };
  for (let i = 0; i < 25; i++) {
    t.equal((await get(port, '/')).status, 200);
    sent.GET2++;
  }
  for (let i = 0; i < 5; i++) {
    t.equal((await get(port, '/status/404')).status, 404);
    sent.GET4++;
  }
  for (let i = 0; i < 4; i++) {
    t.equal((await request(port, { method: 'POST', path: '/', body: 'x' })).status, 200);
    sent.POST2++;
  }
  t.equal((await get(port, '/status/503')).status, 503);
  sent.GET5++;
  // a crash loses what its worker counted since its last heartbeat: wait until the master has every request
  const total = Object.values(sent).reduce((a, b) => a + b, 0);
  const counted = async () =>
    sample(
      parsePrometheus((await scrape(mport)).body),
      'gunicorn_ts_request_duration_seconds',
      'gunicorn_ts_request_duration_seconds_count',
    ) === total;
  t.ok(await until(counted, { timeoutMs: 15000, everyMs: 200 }), 'the heartbeats brought every request in');
  t.equal((await get(port, '/kill')).error !== undefined, true, 'the worker died mid-request');
  let fam;
  await until(
    async () => {
      fam = parsePrometheus((await scrape(mport)).body);
      return (
        sample(fam, 'gunicorn_ts_request_duration_seconds', 'gunicorn_ts_request_duration_seconds_count') === total &&
        sample(fam, 'gunicorn_ts_worker_restarts_total', 'gunicorn_ts_worker_restarts_total', { reason: 'crash' }) ===
          1 &&
        sample(fam, 'gunicorn_ts_workers', 'gunicorn_ts_workers') === 2
      );
    },
    { timeoutMs: 8000, everyMs: 200 },
  );
  const res = await scrape(mport);
  t.equal(res.status, 200);
  t.match(res.type, /^text\/plain; version=0\.0\.4/);
  fam = parsePrometheus(res.body);
  const req = (method, status) =>
    sample(fam, 'gunicorn_ts_requests_total', 'gunicorn_ts_requests_total', { method, status });
  t.equal(req('GET', '2xx'), sent.GET2, 'GET 2xx');
  t.equal(req('GET', '4xx'), sent.GET4, 'GET 4xx');
  t.equal(req('POST', '2xx'), sent.POST2, 'POST 2xx');
  t.equal(req('GET', '5xx'), sent.GET5, 'GET 5xx');
  t.equal(
    sample(fam, 'gunicorn_ts_request_duration_seconds', 'gunicorn_ts_request_duration_seconds_count'),
    total,
    'histogram count = requests',
  );
  t.equal(fam.get('gunicorn_ts_request_duration_seconds').type, 'histogram');
  // 35 requests, 2 workers, max_requests 10 (+ jitter 0): at least one recycled on its own
  t.ok(
    sample(fam, 'gunicorn_ts_worker_restarts_total', 'gunicorn_ts_worker_restarts_total', { reason: 'max_requests' }) >=
      1,
    'a max_requests restart',
  );
  t.equal(
    sample(fam, 'gunicorn_ts_worker_restarts_total', 'gunicorn_ts_worker_restarts_total', { reason: 'crash' }),
    1,
    'the killed worker is a crash',
  );
  t.equal(
    sample(fam, 'gunicorn_ts_worker_restarts_total', 'gunicorn_ts_worker_restarts_total', { reason: 'timeout' }),
    0,
  );
  const conns = fam.get('gunicorn_ts_worker_connections').samples;
  t.equal(conns.length, 2, 'connections per worker');
  t.ok(
    fam.get('gunicorn_ts_worker_resident_memory_bytes').samples.every((s) => s.value > 10e6),
    'RSS per worker',
  );
  t.ok(
    fam.get('gunicorn_ts_worker_heartbeat_age_seconds').samples.every((s) => s.value >= 0 && s.value < 3),
    'heartbeat ages',
  );
  t.equal(sample(fam, 'gunicorn_ts_requests_in_flight', 'gunicorn_ts_requests_in_flight'), 0);
  t.equal(fam.get('gunicorn_ts_build_info').samples[0].value, 1);
  t.ok(fam.get('gunicorn_ts_build_info').samples[0].labels.llhttp, 'llhttp version label');
  t.equal(fam.get('gunicorn_ts_accept_queue_length'), undefined, 'no accept-queue gauge without enable_backlog_metric');
  // a worker killed by the timeout
  void get(port, '/block/30000', { timeoutMs: 35000 });
  await until(
    async () =>
      sample(
        parsePrometheus((await scrape(mport)).body),
        'gunicorn_ts_worker_restarts_total',
        'gunicorn_ts_worker_restarts_total',
        { reason: 'timeout' },
      ) === 1,
    { timeoutMs: 30000, everyMs: 250 },
  );
  t.equal(
    sample(
      parsePrometheus((await scrape(mport)).body),
      'gunicorn_ts_worker_restarts_total',
      'gunicorn_ts_worker_restarts_total',
      { reason: 'timeout' },
    ),
    1,
    'a timeout restart',
  );
  const other = await new Promise((resolve) =>
    http.get({ host: '127.0.0.1', port: mport, path: '/', agent: false }, (r) => {
      r.resume();
      resolve(r.statusCode);
    }),
  );
  t.equal(other, 404, 'only /metrics');
  h.kill('SIGTERM');
  t.equal((await h.exit).code, 0, 'graceful stop');
});

t.test('Prometheus: a worker replaced for max_worker_memory counts as a memory restart, not a crash', async (t) => {
  // every worker is over 1 MiB of RSS: the master replaces it once its replacement has booted, again and again
  const h = run(t, [...APP, '--metrics-bind', '127.0.0.1:0', '--max-worker-memory', '1M', '--timeout', '10']);
  const mport = Number((await h.waitFor(/Metrics at: http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  await h.waitFor(/over max_worker_memory 1\.0 MiB: replacing it/, { timeoutMs: 30000 });
  const restarts = async (reason) =>
    sample(
      parsePrometheus((await scrape(mport)).body),
      'gunicorn_ts_worker_restarts_total',
      'gunicorn_ts_worker_restarts_total',
      { reason },
    );
  t.ok(await until(async () => (await restarts('memory')) >= 1, { timeoutMs: 30000, everyMs: 250 }), 'memory');
  t.equal(await restarts('crash'), 0, 'no crash');
  t.equal(await restarts('max_requests'), 0, 'no max_requests');
  h.kill('SIGTERM');
  t.equal((await h.exit).code, 0, 'graceful stop');
});

t.test(
  'enable_backlog_metric: the kernel accept queue of the listener, while the only worker is blocked',
  async (t) => {
    const rx = await udpListener(t);
    const h = run(t, [
      ...APP,
      '--metrics-bind',
      '127.0.0.1:0',
      '--enable-backlog-metric',
      '--statsd-host',
      `127.0.0.1:${rx.port}`,
      '--timeout',
      '0',
    ]);
    const port = await h.port();
    const mport = Number((await h.waitFor(/Metrics at: http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
    await h.waitFor(/Booting worker/);
    await sleep(300);
    const before = parsePrometheus((await scrape(mport)).body);
    t.equal(
      sample(before, 'gunicorn_ts_accept_queue_length', 'gunicorn_ts_accept_queue_length', {
        listener: `http://127.0.0.1:${port}`,
      }),
      0,
      'empty queue',
    );
    void get(port, '/block/3000', { timeoutMs: 8000 });
    await sleep(300);
    const waiting = Array.from({ length: 5 }, () => net.connect(port, '127.0.0.1').on('error', () => {}));
    t.teardown(() => waiting.forEach((s) => s.destroy()));
    await sleep(500);
    const during = parsePrometheus((await scrape(mport)).body);
    t.equal(
      sample(during, 'gunicorn_ts_accept_queue_length', 'gunicorn_ts_accept_queue_length', {
        listener: `http://127.0.0.1:${port}`,
      }),
      5,
      'five connections wait in the accept queue',
    );
    await until(() => rx.got.some((d) => /gunicorn\.backlog:5\|h/.test(d)), { timeoutMs: 3000 });
    t.ok(
      rx.got.some((d) => /gunicorn\.backlog:5\|h/.test(d)),
      'gunicorn.backlog histogram in StatsD',
    );
  },
);
