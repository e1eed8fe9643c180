// Builds the PEP 3333 environ from the native core's flat payload (one latin-1
// blob + offsets in the shared meta array). The object literal has a fixed
// shape; request headers are added after it as HTTP_* keys.
import { F, KNOWN_KEY, M, MAYBE_REPEAT, native } from '../native.js';
import type { Environ } from '../types.js';
import type { Input } from './input.js';

export interface ListenerInfo {
  kind: 'tcp' | 'unix';
  host: string; // bound address ('' for unix)
  port: number;
  portText: string; // SERVER_PORT as text ('' for unix)
  path: string; // unix socket path
  url: string; // http://127.0.0.1:8000, http://[::1]:8000, unix:/path
}

export interface EnvironContext {
  listeners: ListenerInfo[];
  serverSoftware: string;
  multiprocess: boolean;
  scriptName: string; // $SCRIPT_NAME
  secureHeaders: Map<string, string> | null; // environ key -> value meaning https
  tls: boolean; // every listener is TLS (certfile set)
  tlsClientInfo: boolean; // cert_reqs > 0: SSL_CLIENT_* keys per request
  errors: Environ['wsgi.errors'];
  fileWrapper: unknown;
  sendfile: boolean; // a FileWrapper over a regular file goes out with sendfile(2) (not with TLS)
}

const WSGI_VERSION = Object.freeze([1, 0] as const);

// The native header-key table as internalised strings (property keys), so that
// environ[key] needs no string hashing for common headers.
export const HEADER_KEYS: string[] = native.headerKeys.map((k) => Object.keys({ [k]: 0 })[0]!);

export class SchemeConflict extends Error {}
export class ScriptNameMismatch extends Error {}

/**
 * Gunicorn's rule for a secure_scheme_headers header (environ key) from a trusted
 * peer (forwarded_allow_ips): it sets the scheme, https when its value is the one
 * configured; two that disagree make the request invalid (SchemeConflict, a 400).
 * `scheme` is what earlier headers of the request set, or null.
 */
export function secureScheme(want: string, value: string, scheme: 'http' | 'https' | null): 'http' | 'https' {
  const s = value === want ? 'https' : 'http';
  if (scheme !== null && scheme !== s) throw new SchemeConflict('Contradictory scheme headers');
  return s;
}

/** Builds environ; throws SchemeConflict / ScriptNameMismatch for Gunicorn's 400 / 500 cases. */
export function buildEnviron(
  ctx: EnvironContext,
  blob: string,
  meta: Uint32Array,
  input: Input,
  earlyHints: Environ['wsgi.early_hints'],
): Environ {
  const flags = meta[M.flags]!;
  const methodEnd = meta[M.methodEnd]!;
  const targetEnd = meta[M.targetEnd]!;
  const pathEnd = meta[M.pathEnd]!;
  const queryEnd = meta[M.queryEnd]!;
  const remoteEnd = meta[M.remoteEnd]!;
  const portEnd = meta[M.remotePortEnd]!;
  const listener = ctx.listeners[flags >>> 24]!;
  const minor = (flags >>> 4) & 15;
  const major = flags & 15;
  const env: Environ = {
    REQUEST_METHOD: blob.substring(0, methodEnd),
    SCRIPT_NAME: ctx.scriptName,
    PATH_INFO: blob.substring(targetEnd, pathEnd),
    QUERY_STRING: blob.substring(pathEnd, queryEnd),
    RAW_URI: blob.substring(methodEnd, targetEnd),
    SERVER_NAME: listener.host,
    SERVER_PORT: listener.portText,
    SERVER_PROTOCOL:
      major === 1 && minor === 1 ? 'HTTP/1.1' : major === 1 && minor === 0 ? 'HTTP/1.0' : `HTTP/${major}.${minor}`,
    SERVER_SOFTWARE: ctx.serverSoftware,
    REMOTE_ADDR: blob.substring(queryEnd, remoteEnd),
    REMOTE_PORT: (flags & F.unix) === 0 ? blob.substring(remoteEnd, portEnd) : undefined,
    'wsgi.version': WSGI_VERSION,
    'wsgi.url_scheme': ctx.tls ? 'https' : 'http',
    'wsgi.input': input,
    'wsgi.errors': ctx.errors,
    'wsgi.multithread': false,
    'wsgi.multiprocess': ctx.multiprocess,
    'wsgi.run_once': false,
    'wsgi.input_terminated': true,
    'wsgi.file_wrapper': ctx.fileWrapper,
    'wsgi.early_hints': earlyHints,
    'gunicorn.websocket': undefined,
  };
  if (ctx.tls) env.HTTPS = 'on';
  let p = (flags & F.proxy) !== 0 ? meta[M.proxyDstEnd]! : portEnd;
  const n = meta[M.count]!;
  const secure = (flags & F.trusted) !== 0 ? ctx.secureHeaders : null;
  let scheme: 'http' | 'https' | null = null;
  for (let i = 0, k = M.headers; i < n; i++, k += 2) {
    const ke = meta[k]!;
    let ve = meta[k + 1]!;
    let key: string;
    if (ke >= KNOWN_KEY) {
      key = HEADER_KEYS[ke - KNOWN_KEY]!;
    } else {
      key = blob.substring(p, ke);
      p = ke;
    }
    // the native side flags a key whose hash it saw before in this request:
    // only then can there be an earlier value to join
    const maybeRepeat = ve >= MAYBE_REPEAT;
    if (maybeRepeat) ve -= MAYBE_REPEAT;
    const value = blob.substring(p, ve);
    p = ve;
    const prev = maybeRepeat ? env[key] : undefined;
    env[key] = prev === undefined ? value : `${prev as string},${value}`;
    if (secure !== null) {
      const want = secure.get(key);
      if (want !== undefined) scheme = secureScheme(want, value, scheme);
    }
  }
  if (scheme !== null) env['wsgi.url_scheme'] = scheme;
  if (listener.kind === 'unix') {
    // no TCP address: Gunicorn takes SERVER_NAME/PORT from Host
    const host = env.HTTP_HOST as string | undefined;
    if (host !== undefined) {
      const i = host.lastIndexOf(':');
      const bracket = host.lastIndexOf(']');
      if (i > bracket) {
        env.SERVER_NAME = host.slice(0, i);
        env.SERVER_PORT = host.slice(i + 1);
      } else {
        env.SERVER_NAME = host;
        env.SERVER_PORT = env['wsgi.url_scheme'] === 'https' ? '443' : '80';
      }
    }
  }
  if ((flags & F.scriptName) !== 0 && typeof env.HTTP_SCRIPT_NAME === 'string') env.SCRIPT_NAME = env.HTTP_SCRIPT_NAME;
  if (env.SCRIPT_NAME !== '') {
    if (!env.PATH_INFO.startsWith(env.SCRIPT_NAME)) {
      throw new ScriptNameMismatch(`Request path ${env.PATH_INFO} does not start with SCRIPT_NAME ${env.SCRIPT_NAME}`);
    }
    env.PATH_INFO = env.PATH_INFO.slice(env.SCRIPT_NAME.length);
  }
  if ((flags & F.proxy) !== 0) {
    const proto = blob.substring(portEnd, meta[M.proxyProtoEnd]);
    env.PROXY_PROTOCOL = proto;
    if (proto === 'TCP4' || proto === 'TCP6') {
      env.REMOTE_ADDR = blob.substring(meta[M.proxyProtoEnd]!, meta[M.proxySrcEnd]);
      env.REMOTE_PORT = String(meta[M.proxySrcPort]);
      env.PROXY_ADDR = blob.substring(meta[M.proxySrcEnd]!, meta[M.proxyDstEnd]);
      env.PROXY_PORT = String(meta[M.proxyDstPort]);
    }
  }
  if ((flags & F.http2) !== 0) addHttp2Keys(env);
  return env;
}

/**
 * The HTTP/2 keys Gunicorn adds for a stream (SERVER_PROTOCOL is already HTTP/2.0). RFC 9113 deprecates
 * priorities: the weight and dependency are the defaults. `gunicorn.http2.send_trailers` is the exchange's.
 */
export function addHttp2Keys(env: Environ): void {
  env.HTTP_VERSION = '2';
  env['gunicorn.http2.priority_weight'] = 16;
  env['gunicorn.http2.priority_depends_on'] = 0;
}

/** Adds the TLS facts of the request's connection (mod_ssl's SSL_* names) to environ. */
export function addTlsInfo(env: Environ, info: string | undefined): void {
  if (info === undefined) return;
  const parts = info.split('\0');
  for (let i = 0; i + 1 < parts.length; i += 2) env[parts[i]!] = parts[i + 1]!;
}
