// Pub/sub within a worker (ws.subscribe / ws.publish) through examples/websocket_chat.mjs and the CLI:
// a message reaches the subscribers of its room (the sender hears it by ws.send), not other rooms; join and
// leave lines; a closed connection is unsubscribed.
import t from 'tap';
import WebSocket from 'ws';

import { run, sleep } from './helpers/gts.mjs';

function client(port, path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const lines = [];
    const closed = new Promise((r) => ws.on('close', r));
    ws.on('message', (d) => lines.push(d.toString()));
    ws.once('open', () => resolve({ ws, lines, closed }));
    ws.once('error', reject);
  });
}

const waitFor = async (cond, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
};

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
