// Test certificates, made at test time with the openssl CLI (ECDSA P-256) in a
// temporary directory: no private key is ever committed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

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

/** The settings that serve a server certificate from makeCerts() (for serve()). */
export const tlsSettings = (certs) => ({ certfile: certs.server.cert, keyfile: certs.server.key });

/** The same as command-line arguments (for the gunicorn-ts command). */
export const tlsArgs = (certs) => ['--certfile', certs.server.cert, '--keyfile', certs.server.key];

/**
 * Opens a node:tls connection to 127.0.0.1:`port` with `opts` (servername,
 * ca, cert, ALPNProtocols, ...); once it is secure, resolves onSecure(socket)
 * and closes it. A failure resolves onError(error), by default {error: code}.
 */
export function tlsProbe(port, opts, onSecure, onError = (e) => ({ error: e.code ?? e.message })) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => {
      resolve(onSecure(s));
      s.end();
    });
    s.on('error', (e) => resolve(onError(e)));
  });
}

/**
 * Sends `request` (raw HTTP/1.x text, ending the write side) over a node:tls
 * connection and resolves everything the server sent (latin1) once it closes,
 * or "error <code>".
 */
export function tlsExchange(port, opts, request) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => s.end(request));
    const chunks = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', (e) => resolve(`error ${e.code ?? e.message}`));
  });
}

/** Copies `cert` and `key` to <dir>/<name>.pem and <dir>/<name>-key.pem (to rotate later): {cert, key}. */
export function liveFiles(dir, name, cert, key) {
  const live = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
  fs.copyFileSync(cert, live.cert);
  fs.copyFileSync(key, live.key);
  return live;
}

/**
 * Replaces a live certificate and key in place the way certbot's deploy does:
 * copies next to them, then renames over them (key first).
 */
export function rotateFiles(live, cert, key) {
  fs.copyFileSync(cert, `${live.cert}.tmp`);
  fs.copyFileSync(key, `${live.key}.tmp`);
  fs.renameSync(`${live.key}.tmp`, live.key);
  fs.renameSync(`${live.cert}.tmp`, live.cert);
}

/**
 * A TCP relay on 127.0.0.1 (a kernel-chosen port) to 127.0.0.1:`port`, to watch or cut TLS on the wire:
 * each client connection gets its upstream connection (kept in `upstreams`); fromClient(data, upstream) and
 * fromServer(data, client) forward (by default as the bytes come), onServerEnd(client) follows the server's
 * FIN (by default client.end()). Resolves {port, server, upstreams}; server.close() stops it.
 */
export async function tcpRelay(
  port,
  { fromClient = (d, up) => up.write(d), fromServer = (d, c) => c.write(d), onServerEnd = (c) => c.end() } = {},
) {
  const upstreams = [];
  const server = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    upstreams.push(up);
    up.on('data', (d) => fromServer(d, c));
    c.on('data', (d) => fromClient(d, up));
    up.on('end', () => onServerEnd(c));
    up.on('error', () => c.destroy());
    c.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, server, upstreams };
}
