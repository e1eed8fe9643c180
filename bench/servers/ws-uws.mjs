// uWebSockets.js (@trufflesuite/uws-js-unofficial, the binary protocols.md's anchors use) echo server for
// bench/ws.mjs: compression off, maxPayloadLength 16 MiB, no idle timeout (the idle-memory run keeps
// connections open). GET /__gc runs a full garbage collection under --expose-gc.
//   node --expose-gc bench/servers/ws-uws.mjs PORT
import { createRequire } from 'node:module';

const uWS = createRequire(import.meta.url)('@trufflesuite/uws-js-unofficial');
const port = Number(process.argv[2] || 0);

uWS
  .App()
  .ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 16 * 1024 * 1024,
    idleTimeout: 0,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .get('/__gc', (res) => {
    if (typeof globalThis.gc === 'function') globalThis.gc();
    res.end('gc\n');
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uWS: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    console.log(`listening ws://127.0.0.1:${port}`);
  });
process.on('SIGTERM', () => process.exit(0));
