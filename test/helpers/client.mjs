// Raw-socket HTTP/1.x client for tests: writes exact bytes (whole, in fixed
// pieces, or in random splits), parses every response that comes back.
import net from 'node:net';

export function parseResponses(buf, closed, bodiless = []) {
  const responses = [];
  let pos = 0;
  let partial = false;
  while (pos < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) {
      partial = true;
      break;
    }
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m)
      throw new Error(`garbage in response stream: ${JSON.stringify(buf.subarray(pos, pos + 80).toString('latin1'))}`);
    const status = Number(m[3]);
    const headers = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
    }
    const get = (n) => headers.filter((h) => h[0] === n).map((h) => h[1]);
    const start = headEnd + 4;
    const resp = {
      status,
      reason: m[4] ?? '',
      version: `HTTP/${m[1]}.${m[2]}`,
      headers,
      get: (n) => get(n)[0],
      raw: null,
      noBody: status >= 200 && bodiless[responses.filter((r) => r.status >= 200).length] === true,
    };
    if (status < 200) {
      resp.body = Buffer.alloc(0);
      responses.push(resp);
      pos = start;
      continue;
    }
    const te = get('transfer-encoding').join(',').toLowerCase();
    const cl = get('content-length');
    let end;
    if (status === 204 || status === 304 || resp.noBody) {
      resp.body = Buffer.alloc(0);
      end = start;
    } else if (te.endsWith('chunked')) {
      const parts = [];
      let p = start;
      let done = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size in response');
        p = le + 2;
        if (size === 0) {
          const te2 = buf.indexOf('\r\n', p, 'latin1');
          if (te2 < 0) break;
          p = te2 + 2;
          done = true;
          break;
        }
        if (buf.length < p + size + 2) break;
        parts.push(buf.subarray(p, p + size));
        p += size + 2;
      }
      if (!done) {
        partial = true;
        break;
      }
      resp.body = Buffer.concat(parts);
      end = p;
    } else if (cl.length) {
      const n = Number(cl[0]);
      if (buf.length - start < n) {
        partial = true;
        break;
      }
      resp.body = buf.subarray(start, start + n);
      end = start + n;
    } else {
      if (!closed) {
        partial = true;
        break;
      }
      resp.body = buf.subarray(start);
      end = buf.length;
    }
    resp.raw = buf.subarray(pos, end);
    responses.push(resp);
    pos = end;
  }
  return { responses, partial, trailing: buf.length - pos };
}

/**
 * Sends `data` on one connection and collects responses.
 * opts: pieces: 'whole' | number (fixed size) | 'random'; halfClose; expect (number of final
 * responses to wait for), settleMs, timeoutMs, delayMs between pieces, head (HEAD requests: bodiless)
 */
export function exchange(port, data, opts = {}) {
  const raw = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const {
    pieces = 'whole',
    halfClose = false,
    expect = 1,
    settleMs = 100,
    timeoutMs = 3000,
    delayMs = 0,
    host = '127.0.0.1',
    path,
    bodiless = [],
  } = opts;
  return new Promise((resolve, reject) => {
    const chunks = [];
    let closed = false;
    let reset = false;
    let finished = false;
    let settle = null;
    const sock = path ? net.connect(path) : net.connect(port, host);
    sock.setNoDelay(true);
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(overall);
      clearTimeout(settle);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      try {
        const parsed = parseResponses(buf, closed, bodiless);
        resolve({ ...parsed, closed, reset, buf });
      } catch (e) {
        reject(e);
      }
    };
    const overall = setTimeout(finish, timeoutMs);
    sock.on('connect', async () => {
      try {
        if (pieces === 'whole') sock.write(raw);
        else {
          let i = 0;
          while (i < raw.length && !finished) {
            const n = pieces === 'random' ? 1 + Math.floor(Math.random() * 9) : pieces;
            sock.write(raw.subarray(i, i + n));
            i += n;
            if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
            else await new Promise((r) => setImmediate(r));
          }
        }
        if (halfClose && !finished) sock.end();
      } catch {
        /* socket closed under us */
      }
    });
    sock.on('data', (d) => {
      chunks.push(d);
      let p;
      try {
        p = parseResponses(Buffer.concat(chunks), false, bodiless);
      } catch {
        return;
      }
      const finals = p.responses.filter((r) => r.status >= 200).length;
      if (finals >= expect && !p.partial) {
        clearTimeout(settle);
        settle = setTimeout(finish, settleMs);
      }
    });
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('error', (e) => {
      if (e.code === 'ECONNRESET') reset = true;
      closed = true;
      finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
  });
}

/** A simple request over a fresh connection. */
export async function request(port, { method = 'GET', path = '/', headers = {}, body, version = '1.1', ...opts } = {}) {
  let head = `${method} ${path} HTTP/${version}\r\n`;
  const h = { Host: 'localhost', ...headers };
  if (body !== undefined && h['Content-Length'] === undefined && h['Transfer-Encoding'] === undefined)
    h['Content-Length'] = String(Buffer.byteLength(body));
  for (const [k, v] of Object.entries(h)) if (v !== null) head += `${k}: ${v}\r\n`;
  const raw = Buffer.concat([
    Buffer.from(`${head}\r\n`, 'latin1'),
    body === undefined ? Buffer.alloc(0) : Buffer.from(body),
  ]);
  const r = await exchange(port, raw, opts);
  return r.responses[0]
    ? { ...r.responses[0], closed: r.closed, all: r.responses }
    : { status: 0, closed: r.closed, all: [] };
}

/**
 * Sends `text` on a fresh connection (ending the write side with halfClose) and resolves everything the
 * server sent, as latin1 text, once it closes.
 */
export function rawText(port, text, { halfClose = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => (halfClose ? s.end(text) : s.write(text)));
    const parts = [];
    s.on('data', (d) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
    s.on('error', reject);
  });
}
