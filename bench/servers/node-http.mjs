// Baseline: the same applications written the node:http way.
import http from 'node:http';

const app = process.argv[3] || 'hello';
const port = Number(process.argv[2] || 0);
const BODY = 'Hello, World';

const handlers = {
  hello(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
    res.end(BODY);
  },
};

const server = http.createServer(handlers[app]);
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => console.log(`listening http://127.0.0.1:${server.address().port}`));
