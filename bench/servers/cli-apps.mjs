// The benchmark applications as an app module for the gunicorn-ts CLI:
//   gunicorn-ts bench/servers/cli-apps.mjs:hello
//   gunicorn-ts bench/servers/cli-apps.mjs:hello_async   (workload hello-async: '-' becomes '_')
const { wsgi, node } = await import('./apps.mjs');
export const { hello, environ, body2k, post4k, stream64k, close, pipelined } = wsgi;
export const hello_async = wsgi['hello-async'];
export const hello_await = wsgi['hello-await'];
// fetch-style (objects with a fetch method: detected as such)
const { fetchApps } = await import('./fetch-apps.mjs');
export const fetch_hello = fetchApps['fetch-hello'];
export const hono_hello = fetchApps['hono-hello'];

// -k node: node:http's own (req, res) apps, served by the node worker class (gunicorn-ts -k node ...:node_hello)
export const {
  hello: node_hello,
  environ: node_environ,
  body2k: node_body2k,
  post4k: node_post4k,
  stream64k: node_stream64k,
  close: node_close,
  pipelined: node_pipelined,
} = node;
export const node_hello_async = node['hello-async'];
export const node_hello_await = node['hello-await'];

// load-spread probe: which worker answered
export function whoami(env, start_response) {
  start_response('200 OK', [
    ['Content-Type', 'text/plain'],
    ['X-Worker', String(process.pid)],
  ]);
  return ['Hello, World'];
}

// soak: hello for GET, read-and-count for POST
export async function soak(environ, start_response) {
  if (environ.REQUEST_METHOD === 'POST') {
    const body = await environ['wsgi.input'].read();
    start_response('200 OK', [['Content-Type', 'text/plain']]);
    return [String(body.length)];
  }
  start_response('200 OK', [
    ['Content-Type', 'text/plain'],
    ['Content-Length', '12'],
  ]);
  return ['Hello, World'];
}

// soak instrumentation: with GTS_SOAK_MEMLOG=<dir>, each worker appends a JSON line every 10 s with
// process.memoryUsage(), V8's heap spaces and the [heap] (brk) and anonymous mappings from smaps.
if (process.env.GTS_SOAK_MEMLOG) {
  const fs = await import('node:fs');
  const v8 = await import('node:v8');
  const file = `${process.env.GTS_SOAK_MEMLOG}/worker-${process.pid}.jsonl`;
  const t0 = Date.now();
  const smaps = () => {
    const out = { brk: 0, anon: 0, file: 0 };
    let cur = null;
    for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (m) {
        cur = m[1] === '[heap]' ? 'brk' : m[1] === '' ? 'anon' : 'file';
        continue;
      }
      const r = /^Rss:\s+(\d+) kB/.exec(line);
      if (r && cur) out[cur] += Number(r[1]) * 1024;
    }
    return out;
  };
  const sample = (extra) => {
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
    fs.appendFileSync(
      file,
      `${JSON.stringify({ t: Math.round((Date.now() - t0) / 1000), ...extra, mem: process.memoryUsage(), spaces, smaps: smaps() })}\n`,
    );
  };
  setInterval(() => sample({}), 10_000).unref();
  // with node --expose-gc: when the soak asks (a file gc.N appears), a full GC
  // and a sample of what is still alive: the leak check that V8's heap sizing cannot blur
  let gcDone = 0;
  setInterval(() => {
    if (typeof globalThis.gc !== 'function' || !fs.existsSync(`${process.env.GTS_SOAK_MEMLOG}/gc.${gcDone + 1}`))
      return;
    gcDone += 1;
    globalThis.gc();
    globalThis.gc();
    sample({ gc: gcDone });
  }, 500).unref();
}
