// Dirty workers: CPU-heavy work in a separate pool of processes, so that it
// never blocks the event loop that serves requests.
//
//   gunicorn-ts -w 2 --dirty-workers 2 --dirty-app examples.dirty_app:Heavy examples.dirty_app:app
//
//   curl 'http://127.0.0.1:8000/hash?password=hunter2'   # runs in a dirty worker
//   curl 'http://127.0.0.1:8000/'                        # answered at once meanwhile
import crypto from 'node:crypto';

import { DirtyAppError, getDirtyClient } from 'gunicorn-ts';

/**
 * The dirty app: loaded once in each dirty worker (`new Heavy()`, then
 * `init()`); its methods are the jobs. Arguments and results are structured
 * clones (strings, numbers, Buffers, Dates, Maps, plain objects ...).
 */
export class Heavy {
  init() {
    this.salt = crypto.randomBytes(16);
  }

  /** a blocking call: ~100 ms of CPU per password */
  hash(password) {
    return crypto.pbkdf2Sync(password, this.salt, 300_000, 32, 'sha256').toString('hex');
  }

  /** a big JSON document, rendered where it cannot hold requests back */
  report(rows) {
    if (!Number.isInteger(rows) || rows < 0) throw new RangeError('rows must be a non-negative integer');
    return JSON.stringify(Array.from({ length: rows }, (_, i) => ({ i, sq: i * i, hex: i.toString(16) })));
  }

  close() {}
}

/** The request side: a WSGI-style handler that calls the jobs and awaits their results. */
export async function app(environ, start_response) {
  const q = new URLSearchParams(environ.QUERY_STRING);
  const dirty = getDirtyClient();
  let status = '200 OK';
  let body;
  try {
    if (environ.PATH_INFO === '/hash')
      body = await dirty.execute('examples.dirty_app:Heavy', 'hash', q.get('password') ?? '');
    else if (environ.PATH_INFO === '/report')
      body = await dirty.execute('examples.dirty_app:Heavy', 'report', Number(q.get('rows') ?? 1000));
    else body = 'Hello, World!';
  } catch (e) {
    // the job's own error (DirtyAppError) is the client's fault here; anything else is ours
    status = e instanceof DirtyAppError ? '400 Bad Request' : '503 Service Unavailable';
    body = `${e.name}: ${e.message}`;
  }
  start_response(status, [
    ['Content-Type', environ.PATH_INFO === '/report' && status === '200 OK' ? 'application/json' : 'text/plain'],
  ]);
  return [body];
}
