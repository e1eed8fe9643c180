#!/usr/bin/env node
// Memory: RSS of an idle server, and user-space memory per idle keep-alive
// connection with N connections open (each has completed one request).
//   bash -c 'ulimit -n 20000 && node bench/memory.mjs [--connections 10000]'
//   node bench/memory.mjs --tls [--connections 2000]   (HTTPS keep-alive connections: node:https vs
//   gunicorn-ts with certfile, a P-256 certificate from bench/tls-cert.mjs; each has done one request)
// RSS is user-space memory; kernel socket buffers are not in it. Method: warm
// up with N requests, full GC, read RSS; open N connections (one request each),
// full GC, read RSS; the difference divided by N.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { benchCert } from './tls-cert.mjs';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const TLS = args.includes('--tls');
const N = Number(args[args.indexOf('--connections') + 1] || (TLS ? 2000 : 10000)) || (TLS ? 2000 : 10000);
const cert = TLS ? benchCert() : null;
const PORT = 19300 + (process.pid % 500);
const servers = TLS
  ? {
      'node:https': path.join(here, 'servers/node-http.mjs'),
      'gunicorn-ts serve() TLS': path.join(here, 'servers/gunicorn-ts-serve.mjs'),
    }
  : {
      'node:http': path.join(here, 'servers/node-http.mjs'),
      'gunicorn-ts serve()': path.join(here, 'servers/gunicorn-ts-serve.mjs'),
    };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

// `requests` pipelined GETs per connection; resolves when all are answered
async function openConnections(n, requests = 1) {
  const socks = [];
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from(
        { length: Math.min(batch, n - i) },
        () =>
          new Promise((resolve, reject) => {
            const s = TLS
              ? tls.connect({ port: PORT, host: '127.0.0.1', rejectUnauthorized: false })
              : net.connect(PORT, '127.0.0.1');
            let got = '';
            let seen = 0;
            s.on(TLS ? 'secureConnect' : 'connect', () =>
              s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(requests)),
            );
            s.on('data', (d) => {
              got += d;
              seen += got.split('Hello, World').length - 1;
              got = got.slice(got.lastIndexOf('Hello, World') + 1);
              if (seen >= requests) resolve();
            });
            s.on('error', reject);
            socks.push(s);
          }),
      ),
    );
  }
  return socks;
}

async function measure(name) {
  const child = spawn(process.execPath, ['--expose-gc', servers[name], String(PORT), 'hello'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...(cert?.env ?? {}) },
  });
  const settledRss = async () => {
    child.kill('SIGUSR2'); // full GC in the server
    await sleep(1000);
    return rss(child.pid);
  };
  await new Promise((r) => child.stdout.on('data', (d) => /listening/.test(d) && r()));
  // Steady state first: serve N requests (200 connections x N/200 pipelined)
  // so that heap growth from serving traffic is in the idle reading; then a
  // full GC before each reading, so only live memory counts.
  const warm = await openConnections(200, Math.ceil(N / 200));
  for (const s of warm) s.destroy();
  await sleep(1500);
  const idle = await settledRss();
  const t0 = Date.now();
  const socks = await openConnections(N);
  const openMs = Date.now() - t0;
  await sleep(2000);
  const withConns = await settledRss();
  for (const s of socks) s.destroy();
  await sleep(500);
  child.kill('SIGKILL');
  return { name, idleRss: idle, rssWithConns: withConns, perConnection: (withConns - idle) / N, openMs };
}

const results = [];
for (const name of Object.keys(servers)) {
  const r = await measure(name);
  results.push(r);
  console.log(
    `${name.padEnd(22)} idle RSS ${(r.idleRss / 2 ** 20).toFixed(1)} MiB, with ${N} idle keep-alive connections ${(r.rssWithConns / 2 ** 20).toFixed(1)} MiB -> ${r.perConnection.toFixed(0)} bytes per connection`,
  );
}
const out = path.join(here, args.includes('--ci') ? 'out' : '', TLS ? 'memory-tls.json' : 'memory.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  `${JSON.stringify({ date: new Date().toISOString(), connections: N, tls: TLS, command: `node bench/memory.mjs ${args.join(' ')}`.trim(), results }, null, 2)}\n`,
);
