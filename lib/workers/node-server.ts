// The node worker class (-k node): a worker serves its inherited listening
// sockets with node:http (node:https when certfile is set) and the app's
// (req, res) handler, and keeps what the arbiter gives: the Worker around it
// (worker.ts) does heartbeat, signals, max_requests and hooks; this module
// counts connections and requests, stops gracefully, maps Gunicorn's limits
// onto node:http, and builds the minimal environ the access log and the
// request hooks read.
//
// Graceful stop: stop accepting (the listening fd stays open in the master
// and the other workers), close keep-alive connections that are idle after a
// response, answer the requests in flight (and any that arrive on a
// connection accepted before the stop) with `Connection: close`; a connection
// accepted but still silent gets `keepalive` seconds (at least 1) to send its
// request. The server is closed when its last connection is.
//
// Upgrades ('upgrade' events: WebSocket handshakes) go to the app's upgrade
// listener (NodeExtras) when it has one, and the socket is the app's from
// then on: a graceful stop leaves it open (the app closes it, e.g. with
// WebSocket close 1001 on its stopping cue) until the worker's
// graceful_timeout destroys what is left.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';

import type { Settings } from '../config/settings.js';
import type { ListenerInfo } from '../http/environ.js';
import type { Logger } from '../logging/logger.js';
import type { OpenListener } from '../listeners.js';
import { tlsOptions } from '../server.js';
import type { Environ, NodeExtras, NodeHandler, ResponseHeaders } from '../types.js';
import { SERVER_SOFTWARE } from '../version.js';

/** Called per request; `after` only when the worker asked for it (access log, post_request, metrics). */
export interface NodeServerHooks {
  /** before the app: max_requests counting, pre_request (environ built lazily by `env()`) */
  request(env: () => Environ): void;
  after?: (environ: Environ, status: string, headers: ResponseHeaders, sent: number, startedAt: number) => void;
  /** a server error (a listening fd node:http cannot serve): after it is logged; a worker exits */
  error?: (err: Error) => void;
}

export interface NodeServing {
  connections(): number;
  close(graceful: boolean): void;
  /** resolves once every server has closed (its last connection gone) */
  readonly closed: Promise<void>;
  /** "METHOD URI" of the requests in flight */
  inFlight(): string[];
}

/**
 * Settings of the native core that node:http does not apply (listed in the boot log): the parser's, and
 * worker_connections. node:http has no way to leave extra connections in the backlog, which is what
 * worker_connections means (the native core stops accepting at the limit): net.Server's maxConnections
 * accepts them and closes them at once, a refusal the client sees as a reset, so it is not mapped onto that.
 */
const NATIVE_ONLY: ReadonlyArray<keyof Settings> = [
  'worker_connections',
  'proxy_protocol',
  'permit_obsolete_folding',
  'strip_header_spaces',
  'permit_unconventional_http_method',
  'permit_unconventional_http_version',
  'casefold_http_method',
  'header_map',
  'forwarder_headers',
];

/** The names of settings changed from their default that -k node does not apply. */
export function ignoredUnderNode(cfg: Settings, defaults: Settings): string[] {
  return NATIVE_ONLY.filter((k) => JSON.stringify(cfg[k]) !== JSON.stringify(defaults[k])).map(String);
}

/** node:https options from the same SSL settings (and ssl_context hook) as the native core's TLS. */
export function nodeTlsOptions(cfg: Settings): https.ServerOptions | null {
  const o = tlsOptions(cfg);
  if (o === null) return null;
  const opt: https.ServerOptions = {
    cert: fs.readFileSync(o.certfile),
    key: fs.readFileSync(o.keyfile || o.certfile),
    minVersion: o.min_version === 13 ? 'TLSv1.3' : 'TLSv1.2',
    requestCert: o.cert_reqs > 0,
    rejectUnauthorized: o.cert_reqs === 2,
    ALPNProtocols: o.alpn.length > 0 ? o.alpn : undefined,
  };
  if (o.ca_certs) opt.ca = fs.readFileSync(o.ca_certs);
  if (o.ciphers) opt.ciphers = o.ciphers;
  // node:tls takes the TLS 1.3 suites in `ciphers` too, after the 1.2 ones
  if (o.ciphersuites) opt.ciphers = opt.ciphers ? `${o.ciphersuites}:${opt.ciphers}` : o.ciphersuites;
  if (o.groups) opt.ecdhCurve = o.groups;
  if (o.passphrase) opt.passphrase = o.passphrase;
  if (o.sni.length > 0) {
    // The same certificate choice as the native core: exact name, then '*.' one level up, else the default.
    const base = { ...opt, cert: undefined, key: undefined, passphrase: undefined };
    const byName = new Map<string, tls.SecureContext>();
    for (const e of o.sni) {
      byName.set(
        e.name,
        tls.createSecureContext({
          ...base,
          cert: fs.readFileSync(e.certfile),
          key: fs.readFileSync(e.keyfile || e.certfile),
          passphrase: e.passphrase || undefined,
        }),
      );
    }
    opt.SNICallback = (servername, cb) => {
      const host = servername.toLowerCase().replace(/\.$/, '');
      const dot = host.indexOf('.');
      cb(null, byName.get(host) ?? (dot > 0 ? byName.get(`*${host.slice(dot)}`) : undefined));
    };
  }
  return opt;
}

interface ConnState {
  /** requests begun on this connection */
  requests: number;
  /** responses not finished */
  active: number;
  /** handed to the app's upgrade listener: the app's socket now */
  upgraded: boolean;
}

const decodePath = (p: string): string => {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
};

/**
 * The environ-like object the access log and the request hooks get under -k
 * node: the CGI keys, HTTP_* headers and wsgi.url_scheme (no wsgi.input /
 * wsgi.errors streams: the body is the app's `req`), plus `node.req` and
 * `node.res`.
 */
export function nodeEnviron(
  req: http.IncomingMessage,
  res: http.ServerResponse | null,
  info: ListenerInfo,
  raw: string = req.url ?? '/',
): Environ {
  const q = raw.indexOf('?');
  const h = req.headers.host ?? '';
  const hostname = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.split(':')[0];
  const env: Record<string, unknown> = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: decodePath(q < 0 ? raw : raw.slice(0, q)),
    QUERY_STRING: q < 0 ? '' : raw.slice(q + 1),
    RAW_URI: raw,
    SERVER_NAME: hostname || info.host,
    SERVER_PORT: info.portText,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE,
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    'wsgi.url_scheme': 'encrypted' in req.socket ? 'https' : 'http',
    'node.req': req,
    'node.res': res,
  };
  if (req.socket.remotePort !== undefined) env.REMOTE_PORT = String(req.socket.remotePort);
  const rh = req.rawHeaders;
  for (let i = 0; i < rh.length; i += 2) {
    const name = rh[i]!.toUpperCase().replace(/-/g, '_');
    const key = name === 'CONTENT_TYPE' || name === 'CONTENT_LENGTH' ? name : `HTTP_${name}`;
    const prev = env[key];
    env[key] = typeof prev === 'string' ? `${prev},${rh[i + 1]}` : rh[i + 1];
  }
  return env as unknown as Environ;
}

/** The response headers as [name, value] pairs (as the app set them, lower-cased names). */
function responseHeaders(res: http.ServerResponse): ResponseHeaders {
  const out: ResponseHeaders = [];
  for (const [k, v] of Object.entries(res.getHeaders())) {
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
    else if (v !== undefined) out.push([k, String(v)]);
  }
  return out;
}

const chunkLength = (chunk: unknown, enc: unknown): number => {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
};

/** Counts body bytes written (the access log's %(b)s), without touching what is written. */
function countBody(res: http.ServerResponse): () => number {
  let sent = 0;
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => http.ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    sent += chunkLength(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') sent += chunkLength(chunk, rest[0]);
    return end(chunk, ...rest);
  }) as typeof res.end;
  return () => (res.req.method === 'HEAD' ? 0 : sent);
}

interface Limits {
  line: number;
  fields: number;
  fieldSize: number;
  body: number;
}

/** Gunicorn's limit_request_* checks that node:http does not make itself; a reason, or null. */
function overLimit(req: http.IncomingMessage, lim: Limits): [number, string] | null {
  if (lim.line > 0) {
    const n = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + 1 + 8;
    if (n > lim.line) return [414, `Request Line is too large (${n} > ${lim.line})`];
  }
  const rh = req.rawHeaders;
  if (lim.fields > 0 && rh.length / 2 > lim.fields) return [431, 'Limit request headers fields'];
  if (lim.fieldSize > 0) {
    for (let i = 0; i < rh.length; i += 2) {
      if (rh[i]!.length + 2 + rh[i + 1]!.length > lim.fieldSize) return [431, 'Limit request headers fields size'];
    }
  }
  if (lim.body > 0 && Number(req.headers['content-length'] ?? 0) > lim.body) return [413, 'Request body too large'];
  return null;
}

/**
 * Calls `cb` with the status ("101 Switching Protocols") of the first thing the app writes on an upgraded socket,
 * if that is an HTTP/1.x status line (the `ws` library writes its handshake answer, or its refusal, that way).
 */
function statusOf(socket: Duplex, cb: (status: string) => void): void {
  // own properties over the prototype's methods, deleted at the first write: later writes cost nothing
  if (Object.hasOwn(socket, 'write') || Object.hasOwn(socket, 'end')) return;
  const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
  const end = socket.end.bind(socket) as (...a: unknown[]) => Duplex;
  const sniff = (chunk: unknown) => {
    delete (socket as { write?: unknown }).write;
    delete (socket as { end?: unknown }).end;
    const head =
      typeof chunk === 'string'
        ? chunk.slice(0, 256)
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(256, chunk.byteLength)).toString('latin1')
          : '';
    const m = /^HTTP\/1\.[01] (\d{3}(?: [^\r\n]*)?)\r\n/.exec(head);
    if (m !== null) cb(m[1]!.trim());
  };
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    sniff(chunk);
    return write(chunk, ...rest);
  }) as typeof socket.write;
  socket.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function' && chunk !== undefined) sniff(chunk);
    return end(chunk, ...rest);
  }) as typeof socket.end;
}

/** Serves `handler` on the listener fds with node:http; see the module comment. */
export function startNodeServer(
  handler: NodeHandler,
  cfg: Settings,
  listeners: OpenListener[],
  log: Logger,
  hooks: NodeServerHooks,
  extras: NodeExtras = {},
): NodeServing {
  const tls = nodeTlsOptions(cfg);
  const conns = new Map<Socket, ConnState>();
  const live = new Map<http.IncomingMessage, http.ServerResponse>();
  let stopping = false;
  const graceMs = Math.max(1, cfg.keepalive) * 1000;
  const limits: Limits = {
    line: cfg.limit_request_line,
    fields: cfg.limit_request_fields,
    fieldSize: cfg.limit_request_field_size,
    body: cfg.limit_request_body,
  };
  const checkLimits = limits.line > 0 || limits.fields > 0 || limits.fieldSize > 0 || limits.body > 0;
  const noKeepAlive = cfg.keepalive <= 0;
  const timed = hooks.after !== undefined;
  const upgrade = extras.upgrade;
  let stopCalled = false;

  const servers = listeners.map((l) => {
    const opts: http.ServerOptions = {
      // the whole head, request line included: node's default (16 KiB) or more when the per-line limits ask it
      maxHeaderSize: Math.max(16384, cfg.limit_request_line + cfg.limit_request_field_size),
      keepAliveTimeout: cfg.keepalive * 1000,
      headersTimeout: cfg.header_timeout * 1000,
      requestTimeout: Math.max(300_000, cfg.header_timeout * 1000),
    };
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => onRequest(req, res, l.info);
    const server = tls ? https.createServer({ ...tls, ...opts }, listener) : http.createServer(opts, listener);
    // node:http keeps only maxHeadersCount headers (2000 by default), silently; more than the limit lets
    // overLimit() see the excess (and keeps Host, which node:http requires of HTTP/1.1, past a small limit)
    server.maxHeadersCount = cfg.limit_request_fields > 0 ? Math.max(2000, cfg.limit_request_fields + 1) : 0;
    server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => {
      conns.set(s, { requests: 0, active: 0, upgraded: false });
      s.once('close', () => conns.delete(s));
      if (stopping) graceSilent(s);
    });
    if (upgrade !== undefined)
      server.on('upgrade', (req: http.IncomingMessage, s: Duplex, head: Buffer) => onUpgrade(req, s, head, l.info));
    server.on('clientError', (err: NodeJS.ErrnoException, s: Socket) => {
      if (err.code === 'ECONNRESET' || !s.writable) {
        s.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      s.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    server.on('error', (err: Error) => {
      log.exception(`node:http cannot serve ${l.info.url}`, err);
      hooks.error?.(err);
    });
    server.listen({ fd: l.fd });
    return server;
  });

  const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.once('close', () => r())))).then(
    () => undefined,
  );

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse, info: ListenerInfo): void {
    const startedAt = timed ? performance.now() : 0;
    const st = conns.get(req.socket);
    if (st !== undefined) {
      st.requests += 1;
      st.active += 1;
    }
    live.set(req, res);
    let environ: Environ | null = null;
    const url = req.url ?? '/'; // as received: routers (Express's mounts) rewrite req.url
    const env = () => (environ ??= nodeEnviron(req, res, info, url));
    const sent = hooks.after ? countBody(res) : null;
    res.once('close', () => {
      live.delete(req);
      if (st !== undefined) st.active -= 1;
      if (stopping && st !== undefined && st.active === 0 && !req.socket.destroyed) {
        // a response ended after the stop on a connection that stays open (the app set keep-alive): close it
        if (res.writableFinished) req.socket.end();
      }
      if (sent !== null) {
        const status = `${res.statusCode} ${res.statusMessage ?? ''}`.trim();
        hooks.after!(env(), status, responseHeaders(res), sent(), startedAt);
      }
    });
    if (stopping || noKeepAlive) res.shouldKeepAlive = false;
    if (checkLimits) {
      const over = overLimit(req, limits);
      if (over !== null) {
        res.shouldKeepAlive = false;
        res.writeHead(over[0], { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end(`${over[1]}\n`);
        req.resume();
        return;
      }
    }
    hooks.request(env);
    try {
      const r = handler(req, res) as PromiseLike<unknown> | undefined;
      if (r && typeof r.then === 'function') r.then(undefined, (e: unknown) => failed(res, e));
    } catch (e) {
      failed(res, e);
    }
  }

  /** An 'upgrade' request: counted and hooked as a request, then the app's; the access log gets its status line. */
  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, info: ListenerInfo): void {
    const startedAt = timed ? performance.now() : 0;
    const st = conns.get(socket as Socket);
    if (st !== undefined) {
      st.requests += 1;
      st.upgraded = true;
    }
    let environ: Environ | null = null;
    const url = req.url ?? '/';
    const env = () => (environ ??= nodeEnviron(req, null, info, url));
    const refuse = (status: string, why: string) =>
      socket.end(
        `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${why.length + 1}\r\n\r\n${why}\n`,
      );
    if (hooks.after !== undefined) statusOf(socket, (status) => hooks.after!(env(), status, [], 0, startedAt));
    if (stopping) {
      // a handshake on a connection accepted before the stop: this worker is going away, the client retries
      refuse('503 Service Unavailable', 'Worker stopping');
      return;
    }
    if (checkLimits) {
      const over = overLimit(req, limits);
      if (over !== null) {
        refuse(`${over[0]} ${http.STATUS_CODES[over[0]]}`, over[1]);
        return;
      }
    }
    hooks.request(env);
    try {
      const r = upgrade!(req, socket, head) as PromiseLike<unknown> | undefined;
      if (r && typeof r.then === 'function') r.then(undefined, (e: unknown) => upgradeFailed(socket, e));
    } catch (e) {
      upgradeFailed(socket, e);
    }
  }

  function upgradeFailed(socket: Duplex, e: unknown): void {
    log.exception('Error handling upgrade', e);
    socket.destroy();
  }

  function failed(res: http.ServerResponse, e: unknown): void {
    log.exception('Error handling request', e);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    res.writeHead(500, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('Internal Server Error\n');
  }

  /** a connection with no request yet, at the stop: it has graceMs to send one */
  function graceSilent(s: Socket): void {
    const t = setTimeout(() => {
      const st = conns.get(s);
      if (st !== undefined && st.requests === 0) s.destroy();
    }, graceMs);
    t.unref();
  }

  let stopped = false;
  return {
    connections: () => conns.size,
    inFlight: () => [...live.keys()].map((r) => `${r.method} ${r.url}`),
    closed,
    close(graceful: boolean): void {
      if (!stopped) {
        stopped = true;
        stopping = true;
        // net.Server's close, not http.Server's: that one also drops connections that have not sent their request yet
        for (const s of servers) net.Server.prototype.close.call(s);
      }
      if (graceful && !stopCalled && extras.stopping !== undefined) {
        stopCalled = true;
        try {
          extras.stopping();
        } catch (e) {
          log.exception('Error in the app at the graceful stop', e);
        }
      }
      for (const [s, st] of conns) {
        if (!graceful) s.destroy();
        else if (st.upgraded)
          continue; // the app's (a WebSocket): open until the app closes it or graceful_timeout
        else if (st.active > 0) {
          // in flight: answered with Connection: close
          for (const [req, res] of live) if (req.socket === s && !res.headersSent) res.shouldKeepAlive = false;
        } else if (st.requests > 0)
          s.destroy(); // idle keep-alive
        else graceSilent(s);
      }
    },
  };
}
