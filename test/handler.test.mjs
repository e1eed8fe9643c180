// The WSGI handler contract over real sockets: bodies of every kind, close(),
// errors before and after headers, framing rules, wsgi.input, environ.
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';
import t from 'tap';

import { exchange, request } from './helpers/client.mjs';
import { startServer } from './helpers/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

t.test('array body: Content-Length set, one response with Server and Date', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', [['Content-Type', 'text/plain']]);
    return ['Hello, ', 'World'];
  });
  const r = await request(port);
  t.equal(r.status, 200);
  t.equal(r.get('content-length'), '12');
  t.equal(r.get('transfer-encoding'), undefined);
  t.equal(r.get('server'), 'gunicorn-ts');
  t.match(r.get('date'), /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  t.equal(r.get('connection'), 'keep-alive');
  t.equal(r.body.toString(), 'Hello, World');
});

t.test('strings are sent as UTF-8; Uint8Array as bytes', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', []);
    return ['é', new Uint8Array([0x41, 0x42])];
  });
  const r = await request(port);
  t.equal(r.get('content-length'), '4');
  t.same([...r.body], [0xc3, 0xa9, 0x41, 0x42]);
});

t.test('a Promise of an array', async (t) => {
  const { port } = await startServer(t, async (env, sr) => {
    await sleep(5);
    sr('201 Created', [['X-A', 'b']]);
    return ['ok'];
  });
  const r = await request(port);
  t.equal(r.status, 201);
  t.equal(r.reason, 'Created');
  t.equal(r.get('x-a'), 'b');
  t.equal(r.body.toString(), 'ok');
});

t.test('generators: chunked on HTTP/1.1, close-delimited on HTTP/1.0', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', []);
    return (function* () {
      yield 'a';
      yield '';
      yield 'b';
      yield 'c';
    })();
  });
  const r11 = await request(port);
  t.equal(r11.get('transfer-encoding'), 'chunked');
  t.equal(r11.body.toString(), 'abc');
  t.equal(r11.get('connection'), 'keep-alive');
  const r10 = await request(port, { version: '1.0' });
  t.equal(r10.get('transfer-encoding'), undefined);
  t.equal(r10.get('content-length'), undefined);
  t.equal(r10.get('connection'), 'close');
  t.equal(r10.body.toString(), 'abc');
  t.ok(r10.closed, 'HTTP/1.0 body ends with the connection');
});

t.test('async generators stream every chunk', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', [['Content-Type', 'text/plain']]);
    return (async function* () {
      for (let i = 0; i < 5; i++) {
        await sleep(2);
        yield `${i},`;
      }
    })();
  });
  const r = await request(port);
  t.equal(r.body.toString(), '0,1,2,3,4,');
});

t.test('close() is called exactly once: after success, after an error, after a disconnect', async (t) => {
  let closes = 0;
  let mode = 'ok';
  let gate;
  const app = (env, sr) => {
    sr('200 OK', []);
    const it = (async function* () {
      yield 'first';
      if (mode === 'throw') throw new Error('boom after headers');
      if (mode === 'hang') {
        await new Promise((r) => (gate = r));
        yield 'late';
      }
      yield 'last';
    })();
    it.close = () => {
      closes++;
    };
    return it;
  };
  const { port } = await startServer(t, app);
  await request(port);
  t.equal(closes, 1, 'after success');
  mode = 'throw';
  const r = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 1500 });
  t.equal(closes, 2, 'after an error');
  t.ok(r.closed, 'connection closed after a failure mid-body');
  t.notOk(r.buf.toString().endsWith('0\r\n\r\n'), 'the truncated chunked body is not terminated');
  mode = 'hang';
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((r) => sock.once('data', r));
  sock.destroy();
  for (let i = 0; i < 100 && closes < 3; i++) await sleep(20);
  t.equal(closes, 3, 'after the client went away (detected while the app waits)');
  gate?.();
  await sleep(20);
  t.equal(closes, 3, 'still once');
});

t.test('exceptions: 500 before headers; the worker keeps serving', async (t) => {
  let n = 0;
  const { port } = await startServer(t, (env, sr) => {
    n++;
    if (env.PATH_INFO === '/sync') throw new Error('sync boom');
    if (env.PATH_INFO === '/async') return Promise.reject(new Error('async boom'));
    if (env.PATH_INFO === '/nostart') return ['no start_response'];
    if (env.PATH_INFO === '/twice') {
      sr('200 OK', []);
      sr('200 OK', []);
    }
    if (env.PATH_INFO === '/notiter') {
      sr('200 OK', []);
      return 42;
    }
    if (env.PATH_INFO === '/badchunk') {
      sr('200 OK', []);
      return [{}];
    }
    sr('200 OK', []);
    return ['fine'];
  });
  for (const p of ['/sync', '/async', '/nostart', '/twice', '/notiter', '/badchunk']) {
    const r = await request(port, { path: p });
    t.equal(r.status, 500, `${p}: 500`);
    t.equal(r.get('connection'), 'close', `${p}: Connection: close`);
    t.match(r.body.toString(), /Internal Server Error/, `${p}: Gunicorn's error page`);
  }
  const ok = await request(port, { path: '/fine' });
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), 'fine');
  t.equal(n, 7);
});

t.test('an async application that throws after an await gets a 500; one that resolves later is answered', async (t) => {
  const { port } = await startServer(t, async (env, sr) => {
    await null;
    if (env.PATH_INFO === '/throw') throw new Error('boom after await');
    await sleep(5);
    sr('200 OK', []);
    return [env.PATH_INFO];
  });
  const r = await request(port, { path: '/throw' });
  t.equal(r.status, 500);
  t.match(r.body.toString(), /Internal Server Error/);
  const ok = await exchange(port, 'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n', {
    expect: 2,
    timeoutMs: 3000,
  });
  t.same(
    ok.responses.map((x) => `${x.status} ${x.body}`),
    ['200 /a', '200 /b'],
  );
});

t.test(
  'an async application that returns without waiting: answered from its fulfilled promise, in order; its errors are 500s',
  async (t) => {
    let ownThen = 0;
    const inner = async (env, sr) => {
      if (env.PATH_INFO === '/throw') throw new Error('boom before any await');
      if (env.PATH_INFO === '/nostart') return ['no start_response'];
      if (env.PATH_INFO === '/notiter') {
        sr('200 OK', []);
        return 42;
      }
      if (env.PATH_INFO === '/gen') {
        sr('200 OK', []);
        return (function* () {
          yield 'g1';
          yield 'g2';
        })();
      }
      if (env.PATH_INFO === '/wait') await sleep(5);
      sr('200 OK', [['X-Path', env.PATH_INFO]]);
      return [env.PATH_INFO];
    };
    const { port } = await startServer(t, (env, sr) => {
      const p = inner(env, sr);
      // an own then() on the promise: await does not call it on a native promise (it reads the promise
      // itself), and neither does the server on one already fulfilled; a pending one is still waited for
      p.then = function (...a) {
        ownThen++;
        return Promise.prototype.then.apply(this, a);
      };
      return p;
    });
    const r = await exchange(
      port,
      'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /gen HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n',
      { expect: 3, timeoutMs: 3000 },
    );
    t.same(
      r.responses.map((x) => `${x.status} ${x.get('x-path') ?? '-'} ${x.body}`),
      ['200 /a /a', '200 - g1g2', '200 /b /b'],
    );
    t.equal(r.responses[1].get('transfer-encoding'), 'chunked');
    t.equal(ownThen, 0, 'then() not called on a fulfilled promise');
    t.equal((await request(port, { path: '/wait' })).get('x-path'), '/wait');
    t.equal(ownThen, 1, 'then() called on the pending one');
    for (let i = 0; i < 10; i++) t.equal((await request(port, { path: `/c${i}` })).body.toString(), `/c${i}`);
    t.ok(ownThen <= 3, `a pending one does not turn off reading the state for good (then() called ${ownThen} times)`);
    for (const p of ['/throw', '/nostart', '/notiter']) {
      const e = await request(port, { path: p });
      t.equal(e.status, 500, `${p}: 500`);
      t.equal(e.get('connection'), 'close', `${p}: Connection: close`);
    }
    t.equal((await request(port, { path: '/c' })).body.toString(), '/c');
  },
);

t.test(
  'AsyncLocalStorage: a store entered per request holds across its awaits, with requests interleaved; the store around the server holds in every request',
  async (t) => {
    const als = new AsyncLocalStorage();
    const outer = new AsyncLocalStorage();
    const seen = [];
    const app = (env, sr) =>
      als.run({ path: env.PATH_INFO }, async () => {
        const before = als.getStore().path;
        // /now/*: no await (answered from the fulfilled promise); /wait/*: awaits, interleaved with the others
        if (env.PATH_INFO.startsWith('/wait/')) {
          await sleep(Math.random() * 20);
          await null;
        }
        const after = als.getStore().path;
        seen.push(`${env.PATH_INFO} ${outer.getStore()?.srv}`);
        sr('200 OK', []);
        return (async function* () {
          await sleep(1);
          yield `${before} ${after} ${outer.getStore()?.srv}`;
        })();
      });
    const { port } = await outer.run({ srv: 'outer' }, () => startServer(t, app));
    const paths = [];
    for (let i = 0; i < 8; i++) paths.push(`/now/${i}`, `/wait/${i}`);
    const bodies = await Promise.all(paths.map((p) => request(port, { path: p }).then((r) => r.body.toString())));
    t.same(
      bodies,
      paths.map((p) => `${p} ${p} outer`),
    );
    t.same(seen.sort(), paths.map((p) => `${p} outer`).sort());
    // pipelined on one connection: each request sees its own store
    const raw = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
    const r = await exchange(port, raw, { expect: paths.length, timeoutMs: 5000 });
    t.same(
      r.responses.map((x) => x.body.toString()),
      paths.map((p) => `${p} ${p} outer`),
    );
  },
);

t.test(
  "a connection slot reused while an aborted request's application still runs: the new request gets its body and its answer",
  async (t) => {
    let release = null;
    const { port } = await startServer(t, async (env, sr) => {
      if (env.PATH_INFO === '/wait') {
        await new Promise((r) => (release = r));
        sr('200 OK', []);
        return ['late'];
      }
      const body = await env['wsgi.input'].read();
      sr('200 OK', []);
      return [body];
    });
    // A: its application waits; the client resets the connection (an abort, its slot is freed)
    const a = net.connect(port, '127.0.0.1');
    await new Promise((r) => a.on('connect', r));
    a.write('GET /wait HTTP/1.1\r\nHost: a\r\n\r\n');
    for (let i = 0; i < 200 && release === null; i++) await sleep(5);
    t.ok(release, 'the first application is waiting');
    a.resetAndDestroy();
    await sleep(100);
    // B: most likely the same slot (freed slots are reused last-in first-out); half its body now
    const b = net.connect(port, '127.0.0.1');
    let buf = '';
    b.on('data', (d) => {
      buf += d;
    });
    await new Promise((r) => b.on('connect', r));
    b.write('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello');
    await sleep(100);
    release(); // A's application finishes (its response goes nowhere) while B's body is half read
    await sleep(50);
    b.write('world');
    for (let i = 0; i < 200 && !buf.endsWith('helloworld'); i++) await sleep(10);
    t.match(buf, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhelloworld$/);
    b.destroy();
  },
);

t.test('a thenable that is not a Promise: resolved later, thrown from then(), called back twice', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    if (env.PATH_INFO === '/later') {
      return {
        then(ok) {
          setTimeout(() => {
            sr('200 OK', []);
            ok(['later']);
          }, 5);
        },
      };
    }
    if (env.PATH_INFO === '/throws') {
      return {
        then() {
          throw new Error('then() threw');
        },
      };
    }
    // calls back twice, and once more with an error: only the first counts (as with await)
    return {
      then(ok, fail) {
        sr('200 OK', []);
        ok(['once']);
        ok(['twice']);
        fail(new Error('too late'));
      },
    };
  });
  t.equal((await request(port, { path: '/later' })).body.toString(), 'later');
  const r = await request(port, { path: '/throws' });
  t.equal(r.status, 500);
  const two = await exchange(port, 'GET /twice HTTP/1.1\r\nHost: a\r\n\r\nGET /later HTTP/1.1\r\nHost: a\r\n\r\n', {
    expect: 2,
    timeoutMs: 3000,
  });
  t.same(
    two.responses.map((x) => `${x.status} ${x.body}`),
    ['200 once', '200 later'],
  );
});

t.test('start_response with exc_info replaces the status before headers are sent', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    sr('200 OK', [['X-A', '1']]);
    sr('503 Service Unavailable', [['Retry-After', '1']], new Error('x'));
    return ['try later'];
  });
  const r = await request(port);
  t.equal(r.status, 503);
  t.equal(r.get('retry-after'), '1');
  t.equal(r.get('x-a'), undefined);
});

t.test('Content-Length from the app: extra bytes dropped, a short body closes the connection', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    if (env.PATH_INFO === '/long') {
      sr('200 OK', [['Content-Length', '3']]);
      return ['abcdef'];
    }
    sr('200 OK', [['Content-Length', '10']]);
    return (function* () {
      yield 'abc';
    })();
  });
  const long = await exchange(port, 'GET /long HTTP/1.1\r\nHost: a\r\n\r\nGET /long HTTP/1.1\r\nHost: a\r\n\r\n', {
    expect: 2,
  });
  t.equal(long.responses.length, 2, 'keep-alive survives truncation');
  t.equal(long.responses[0].body.toString(), 'abc');
  const short = await exchange(port, 'GET /short HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 1500 });
  t.ok(short.closed, 'a response shorter than its Content-Length ends with a close');
});

t.test('no body for HEAD, 204 and 304; hop-by-hop headers from the app are dropped', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    const st = env.PATH_INFO === '/204' ? '204 No Content' : env.PATH_INFO === '/304' ? '304 Not Modified' : '200 OK';
    sr(st, [
      ['Connection', 'close'],
      ['Transfer-Encoding', 'gzip'],
      ['Server', 'evil'],
      ['Date', 'x'],
      ['Keep-Alive', '1'],
      ['X-Kept', 'yes'],
    ]);
    return ['body bytes'];
  });
  const raw =
    'HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n';
  const r = await exchange(port, raw, { expect: 4, bodiless: [true] });
  // HEAD's response carries the GET's Content-Length but no body
  const text = r.buf.toString('latin1');
  const parts = text.split('HTTP/1.1 ').slice(1);
  t.equal(parts.length, 4, 'four responses, in order');
  t.match(parts[0], /^200 OK\r\n[\s\S]*Content-Length: 10\r\n\r\n$/);
  t.match(parts[1], /^204 No Content\r\n[\s\S]*\r\n\r\n$/);
  t.notMatch(parts[1], /Content-Length/);
  t.match(parts[2], /^304 Not Modified\r\n[\s\S]*\r\n\r\n$/);
  t.match(parts[3], /body bytes$/);
  for (const p of parts) {
    t.match(p, /Server: gunicorn-ts\r\n/);
    t.notMatch(p, /evil|Transfer-Encoding|Keep-Alive|Date: x/);
    t.match(p, /Connection: keep-alive/);
    t.match(p, /X-Kept: yes/);
  }
});

t.test('repeated and changing heads: every response carries what its start_response() got', async (t) => {
  // The native core keeps recent validated heads (lib/http/head-cache.ts): 60
  // pipelined requests over 25 distinct heads cycle through every slot.
  const statuses = ['200 OK', '201 Created', '202 Accepted'];
  const { port } = await startServer(t, (env, sr) => {
    const i = Number(env.PATH_INFO.slice(1));
    sr(statuses[i % 3], [
      ['Content-Type', 'text/plain'],
      ['X-N', String(i % 25)],
    ]);
    return [`n${i}`];
  });
  const raw = Array.from({ length: 60 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
  const r = await exchange(port, raw, { expect: 60 });
  t.equal(r.responses.length, 60);
  r.responses.forEach((res, i) => {
    t.equal(`${res.status} ${res.reason}`, statuses[i % 3], `response ${i}: status`);
    t.equal(res.get('x-n'), String(i % 25), `response ${i}: header`);
    t.equal(res.body.toString(), `n${i}`, `response ${i}: body`);
  });
});

t.test('headers mutated after start_response() are not what gets sent', async (t) => {
  const H = [['X-V', '']];
  const { port } = await startServer(t, (env, sr) => {
    H[0][1] = env.PATH_INFO.slice(1);
    sr('200 OK', H);
    H[0][1] = 'mutated';
    return ['x'];
  });
  const raw = ['a', 'a', 'b', 'a', 'mutated'].map((p) => `GET /${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
  const r = await exchange(port, raw, { expect: 5 });
  t.same(
    r.responses.map((res) => res.get('x-v')),
    ['a', 'a', 'b', 'a', 'mutated'],
  );
});

t.test('a remembered head reused by other requests while an async app waits is sent again in full', async (t) => {
  let release;
  const gate = new Promise((r) => {
    release = r;
  });
  const { port } = await startServer(t, async (env, sr) => {
    if (env.PATH_INFO === '/prime' || env.PATH_INFO === '/slow') {
      const H = [['X-K', 'slow']];
      sr('200 OK', H);
      H[0][1] = '/after'; // mutated after start_response(): must not be remembered as this head
      if (env.PATH_INFO === '/slow') await gate;
      return ['slow'];
    }
    sr('200 OK', [['X-K', env.PATH_INFO]]);
    return ['other'];
  });
  t.equal((await request(port, { path: '/prime' })).get('x-k'), 'slow');
  const slow = exchange(port, 'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n', { timeoutMs: 5000 });
  await sleep(50); // /slow has called start_response() with the remembered head
  const raw = Array.from({ length: 40 }, (_, i) => `GET /d${i} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
  const others = await exchange(port, raw, { expect: 40 });
  t.equal(others.responses.length, 40);
  t.equal(others.responses[39].get('x-k'), '/d39');
  release();
  const r = await slow;
  t.equal(r.responses[0]?.status, 200);
  t.equal(r.responses[0]?.get('x-k'), 'slow');
  t.equal(r.responses[0]?.body.toString(), 'slow');
  t.equal((await request(port, { path: '/after' })).get('x-k'), '/after', 'a later head is its own');
});

t.test('repeated request headers are joined with commas in environ, in order', async (t) => {
  // environ keys that repeat are found through a hash filter in the native core
  // (native/src/addon.cc): known and unknown names, and two spellings of one key
  const seen = [];
  const app = (env, sr) => {
    seen.push(
      Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('HTTP_') || k.startsWith('CONTENT_'))),
    );
    sr('200 OK', []);
    return ['x'];
  };
  const { port } = await startServer(t, app);
  await request(port, { headers: { Accept: 'a', 'X-One': '1', 'X-Two': '2', accept: 'b', 'x-one': '3' } });
  t.equal(seen[0].HTTP_ACCEPT, 'a,b');
  t.equal(seen[0].HTTP_X_ONE, '1,3');
  t.equal(seen[0].HTTP_X_TWO, '2');
  // 90 distinct names (limit_request_fields is 100): each appears once, none joined
  const many = Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`X-H${i}`, `v${i}`]));
  await request(port, { headers: many });
  t.equal(Object.keys(seen[1]).length, 91);
  t.ok(Array.from({ length: 90 }, (_, i) => seen[1][`HTTP_X_H${i}`] === `v${i}`).every(Boolean), 'every value intact');
  // header_map=dangerous: X-Forwarded-For (a known name) and X_Forwarded_For share one environ key
  const { port: p2 } = await startServer(t, app, { header_map: 'dangerous' });
  const raw = 'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX_Forwarded_For: 2.2.2.2\r\n\r\n';
  await exchange(p2, raw);
  t.equal(seen[2].HTTP_X_FORWARDED_FOR, '1.1.1.1,2.2.2.2');
});

t.test('PEP 3333 write() callable', async (t) => {
  const { port } = await startServer(t, (env, sr) => {
    const w = sr('200 OK', []);
    w('one,');
    w('two,');
    return ['three'];
  });
  const r = await request(port);
  t.equal(r.body.toString(), 'one,two,three');
});

t.test('wsgi.input: read, read(n), readline, readlines, for await', async (t) => {
  const { port } = await startServer(t, async (env, sr) => {
    const inp = env['wsgi.input'];
    let out;
    switch (env.PATH_INFO) {
      case '/read':
        out = (await inp.read()).toString();
        break;
      case '/readn':
        out = [(await inp.read(3)).toString(), (await inp.read(100)).toString(), (await inp.read(5)).length].join('|');
        break;
      case '/readline':
        out = [
          (await inp.readline()).toString(),
          (await inp.readline(2)).toString(),
          (await inp.readline()).toString(),
        ].join('|');
        break;
      case '/readlines':
        out = (await inp.readlines()).map(String).join('|');
        break;
      default: {
        const parts = [];
        for await (const c of inp) parts.push(c.toString());
        out = parts.join('');
      }
    }
    sr('200 OK', []);
    return [out];
  });
  const body = 'line1\nline2\nline3';
  t.equal((await request(port, { method: 'POST', path: '/read', body })).body.toString(), body);
  t.equal((await request(port, { method: 'POST', path: '/readn', body })).body.toString(), 'lin|e1\nline2\nline3|0');
  t.equal((await request(port, { method: 'POST', path: '/readline', body })).body.toString(), 'line1\n|li|ne2\n');
  t.equal((await request(port, { method: 'POST', path: '/readlines', body })).body.toString(), 'line1\n|line2\n|line3');
  t.equal((await request(port, { method: 'POST', path: '/iter', body })).body.toString(), body);
  // chunked upload with trailers, delivered in small pieces
  const chunked = await exchange(
    port,
    'POST /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n',
    { pieces: 4 },
  );
  t.equal(chunked.responses[0].body.toString(), 'hello world');
  // a body larger than one read, streamed
  const big = 'x'.repeat(3 * 1024 * 1024);
  t.equal(
    (await request(port, { method: 'POST', path: '/read', body: big, timeoutMs: 10000 })).body.length,
    big.length,
  );
});

t.test('request-body backpressure: the server stops reading while the app does not', async (t) => {
  let release;
  const released = new Promise((r) => (release = r));
  const { port } = await startServer(t, async (env, sr) => {
    await released;
    let n = 0;
    for await (const c of env['wsgi.input']) n += c.length;
    sr('200 OK', []);
    return [String(n)];
  });
  const size = 64 * 1024 * 1024;
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  const chunks = [];
  sock.on('data', (d) => chunks.push(d));
  sock.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
  sock.write(Buffer.alloc(size, 0x61));
  await sleep(800);
  t.ok(
    sock.writableLength > size / 2,
    `the client is still holding ${sock.writableLength} bytes: the server paused reading`,
  );
  release();
  await new Promise((r) => sock.on('drain', r));
  for (let i = 0; i < 200 && !Buffer.concat(chunks).toString().endsWith(String(size)); i++) await sleep(25);
  t.match(
    Buffer.concat(chunks).toString(),
    new RegExp(`\\r\\n\\r\\n${size}$`),
    'the whole body arrived once the app read it',
  );
  sock.destroy();
});

t.test('Expect: 100-continue is answered before the body is sent', async (t) => {
  const { port } = await startServer(t, async (env, sr) => {
    const b = await env['wsgi.input'].read();
    sr('200 OK', []);
    return [b];
  });
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString();
  });
  sock.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  for (let i = 0; i < 100 && !buf.includes('100 Continue'); i++) await sleep(10);
  t.equal(buf, 'HTTP/1.1 100 Continue\r\n\r\n');
  sock.write('hello');
  for (let i = 0; i < 100 && !buf.endsWith('hello'); i++) await sleep(10);
  t.match(buf, /HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nhello$/);
  sock.destroy();
});

t.test('pipelining: 16 requests in one write, answered strictly in order', async (t) => {
  const { port } = await startServer(t, async (env, sr) => {
    await sleep(Math.random() * 10);
    sr('200 OK', []);
    return [env.PATH_INFO];
  });
  let raw = '';
  for (let i = 0; i < 16; i++) raw += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  const r = await exchange(port, raw, { expect: 16, timeoutMs: 5000 });
  t.same(
    r.responses.map((x) => x.body.toString()),
    Array.from({ length: 16 }, (_, i) => `/${i}`),
  );
});

t.test('keep-alive rules and the idle timeout', async (t) => {
  const { port } = await startServer(
    t,
    (env, sr) => {
      sr('200 OK', []);
      return ['x'];
    },
    { keepalive: 1 },
  );
  let r = await exchange(
    port,
    'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n',
    { expect: 2, timeoutMs: 1500 },
  );
  t.equal(r.responses.length, 2, 'HTTP/1.0 keep-alive keeps the connection for exactly one more request');
  t.equal(r.responses[0].get('connection'), 'keep-alive');
  t.equal(r.responses[1].get('connection'), 'close');
  r = await exchange(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', {
    timeoutMs: 1500,
  });
  t.equal(r.responses.length, 1, 'Connection: close is honoured');
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  const t0 = Date.now();
  sock.resume();
  sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await new Promise((res) => sock.on('close', res));
  const idle = Date.now() - t0;
  t.ok(idle >= 900 && idle < 3000, `idle keep-alive connection closed after ${idle} ms (keepalive=1)`);
});

t.test('keepalive=0 disables keep-alive', async (t) => {
  const { port } = await startServer(
    t,
    (env, sr) => {
      sr('200 OK', []);
      return ['x'];
    },
    { keepalive: 0 },
  );
  const r = await request(port);
  t.equal(r.get('connection'), 'close');
  t.ok(r.closed);
});

t.test('a client that trickles its head is cut off after header_timeout; others are served', async (t) => {
  const { port } = await startServer(
    t,
    (env, sr) => {
      sr('200 OK', []);
      return ['x'];
    },
    { header_timeout: 1 },
  );
  const slow = net.connect(port, '127.0.0.1');
  // the server closes while this client still writes: the kernel may answer a later write with a reset,
  // which is as good a cut-off as a FIN (it surfaced as an uncaught ECONNRESET on loaded machines)
  slow.on('error', (e) => t.equal(e.code, 'ECONNRESET', 'a reset, if any, is the cut-off'));
  await new Promise((res) => slow.on('connect', res));
  slow.resume();
  slow.write('GET / HTTP/1.1\r\n');
  const t0 = Date.now();
  const timer = setInterval(() => slow.write('X-Slow: 1\r\n'), 200);
  const ok = await request(port);
  t.equal(ok.status, 200, 'a normal client is served meanwhile');
  await new Promise((res) => slow.on('close', res));
  clearInterval(timer);
  const took = Date.now() - t0;
  t.ok(took >= 900 && took < 3000, `slow client closed after ${took} ms`);
});

t.test('limits: request line 400, header count 431, header size 431', async (t) => {
  const { port } = await startServer(
    t,
    (env, sr) => {
      sr('200 OK', []);
      return ['x'];
    },
    { limit_request_line: 100, limit_request_fields: 5, limit_request_field_size: 200 },
  );
  t.equal((await request(port, { path: `/${'a'.repeat(100)}` })).status, 400);
  t.equal((await request(port, { path: `/${'a'.repeat(80)}` })).status, 200);
  const many = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`X-${i}`, 'v']));
  t.equal((await request(port, { headers: { ...many, Host: null } })).status, 431);
  t.equal((await request(port, { headers: { 'X-Big': 'v'.repeat(200) } })).status, 431);
  t.equal((await request(port, { headers: { 'X-Big': 'v'.repeat(150) } })).status, 200);
});

t.test('limit_request_body: 413 for a body over the limit', async (t) => {
  const { port } = await startServer(
    t,
    async (env, sr) => {
      const b = await env['wsgi.input'].read();
      sr('200 OK', []);
      return [String(b.length)];
    },
    { limit_request_body: 10 },
  );
  t.equal((await request(port, { method: 'POST', body: 'x'.repeat(10) })).status, 200);
  t.equal((await request(port, { method: 'POST', body: 'x'.repeat(11) })).status, 413);
  const r = await exchange(
    port,
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n',
  );
  t.equal(r.responses[0].status, 413, 'chunked bodies are counted too');
});

t.test('environ carries the PEP 3333 keys with Gunicorn values', async (t) => {
  let env;
  const { port } = await startServer(t, (e, sr) => {
    env = e;
    sr('200 OK', []);
    return [];
  });
  await request(port, {
    path: '/a%20b/c%2Fd?x=1&y=%20#frag',
    headers: { 'X-Forwarded-Proto': 'https', 'X-Dup': 'a', 'x-dup': 'b', 'Content-Type': 'text/plain' },
    method: 'PUT',
    body: 'q',
  });
  t.equal(env.REQUEST_METHOD, 'PUT');
  t.equal(env.SCRIPT_NAME, '');
  t.equal(env.PATH_INFO, '/a b/c/d', 'percent-decoded');
  t.equal(env.QUERY_STRING, 'x=1&y=%20', 'not decoded');
  t.equal(env.RAW_URI, '/a%20b/c%2Fd?x=1&y=%20#frag');
  t.equal(env.SERVER_NAME, '127.0.0.1');
  t.equal(env.SERVER_PORT, String(port));
  t.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
  t.equal(env.REMOTE_ADDR, '127.0.0.1');
  t.match(env.REMOTE_PORT, /^\d+$/);
  t.equal(env.CONTENT_TYPE, 'text/plain');
  t.equal(env.CONTENT_LENGTH, '1');
  t.equal(env.HTTP_CONTENT_TYPE, undefined);
  t.equal(env.HTTP_X_DUP, 'a,b');
  t.equal(env.HTTP_HOST, 'localhost');
  t.same(env['wsgi.version'], [1, 0]);
  t.equal(env['wsgi.url_scheme'], 'https', 'X-Forwarded-Proto from a trusted peer (127.0.0.1)');
  t.equal(env['wsgi.multithread'], false);
  t.equal(env['wsgi.multiprocess'], false);
  t.equal(env['wsgi.run_once'], false);
  t.equal(env['wsgi.input_terminated'], true);
  t.equal(typeof env['wsgi.errors'].write, 'function');
  t.match(env.SERVER_SOFTWARE, /^gunicorn-ts\/\d+\.\d+\.\d+/);
  // an untrusted peer cannot set the scheme
  const { port: p2 } = await startServer(
    t,
    (e, sr) => {
      env = e;
      sr('200 OK', []);
      return [];
    },
    { forwarded_allow_ips: '10.0.0.1' },
  );
  await request(p2, { headers: { 'X-Forwarded-Proto': 'https' } });
  t.equal(env['wsgi.url_scheme'], 'http');
  // contradictory scheme headers from a trusted peer are a 400
  const bad = await request(port, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Ssl': 'off' } });
  t.equal(bad.status, 400);
});

t.test('wsgi.file_wrapper streams a file in blocks and closes it (sendfile off)', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const p = `${os.tmpdir()}/gts-fw-${process.pid}.bin`;
  const data = Buffer.alloc(100_000, 'z');
  fs.writeFileSync(p, data);
  t.teardown(() => fs.rmSync(p, { force: true }));
  let wrapper;
  const { port } = await startServer(
    t,
    async (env, sr) => {
      sr('200 OK', [['Content-Type', 'application/octet-stream']]);
      const fh = await fs.promises.open(p);
      wrapper = new env['wsgi.file_wrapper'](fh, 4096);
      return wrapper;
    },
    { sendfile: false },
  ); // with sendfile (the default) the native core sends it: test/sendfile.test.mjs
  const r = await request(port, { timeoutMs: 5000 });
  t.equal(r.status, 200);
  t.equal(r.get('transfer-encoding'), 'chunked');
  t.ok(r.body.equals(data), 'the whole file');
  await sleep(20);
  t.equal(wrapper.closed, true, 'close() closed the file');
});

t.test(
  'an async answer to a request whose client left never reaches the next client on the connection slot',
  async (t) => {
    const { port } = await startServer(t, async (env, sr) => {
      await sleep(env.PATH_INFO === '/left' ? 300 : 600);
      sr('200 OK', [['Content-Type', 'text/plain']]);
      return [`answer to ${env.PATH_INFO}\n`];
    });
    const gone = net.connect(port, '127.0.0.1');
    gone.on('error', () => {});
    gone.write('GET /left HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(80);
    gone.destroy(); // the application of /left still works; the slot is free for the next connection
    await sleep(80);
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d));
    s.write('GET /stay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => s.on('close', r));
    t.match(data, /^HTTP\/1.1 200 OK\r\n[^]*\r\n\r\nanswer to \/stay\n$/);
  },
);
