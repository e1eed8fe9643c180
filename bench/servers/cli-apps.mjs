// The benchmark applications as an app module for the gunicorn-ts CLI:
//   gunicorn-ts bench/servers/cli-apps.mjs:hello
export const { hello, environ, body2k, post4k, stream64k, close, pipelined } = (await import('./apps.mjs')).wsgi;

// load-spread probe: which worker answered
export function whoami(env, start_response) {
  start_response('200 OK', [['Content-Type', 'text/plain'], ['X-Worker', String(process.pid)]]);
  return ['Hello, World'];
}

// soak: hello for GET, read-and-count for POST
export async function soak(environ, start_response) {
  if (environ.REQUEST_METHOD === 'POST') {
    const body = await environ['wsgi.input'].read();
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [String(body.length)];
  }
  start_response('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '12']]);
  return ['Hello, World'];
}
