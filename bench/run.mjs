#!/usr/bin/env node
// Benchmark runner: gunicorn-ts vs node:http on the same application logic.
//
//   node bench/run.mjs                 full run, writes bench/RESULTS.md + bench/results.json
//   node bench/run.mjs --ci            short run (CI: hello, environ and the https row): fails if a server
//                                      errors or if gunicorn-ts costs more CPU per request than node:http on hello
// HTTPS (workloads https, https-close): gunicorn-ts with certfile/keyfile vs node:https, the same
// ECDSA P-256 certificate (bench/tls-cert.mjs), wrk over TLS.
// HTTP/2 (workloads h2c-hello, h2-hello, h2c-post4k): gunicorn-ts with http_protocols h2,h1 (h2c by prior
// knowledge; ALPN h2 over TLS) vs node:http2 (servers/node-http2.mjs), h2load instead of wrk (wrk has no
// HTTP/2): -c 16 -m 32 for hello, one connection with 100 concurrent streams for POST 4 KB. --ci runs a short
// h2c-hello row too and fails if gunicorn-ts costs more CPU per request than node:http2 there.
//   options: --rounds N --duration S --workloads hello,... --servers a,b --out DIR
//   node bench/run.mjs --servers 'node:http,gunicorn-ts CLI -k node -w 1' --workloads hello
//                                      -k node (opt-in) against node:http on the same (req, res) app
//
// Method: each single-process server is pinned to CPU 1 (taskset -c 1), wrk to CPU 0; runs of
// different servers are interleaved round by round; each run starts a fresh server, checks one
// response, warms up, then measures. Reported: req/s, p50/p99 latency, and requests per server
// CPU-second (server utime+stime from /proc during the measured run), which does not depend on
// wrk keeping up. Medians over rounds with min-max. Loopback only; every run is bounded in time.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CLK_TCK, cpuTicks, median } from './proc.mjs';
import { benchCert } from './tls-cert.mjs';

const here = import.meta.dirname;
const root = path.join(here, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const CI = args.includes('--ci');
const ROUNDS = Number(opt('rounds', CI ? 3 : 5));
const DURATION = Number(opt('duration', CI ? 2 : 5));
const WARMUP = 1; // wrk takes whole seconds
const CONNECTIONS = 64;
const OUT = opt('out', CI ? path.join(here, 'out') : here);
const PORT = 18300 + (process.pid % 1000);

// Each server: argv to start it (a fresh process per run), whether it is pinned
// to CPU 1 (single-process servers) or free to use both cores (multi-worker).
const cli = path.join(root, 'bin', 'gunicorn-ts.js');
const cliArgs = (port, wl, workers, extra = []) => [
  process.execPath,
  cli,
  '-w',
  String(workers),
  '-b',
  `127.0.0.1:${port}`,
  '--keep-alive',
  '300',
  '--worker-connections',
  '20000',
  '--error-logfile',
  '/dev/null',
  ...extra,
  `${path.join(here, 'servers', 'cli-apps.mjs')}:${wl.replaceAll('-', '_')}`,
];
const H2C_FLAGS = ['--http-protocols', 'h2,h1', '--http2-cleartext', 'prior-knowledge'];

// Each server: argv to start it (a fresh process per run), whether it is pinned
// to CPU 1 (single-process servers) or free to use both cores (multi-worker),
// and its comparison group (ratios are taken against the group's baseline).
export const SERVERS = {
  'node:http': {
    argv: (port, wl) => [process.execPath, path.join(here, 'servers/node-http.mjs'), port, wl],
    pin: true,
    group: 'single',
    baseline: true,
  },
  'gunicorn-ts serve()': {
    argv: (port, wl) => [process.execPath, path.join(here, 'servers/gunicorn-ts-serve.mjs'), port, wl],
    pin: true,
    group: 'single',
  },
  // StatsD (to a UDP sink process) and Prometheus on: what the operations features cost (opt-in: --servers names it)
  'gunicorn-ts serve() +ops': {
    argv: (port, wl) => [process.execPath, path.join(here, 'servers/gunicorn-ts-serve.mjs'), port, wl, '1'],
    pin: true,
    group: 'single',
    optIn: true,
    workloads: ['hello', 'hello-async'],
  },
  'gunicorn-ts CLI -w 1': { argv: (port, wl) => cliArgs(port, wl, 1), pin: true, group: 'single' },
  'node:cluster 2 workers': {
    argv: (port, wl) => [process.execPath, path.join(here, 'servers/node-cluster.mjs'), port, wl, '2'],
    pin: false,
    group: 'multi',
    baseline: true,
    workloads: ['hello'],
  },
  'gunicorn-ts CLI -w 2': {
    argv: (port, wl) => cliArgs(port, wl, 2),
    pin: false,
    group: 'multi',
    workloads: ['hello'],
  },
  // fetch-style applications on Hono's node:http adapter (the fetch-* and hono-* workloads only)
  'hono node-server': {
    argv: (port, wl) => [process.execPath, path.join(here, 'servers/hono-node-server.mjs'), port, wl],
    pin: true,
    group: 'single',
    workloads: ['fetch-hello', 'hono-hello'],
  },
  // -k node: the CLI's node worker class (node:http in a pre-forked worker) serving the node:http baseline's
  // own (req, res) application: what the arbiter costs on top of node:http. Opt-in: --servers names it.
  'gunicorn-ts CLI -k node -w 1': {
    argv: (port, wl) => [
      ...cliArgs(port, wl, 1).slice(0, -1),
      '-k',
      'node',
      `${path.join(here, 'servers', 'cli-apps.mjs')}:node_${wl.replaceAll('-', '_')}`,
    ],
    pin: true,
    group: 'single',
    optIn: true,
    workloads: ['hello', 'hello-async', 'environ', 'body2k', 'post4k', 'stream64k', 'close', 'pipelined'],
  },
  // HTTPS: the same servers with a certificate (BENCH_TLS_CERT/KEY); the hello application
  'node:https': {
    argv: (port) => [process.execPath, path.join(here, 'servers/node-http.mjs'), port, 'hello'],
    pin: true,
    group: 'tls',
    baseline: true,
    tls: true,
    workloads: ['https', 'https-close'],
  },
  'gunicorn-ts serve() TLS': {
    argv: (port) => [process.execPath, path.join(here, 'servers/gunicorn-ts-serve.mjs'), port, 'hello'],
    pin: true,
    group: 'tls',
    tls: true,
    workloads: ['https', 'https-close'],
  },
  // HTTP/2 (h2: true; the h2 workloads only). argv gets the workload's app name (WORKLOADS[w].app).
  'node:http2': {
    argv: (port, app) => [process.execPath, path.join(here, 'servers/node-http2.mjs'), port, app],
    pin: true,
    group: 'h2c',
    baseline: true,
    h2: true,
    workloads: ['h2c-hello', 'h2c-post4k'],
  },
  'gunicorn-ts serve() h2c': {
    argv: (port, app) => [process.execPath, path.join(here, 'servers/gunicorn-ts-serve.mjs'), port, app],
    env: { GTS_BENCH_H2: '1' },
    pin: true,
    group: 'h2c',
    h2: true,
    workloads: ['h2c-hello', 'h2c-post4k'],
  },
  'gunicorn-ts CLI -w 1 h2c': {
    argv: (port, app) => cliArgs(port, app, 1, H2C_FLAGS),
    pin: true,
    group: 'h2c',
    h2: true,
    notInCi: true,
    workloads: ['h2c-hello', 'h2c-post4k'],
  },
  'node:http2 TLS': {
    argv: (port, app) => [process.execPath, path.join(here, 'servers/node-http2.mjs'), port, app],
    pin: true,
    group: 'h2tls',
    baseline: true,
    tls: true,
    h2: true,
    workloads: ['h2-hello'],
  },
  'gunicorn-ts serve() h2 TLS': {
    argv: (port, app) => [process.execPath, path.join(here, 'servers/gunicorn-ts-serve.mjs'), port, app],
    env: { GTS_BENCH_H2: '1' },
    pin: true,
    group: 'h2tls',
    tls: true,
    h2: true,
    workloads: ['h2-hello'],
  },
};

const hello = (r) => r.status === 200 && r.body === 'Hello, World';
export const WORKLOADS = {
  hello: { desc: 'GET /, 12-byte body', path: '/', check: hello },
  'hello-async': { desc: 'hello as an async function', path: '/', check: hello },
  'hello-await': { desc: 'hello-async awaiting a settled promise (a cache hit) first', path: '/', check: hello },
  environ: {
    desc: 'the app reads method, path, query and 10 request headers, answers small JSON',
    path: '/echo/path?x=1&y=two',
    script: 'wrk/environ.lua',
    check: (r) => r.status === 200 && JSON.parse(r.body).path === '/echo/path',
  },
  body2k: { desc: 'GET, 2 KB body', path: '/', check: (r) => r.status === 200 && r.body.length === 2048 },
  post4k: {
    desc: 'POST with a 4 KB body the app reads',
    path: '/',
    script: 'wrk/post4k.lua',
    probe: { method: 'POST', body: 'p'.repeat(4096) },
    check: (r) => r.status === 200 && r.body === '4096',
  },
  stream64k: {
    desc: '64 KB response streamed from an async iterator (16 × 4 KB)',
    path: '/',
    check: (r) => r.status === 200 && r.body.length === 65536,
  },
  close: {
    desc: 'hello with Connection: close (a connection per request)',
    path: '/',
    script: 'wrk/close.lua',
    check: hello,
  },
  pipelined: {
    desc: 'hello, 16 pipelined requests per connection',
    path: '/',
    script: 'wrk/pipelined.lua',
    check: hello,
  },
  'fetch-hello': {
    desc: 'hello as a fetch-style app, `{ fetch: () => new Response(...) }` (node:http: its own hello)',
    path: '/',
    check: hello,
  },
  'hono-hello': {
    desc: "hello as a Hono app, app.get('/', (c) => c.text(...)) (node:http: its own hello)",
    path: '/',
    check: hello,
  },
  https: { desc: 'hello over HTTPS, keep-alive (TLS 1.3)', path: '/', tls: true, check: hello },
  'https-close': {
    desc: 'hello over a new HTTPS connection per request (Connection: close, full TLS 1.3 handshake, ECDSA P-256)',
    path: '/',
    script: 'wrk/close.lua',
    tls: true,
    check: hello,
  },
  // HTTP/2: h2load (-c connections, -m concurrent streams per connection)
  'h2c-hello': {
    desc: 'GET / over h2c (prior knowledge), h2load -c 16 -m 32',
    path: '/',
    app: 'hello',
    h2: ['-c', '16', '-m', '32'],
    check: hello,
  },
  'h2-hello': {
    desc: 'GET / over TLS 1.3 with ALPN h2, h2load -c 16 -m 32',
    path: '/',
    app: 'hello',
    tls: true,
    h2: ['-c', '16', '-m', '32'],
    check: hello,
  },
  'h2c-post4k': {
    desc: 'POST 4 KB the app reads, one h2c connection with 100 concurrent streams (h2load -c 1 -m 100 -d 4 KB)',
    path: '/',
    app: 'post4k',
    h2: ['-c', '1', '-m', '100'],
    post: 4096,
    probe: { method: 'POST', body: 'p'.repeat(4096) },
    check: (r) => r.status === 200 && r.body === '4096',
  },
};

const wanted = (list, all) => (list ? list.split(',').filter((x) => x in all) : Object.keys(all));
const serverNames = opt('servers')
  ? wanted(opt('servers'), SERVERS)
  : Object.keys(SERVERS).filter((s) => !SERVERS[s].optIn);
const workloadNames = wanted(opt('workloads'), WORKLOADS).filter(
  (w) => !CI || opt('workloads') || w === 'hello' || w === 'environ' || w === 'https' || w === 'h2c-hello',
);
const cert = workloadNames.some((w) => WORKLOADS[w].tls) ? benchCert() : null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function get(port, p, probe = {}, tls = false) {
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      { host: '127.0.0.1', port, path: p, agent: false, method: probe.method ?? 'GET', rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(probe.body);
  });
}

// one request over HTTP/2 (node:http2 client; h2c or TLS with ALPN h2)
function h2get(port, p, probe = {}, tls = false) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, { rejectUnauthorized: false });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('timeout'));
    }, 2000);
    session.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const req = session.request({ ':method': probe.method ?? 'GET', ':path': p });
    let body = '';
    let status = 0;
    req.setEncoding('latin1');
    req.on('response', (h) => {
      status = h[':status'];
    });
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, body });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    });
    req.end(probe.body);
  });
}

async function startServer(name, workload) {
  const s = SERVERS[name];
  const argv = s.argv(String(PORT), WORKLOADS[workload]?.app ?? workload);
  const env = { ...process.env, ...(s.tls ? cert.env : {}), ...(s.env ?? {}) };
  const child = s.pin
    ? spawn('taskset', ['-c', '1', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  // ready when the port answers (the CLI's master listens before its workers are up)
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${out.trim()}`);
    const ok = s.h2
      ? await h2get(PORT, '/', {}, s.tls).then(
          () => true,
          () => false,
        )
      : await new Promise((resolve) => {
          const r = (s.tls ? https : http).get(
            { host: '127.0.0.1', port: PORT, path: '/', agent: false, rejectUnauthorized: false },
            (res) => {
              res.resume();
              res.on('end', () => resolve(true));
            },
          );
          r.on('error', () => resolve(false));
          r.setTimeout(1000, () => {
            r.destroy();
            resolve(false);
          });
        });
    if (ok) break;
    if (i >= 100) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start: ${out.trim()}`);
    }
    await sleep(50);
  }
  // taskset execs node, so the child pid is the server's pid
  return { child, pid: child.pid, log: () => out };
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null) return;
  srv.child.kill('SIGTERM');
  for (let i = 0; i < 40 && srv.child.exitCode === null; i++) await sleep(50);
  if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
}

function wrk(url, seconds, script, pinned) {
  const a = [
    ...(pinned ? ['-c', '0'] : ['-c', '0-1']),
    'wrk',
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '2s',
  ];
  if (script) a.push('-s', path.join(here, script));
  a.push(url);
  const outText = execFileSync('taskset', a, { encoding: 'utf8', timeout: (seconds + 15) * 1000 });
  const num = (re) => {
    const m = re.exec(outText);
    return m ? Number(m[1]) : NaN;
  };
  const lat = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(outText);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 1e-3 : m[2] === 's' ? 1e3 : 1);
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(outText);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: lat(50),
    p99: lat(99),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
    socketErrors: errs ? errs.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
    text: outText,
  };
}

// h2load: HTTP/2 load (h2c by prior knowledge for http://, ALPN h2 for https://); -D seconds
let postFile = null;
function h2load(url, seconds, w, pinned) {
  const a = [...(pinned ? ['-c', '0'] : ['-c', '0-1']), 'h2load', '-t', '1', ...w.h2, '-D', String(seconds)];
  if (w.post) {
    if (!postFile) {
      postFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gts-bench-h2-')), 'post.bin');
      fs.writeFileSync(postFile, Buffer.alloc(w.post, 'p'));
      process.on('exit', () => fs.rmSync(path.dirname(postFile), { recursive: true, force: true }));
    }
    a.push('-d', postFile);
  }
  a.push(url);
  const outText = execFileSync('taskset', a, { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const m =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      outText,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(outText);
  const secs = Number(/finished in ([\d.]+)s/.exec(outText)?.[1] ?? seconds);
  const done = m ? Number(m[3]) : NaN;
  // h2load reports a mean and a spread per request, no percentiles
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(outText);
  return {
    requests: done,
    rps: done / secs,
    p50: NaN,
    p99: NaN,
    meanMs: mean ? Number(mean[1]) * (mean[2] === 'us' ? 1e-3 : mean[2] === 's' ? 1e3 : 1) : NaN,
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0,
    socketErrors: m ? Number(m[5]) + Number(m[6]) + Number(m[7]) : 1,
    text: outText,
  };
}

async function runOne(name, workload) {
  const w = WORKLOADS[workload];
  const srv = await startServer(name, workload);
  try {
    const url = `${w.tls ? 'https' : 'http'}://127.0.0.1:${PORT}${w.path}`;
    const r = await (w.h2 ? h2get : get)(PORT, w.path, w.probe, w.tls);
    if (!w.check(r))
      throw new Error(`${name} ${workload}: unexpected response ${r.status} ${JSON.stringify(r.body.slice(0, 80))}`);
    const pinned = SERVERS[name].pin;
    const load = (secs) => (w.h2 ? h2load(url, secs, w, pinned) : wrk(url, secs, w.script, pinned));
    load(WARMUP);
    const [u0, s0] = cpuTicks(srv.pid);
    const res = load(DURATION);
    const [u1, s1] = cpuTicks(srv.pid);
    const user = (u1 - u0) / CLK_TCK;
    const sys = (s1 - s0) / CLK_TCK;
    const cpu = user + sys;
    // server CPU per request, split: user space (our code, V8, libuv) and kernel (TCP, syscalls)
    return {
      ...res,
      cpu,
      perCpuSec: res.requests / cpu,
      userUs: (1e6 * user) / res.requests,
      sysUs: (1e6 * sys) / res.requests,
    };
  } finally {
    await stopServer(srv);
  }
}

async function main() {
  const results = {};
  // HTTPS workloads run on the TLS servers only, and those only run them
  const runsFor = (wl) =>
    serverNames.filter(
      (s) =>
        (!SERVERS[s].workloads || SERVERS[s].workloads.includes(wl)) &&
        !!SERVERS[s].tls === !!WORKLOADS[wl].tls &&
        !!SERVERS[s].h2 === !!WORKLOADS[wl].h2 &&
        !(CI && SERVERS[s].notInCi),
    );
  for (const wl of workloadNames) for (const s of runsFor(wl)) results[`${wl}|${s}`] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const wl of workloadNames) {
      // interleave: rotate the server order each round
      const names = runsFor(wl);
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const s of order) {
        const r = await runOne(s, wl);
        results[`${wl}|${s}`].push(r);
        process.stdout.write(
          `round ${round} ${wl.padEnd(10)} ${s.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} req/s  ${r.perCpuSec.toFixed(0).padStart(7)} req/CPU-s  ${Number.isFinite(r.p99) ? `p99 ${r.p99.toFixed(2)}` : `mean ${r.meanMs?.toFixed(2)}`} ms${r.non2xx || r.socketErrors ? `  ERRORS non2xx=${r.non2xx} socket=${r.socketErrors}` : ''}\n`,
        );
      }
    }
  }
  const summary = [];
  let failed = false;
  for (const wl of workloadNames) {
    for (const s of runsFor(wl)) {
      const base = serverNames.find(
        (b) => SERVERS[b].baseline && SERVERS[b].group === SERVERS[s].group && results[`${wl}|${b}`],
      );
      const baseRuns = base ? results[`${wl}|${base}`] : null;
      const runs = results[`${wl}|${s}`];
      const m = (k) => median(runs.map((r) => r[k]));
      const row = {
        workload: wl,
        server: s,
        rps: m('rps'),
        rpsMin: Math.min(...runs.map((r) => r.rps)),
        rpsMax: Math.max(...runs.map((r) => r.rps)),
        perCpuSec: m('perCpuSec'),
        perCpuSecMin: Math.min(...runs.map((r) => r.perCpuSec)),
        perCpuSecMax: Math.max(...runs.map((r) => r.perCpuSec)),
        p50: m('p50'),
        p99: m('p99'),
        userUs: m('userUs'),
        sysUs: m('sysUs'),
        errors: runs.reduce((a, r) => a + r.non2xx + r.socketErrors, 0),
      };
      row.baseline = base ?? null;
      if (baseRuns) {
        row.cpuRatio = row.perCpuSec / median(baseRuns.map((r) => r.perCpuSec));
        row.rpsRatio = row.rps / median(baseRuns.map((r) => r.rps));
      }
      if (row.errors > 0) failed = true;
      summary.push(row);
    }
  }
  const ms = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–'); // h2load gives no percentiles
  const table = [
    '| workload | server | req/s median (min–max) | req per server CPU-s median (min–max) | server CPU µs/req: user + kernel | p50 ms | p99 ms | CPU ratio vs baseline | req/s ratio | errors |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (r) =>
        `| ${r.workload} | ${r.server}${r.baseline && r.baseline !== r.server ? ` (vs ${r.baseline})` : r.baseline === r.server ? ' (baseline)' : ''} | ${r.rps.toFixed(0)} (${r.rpsMin.toFixed(0)}–${r.rpsMax.toFixed(0)}) | ${r.perCpuSec.toFixed(0)} (${r.perCpuSecMin.toFixed(0)}–${r.perCpuSecMax.toFixed(0)}) | ${r.userUs.toFixed(2)} + ${r.sysUs.toFixed(2)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.cpuRatio?.toFixed(2) ?? '–'} | ${r.rpsRatio?.toFixed(2) ?? '–'} | ${r.errors} |`,
    ),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  fs.mkdirSync(OUT, { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`,
    node: process.version,
    command: `node bench/run.mjs ${args.join(' ')}`.trim(),
    rounds: ROUNDS,
    duration: DURATION,
    connections: CONNECTIONS,
  };
  fs.writeFileSync(
    path.join(OUT, 'results.json'),
    `${JSON.stringify({ meta, summary, runs: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map(({ text, ...r }) => r)])) }, null, 2)}\n`,
  );
  fs.writeFileSync(
    path.join(OUT, 'RESULTS.md'),
    `# Benchmark results\n\n- date: ${meta.date}\n- machine: ${meta.machine}\n- node: ${meta.node}\n- command: \`${meta.command}\`\n- method: server pinned to CPU 1, wrk (1 thread, ${CONNECTIONS} connections) pinned to CPU 0, ${ROUNDS} interleaved rounds of ${DURATION} s after a ${WARMUP} s warm-up (HTTP/2 rows: h2load, 1 thread, with the workload's -c/-m, in place of wrk; it reports no percentiles); medians with min–max. "req per server CPU-s" = requests completed / server user+system CPU seconds during the measured run; "server CPU µs/req" splits that cost into user space and kernel (utime and stime of the server's processes).\n\n${table}\n`,
  );
  if (!CI)
    execFileSync(
      process.execPath,
      [path.join(here, 'chart.mjs'), path.join(OUT, 'results.json'), path.join(OUT, 'ratios.svg')],
      { stdio: 'inherit' },
    );
  if (CI) {
    const hello = summary.find((r) => r.workload === 'hello' && !SERVERS[r.server].baseline);
    if (hello && hello.cpuRatio < 1.0) {
      process.stdout.write(
        `bench: FAIL: gunicorn-ts costs more CPU per request than node:http on hello (ratio ${hello.cpuRatio.toFixed(2)})\n`,
      );
      failed = true;
    }
    for (const r of summary.filter((x) => x.workload === 'h2c-hello' && !SERVERS[x.server].baseline)) {
      if (r.cpuRatio !== undefined && r.cpuRatio < 1.0) {
        process.stdout.write(
          `bench: FAIL: ${r.server} costs more CPU per request than node:http2 on h2c-hello (ratio ${r.cpuRatio?.toFixed(2)})\n`,
        );
        failed = true;
      }
    }
  }
  if (failed) {
    process.stdout.write('bench: FAIL\n');
    process.exit(1);
  }
  process.stdout.write('bench: ok\n');
}

await main();
