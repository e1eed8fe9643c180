// Test certificates, made at test time with the openssl CLI (ECDSA P-256) in a
// temporary directory: no private key is ever committed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The environment for external tools (openssl, curl): without the sanitizer
 * runtime that `npm run test:asan` preloads into node (curl hangs under it).
 */
export function toolEnv() {
  const { LD_PRELOAD, ASAN_OPTIONS, UBSAN_OPTIONS, ...env } = process.env;
  return env;
}

const ossl = (args, opts = {}) =>
  execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: toolEnv(), ...opts });

function key(file, { passphrase } = {}) {
  const args = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file];
  if (passphrase !== undefined) args.push('-aes-128-cbc', '-pass', `pass:${passphrase}`);
  ossl(args);
}

function sign(dir, name, subj, { ca, ext }) {
  const k = path.join(dir, `${name}-key.pem`);
  const csr = path.join(dir, `${name}.csr`);
  const crt = path.join(dir, `${name}.pem`);
  const extFile = path.join(dir, `${name}.ext`);
  key(k);
  ossl(['req', '-new', '-key', k, '-subj', subj, '-out', csr]);
  fs.writeFileSync(extFile, ext);
  ossl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    extFile,
    '-out',
    crt,
  ]);
  return { cert: crt, key: k };
}

/**
 * A CA, a server certificate for localhost/127.0.0.1 signed by it, a client
 * certificate signed by it, a client certificate from another CA, an unrelated
 * key, an encrypted key (passphrase "secret") and its certificate.
 */
export function makeCerts(prefix = 'gts-tls-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const mkCa = (name, cn) => {
    const ca = { key: path.join(dir, `${name}-key.pem`), cert: path.join(dir, `${name}.pem`) };
    key(ca.key);
    ossl([
      'req',
      '-x509',
      '-new',
      '-key',
      ca.key,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '2',
      '-sha256',
      '-out',
      ca.cert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return ca;
  };
  const ca = mkCa('ca', 'gunicorn-ts test CA');
  const otherCa = mkCa('other-ca', 'another CA');
  const server = sign(dir, 'server', '/CN=localhost', {
    ca,
    ext: 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  });
  const server2 = sign(dir, 'server2', '/CN=localhost/O=rotated', {
    ca,
    ext: 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  });
  const client = sign(dir, 'client', '/CN=client one/O=gunicorn-ts tests', {
    ca,
    ext: 'extendedKeyUsage=clientAuth\n',
  });
  const stranger = sign(dir, 'stranger', '/CN=stranger', { ca: otherCa, ext: 'extendedKeyUsage=clientAuth\n' });
  const otherKey = path.join(dir, 'other-key.pem');
  key(otherKey);
  const encKey = path.join(dir, 'enc-key.pem');
  key(encKey, { passphrase: 'secret' });
  const encCert = path.join(dir, 'enc.pem');
  ossl([
    'req',
    '-x509',
    '-new',
    '-key',
    encKey,
    '-passin',
    'pass:secret',
    '-subj',
    '/CN=localhost',
    '-days',
    '2',
    '-out',
    encCert,
  ]);
  return {
    dir,
    ca,
    otherCa,
    server,
    server2,
    client,
    stranger,
    otherKey,
    encKey,
    encCert,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A server certificate signed by `certs.ca` (from makeCerts()) for the DNS
 * names given, its subject's O= set to `org` (to tell certificates apart).
 */
export function serverCert(certs, file, dnsNames, org) {
  const san = dnsNames.map((n) => `DNS:${n}`).join(',');
  return sign(certs.dir, file, `/CN=${dnsNames[0]}/O=${org}`, {
    ca: certs.ca,
    ext: `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`,
  });
}
