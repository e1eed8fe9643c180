// The dirty pool's pieces without a server: dirty_apps parsing, the frame
// reader, and the client's behaviour when the pool's socket goes away.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import t from 'tap';

import { parseDirtySpec, validateDirtyApps } from '../dist/config/dirty-settings.js';
import { encodeFrame, FrameReader, MAX_FRAME } from '../dist/workers/dirty-protocol.js';
import {
  DirtyClient,
  DirtyConnectionError,
  DirtyProtocolError,
  DirtyTimeoutError,
  getDirtyClient,
} from '../dist/index.js';

t.test('dirty_apps entries', async (t) => {
  t.same(parseDirtySpec('myapp.ml:MLApp'), {
    path: 'myapp.ml:MLApp',
    module: 'myapp.ml',
    exportName: 'MLApp',
    workers: null,
  });
  t.same(parseDirtySpec('lib/jobs.mjs:Jobs:2'), {
    path: 'lib/jobs.mjs:Jobs',
    module: 'lib/jobs.mjs',
    exportName: 'Jobs',
    workers: 2,
  });
  for (const bad of ['nocolon', ':X', 'm:', 'm:1', 'm:X:0', 'm:not-a-name']) t.equal(parseDirtySpec(bad), null, bad);
  t.same(validateDirtyApps('dirty_apps', 'a:B'), ['a:B'], 'one string is a list of one');
  t.throws(() => validateDirtyApps('dirty_apps', ['a:B', 'oops']), {
    code: 'GTS_ERR_INVALID_SETTING',
    setting: 'dirty_apps',
  });
  t.throws(() => validateDirtyApps('dirty_apps', 3), { setting: 'dirty_apps', value: 3 });
});

t.test('frames split anywhere are read whole; an oversized one is refused', async (t) => {
  const msgs = [
    { header: { id: 1, app: 'a:B' }, payload: v8.serialize([Buffer.from('x'), new Map([[1, 2]])]) },
    { header: { id: 2, s: 'é'.repeat(1000) }, payload: Buffer.alloc(0) },
    { header: { id: 3 }, payload: Buffer.alloc(70000, 7) },
  ];
  const bytes = Buffer.concat(msgs.map((m) => encodeFrame(m.header, m.payload)));
  for (const step of [1, 3, 7, 4096, bytes.length]) {
    const r = new FrameReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += step) out.push(...r.push(bytes.subarray(i, i + step)));
    t.same(
      out.map((f) => f.header),
      msgs.map((m) => m.header),
      `headers in chunks of ${step}`,
    );
    t.ok(
      out.every((f, i) => f.payload.equals(msgs[i].payload)),
      'and payloads',
    );
  }
  t.same(v8.deserialize(new FrameReader().push(bytes)[0].payload), [Buffer.from('x'), new Map([[1, 2]])]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(MAX_FRAME + 1);
  t.throws(() => new FrameReader().push(head), DirtyProtocolError);
  const junk = Buffer.from([0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0x00]);
  t.throws(() => new FrameReader().push(junk), DirtyProtocolError, 'an undecodable header');
  const short = Buffer.from([0, 0, 0, 5, 0, 0, 0, 9, 1]);
  t.throws(() => new FrameReader().push(short), DirtyProtocolError, 'a header longer than its frame');
});

t.test('the client: answers by id, errors by kind, a lost connection rejects pending calls', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gts-dirty-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 's');
  const conns = [];
  const server = net.createServer((c) => {
    conns.push(c);
    const r = new FrameReader();
    c.on('data', (d) => {
      for (const { header: m, payload } of r.push(d)) {
        const args = v8.deserialize(payload);
        if (m.action === 'hang') continue;
        if (m.action === 'slow')
          c.write(
            encodeFrame({ id: m.id, ok: false, error: { kind: 'DirtyTimeoutError', message: 'late', timeout: 5 } }),
          );
        // answers out of order: the second call first
        else
          setTimeout(
            () => c.write(encodeFrame({ id: m.id, ok: true }, v8.serialize([m.app, m.action, ...args]))),
            args[0],
          );
      }
    });
  });
  await new Promise((r) => server.listen(sock, r));
  t.teardown(() => server.close());
  const client = new DirtyClient(sock);
  const [a, b] = await Promise.all([client.execute('x:Y', 'f', 80), client.execute('x:Y', 'g', 1)]);
  t.same(a, ['x:Y', 'f', 80]);
  t.same(b, ['x:Y', 'g', 1]);
  await t.rejects(client.execute('x:Y', 'slow'), DirtyTimeoutError);
  const err = await client.execute('x:Y', 'slow').catch((e) => e);
  t.equal(err.timeout, 5);
  const hung = client.execute('x:Y', 'hang');
  await new Promise((r) => setTimeout(r, 50));
  for (const c of conns) c.destroy();
  await t.rejects(hung, DirtyConnectionError, 'a pending call fails when the pool goes away');
  t.same(await client.execute('x:Y', 'again', 0), ['x:Y', 'again', 0], 'the next call connects again');
  await t.rejects(
    client.execute('x:Y', 'f', () => 1),
    { name: 'DirtyError', message: /cannot be sent/ },
  );
  client.close();
  server.close();
  const gone = new DirtyClient(path.join(dir, 'nothing-here'));
  await t.rejects(gone.execute('x:Y', 'f', 0), DirtyConnectionError);
  t.type(getDirtyClient, 'function');
});
