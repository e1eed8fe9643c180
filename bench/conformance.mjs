#!/usr/bin/env node
// Runs ../shared/tools/conformance/run.mjs (the independent judge) against
// serve() with its echo app, once per settings group of the corpus.
//   node bench/conformance.mjs [--tls]
// --tls: the server gets a certificate (ECDSA P-256, made with the openssl CLI
// in a temporary directory) and every case is sent inside a TLS session. For
// the proxy_protocol group the PROXY header then travels inside TLS too: that
// checks the parser behind the TLS transport, not PROXY-before-TLS (which a
// TLS-passthrough balancer would send, and which is not supported yet).
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';

import { benchCert } from './tls-cert.mjs';

const root = path.join(import.meta.dirname, '..');
const tools = path.join(root, '..', 'shared', 'tools', 'conformance');
const corpus = path.join(root, '..', 'shared', 'http-corpus');
const runner = path.join(tools, 'run.mjs');
const groups = execFileSync(process.execPath, [runner, '--corpus', corpus, '--list-settings'], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l).settings);

const TLS = process.argv.includes('--tls');
// the HTTPS benchmarks' throwaway P-256 certificate (bench/tls-cert.mjs)
let tlsFiles = {};
if (TLS) {
  const { cert, key } = benchCert();
  tlsFiles = { certfile: cert, keyfile: key };
}

let failed = 0;
let ran = 0;
for (const settings of groups) {
  ran++;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    import { serve } from ${JSON.stringify(path.join(root, 'dist', 'index.js'))};
    import { application } from ${JSON.stringify(path.join(tools, 'echo-app.mjs'))};
    const srv = await serve(application, { bind: '127.0.0.1:0', errorlog: '/dev/null', ...${JSON.stringify({ ...settings, ...tlsFiles })} });
    console.log('port', srv.addresses[0].port);
  `,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  // whole, then in 5-byte pieces (test/corpus.test.mjs also replays 1-byte and random splits)
  for (const chunk of [0, 5]) {
    const a = [runner, '--port', String(port), '--corpus', corpus, '--settings', JSON.stringify(settings), '--quiet'];
    if (chunk) a.push('--write-chunk', String(chunk), '--write-delay-ms', '0');
    if (TLS) a.push('--tls');
    try {
      const out = execFileSync(process.execPath, a, { encoding: 'utf8' });
      process.stdout.write(
        `${TLS ? 'TLS ' : ''}${JSON.stringify(settings)}${chunk ? ` (${chunk}-byte writes)` : ''}: ${out.trim().split('\n').pop()}\n`,
      );
    } catch (e) {
      failed++;
      process.stdout.write(`${JSON.stringify(settings)}: FAILED\n${e.stdout}\n`);
    }
  }
  child.kill();
}
process.exit(failed || ran === 0 ? 1 : 0);
