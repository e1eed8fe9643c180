#!/usr/bin/env node
// Load spread: with 2 workers and 64 keep-alive connections, the share of
// requests each worker served (X-Worker response header counted by wrk).
//   node bench/spread.mjs [--rounds 3] [--duration 5]
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const here = import.meta.dirname;
const root = path.join(here, '..');
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : d;
};
const ROUNDS = Number(opt('rounds', 3));
const DURATION = Number(opt('duration', 5));
const PORT = 19800 + (process.pid % 100);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const servers = {
  'gunicorn-ts CLI -w 2': [
    process.execPath,
    path.join(root, 'bin', 'gunicorn-ts.js'),
    '-w',
    '2',
    '-b',
    `127.0.0.1:${PORT}`,
    '--keep-alive',
    '300',
    '--error-logfile',
    '/dev/null',
    `${path.join(here, 'servers', 'cli-apps.mjs')}:whoami`,
  ],
  'node:cluster 2 workers': [
    process.execPath,
    path.join(here, 'servers', 'node-cluster.mjs'),
    String(PORT),
    'whoami',
    '2',
  ],
};

async function ready() {
  for (let i = 0; i < 100; i++) {
    const workers = new Set();
    // both workers answering is the readiness signal (up to 40 probes)
    for (let k = 0; k < 40; k++) {
      const w = await new Promise((resolve) => {
        const r = http.get({ host: '127.0.0.1', port: PORT, path: '/', agent: false }, (res) => {
          res.resume();
          resolve(res.headers['x-worker']);
        });
        r.on('error', () => resolve(null));
      });
      if (w) workers.add(w);
      if (workers.size === 2) return;
    }
    await sleep(100);
  }
  throw new Error('server not ready');
}

const results = {};
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, argv] of Object.entries(servers)) {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    try {
      await ready();
      const out = execFileSync(
        'wrk',
        ['-t1', '-c64', `-d${DURATION}s`, '-s', path.join(here, 'wrk', 'spread.lua'), `http://127.0.0.1:${PORT}/`],
        { encoding: 'utf8', timeout: (DURATION + 15) * 1000 },
      );
      const counts = [...out.matchAll(/^worker (\S+) (\d+)$/gm)].map((m) => Number(m[2])).sort((a, b) => b - a);
      const total = counts.reduce((a, b) => a + b, 0);
      const shares = counts.map((c) => (100 * c) / total);
      (results[name] ??= []).push(shares);
      console.log(
        `round ${round} ${name.padEnd(24)} shares ${shares.map((s) => `${s.toFixed(1)}%`).join(' / ')} of ${total} requests`,
      );
    } finally {
      child.kill('SIGTERM');
      await sleep(500);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
}
fs.mkdirSync(path.join(here, 'out'), { recursive: true });
fs.writeFileSync(
  path.join(here, args.includes('--ci') ? 'out' : '', 'spread.json'),
  `${JSON.stringify({ date: new Date().toISOString(), command: `node bench/spread.mjs ${args.join(' ')}`.trim(), results }, null, 2)}\n`,
);
