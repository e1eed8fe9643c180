// WebSocket chat rooms with pub/sub within the worker: a client of ws://host/room/NAME gets every message
// sent to that room (its own included) and a line when someone joins or leaves.
//   gunicorn-ts -w 1 examples.websocket_chat:application
// Topics live in one worker process: with -w 2, two clients of the same room may sit in different workers and
// not hear each other. Across workers and machines, use a broker (Redis, NATS): each worker subscribes to the
// broker's channel for a room and republishes what comes with ws.publish(); what a client says goes to the
// broker instead of to ws.publish() directly.
const handlers = {
  open(ws) {
    ws.subscribe(ws.data.room);
    ws.publish(ws.data.room, `* ${ws.data.name} joined ${ws.data.room}`);
    ws.send(`* welcome to ${ws.data.room}, ${ws.data.name}`);
  },
  message(ws, data, isBinary) {
    if (isBinary) return;
    const line = `${ws.data.name}: ${data.toString()}`;
    ws.publish(ws.data.room, line);
    ws.send(line);
  },
  close(ws) {
    // ws is unsubscribed from its topics by now: tell the others
    ws.publish(ws.data.room, `* ${ws.data.name} left`);
  },
};

let guests = 0;

export function application(environ, start_response) {
  const upgrade = environ['gunicorn.websocket'];
  const room = /^\/room\/([\w-]{1,64})$/.exec(environ.PATH_INFO)?.[1];
  if (!upgrade || room === undefined) {
    start_response('426 Upgrade Required', [
      ['Sec-WebSocket-Version', '13'],
      ['Content-Type', 'text/plain'],
    ]);
    return ['connect a WebSocket to /room/NAME\n'];
  }
  const name = /(?:^|&)name=([\w-]{1,32})/.exec(environ.QUERY_STRING)?.[1] ?? `guest${++guests}`;
  upgrade(handlers, { data: { room, name } });
  return [];
}
