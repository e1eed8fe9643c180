import { serve } from '../../dist/index.js';

const app = process.argv[3] || 'hello';
const port = Number(process.argv[2] || 0);
const BODY = 'Hello, World';

const apps = {
  hello(environ, start_response) {
    start_response('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '12']]);
    return [BODY];
  },
};

const srv = await serve(apps[app], { bind: `127.0.0.1:${port}`, keepalive: 5 });
console.log(`listening ${srv.url}`);
