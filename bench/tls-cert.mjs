// A throwaway ECDSA P-256 certificate for the HTTPS benchmarks (made with the
// openssl CLI in a temporary directory, removed at exit). The servers in
// servers/ serve TLS when BENCH_TLS_CERT and BENCH_TLS_KEY are set.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function benchCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-bench-tls-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key, env: { BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key } };
}
