#!/usr/bin/env node
// WebSocket benchmark (issue 16, docs/design/websocket.md §6): echo of 64-byte and 16 KB binary messages over
// 100 connections, closed loop (one message in flight per connection), and memory per idle WebSocket.
//
//   node bench/ws.mjs                          3 interleaved rounds of 10 s per server and size, 5,000 idle
//   node bench/ws.mjs --duration 0.5 --warmup 0.2 --rounds 1 --idle 200     a quick end-to-end check
//   options: --rounds N --duration S --warmup S --connections N --sizes 64,16384 --idle N (0: skip)
//            --servers 'ws (node:http),uWS.js' --out FILE (JSON; default bench/out/ws.json)
//
// Servers (one process, or one worker, each): the `ws` library on node:http; gunicorn-ts -k node -w 1 serving
// the same http.Server + ws; uWebSockets.js (@trufflesuite/uws-js-unofficial), skipped if it does not load;
// and the slot for gunicorn-ts's native WebSocket (issue 16), which runs once examples/websocket_echo.mjs exists.
//
// Generator: bench/ws-load.c, compiled here with `cc -O2` into build/bench/ (a JS client costs more CPU per
// message than the servers it measures; see the design note). Method as bench/run.mjs: each server pinned to
// CPU 1 (taskset -c 1; gunicorn-ts's worker inherits it from the master), the generator to CPU 0; a fresh
// server per run; runs of different servers interleaved round by round; medians with min–max. The metric is
// messages per server CPU-second (utime+stime of the server process, or of the gunicorn-ts worker, during the
// measured window, read by ws-load from /proc), plus messages/s. Memory: N idle handshaken connections, RSS
// delta / N after a full GC (GET /__gc under --expose-gc; the native row has no such route, so its figure is
// without a forced GC). Loopback only; every run is bounded in time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { handshake as wsHandshake } from '../test/helpers/ws-client.mjs';

const here = import.meta.dirname;
const root = path.join(here, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', 3));
const DURATION = Number(opt('duration', 10));
const WARMUP = Number(opt('warmup', 1));
const CONNECTIONS = Number(opt('connections', 100));
const SIZES = opt('sizes', '64,16384').split(',').map(Number);
const IDLE = Number(opt('idle', 5000));
const OUT = opt('out', path.join(here, 'out', 'ws.json'));
const PORT = 18800 + (process.pid % 1000);
const cli = path.join(root, 'bin', 'gunicorn-ts.js');
const echoNode = path.join(here, 'servers', 'ws-echo-node.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (![ROUNDS, DURATION, WARMUP, CONNECTIONS, IDLE].every(Number.isFinite) || DURATION <= 0 || DURATION > 600) {
  console.error('ws bench: bad option (--duration must be in (0, 600])');
  process.exit(2);
}

/** builds build/bench/ws-load from bench/ws-load.c when it is missing or older */
function buildLoad() {
  const src = path.join(here, 'ws-load.c');
  const bin = path.join(root, 'build', 'bench', 'ws-load');
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' });
  }
  return bin;
}

function loads(mod) {
  return (
    spawnSync(process.execPath, ['-e', `require(${JSON.stringify(mod)})`], { cwd: root, timeout: 20000 }).status === 0
  );
}

/** the CLI with one worker serving `app`'s `application` (the native rows) */
function nativeArgv(port, app) {
  const args = ['-w', '1', '-b', `127.0.0.1:${port}`, '--worker-connections', '20000', '--graceful-timeout', '1'];
  return [process.execPath, cli, ...args, `${app}:application`];
}

// Each server: argv for a fresh process on `port`; `worker`: the measured process is gunicorn-ts's worker
// (found in its log), not the master; `gc`: GET /__gc forces a full GC; `available()`: why it is skipped.
const SERVERS = {
  'ws (node:http)': {
    argv: (port) => [process.execPath, '--expose-gc', echoNode, String(port)],
    gc: true,
  },
  'gunicorn-ts -k node + ws': {
    argv: (port) => [
      process.execPath,
      cli,
      '-k',
      'node',
      '-w',
      '1',
      '-b',
      `127.0.0.1:${port}`,
      '--worker-connections',
      '20000',
      '--graceful-timeout',
      '1',
      `${echoNode}:server`,
    ],
    env: { NODE_OPTIONS: '--expose-gc' },
    worker: true,
    gc: true,
  },
  'uWS.js': {
    argv: (port) => [process.execPath, '--expose-gc', path.join(here, 'servers', 'ws-uws.mjs'), String(port)],
    gc: true,
    available: () =>
      loads('@trufflesuite/uws-js-unofficial') ? null : '@trufflesuite/uws-js-unofficial does not load',
  },
  // The native row (issue 16): the echo example through the CLI, one worker, compression off (the default).
  'gunicorn-ts native': {
    argv: (port) => nativeArgv(port, path.join(root, 'examples', 'websocket_echo.mjs')),
    worker: true,
    gc: false,
    available: () =>
      fs.existsSync(path.join(root, 'examples', 'websocket_echo.mjs'))
        ? null
        : 'native WebSocket not built yet (issue 16: examples/websocket_echo.mjs)',
  },
  // The same echo with the opt-in transientMessages (a message Buffer valid only during message()).
  'gunicorn-ts native (transientMessages)': {
    argv: (port) => nativeArgv(port, path.join(here, 'servers', 'ws-echo-transient.mjs')),
    worker: true,
    gc: false,
  },
};

/** one raw WebSocket handshake (test/helpers/ws-client.mjs); resolves the socket after a checked 101, or rejects */
async function handshake(port) {
  const { socket } = await wsHandshake({ port, timeoutMs: 10000 });
  socket.on('error', () => {});
  socket.on('data', () => {}); // an idle connection: nothing is expected
  return socket;
}

async function startServer(name) {
  const s = SERVERS[name];
  const argv = s.argv(PORT);
  const child = spawn('taskset', ['-c', '1', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GUNICORN_CMD_ARGS: '', ...(s.env ?? {}) },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${out.trim()}`);
    const sock = await handshake(PORT).catch(() => null);
    if (sock) {
      sock.destroy();
      break;
    }
    if (i >= 200) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start: ${out.trim()}`);
    }
    await sleep(50);
  }
  // taskset execs node, so the child pid is the server's (or the master's) pid
  let pid = child.pid;
  if (s.worker) {
    const m = /Booting worker with pid: (\d+)/.exec(out);
    if (!m) throw new Error(`${name}: no worker pid in its log: ${out.trim()}`);
    pid = Number(m[1]);
  }
  return { child, pid, log: () => out };
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null) return;
  srv.child.kill('SIGTERM');
  for (let i = 0; i < 60 && srv.child.exitCode === null; i++) await sleep(50);
  if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
}

function runLoad(bin, pid, size) {
  const a = ['-c', '0', bin, '-p', String(PORT), '-c', String(CONNECTIONS), '-s', String(size)];
  a.push('-d', String(DURATION), '-w', String(WARMUP), '-P', String(pid));
  const r = spawnSync('taskset', a, { encoding: 'utf8', timeout: (DURATION + WARMUP + 30) * 1000 });
  if (r.status !== 0 && !r.stdout) throw new Error(`ws-load failed (${r.status}): ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  if (res.errors) throw new Error(`ws-load counted ${res.errors} errors: ${r.stdout}${r.stderr}`);
  return res;
}

const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

function gc(name) {
  if (!SERVERS[name].gc) return Promise.resolve(false);
  return new Promise((resolve) => {
    const r = http.get({ host: '127.0.0.1', port: PORT, path: '/__gc', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    r.on('error', () => resolve(false));
    r.setTimeout(5000, () => r.destroy());
  });
}

async function idleMemory(name) {
  const srv = await startServer(name);
  try {
    const warm = [];
    for (let i = 0; i < 100; i++) warm.push(await handshake(PORT));
    for (const s of warm) s.destroy();
    await sleep(300);
    const gced = await gc(name);
    await sleep(300);
    const before = rss(srv.pid);
    const socks = [];
    for (let i = 0; i < IDLE; i += 250) {
      socks.push(...(await Promise.all(Array.from({ length: Math.min(250, IDLE - i) }, () => handshake(PORT)))));
    }
    await sleep(500);
    await gc(name);
    await sleep(500);
    const after = rss(srv.pid);
    for (const s of socks) s.destroy();
    return {
      connections: IDLE,
      rssBefore: before,
      rssAfter: after,
      bytesPerConnection: (after - before) / IDLE,
      gc: gced,
    };
  } finally {
    await stopServer(srv);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const wanted = opt('servers', Object.keys(SERVERS).join(','))
    .split(',')
    .map((s) => s.trim());
  const servers = [];
  const skipped = {};
  for (const name of wanted) {
    if (!SERVERS[name]) throw new Error(`unknown server ${name} (known: ${Object.keys(SERVERS).join(', ')})`);
    const why = SERVERS[name].available?.();
    if (why) skipped[name] = why;
    else servers.push(name);
  }
  for (const [n, why] of Object.entries(skipped)) console.error(`skipped ${n}: ${why}`);
  const bin = buildLoad();
  const runs = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const size of SIZES) {
      for (const name of servers) {
        const srv = await startServer(name);
        let res;
        try {
          res = runLoad(bin, srv.pid, size);
        } finally {
          await stopServer(srv);
        }
        (runs[`${name}|${size}`] ??= []).push(res);
        console.error(
          `round ${round} ${name} ${size} B: ${res.messages} msgs in ${res.seconds} s, ` +
            `${Math.round(res.msgs_per_server_cpu_s)} msgs/server CPU-s`,
        );
      }
    }
  }
  const memory = {};
  if (IDLE > 0) {
    for (const name of servers) {
      memory[name] = await idleMemory(name);
      console.error(`idle ${name}: ${(memory[name].bytesPerConnection / 1024).toFixed(2)} KiB per connection`);
    }
  }
  const rows = [];
  for (const size of SIZES) {
    for (const name of servers) {
      const rs = runs[`${name}|${size}`];
      const per = rs.map((r) => r.msgs_per_server_cpu_s);
      const mps = rs.map((r) => r.msgs_per_s);
      rows.push({
        server: name,
        size,
        msgsPerServerCpuS: median(per),
        msgsPerServerCpuSRange: [Math.min(...per), Math.max(...per)],
        msgsPerS: median(mps),
        serverCpuUsPerMsg: 1e6 / median(per),
        // the kernel's part (stime): the floor no server in user space goes below (one read, one write per message)
        serverSysUsPerMsg: median(rs.map((r) => (r.server_sys_s * 1e6) / Math.max(1, r.messages))),
        clientCpuUsPerMsg: median(rs.map((r) => (r.client_cpu_s * 1e6) / Math.max(1, r.messages))),
      });
    }
  }
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
    node: process.version,
    command: `node bench/ws.mjs ${args.join(' ')}`.trim(),
    rounds: ROUNDS,
    duration: DURATION,
    warmup: WARMUP,
    connections: CONNECTIONS,
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify({ meta, rows, memory, skipped, runs }, null, 2)}\n`);
  const base = Object.fromEntries(
    SIZES.map((s) => [s, rows.find((r) => r.size === s && r.server === 'ws (node:http)')]),
  );
  const lines = [
    `WebSocket echo, ${CONNECTIONS} connections, binary, closed loop; ${ROUNDS} round(s) of ${DURATION} s; medians (min–max)`,
    '',
    '| server | size | msgs per server CPU-s | × ws | msgs/s | server CPU µs/msg | of it kernel | idle KiB/conn |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const x = base[r.size] ? (r.msgsPerServerCpuS / base[r.size].msgsPerServerCpuS).toFixed(2) : '–';
    const mem = memory[r.server] ? (memory[r.server].bytesPerConnection / 1024).toFixed(2) : '–';
    const [lo, hi] = r.msgsPerServerCpuSRange.map((v) => Math.round(v / 1000));
    lines.push(
      `| ${r.server} | ${r.size} B | ${Math.round(r.msgsPerServerCpuS / 1000)}k (${lo}k–${hi}k) | ${x} | ` +
        `${Math.round(r.msgsPerS)} | ${r.serverCpuUsPerMsg.toFixed(2)} | ${r.serverSysUsPerMsg.toFixed(2)} | ${mem} |`,
    );
  }
  for (const [n, why] of Object.entries(skipped)) lines.push(`| ${n} | – | skipped: ${why} | | | | | |`);
  console.log(lines.join('\n'));
  console.log(`\nJSON: ${path.relative(root, OUT)}`);
}

await main();
