// Pub/sub within a worker (ws.subscribe / ws.publish) through examples/websocket_chat.mjs and the CLI:
// a message reaches the subscribers of its room (the sender hears it by ws.send), not other rooms; join and
// leave lines; a closed connection is unsubscribed.
import t from 'tap';

import { run, sleep } from './helpers/gts.mjs';
import { openWs, waitFor } from './helpers/ws-client.mjs';

/** a `ws` client of the chat; `lines`: the messages it got so far, as text */
async function client(port, path) {
  const c = await openWs(`ws://127.0.0.1:${port}${path}`);
  return {
    ...c,
    get lines() {
      return c.messages.map((m) => m.data.toString());
    },
  };
}

t.test('chat rooms: publish reaches the room only', async (t) => {
  const g = run(t, ['-w', '1', '-b', '127.0.0.1:0', 'examples.websocket_chat:application']);
  const port = await g.port();
  await g.waitFor(/Booting worker/);
  const alice = await client(port, '/room/a?name=alice');
  t.ok(await waitFor(() => alice.lines.length === 1));
  const bob = await client(port, '/room/a?name=bob');
  const carol = await client(port, '/room/b?name=carol');
  t.ok(await waitFor(() => alice.lines.includes('* bob joined a')), 'alice hears bob join');
  alice.ws.send('hi');
  t.ok(await waitFor(() => bob.lines.includes('alice: hi')), 'bob hears alice');
  t.ok(await waitFor(() => alice.lines.includes('alice: hi')), 'alice hears herself');
  carol.ws.send('anyone?');
  t.ok(await waitFor(() => carol.lines.includes('carol: anyone?')));
  await sleep(200);
  t.same(carol.lines, ['* welcome to b, carol', 'carol: anyone?'], 'room b hears nothing of room a');
  t.notOk(
    alice.lines.some((l) => l.includes('carol')),
    'room a hears nothing of room b',
  );
  bob.ws.close();
  await bob.closed;
  t.ok(await waitFor(() => alice.lines.includes('* bob left')), 'alice hears bob leave');
  alice.ws.send('still here');
  t.ok(await waitFor(() => alice.lines.includes('alice: still here')));
  t.equal(bob.lines.filter((l) => l === 'alice: still here').length, 0, 'bob, gone, got nothing more');
  alice.ws.close();
  carol.ws.close();
  await Promise.all([alice.closed, carol.closed]);
  const r = await fetch(`http://127.0.0.1:${port}/room/a`);
  t.equal(r.status, 426, 'a plain request gets 426');
  await r.text();
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
  t.notMatch(g.stderr, /Error/);
});
