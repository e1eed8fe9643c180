// The internal server module: one native server on already-open listener fds,
// with its Dispatcher, environ context and native options. serve() (one
// process) and a worker (lib/workers/worker.ts) both start theirs here.
import { Dispatcher } from './http/handler.js';
import type { EnvironContext, ListenerInfo } from './http/environ.js';
import type { Logger } from './logging/logger.js';
import {
  native,
  type NativeOptions,
  type NativeServer,
  type NativeTlsOptions,
  type NativeTlsSniEntry,
} from './native.js';
import { unlinkListener, type OpenListener } from './listeners.js';
import { NATIVE_SETTINGS, type NativeSettings, type Settings } from './config/settings.js';
import { SERVER_SOFTWARE } from './version.js';
import { FileWrapper } from './http/file-wrapper.js';
import { FetchDispatcher, type FetchHooks } from './http/fetch.js';
import { installLightResponse } from './http/fetch-response.js';
import type { AppShape } from './http/shape.js';

export interface ServerHandle {
  /** the bound addresses (the real port when port 0 was asked for) */
  readonly addresses: readonly ListenerInfo[];
  /** first address as a URL, e.g. http://127.0.0.1:8000 */
  readonly url: string;
  /** currently open client connections (0 in the master of a worker pool: connections live in the workers) */
  connections(): number;
  /** graceful: stop accepting, finish in-flight requests (up to graceful_timeout), close idle connections */
  close(): Promise<void>;
}

/**
 * What the ssl_context hook gets from `default_ssl_context_factory()` and returns
 * (changed or not): the TLS context's options. Every bind is TLS when certfile
 * (or keyfile) is set, as in Gunicorn.
 */
export interface TlsContextOptions {
  certfile: string;
  keyfile: string | null;
  ca_certs: string | null;
  /** 0 none, 1 optional, 2 required */
  cert_reqs: number;
  /** 'TLSv1.2' or 'TLSv1.3' */
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string | null;
  ciphersuites: string | null;
  /** key-exchange groups, e.g. 'X25519:P-256' */
  groups: string | null;
  /** ALPN protocols in preference order */
  alpn: string[];
  /** TLS 1.3 session tickets sent per handshake (0 = none) */
  sessionTickets: number;
  /** for an encrypted keyfile */
  passphrase: string | null;
  suppressRaggedEofs: boolean;
  /**
   * More certificates, chosen by the client's server name (SNI): exact names
   * ('example.com') or one-level wildcards ('*.example.org'). certfile/keyfile
   * serve a client that sends no server name or one not listed here.
   */
  sni: Record<string, TlsSniCert>;
}

/** One SNI certificate of TlsContextOptions.sni. */
export interface TlsSniCert {
  certfile: string;
  /** null/omitted: the key is in certfile */
  keyfile?: string | null;
  /** for an encrypted keyfile */
  passphrase?: string | null;
}

// A host name (lower case, LDH labels) or '*.' and one.
const SNI_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function sniEntries(sni: unknown): NativeTlsSniEntry[] {
  if (sni === null || sni === undefined) return [];
  if (typeof sni !== 'object' || Array.isArray(sni))
    throw new Error('ssl_context: sni must be an object of server name -> { certfile, keyfile, passphrase }');
  const out: NativeTlsSniEntry[] = [];
  const seen = new Set<string>();
  for (const [raw, c] of Object.entries(sni as Record<string, unknown>)) {
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (name.length > 253 || !SNI_NAME.test(name))
      throw new Error(`ssl_context: sni name "${raw}" is not a host name or a '*.' wildcard of one`);
    if (seen.has(name)) throw new Error(`ssl_context: sni name "${raw}" is given twice`);
    seen.add(name);
    const e = c as Partial<TlsSniCert> | null;
    if (e === null || typeof e !== 'object' || typeof e.certfile !== 'string' || e.certfile === '')
      throw new Error(`ssl_context: sni "${raw}" must have a certfile`);
    for (const k of ['keyfile', 'passphrase'] as const) {
      const v = e[k];
      if (v !== null && v !== undefined && typeof v !== 'string')
        throw new Error(`ssl_context: sni "${raw}" ${k} must be a string`);
    }
    out.push({ name, certfile: e.certfile, keyfile: e.keyfile ?? '', passphrase: e.passphrase ?? '' });
  }
  return out;
}

/** Whether the settings turn TLS on (Gunicorn's is_ssl). */
export function isTls(cfg: Settings): boolean {
  return cfg.certfile !== null || cfg.keyfile !== null;
}

/** ALPN protocol ids from http_protocols, in its order: h2 -> 'h2', h1 -> 'http/1.1'. */
export function alpnProtocols(cfg: Settings): string[] {
  return cfg.http_protocols.map((p) => (p === 'h2' ? 'h2' : 'http/1.1'));
}

/** Warnings about how the HTTP/2 settings combine with the binds (docs/design/http2.md §4). */
export function http2Warnings(cfg: Settings): string[] {
  const out: string[] = [];
  if (!cfg.http_protocols.includes('h2')) return out;
  if (isTls(cfg) && cfg.http2_cleartext !== 'off')
    out.push('http2_cleartext is ignored with TLS (h2c is cleartext only)');
  if (!isTls(cfg) && cfg.http2_cleartext === 'off') {
    out.push('HTTP/2 needs TLS (ALPN) or http2_cleartext: HTTP/1 is served');
  }
  const v = process.versions.nghttp2 ?? '';
  const [a = 0, b = 0, c = 0] = v.split('.').map(Number);
  if (a * 1e6 + b * 1e3 + c < 1068001) {
    out.push(`HTTP/2 uses node's nghttp2 ${v || '(unknown)'}; 1.68.1 or newer (Node 22, 24) is preferred`);
  }
  return out;
}

/** The default context options from the SSL settings (Gunicorn's default_ssl_context_factory). */
export function defaultTlsContext(cfg: Settings): TlsContextOptions {
  return {
    certfile: cfg.certfile ?? '',
    keyfile: cfg.keyfile,
    ca_certs: cfg.ca_certs,
    cert_reqs: cfg.cert_reqs,
    minVersion: cfg.ssl_version === 'TLSv1_3' ? 'TLSv1.3' : 'TLSv1.2',
    ciphers: cfg.ciphers,
    ciphersuites: null,
    groups: null,
    alpn: alpnProtocols(cfg),
    sessionTickets: 1,
    passphrase: null,
    suppressRaggedEofs: cfg.suppress_ragged_eofs,
    sni: {},
  };
}

/** The TLS options for the addon after the ssl_context hook, or null without TLS. Throws on a bad hook result. */
export function tlsOptions(cfg: Settings): NativeTlsOptions | null {
  if (!isTls(cfg)) return null;
  const o = cfg.ssl_context(cfg, () => defaultTlsContext(cfg)) as TlsContextOptions | undefined;
  if (o === null || typeof o !== 'object')
    throw new Error('ssl_context must return the context options (from default_ssl_context_factory())');
  const str = (k: keyof TlsContextOptions, v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (typeof v !== 'string') throw new Error(`ssl_context: ${k} must be a string`);
    return v;
  };
  const min = o.minVersion === 'TLSv1.3' ? 13 : o.minVersion === 'TLSv1.2' || o.minVersion === undefined ? 12 : NaN;
  if (Number.isNaN(min))
    throw new Error("ssl_context: minVersion must be 'TLSv1.2' or 'TLSv1.3' (1.0 and 1.1 are refused)");
  if (![0, 1, 2].includes(o.cert_reqs)) throw new Error('ssl_context: cert_reqs must be 0, 1 or 2');
  const alpn = o.alpn ?? [];
  if (!Array.isArray(alpn) || alpn.some((a) => typeof a !== 'string' || a === '' || a.length > 255)) {
    throw new Error('ssl_context: alpn must be an array of protocol names');
  }
  return {
    certfile: str('certfile', o.certfile),
    keyfile: str('keyfile', o.keyfile),
    ca_certs: str('ca_certs', o.ca_certs),
    cert_reqs: o.cert_reqs,
    min_version: min,
    ciphers: str('ciphers', o.ciphers),
    ciphersuites: str('ciphersuites', o.ciphersuites),
    groups: str('groups', o.groups),
    alpn,
    session_tickets: Math.max(0, Math.trunc(Number(o.sessionTickets ?? 1)) || 0),
    passphrase: str('passphrase', o.passphrase),
    suppress_ragged_eofs: o.suppressRaggedEofs !== false,
    sni: sniEntries(o.sni),
  };
}

/** Null, or the one-line reason TLS cannot start with these settings (checked before any worker starts). */
export function checkTls(cfg: Settings): string | null {
  let o: NativeTlsOptions | null;
  try {
    o = tlsOptions(cfg);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return o === null ? null : native.tlsCheck(o);
}

/** The native core's options: the registry's `native: true` settings, each under its own name. */
export function nativeOptions(cfg: Settings, balance?: { fd: number; slot: number }): NativeOptions & NativeSettings {
  const o: Record<string, unknown> = {
    balance_fd: balance?.fd ?? -1,
    balance_slot: balance?.slot ?? 0,
    tls: tlsOptions(cfg),
  };
  for (const s of NATIVE_SETTINGS) o[s.name] = cfg[s.name];
  return o as unknown as NativeOptions & NativeSettings;
}

export function environContext(
  cfg: Settings,
  listeners: ListenerInfo[],
  log: Logger,
  multiprocess: boolean,
): EnvironContext {
  const secure = new Map<string, string>();
  for (const [k, v] of Object.entries(cfg.secure_scheme_headers)) {
    secure.set(`HTTP_${k.toUpperCase().replace(/-/g, '_')}`, v);
  }
  return {
    listeners,
    serverSoftware: SERVER_SOFTWARE,
    multiprocess,
    scriptName: process.env.SCRIPT_NAME ?? '',
    secureHeaders: secure.size > 0 ? secure : null,
    tls: isTls(cfg),
    tlsClientInfo: isTls(cfg) && cfg.cert_reqs > 0,
    errors: log.errors,
    fileWrapper: FileWrapper,
    sendfile: cfg.sendfile && !isTls(cfg),
  };
}

/** Runs the native server on already-open listener fds (used by serve() and by workers). */
export function startServer(
  shape: AppShape,
  cfg: Settings,
  listeners: OpenListener[],
  log: Logger,
  opts: { multiprocess?: boolean; hooks?: FetchHooks; balance?: { fd: number; slot: number } } = {},
): { server: NativeServer; dispatcher: Dispatcher | FetchDispatcher; closed: Promise<void> } {
  const infos = listeners.map((l) => l.info);
  const ctx = environContext(cfg, infos, log, opts.multiprocess ?? false);
  let d: Dispatcher | FetchDispatcher;
  if (shape.kind === 'fetch') {
    installLightResponse();
    d = new FetchDispatcher(shape.fetch, ctx, log, cfg.limit_request_fields, opts.hooks, shape.websocket);
  } else {
    d = new Dispatcher(shape.app, ctx, log, cfg.limit_request_fields, opts.hooks);
  }
  if ((opts.balance?.slot ?? 0) === 0) for (const w of http2Warnings(cfg)) log.warning(w);
  const server = new native.NativeServer(nativeOptions(cfg, opts.balance), d.callbacks(), d.meta);
  d.native = server;
  d.ws.native = server;
  const closed = new Promise<void>((resolve) => {
    d.onClosed = () => {
      for (const l of listeners) unlinkListener(l);
      resolve();
    };
  });
  for (const l of listeners) server.addListener(l.fd, l.info.kind === 'unix', cfg.backlog);
  return { server, dispatcher: d, closed };
}
