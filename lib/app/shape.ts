// How a worker serves the loaded MODULE:VARIABLE, once lib/http/shape.ts
// decideShape() has said what it is: the (req, res) handler of an Express,
// Koa or Fastify app or an http.Server, its 'upgrade' listener and stop cue,
// and the boot log's words. Express, Koa and Fastify are unambiguous: with
// worker_class 'sync' they select 'node' by themselves, and the boot log says
// so; so is an http.Server.
//   - a Koa app is served as app.callback();
//   - a Fastify instance as app.routing(req, res) after `await app.ready()`;
//   - an http.Server (or https.Server) that is not listening, as made by
//     `http.createServer(app)` with `new WebSocketServer({ server })` or
//     `server.on('upgrade', ...)` attached: served under -k node by the
//     worker's own node:http servers, which hand it every 'request' and
//     'upgrade' event and call its close() when a graceful stop begins;
//   - any other function: (req, res) under -k node (with
//     `app.upgrade(req, socket, head)`, if it has one, for 'upgrade').
import type http from 'node:http';

import type { NodeExtras, NodeHandler } from '../types.js';
import { AppShapeError, decideShape, type NodeShape, type ServedApp } from '../http/shape.js';
import { AppImportError } from '../workers/protocol.js';

type Obj = Record<string, unknown>;

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

/**
 * What a worker serves: decideShape() decides, this builds the node:http handler when it says node. `uri`
 * names the app in messages. Throws AppImportError (one line) for an object no worker class can serve.
 */
export async function servedApp(app: unknown, workerClass: string, uri: string): Promise<ServedApp> {
  let decided;
  try {
    decided = decideShape(app, workerClass, uri);
  } catch (e) {
    if (e instanceof AppShapeError) throw new AppImportError(e.message);
    throw e;
  }
  if (decided.kind !== 'node') return decided; // WSGI-style or fetch-style, on the native core
  if (decided.error !== undefined) throw new AppImportError(decided.error);
  const shape = decided.shape;
  const how =
    shape === null
      ? `Serving '${uri}' with node:http: a (req, res) function`
      : decided.auto
        ? `Using worker: node (auto-selected: '${uri}' is ${LABEL[shape]}; say -k node to choose it yourself)`
        : `Serving '${uri}' with node:http: ${LABEL[shape]}`;
  return { kind: 'node', handler: await nodeHandler(app, shape), how, extras: nodeExtras(app, shape) };
}
