// The native core's options: nativeOptions() passes every registry setting
// marked `native: true`, and the addon reads every key with no default of its
// own, so a key left out (or of the wrong type) is an error at construction.
import t from 'tap';
import { native } from '../dist/native.js';
import { defaults, NATIVE_SETTINGS } from '../dist/config/settings.js';

// nativeOptions() lives in the internal server module (lib/server.ts), or in lib/serve.ts before it
const { nativeOptions } = await import('../dist/server.js').catch(() => import('../dist/serve.js'));

const noop = () => {};
const callbacks = () => Array.from({ length: 11 }, () => noop);
const meta = () => new Uint32Array(16 + 2 * 32768 + 2);

function construct(opts) {
  const s = new native.NativeServer(opts, callbacks(), meta());
  s.close(false);
}

t.test('nativeOptions() carries every native setting of the registry and the balance slot', (t) => {
  const o = nativeOptions(defaults());
  t.same(Object.keys(o).sort(), [...NATIVE_SETTINGS.map((s) => s.name), 'balance_fd', 'balance_slot', 'tls'].sort());
  t.equal(o.tls, null, 'no certfile: no TLS');
  t.ok(
    Array.isArray(o.forwarder_headers) && Array.isArray(o.proxy_allow_ips) && Array.isArray(o.forwarded_allow_ips),
    'lists stay arrays',
  );
  t.doesNotThrow(() => construct(o), 'the defaults construct a server');
  t.end();
});

t.test('a missing key throws at construction, naming the key', (t) => {
  const full = nativeOptions(defaults());
  for (const k of Object.keys(full)) {
    const o = { ...full };
    delete o[k];
    t.throws(() => construct(o), { name: 'TypeError', message: new RegExp(`option ${k} must be`) }, `without ${k}`);
  }
  t.end();
});

t.test('a key of the wrong type throws', (t) => {
  const full = nativeOptions(defaults());
  t.throws(
    () => construct({ ...full, proxy_allow_ips: '127.0.0.1' }),
    /option proxy_allow_ips must be an array of strings/,
  );
  t.throws(() => construct({ ...full, limit_request_line: '4094' }), /option limit_request_line must be a number/);
  t.throws(() => construct({ ...full, strip_header_spaces: 1 }), /option strip_header_spaces must be a boolean/);
  t.throws(() => construct({ ...full, header_map: 'sometimes' }), /option header_map must be one of/);
  t.throws(
    () => construct({ ...full, forwarded_allow_ips: ['10.0.0.0/40'] }),
    /invalid forwarded_allow_ips entry: 10.0.0.0\/40/,
  );
  t.end();
});

t.test("ErrorCode is the addon's error table", async (t) => {
  const { ErrorCode, errorInfo } = await import('../dist/http/errors.js');
  const names = Object.keys(ErrorCode);
  t.equal(names.length, native.errors.length - 1, 'one name per error (GTS_OK aside)');
  for (const n of names) t.equal(native.errors[ErrorCode[n]].code, `GTS_ERR_${n}`, n);
  t.equal(errorInfo(ErrorCode.LIMIT_REQUEST_HEADERS).status, 431);
  t.equal(ErrorCode.INVALID_SCHEME_HEADERS, 18, 'numbers are stable (never reused)');
  t.ok(Object.isFrozen(ErrorCode));
});
