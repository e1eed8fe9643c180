// The benchmark applications, written once for gunicorn-ts (WSGI style) and
// once the node:http way, doing the same work and sending the same bytes.
export const BODY_HELLO = 'Hello, World';
export const BODY_2K = 'x'.repeat(2048);
export const CHUNK_4K = Buffer.alloc(4096, 'y');
export const ECHO_HEADERS = [
  'host',
  'user-agent',
  'accept',
  'accept-language',
  'accept-encoding',
  'cookie',
  'referer',
  'x-request-id',
  'x-forwarded-for',
  'cache-control',
];
const CACHED = Promise.resolve(BODY_HELLO); // hello-await's "database": a settled promise
const ENV_KEYS = ECHO_HEADERS.map((h) => `HTTP_${h.toUpperCase().replace(/-/g, '_')}`);

// ---- gunicorn-ts -----------------------------------------------------------
export const wsgi = {
  hello(environ, start_response) {
    start_response('200 OK', [
      ['Content-Type', 'text/plain'],
      ['Content-Length', '12'],
    ]);
    return [BODY_HELLO];
  },
  // the same application as an async function (real applications await a database)
  async 'hello-async'(environ, start_response) {
    start_response('200 OK', [
      ['Content-Type', 'text/plain'],
      ['Content-Length', '12'],
    ]);
    return [BODY_HELLO];
  },
  // ... that awaits something already settled (a cache hit): one more microtask turn
  async 'hello-await'(environ, start_response) {
    await CACHED;
    start_response('200 OK', [
      ['Content-Type', 'text/plain'],
      ['Content-Length', '12'],
    ]);
    return [BODY_HELLO];
  },
  environ(environ, start_response) {
    const out = { method: environ.REQUEST_METHOD, path: environ.PATH_INFO, query: environ.QUERY_STRING, headers: {} };
    for (const k of ENV_KEYS) out.headers[k] = environ[k] ?? null;
    start_response('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify(out)];
  },
  body2k(environ, start_response) {
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [BODY_2K];
  },
  async post4k(environ, start_response) {
    const body = await environ['wsgi.input'].read();
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [String(body.length)];
  },
  stream64k(environ, start_response) {
    start_response('200 OK', [['Content-Type', 'application/octet-stream']]);
    return (async function* () {
      for (let i = 0; i < 16; i++) yield CHUNK_4K;
    })();
  },
};
wsgi.close = wsgi.hello;
wsgi.pipelined = wsgi.hello;

// ---- node:http -------------------------------------------------------------
export const node = {
  hello(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
    res.end(BODY_HELLO);
  },
  async 'hello-async'(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
    res.end(BODY_HELLO);
  },
  async 'hello-await'(req, res) {
    await CACHED;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
    res.end(BODY_HELLO);
  },
  environ(req, res) {
    const u = req.url;
    const q = u.indexOf('?');
    const out = {
      method: req.method,
      path: decodeURIComponent(q < 0 ? u : u.slice(0, q)),
      query: q < 0 ? '' : u.slice(q + 1),
      headers: {},
    };
    ECHO_HEADERS.forEach((h, i) => {
      out.headers[ENV_KEYS[i]] = req.headers[h] ?? null;
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(out));
  },
  body2k(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(BODY_2K);
  },
  post4k(req, res) {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(String(Buffer.concat(parts).length));
    });
  },
  async stream64k(req, res) {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    for (let i = 0; i < 16; i++) {
      if (!res.write(CHUNK_4K)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  },
};
node.close = node.hello;
node.pipelined = node.hello;
// the fetch-style workloads' baseline (bench/servers/fetch-apps.mjs): node:http's own hello
node['fetch-hello'] = node.hello;
node['hono-hello'] = node.hello;
