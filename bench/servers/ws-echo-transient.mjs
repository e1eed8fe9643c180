// bench/ws.mjs's "gunicorn-ts native (transientMessages)" row: examples/websocket_echo.mjs with the opt-in
// transientMessages (each message's memory reused once message() returns; README "WebSocket").
export function application(environ, start_response) {
  const upgrade = environ['gunicorn.websocket'];
  if (!upgrade) {
    start_response('426 Upgrade Required', [['Sec-WebSocket-Version', '13']]);
    return [];
  }
  upgrade({
    transientMessages: true,
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  });
  return [];
}
