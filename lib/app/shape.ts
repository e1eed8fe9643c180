// What the loaded MODULE:VARIABLE is, and how a worker serves it. The one
// place that looks at an application object's shape:
//   - an Express (or Connect) app: a function with .handle and .use;
//   - a Koa app: an object with .callback and .use (served as app.callback());
//   - a Fastify instance: an object with .routing and .ready (served as
//     app.routing(req, res) after `await app.ready()`);
//   - an http.Server (or https.Server) that is not listening, as made by
//     `http.createServer(app)` with `new WebSocketServer({ server })` or
//     `server.on('upgrade', ...)` attached: served under -k node by the
//     worker's own node:http servers, which hand it every 'request' and
//     'upgrade' event and call its close() when a graceful stop begins;
//   - any other function: WSGI-style under -k sync, (req, res) under -k node
//     (with `app.upgrade(req, socket, head)`, if it has one, for 'upgrade').
// Express, Koa and Fastify are unambiguous: with worker_class 'sync' they
// select 'node' by themselves, and the boot log says so; so is an http.Server.
import http from 'node:http';
import https from 'node:https';

import type { NodeExtras, NodeHandler } from '../types.js';
import { AppShapeError, appShape, type ServedApp } from '../http/shape.js';
import { AppImportError } from '../workers/protocol.js';

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

/** Whether the loader may return this non-function object (an app a worker class can serve). */
export function isServableObject(app: unknown): boolean {
  return nodeShape(app) !== null;
}

const LABEL: Record<NodeShape, string> = {
  express: 'an Express app',
  koa: 'a Koa app, served as app.callback()',
  fastify: 'a Fastify instance, served as app.routing(req, res) after app.ready()',
  server: "an http.Server: its 'request' and 'upgrade' listeners",
};

/** The (req, res) handler of a recognised app. */
async function nodeHandler(app: unknown, shape: NodeShape | null): Promise<NodeHandler> {
  const o = app as Obj & ((...a: unknown[]) => unknown);
  switch (shape) {
    case 'koa':
      return (o.callback as () => NodeHandler).call(o);
    case 'fastify': {
      await (o.ready as () => Promise<unknown>).call(o);
      const routing = o.routing as NodeHandler;
      return (req, res) => routing.call(o, req, res);
    }
    case 'server': {
      const server = app as http.Server;
      return (req, res) => server.emit('request', req, res);
    }
    default:
      return o;
  }
}

/**
 * The 'upgrade' listener and stop call of a recognised app: an http.Server's own 'upgrade' listeners (a
 * WebSocketServer({ server }), server.on('upgrade', ...)) and its close(), which emits its 'close' (the app's cue
 * to send WebSocket close 1001); a function's `upgrade(req, socket, head)` property.
 */
function nodeExtras(app: unknown, shape: NodeShape | null): NodeExtras {
  if (shape === 'server') {
    const server = app as http.Server;
    return {
      upgrade: (req, socket, head) => {
        // nobody took it (listeners attached after the boot were removed again): as node:http does without one
        if (server.listenerCount('upgrade') === 0) socket.destroy();
        else server.emit('upgrade', req, socket, head);
      },
      stopping: () => server.close(),
    };
  }
  const o = app as Obj;
  if (typeof app === 'function' && typeof o.upgrade === 'function') {
    const up = o.upgrade as NodeExtras['upgrade'] & object;
    return { upgrade: (req, socket, head) => up.call(app, req, socket, head) };
  }
  return {};
}

/** The one-line error for a loaded object that is not callable and not an app a worker class serves. */
export function notAnApp(app: unknown, workerClass: string, uri: string): AppImportError {
  if (workerClass === 'node')
    return new AppImportError(
      `-k node needs a (req, res) function, an Express, Koa or Fastify app or an http.Server; '${uri}' is ${describe(app)}`,
    );
  return new AppImportError('Application object must be callable.');
}

/**
 * Decides what a worker serves: `uri` names the app in messages. Throws
 * AppImportError (one line) for an object no worker class can serve.
 */
export async function servedApp(app: unknown, workerClass: string, uri: string): Promise<ServedApp> {
  const shape = nodeShape(app);
  if (shape === 'server' && (app as http.Server).listening)
    throw new AppImportError(
      `'${uri}' is an http.Server that is already listening: gunicorn-ts serves it on its own sockets; do not call listen()`,
    );
  if (workerClass === 'node') {
    if (shape === null && typeof app !== 'function') throw notAnApp(app, workerClass, uri);
    const how = `Serving '${uri}' with node:http: ${shape === null ? 'a (req, res) function' : LABEL[shape]}`;
    return { kind: 'node', handler: await nodeHandler(app, shape), how, extras: nodeExtras(app, shape) };
  }
  if (shape !== null && workerClass !== 'fetch') {
    return {
      kind: 'node',
      handler: await nodeHandler(app, shape),
      extras: nodeExtras(app, shape),
      how: `Using worker: node (auto-selected: '${uri}' is ${LABEL[shape]}; say -k node to choose it yourself)`,
    };
  }
  // WSGI-style or fetch-style, on the native core
  try {
    return appShape(app, workerClass);
  } catch (e) {
    if (e instanceof AppShapeError) throw new AppImportError(e.message);
    throw e;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return `a ${typeof v}`;
  const name = (v as { constructor?: { name?: string } }).constructor?.name;
  return name && name !== 'Object' ? `a ${name} object` : 'an object without a (req, res) entry point';
}
