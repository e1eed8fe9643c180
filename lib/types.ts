// The handler contract: PEP 3333 (WSGI) in TypeScript; and the (req, res)
// handlers the node worker class serves.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Input } from './http/input.js';
import type { UpgradeFn } from './http/websocket.js';

export type Chunk = string | Uint8Array;
export type ResponseHeaders = Array<[string, string]>;
/** PEP 3333's `write(data)`: sends body bytes immediately (prefer returning an iterable). */
export type WriteFn = (chunk: Chunk) => void;
export type StartResponse = (status: string, headers: ResponseHeaders, exc_info?: unknown) => WriteFn;
export type ResponseBody = (Iterable<Chunk> | AsyncIterable<Chunk>) & { close?: () => unknown };

export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  RAW_URI: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  SERVER_SOFTWARE: string;
  REMOTE_ADDR: string;
  REMOTE_PORT?: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  'wsgi.version': readonly [1, 0];
  'wsgi.url_scheme': 'http' | 'https';
  'wsgi.input': Input;
  'wsgi.errors': { write(s: string | Uint8Array): void; writelines(lines: Iterable<string>): void; flush(): void };
  'wsgi.multithread': boolean;
  'wsgi.multiprocess': boolean;
  'wsgi.run_once': boolean;
  'wsgi.input_terminated': boolean;
  'wsgi.file_wrapper': unknown;
  /** Gunicorn 25: sends a `103 Early Hints` head with these headers before the response (HTTP/1.1 clients only) */
  'wsgi.early_hints': (headers: ResponseHeaders) => void;
  /**
   * gunicorn-ts: present (a function) only on a valid WebSocket handshake (RFC 6455 §4.2.1; broken ones get
   * 400 from the server): `upgrade(handlers, { data, protocol, headers })` sends the 101 and returns the `ws`.
   */
  'gunicorn.websocket': UpgradeFn | undefined;
  [key: string]: unknown;
}

export type Application = (environ: Environ, start_response: StartResponse) => ResponseBody | Promise<ResponseBody>;

/** A node:http request listener: what `-k node` serves (an Express app, Koa's callback(), Fastify's routing). */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * node:http's 'upgrade' listener under `-k node` (a WebSocket handshake, or any `Upgrade:` request): the app owns
 * `socket` from then on (the `ws` library's `handleUpgrade(req, socket, head, cb)` takes exactly these).
 */
export type NodeUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

/** What -k node serves besides the request listener: the upgrade listener, and what to call when a graceful stop begins. */
export interface NodeExtras {
  upgrade?: NodeUpgrade;
  /** at the start of a graceful stop (TERM, HUP, max_requests): e.g. the app's http.Server gets its 'close' */
  stopping?: () => void;
}
