// Which contract a loaded application speaks, decided once per worker from the
// object and the worker_class setting. One small function so that every app
// shape (WSGI-style, fetch-style, node's (req, res)) is told apart in one place:
// the loader (lib/app/import.ts), serve() and the worker all ask it.
//
//   sync  (default)  a function (environ, start_response); an object with a
//                    fetch method is taken as fetch-style (unambiguous); an
//                    Express-style function is refused with a pointer to -k node
//   fetch            a function (request) => Response, or an object with fetch()
//   node             (req, res) apps: lib/app/shape.ts decides those first (servedApp) and
//                    asks appShape() only for the other two
import type { Application, NodeExtras, NodeHandler } from '../types.js';

/** A fetch-style handler: WinterTC's `fetch(request)`; the second argument is the worker's context. */
export type FetchHandler = (request: Request, ctx?: unknown) => Response | PromiseLike<Response>;

/** What an application module gives: any of the shapes appShape() tells apart. */
export type AppObject = Application | FetchHandler | { fetch: FetchHandler };

export type AppShape =
  { kind: 'wsgi'; app: Application; how: string } | { kind: 'fetch'; fetch: FetchHandler; how: string };

/**
 * What a worker serves (lib/app/shape.ts servedApp() decides): an AppShape on the native core, or a
 * (req, res) handler on node:http (-k node, or an Express/Koa/Fastify app detected). `how`: the boot log's words (a whole line for 'node').
 */
export type ServedApp = AppShape | { kind: 'node'; handler: NodeHandler; how: string; extras?: NodeExtras };

/** A wrong app for the worker class: its message is one line for the user. */
export class AppShapeError extends Error {}

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
 * The application's shape under `workerClass`; throws AppShapeError (one line) when
 * the object cannot run under it. `how` says what was detected, for the boot log.
 */
export function appShape(app: unknown, workerClass: string): AppShape {
  if (workerClass === 'fetch') {
    if (hasFetch(app))
      return { kind: 'fetch', fetch: boundFetch(app), how: 'an object with a fetch method (-k fetch)' };
    if (typeof app === 'function') {
      if (looksLikeNodeHandler(app))
        throw new AppShapeError(
          'The application looks like an Express-style (req, res, next) handler, not a fetch handler: run it with -k node',
        );
      return { kind: 'fetch', fetch: app as FetchHandler, how: 'a function (request) => Response (-k fetch)' };
    }
    throw new AppShapeError('-k fetch needs a function (request) => Response or an object with a fetch method');
  }
  if (typeof app !== 'function') {
    if (hasFetch(app))
      return {
        kind: 'fetch',
        fetch: boundFetch(app),
        how: 'an object with a fetch method (auto-detected; -k fetch to say so)',
      };
    throw new AppShapeError('Application object must be callable.');
  }
  if (looksLikeNodeHandler(app))
    throw new AppShapeError(
      'The application looks like an Express-style (req, res) handler, which the WSGI-style worker cannot run: run it with -k node',
    );
  return { kind: 'wsgi', app: app as Application, how: 'a function (environ, start_response)' };
}
