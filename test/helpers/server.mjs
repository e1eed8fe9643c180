// Starts gunicorn-ts servers for tests, always on 127.0.0.1 with a kernel-chosen port.
import { serve } from '../../dist/index.js';

export async function startServer(t, app, settings = {}) {
  const srv = await serve(app, { bind: '127.0.0.1:0', errorlog: process.env.GTS_TEST_LOG ?? '/dev/null', ...settings });
  t.teardown(() => srv.close());
  return { srv, port: srv.addresses[0].port, url: srv.url };
}

/** The corpus's echo application (same contract as ../shared/tools/conformance/echo-app.mjs). */
export async function echoApp(environ, start_response) {
  const body = await environ['wsgi.input'].read();
  const headers = {};
  for (const [k, v] of Object.entries(environ)) {
    if (v === undefined) continue;
    if (k.startsWith('HTTP_') || k === 'CONTENT_TYPE' || k === 'CONTENT_LENGTH') headers[k] = v;
  }
  start_response('200 OK', [['Content-Type', 'application/json']]);
  return [
    JSON.stringify({
      REQUEST_METHOD: environ.REQUEST_METHOD,
      RAW_URI: environ.RAW_URI,
      PATH_INFO: environ.PATH_INFO,
      QUERY_STRING: environ.QUERY_STRING,
      SERVER_PROTOCOL: environ.SERVER_PROTOCOL,
      SCRIPT_NAME: environ.SCRIPT_NAME,
      headers,
      body_b64: Buffer.from(body).toString('base64'),
    }),
  ];
}
