// Gunicorn's quickstart, translated: the Flask "hello world" served by
//
//   gunicorn -w 4 'hello:app'           (Python)
//   gunicorn-ts -w 4 'examples.hello_app:app'
//
// There is no Flask here: `route()` is a ten-line router on the WSGI-style
// handler contract, to show that an app is just (environ, start_response).
const routes = new Map();

function route(path) {
  return (fn) => routes.set(path, fn);
}

route('/')(() => 'Hello, World!');

export function app(environ, start_response) {
  const view = routes.get(environ.PATH_INFO);
  if (view === undefined) {
    start_response('404 NOT FOUND', [['Content-Type', 'text/html; charset=utf-8']]);
    return ['<h1>Not Found</h1>'];
  }
  const body = view(environ);
  start_response('200 OK', [['Content-Type', 'text/html; charset=utf-8']]);
  return [body];
}
