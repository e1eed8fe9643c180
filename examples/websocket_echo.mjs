// WebSocket echo: every message back to its sender, text as text and binary as binary, on any path.
//   gunicorn-ts -w 2 examples.websocket_echo:application
// environ['gunicorn.websocket'] is there only for a valid WebSocket handshake (the server answers a
// broken one with 400 itself); a plain HTTP request gets 426 and the version it should ask for.
export function application(environ, start_response) {
  const upgrade = environ['gunicorn.websocket'];
  if (!upgrade) {
    start_response('426 Upgrade Required', [
      ['Sec-WebSocket-Version', '13'],
      ['Content-Type', 'text/plain'],
    ]);
    return ['this is a WebSocket echo server\n'];
  }
  upgrade({
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  });
  return [];
}
