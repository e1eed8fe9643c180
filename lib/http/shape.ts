// Which contract a loaded application speaks, decided once per worker from the
// object and the worker_class setting. One function, decideShape(), tells every
// app shape (WSGI-style, fetch-style, node's (req, res)) apart: the loader
// (lib/app/import.ts), serve() and the worker (lib/app/shape.ts servedApp) all
// ask it.
//
//   sync  (default)  a function (environ, start_response); an object with a
//                    fetch method is taken as fetch-style (unambiguous); an
//                    Express, Koa or Fastify app or an http.Server selects node
//                    by itself; another Express-style function is refused with
//                    a pointer to -k node
//   fetch            a function (request) => Response, or an object with fetch()
//   node             a (req, res) function, an Express, Koa or Fastify app, an http.Server
//
// The shapes of (req, res) apps:
//   - an Express (or Connect) app: a function with .handle and .use;
//   - a Koa app: an object with .callback and .use;
//   - a Fastify instance: an object with .routing and .ready;
//   - an http.Server (or https.Server) that is not listening, as made by `http.createServer(app)`.
import http from 'node:http';
import https from 'node:https';

import type { Application, NodeExtras, NodeHandler } from '../types.js';
import { checkHandlers, type FetchServer, type WebSocketHandlers } from './websocket.js';

/**
 * A fetch-style handler: WinterTC's `fetch(request)`. The second argument is the worker's server (Bun's):
 * `server.upgrade(request, { data })` accepts a WebSocket, after which the handler returns nothing.
 */
export type FetchHandler = (
  request: Request,
  server: FetchServer,
) => Response | undefined | PromiseLike<Response | undefined>;

/** What an application module gives: any of the shapes appShape() tells apart. */
export type AppObject = Application | FetchHandler | { fetch: FetchHandler; websocket?: WebSocketHandlers<never> };

export type AppShape =
  | { kind: 'wsgi'; app: Application; how: string }
  | {
      kind: 'fetch';
      fetch: FetchHandler;
      how: string;
      /** the app's `websocket` handlers (Bun's shape), for server.upgrade() */
      websocket?: WebSocketHandlers;
    };

/**
 * What a worker serves (lib/app/shape.ts servedApp() decides): an AppShape on the native core, or a
 * (req, res) handler on node:http (-k node, or an Express/Koa/Fastify app detected). `how`: the boot log's words (a whole line for 'node').
 */
export type ServedApp = AppShape | { kind: 'node'; handler: NodeHandler; how: string; extras?: NodeExtras };

/** A wrong app for the worker class: its message is one line for the user. */
export class AppShapeError extends Error {}

export type NodeShape = 'express' | 'koa' | 'fastify' | 'server';

type Obj = Record<string, unknown>;
const has = (o: Obj, ...names: string[]) => names.every((n) => typeof o[n] === 'function');

/** The (req, res) framework the object is an app of, or null. */
export function nodeShape(app: unknown): NodeShape | null {
  if (app === null || (typeof app !== 'object' && typeof app !== 'function')) return null;
  const o = app as Obj;
  if (app instanceof http.Server || app instanceof https.Server) return 'server';
  if (typeof app === 'function' && has(o, 'handle', 'use')) return 'express';
  if (has(o, 'callback', 'use')) return 'koa';
  if (has(o, 'routing', 'ready')) return 'fastify';
  return null;
}

/** An object (not a function) with a fetch method: `export default { fetch }`, a Hono app. */
export function isFetchObject(app: unknown): app is { fetch: FetchHandler } {
  return app !== null && typeof app === 'object' && typeof (app as { fetch?: unknown }).fetch === 'function';
}

/** Whether some worker class can serve this object: a function, a fetch object or a (req, res) app. */
export function isServable(app: unknown): boolean {
  return typeof app === 'function' || isFetchObject(app) || nodeShape(app) !== null;
}

/**
 * What decideShape() decides: an AppShape on the native core, or node:http (`auto`: selected by the app's
 * shape; `error`: why this object cannot be served after all, one line).
 */
export type ShapeDecision = AppShape | { kind: 'node'; shape: NodeShape | null; auto: boolean; error?: string };

/**
 * The one decision: what the application object is under `workerClass` (`uri` names it in the messages).
 * Throws AppShapeError (one line) when the native core cannot serve it as given; a node:http decision
 * carries its error instead (the caller reports it where it builds the handler).
 */
export function decideShape(app: unknown, workerClass: string, uri = 'the application'): ShapeDecision {
  const shape = nodeShape(app);
  const listening =
    shape === 'server' && (app as http.Server).listening
      ? `'${uri}' is an http.Server that is already listening: gunicorn-ts serves it on its own sockets; do not call listen()`
      : undefined;
  if (workerClass === 'node' || (shape !== null && workerClass !== 'fetch')) {
    const error =
      listening ??
      (shape === null && typeof app !== 'function'
        ? `-k node needs a (req, res) function, an Express, Koa or Fastify app or an http.Server; '${uri}' is ${describe(app)}`
        : undefined);
    return { kind: 'node', shape, auto: workerClass !== 'node', error };
  }
  if (listening !== undefined) throw new AppShapeError(listening);
  return appShape(app, workerClass);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return `a ${typeof v}`;
  const name = (v as { constructor?: { name?: string } }).constructor?.name;
  return name && name !== 'Object' ? `a ${name} object` : 'an object without a (req, res) entry point';
}

function hasFetch(app: unknown): app is { fetch: FetchHandler } {
  return (
    app !== null &&
    (typeof app === 'object' || typeof app === 'function') &&
    typeof (app as { fetch?: unknown }).fetch === 'function'
  );
}

/** Express, Connect and other (req, res, next) apps: a function with use() and handle(), or of arity 3. */
export function looksLikeNodeHandler(app: unknown): boolean {
  if (typeof app !== 'function') return false;
  const f = app as { use?: unknown; handle?: unknown; length: number };
  return (typeof f.use === 'function' && typeof f.handle === 'function') || f.length === 3;
}

/** The fetch method of an object or function, bound to it (Hono's app.fetch uses `this`). */
function boundFetch(app: { fetch: FetchHandler }): FetchHandler {
  const f: FetchHandler = app.fetch.bind(app);
  return f;
}

/**
 * The shape of an application that is not a (req, res) one (decideShape() tells those first) under
 * `workerClass`; throws AppShapeError (one line) when the object cannot run under it. `how` says what was
 * detected, for the boot log.
 */
function appShape(app: unknown, workerClass: string): AppShape {
  if (workerClass === 'fetch') {
    if (hasFetch(app)) return fetchShape(app, boundFetch(app), 'an object with a fetch method (-k fetch)');
    if (typeof app === 'function') {
      if (looksLikeNodeHandler(app))
        throw new AppShapeError(
          'The application looks like an Express-style (req, res, next) handler, not a fetch handler: run it with -k node',
        );
      return fetchShape(app, app as FetchHandler, 'a function (request) => Response (-k fetch)');
    }
    throw new AppShapeError('-k fetch needs a function (request) => Response or an object with a fetch method');
  }
  if (typeof app !== 'function') {
    if (hasFetch(app))
      return fetchShape(app, boundFetch(app), 'an object with a fetch method (auto-detected; -k fetch to say so)');
    throw new AppShapeError('Application object must be callable.');
  }
  if (looksLikeNodeHandler(app))
    throw new AppShapeError(
      'The application looks like an Express-style (req, res) handler, which the WSGI-style worker cannot run: run it with -k node',
    );
  return { kind: 'wsgi', app: app as Application, how: 'a function (environ, start_response)' };
}

/** A fetch AppShape, with the app's `websocket` handlers (Bun's `{ fetch, websocket }`) when it has them. */
function fetchShape(app: unknown, fetch: FetchHandler, how: string): AppShape {
  const ws: unknown = (app as { websocket?: unknown }).websocket;
  if (ws === undefined) return { kind: 'fetch', fetch, how };
  const handlers = checkHandlers(ws);
  if (typeof handlers === 'string') throw new AppShapeError(handlers);
  return { kind: 'fetch', fetch, how: `${how}, with websocket handlers`, websocket: handlers };
}
