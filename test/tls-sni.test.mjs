// TLS: several certificates chosen by the client's server name (SNI), set
// through the ssl_context hook's `sni`, with real clients (node:tls, curl) and
// the CLI's start-up check.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { serve } from '../dist/index.js';
import { application as tlsApp } from './fixtures/apps/tls_app.mjs';
import { curlStatus, hasCurl } from './helpers/curl.mjs';
import { checkRefused, run, until } from './helpers/gts.mjs';
import {
  liveFiles,
  makeCerts,
  rotateFiles,
  serverCert,
  tlsArgs,
  tlsExchange,
  tlsProbe,
  tlsSettings,
} from './helpers/tls.mjs';

const certs = makeCerts('gts-sni-');
t.teardown(certs.cleanup);

// the default (makeCerts' server: localhost, no O=), two names and a wildcard
const a = serverCert(certs, 'sni-a', ['a.example.com'], 'cert-a');
const b = serverCert(certs, 'sni-b', ['b.example.net'], 'cert-b');
const wild = serverCert(certs, 'sni-wild', ['*.example.org'], 'cert-wild');
const sni = {
  'a.example.com': { certfile: a.cert, keyfile: a.key },
  'B.Example.NET': { certfile: b.cert, keyfile: b.key, passphrase: null },
  '*.example.org': { certfile: wild.cert, keyfile: wild.key },
};

/** The O= of the certificate the server presents for `servername` (undefined: no SNI), or an error. */
function certOrg(port, servername) {
  return tlsProbe(
    port,
    // node:tls sends no SNI for an IP address or an empty name
    { servername: servername ?? '', rejectUnauthorized: false },
    (s) => s.getPeerCertificate().subject?.O ?? '(default)',
    (e) => `error ${e.code ?? e.message}`,
  );
}

/** A full request over node:tls with verification against our CA for `servername`. */
async function verifiedGet(port, servername) {
  const got = await tlsExchange(
    port,
    { servername, ca: fs.readFileSync(certs.ca.cert) },
    `GET /sni HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`,
  );
  return got.split('\r\n')[0];
}

async function check(t, port) {
  t.equal(await certOrg(port, 'a.example.com'), 'cert-a', 'exact name a');
  t.equal(await certOrg(port, 'b.example.net'), 'cert-b', 'exact name b (configured in upper case)');
  t.equal(await certOrg(port, 'A.EXAMPLE.COM'), 'cert-a', 'names compare case-insensitively');
  t.equal(await certOrg(port, 'www.example.org'), 'cert-wild', 'one-level wildcard');
  t.equal(await certOrg(port, 'x.y.example.org'), '(default)', 'a wildcard covers one level only');
  t.equal(await certOrg(port, 'example.org'), '(default)', 'a wildcard does not cover its parent');
  t.equal(await certOrg(port, 'unknown.example.com'), '(default)', 'unknown name: the default certificate');
  t.equal(await certOrg(port, undefined), '(default)', 'no SNI: the default certificate');
  t.equal(await verifiedGet(port, 'a.example.com'), 'HTTP/1.1 200 OK', 'a verifies against the CA and serves');
  t.equal(await verifiedGet(port, 'www.example.org'), 'HTTP/1.1 200 OK', 'the wildcard verifies and serves');
  t.equal(await verifiedGet(port, 'localhost'), 'HTTP/1.1 200 OK', 'the default verifies and serves');
}

t.test('serve(): the certificate follows the server name', async (t) => {
  const seen = [];
  const h = await serve(tlsApp, {
    bind: '127.0.0.1:0',
    ...tlsSettings(certs),
    ssl_context: (_config, factory) => {
      const o = factory();
      seen.push(o.sni);
      return { ...o, sni };
    },
  });
  t.teardown(() => h.close());
  t.same(seen[0], {}, 'the factory gives an empty sni');
  await check(t, h.addresses[0].port);
});

t.test('serve(): SNI entries share the settings (minVersion, ALPN, encrypted keys)', async (t) => {
  const h = await serve(tlsApp, {
    bind: '127.0.0.1:0',
    ...tlsSettings(certs),
    ssl_context: (_config, factory) => ({
      ...factory(),
      minVersion: 'TLSv1.3',
      alpn: ['h2x', 'http/1.1'],
      sni: { 'enc.example.com': { certfile: certs.encCert, keyfile: certs.encKey, passphrase: 'secret' } },
    }),
  });
  t.teardown(() => h.close());
  const port = h.addresses[0].port;
  const conn = (opts) =>
    tlsProbe(port, { rejectUnauthorized: false, ...opts }, (s) => ({
      cn: s.getPeerCertificate().subject?.CN,
      alpn: s.alpnProtocol,
      protocol: s.getProtocol(),
    }));
  const r = await conn({ servername: 'enc.example.com', ALPNProtocols: ['h2x'] });
  t.equal(r.cn, 'localhost', 'the passphrase-protected SNI key loads');
  t.equal(r.alpn, 'h2x', 'the SNI context has the ALPN list');
  t.equal(r.protocol, 'TLSv1.3');
  t.ok((await conn({ servername: 'enc.example.com', maxVersion: 'TLSv1.2' })).error, 'and the minimum version');
});

t.test('serve(): bad sni entries reject before listening', async (t) => {
  const base = { bind: '127.0.0.1:0', ...tlsSettings(certs) };
  const withSni = (s) => ({ ...base, ssl_context: (_c, f) => ({ ...f(), sni: s }) });
  await t.rejects(
    serve(tlsApp, withSni({ 'a.example.com': { certfile: a.cert, keyfile: certs.otherKey } })),
    /^sni "a\.example\.com": keyfile ".*other-key\.pem" does not match certfile ".*sni-a\.pem"$/,
  );
  await t.rejects(
    serve(tlsApp, withSni({ 'a.example.com': { certfile: `${certs.dir}/none.pem`, keyfile: a.key } })),
    /^sni "a\.example\.com": certfile ".*none\.pem" does not exist$/,
  );
  await t.rejects(
    serve(tlsApp, withSni({ 'enc.example.com': { certfile: certs.encCert, keyfile: certs.encKey } })),
    /is encrypted \(passphrase-protected\)/,
  );
  await t.rejects(serve(tlsApp, withSni({ 'a.*.com': { certfile: a.cert } })), /sni name "a\.\*\.com"/);
  await t.rejects(serve(tlsApp, withSni({ 'x.com': {} })), /sni "x\.com" must have a certfile/);
  await t.rejects(serve(tlsApp, withSni([])), /sni must be an object/);
  await t.rejects(
    serve(tlsApp, withSni({ 'a.com': { certfile: a.cert }, 'A.com': { certfile: a.cert } })),
    /given twice/,
  );
});

function writeConf(name, entries) {
  const conf = path.join(certs.dir, name);
  fs.writeFileSync(
    conf,
    `export function ssl_context(config, factory) {\n  return { ...factory(), sni: ${JSON.stringify(entries)} };\n}\n`,
  );
  return conf;
}

t.test('CLI: node:tls and curl --resolve get the certificate per name', async (t) => {
  const conf = writeConf('sni.conf.mjs', sni);
  const g = run(t, ['-c', conf, '-w', '2', '-b', '127.0.0.1:0', ...tlsArgs(certs), 'test/fixtures/apps/tls_app.mjs']);
  const port = await g.port();
  await g.waitFor(/Booting worker/, { count: 2 });
  await check(t, port);
  if (!hasCurl) return;
  const curlTo = (name) =>
    curlStatus(['--cacert', certs.ca.cert, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
  t.equal(await curlTo('a.example.com'), '200', 'curl verifies a.example.com');
  t.equal(await curlTo('b.example.net'), '200', 'curl verifies b.example.net');
  t.equal(await curlTo('www.example.org'), '200', 'curl verifies the wildcard');
  t.equal(await curlTo('localhost'), '200', 'curl verifies the default');
  t.match(await curlTo('c.example.com'), /^error /, 'an unknown name gets the default certificate: curl refuses it');
});

t.test('CLI: a bad SNI key/cert pair is refused at start: one line, exit 1, no worker', async (t) => {
  const cases = [
    [
      'mismatched SNI key',
      { 'a.example.com': { certfile: a.cert, keyfile: b.key } },
      /^Error: sni "a\.example\.com": keyfile ".*sni-b-key\.pem" does not match certfile ".*sni-a\.pem"$/,
    ],
    [
      'missing SNI keyfile',
      { '*.example.org': { certfile: wild.cert, keyfile: `${certs.dir}/gone-key.pem` } },
      /^Error: sni "\*\.example\.org": keyfile ".*gone-key\.pem" does not exist$/,
    ],
  ];
  for (const [name, entries, want] of cases) {
    const conf = writeConf(`bad-${cases.findIndex((c) => c[0] === name)}.conf.mjs`, entries);
    checkRefused(t, name, ['-c', conf, '-b', '127.0.0.1:0', ...tlsArgs(certs), 'test/fixtures/apps/tls_app.mjs'], want);
  }
});

t.test('-k node: node:https chooses the same certificates', async (t) => {
  const conf = writeConf('sni-node.conf.mjs', sni);
  const g = run(t, [
    '-c',
    conf,
    '-k',
    'node',
    '-b',
    '127.0.0.1:0',
    ...tlsArgs(certs),
    'test.fixtures.apps.node.plain:handler',
  ]);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  t.equal(await certOrg(port, 'a.example.com'), 'cert-a', 'exact name');
  t.equal(await certOrg(port, 'B.EXAMPLE.NET'), 'cert-b', 'exact name, any case');
  t.equal(await certOrg(port, 'www.example.org'), 'cert-wild', 'one-level wildcard');
  t.equal(await certOrg(port, 'x.y.example.org'), '(default)', 'one level only');
  t.equal(await certOrg(port, 'unknown.example.com'), '(default)', 'unknown name');
  t.equal(await certOrg(port, undefined), '(default)', 'no SNI');
});

t.test('HUP re-reads the SNI certificates; a bad new SNI pair keeps the running workers', async (t) => {
  const a2 = serverCert(certs, 'sni-a2', ['a.example.com'], 'cert-a2');
  const live = liveFiles(certs.dir, 'live-a', a.cert, a.key);
  const conf = writeConf('sni-hup.conf.mjs', { 'a.example.com': { certfile: live.cert, keyfile: live.key } });
  const g = run(t, ['-c', conf, '-b', '127.0.0.1:0', ...tlsArgs(certs), 'test/fixtures/apps/tls_app.mjs']);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  t.equal(await certOrg(port, 'a.example.com'), 'cert-a', 'the first SNI certificate');
  rotateFiles(live, a2.cert, a2.key);
  g.kill('SIGHUP');
  t.ok(
    await until(async () => (await certOrg(port, 'a.example.com')) === 'cert-a2', { timeoutMs: 20000 }),
    'after HUP the new SNI certificate is served',
  );
  t.equal(await certOrg(port, 'localhost'), '(default)', 'the default is unchanged');
  // a key that does not match: the reload is refused, the workers stay
  rotateFiles(live, a.cert, b.key);
  g.kill('SIGHUP');
  await g.waitFor(/Reload failed, keeping the running workers: sni "a\.example\.com": keyfile .* does not match/);
  t.equal(await certOrg(port, 'a.example.com'), 'cert-a2', 'the running workers keep serving');
});
