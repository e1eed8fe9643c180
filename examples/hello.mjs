// The smallest gunicorn-ts application, served from a script:
//   node examples/hello.mjs            -> http://127.0.0.1:8000/
import { serve } from '../dist/index.js';

export function application(environ, start_response) {
  const body = `Hello, World! You asked for ${environ.PATH_INFO}\n`;
  start_response('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [body];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bind = process.env.BIND ?? '127.0.0.1:8000';
  const srv = await serve(application, bind);
  console.log(`gunicorn-ts serving examples/hello.mjs at ${srv.url} (Ctrl-C to stop)`);
  const stop = () => srv.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
