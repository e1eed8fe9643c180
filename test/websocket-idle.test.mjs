// websocket_idle_timeout (native core): a WebSocket on which the client sends no text or binary message for
// that long is closed with 1001 'idle timeout', whether the client is silent (our pings answered: checked when a
// ping is due) or pings on its own (checked on its reads); a client that keeps sending messages stays; the
// default (0) closes nothing. Raw-socket clients (test/helpers/ws-client.mjs) that answer pings.
import t from 'tap';

import { checkRefused, sleep, startOneWorker } from './helpers/gts.mjs';
import { OP, connect } from './helpers/ws-client.mjs';

const APP = 'examples.websocket_echo:application';

const start = (t, args) => startOneWorker(t, ['--websocket-ping-interval', '0.4', ...args]);

t.test('websocket_idle_timeout 1.5 s', async (t) => {
  const { g, port } = await start(t, ['--websocket-idle-timeout', '1.5', APP]);
  const t0 = Date.now();
  const silent = await connect({ port });
  const pinger = await connect({ port });
  const talker = await connect({ port });
  const pingTimer = setInterval(() => pinger.sendFrame({ opcode: OP.PING, payload: 'p' }), 150);
  let n = 0;
  const talkTimer = setInterval(() => talker.sendMessage(`m${n++}`), 300);
  try {
    await silent.closed;
    const silentAt = Date.now() - t0;
    await pinger.closed;
    const pingerAt = Date.now() - t0;
    t.equal(silent.remoteCloseCode, 1001, 'a silent client (it answers our pings): close 1001');
    t.equal(silent.remoteCloseReason?.toString(), 'idle timeout', "reason 'idle timeout'");
    t.ok(silent.serverPings.length >= 1, `it got ${silent.serverPings.length} pings before`);
    t.ok(silentAt >= 1400 && silentAt < 6000, `closed after ${silentAt} ms (timeout 1.5 s, pings every 0.4 s)`);
    t.equal(pinger.remoteCloseCode, 1001, 'a client that only pings (never silent): close 1001');
    t.ok(pingerAt >= 1400 && pingerAt < 6000, `closed after ${pingerAt} ms`);
    t.notOk(talker.closeReceived, 'a client that sends a message every 300 ms is still open');
    t.ok(talker.events.filter((e) => e.type === 'message').length >= 3, 'and its messages are echoed');
  } finally {
    clearInterval(pingTimer);
    clearInterval(talkTimer);
  }
  talker.sendClose(1000);
  await talker.closed;
  t.equal(talker.remoteCloseCode, 1000, 'it closes normally');
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('websocket_idle_timeout 0 (the default): a silent client that answers pings stays', async (t) => {
  const { g, port } = await start(t, [APP]);
  const c = await connect({ port });
  await sleep(2500);
  t.notOk(c.closeReceived, 'still open after 2.5 s');
  t.ok(c.serverPings.length >= 3, `pinged ${c.serverPings.length} times`);
  c.sendClose(1000);
  await c.closed;
  g.kill('SIGTERM');
  t.equal((await g.exit).code, 0);
});

t.test('bad values of the WebSocket settings: one error line naming the setting, exit 1, no worker', async (t) => {
  const app = 'examples/websocket_echo.mjs:application';
  for (const [name, args, want] of [
    ['compression mode', ['--websocket-compression', 'foo'], /websocket_compression: foo/],
    ['window bits', ['--websocket-compression-window-bits', '8'], /websocket_compression_window_bits: 8/],
    ['idle timeout', ['--websocket-idle-timeout', '-1'], /websocket_idle_timeout: -1/],
  ]) {
    checkRefused(t, name, ['-b', '127.0.0.1:0', ...args, app], want);
  }
});
