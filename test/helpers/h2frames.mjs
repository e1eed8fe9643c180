// A small raw HTTP/2 client for tests: builds frames byte by byte (RFC 9113 §4, §6), encodes header blocks
// from hand-chosen HPACK representations (RFC 7541: static-table indexes, literals, size updates, Huffman),
// decodes the server's frames and header blocks, and resolves on GOAWAY, RST_STREAM or close, always within a
// time bound. It validates nothing on purpose: the tests send broken frames.
import net from 'node:net';
import tls from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** frame types (RFC 9113 §6) */
export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
};
export const TYPE_NAME = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));

/** flags */
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };

/** error codes (RFC 9113 §7) */
export const E = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
};
export const ERROR_NAME = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k]));
export const errorName = (code) => ERROR_NAME[code] ?? `0x${code.toString(16)}`;

/** SETTINGS identifiers (RFC 9113 §6.5.2) */
export const S = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
};

const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

// ---------------------------------------------------------------------------------------------------------
// Frames

/**
 * One frame: 9-octet header + payload. `length` overrides the length field (a lie about the payload size);
 * `reserved` sets the R bit of the stream identifier.
 */
export function frame(type, flags, stream, payload = Buffer.alloc(0), { length, reserved = false } = {}) {
  const p = Buffer.from(payload);
  const h = Buffer.alloc(9);
  const len = length ?? p.length;
  h.writeUIntBE(len, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(((stream & 0x7fffffff) | (reserved ? 0x80000000 : 0)) >>> 0, 5);
  return Buffer.concat([h, p]);
}

/** padding: pad = number of padding octets (adds the Pad Length octet and sets PADDED); padLength overrides it */
function padded(body, { pad, padLength } = {}) {
  if (pad === undefined && padLength === undefined) return { body, flag: 0 };
  const n = pad ?? 0;
  return { body: Buffer.concat([Buffer.from([padLength ?? n]), body, Buffer.alloc(n)]), flag: F.PADDED };
}

export function settings(entries = [], { ack = false, stream = 0, ...o } = {}) {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v >>> 0, i * 6 + 2);
  });
  return frame(T.SETTINGS, ack ? F.ACK : 0, stream, p, o);
}

export const settingsAck = () => settings([], { ack: true });

export function ping(data = Buffer.from('h2-tests'), { ack = false, stream = 0, flags = 0, ...o } = {}) {
  return frame(T.PING, (ack ? F.ACK : 0) | flags, stream, data, o);
}

export function goaway(lastStream, code, debug = '', { stream = 0, ...o } = {}) {
  return frame(T.GOAWAY, 0, stream, Buffer.concat([u32(lastStream & 0x7fffffff), u32(code), Buffer.from(debug)]), o);
}

export const rstStream = (stream, code, o = {}) => frame(T.RST_STREAM, 0, stream, u32(code), o);

export const windowUpdate = (stream, increment, o = {}) => frame(T.WINDOW_UPDATE, 0, stream, u32(increment), o);

function priorityFields({ dep = 0, weight = 16, exclusive = false }) {
  return Buffer.concat([u32(((dep & 0x7fffffff) | (exclusive ? 0x80000000 : 0)) >>> 0), Buffer.from([weight - 1])]);
}

export const priority = (stream, prio = {}, o = {}) => frame(T.PRIORITY, 0, stream, priorityFields(prio), o);

/** HEADERS; `priority: {dep, weight, exclusive}` adds the PRIORITY fields */
export function headers(
  stream,
  block,
  { endStream = false, endHeaders = true, pad, padLength, priority: prio, flags = 0, ...o } = {},
) {
  let body = Buffer.from(block);
  let fl = flags;
  if (prio) {
    body = Buffer.concat([priorityFields(prio), body]);
    fl |= F.PRIORITY;
  }
  const pd = padded(body, { pad, padLength });
  fl |= pd.flag | (endStream ? F.END_STREAM : 0) | (endHeaders ? F.END_HEADERS : 0);
  return frame(T.HEADERS, fl, stream, pd.body, o);
}

export const continuation = (stream, block, { endHeaders = true, flags = 0, ...o } = {}) =>
  frame(T.CONTINUATION, flags | (endHeaders ? F.END_HEADERS : 0), stream, block, o);

export function data(stream, payload, { endStream = false, pad, padLength, flags = 0, ...o } = {}) {
  const pd = padded(Buffer.from(payload), { pad, padLength });
  return frame(T.DATA, flags | pd.flag | (endStream ? F.END_STREAM : 0), stream, pd.body, o);
}

export const pushPromise = (stream, promised, block, { endHeaders = true, ...o } = {}) =>
  frame(T.PUSH_PROMISE, endHeaders ? F.END_HEADERS : 0, stream, Buffer.concat([u32(promised), block]), o);

// ---------------------------------------------------------------------------------------------------------
// HPACK (RFC 7541)

/** The static table, RFC 7541 Appendix A (index 1..61). */
export const STATIC = [
  null,
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_NAME = new Map();
for (let i = STATIC.length - 1; i >= 1; i--) STATIC_NAME.set(STATIC[i][0], i);

// The Huffman code of RFC 7541 Appendix B is canonical: codes are assigned in order of (length, symbol). So
// the code lengths of the 257 symbols (0..255 and EOS) define it; one letter per symbol, 'a' = 5 bits.
const HUFFMAN_LENGTHS =
  'isxxxxxxxtzxxzxxxxxxxxzxxxxxxxxxbffhibdgffdgdbbbaaabbbbbbbcdkbhfibccccccccccccccccccccccdcdioijbkabababbbaccbbbab' +
  'cbaabccccckgjixprpprrrsrssssststtrstssssqrsrsstrqprrssqsrrtqrssqqrqsrssprrrsrrsvvporsruvvvwwvtuoqvwwvwtqqvvxwwwp' +
  'tpqrqqsrruuttvsvwvvwwwwwxwwwwwvz';
const HUFF = (() => {
  const len = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 97 + 5);
  const order = len.map((l, s) => s).sort((a, b) => len[a] - len[b] || a - b);
  const code = new Array(257);
  let c = 0;
  order.forEach((s, i) => {
    if (i > 0) c = (c + 1) * 2 ** (len[s] - len[order[i - 1]]);
    code[s] = c;
  });
  const decode = new Map(); // `${bits}:${code}` -> symbol
  for (let s = 0; s < 257; s++) decode.set(`${len[s]}:${code[s]}`, s);
  return { len, code, decode };
})();

/** Huffman-encodes a string (UTF-8) or a Buffer */
export function huffmanEncode(str) {
  const bytes = Buffer.isBuffer(str) ? str : Buffer.from(str);
  const out = [];
  let acc = 0n;
  let n = 0;
  for (const b of bytes) {
    acc = (acc << BigInt(HUFF.len[b])) | BigInt(HUFF.code[b]);
    n += HUFF.len[b];
    while (n >= 8) {
      n -= 8;
      out.push(Number((acc >> BigInt(n)) & 0xffn));
    }
    acc &= (1n << BigInt(n)) - 1n;
  }
  if (n > 0) out.push(Number(((acc << BigInt(8 - n)) | ((1n << BigInt(8 - n)) - 1n)) & 0xffn)); // EOS prefix
  return Buffer.from(out);
}

/** Decodes a Huffman string; throws on EOS inside, padding > 7 bits or padding that is not all ones. */
export function huffmanDecode(buf) {
  const out = [];
  let code = 0;
  let bits = 0;
  for (const byte of buf) {
    for (let i = 7; i >= 0; i--) {
      code = code * 2 + ((byte >> i) & 1);
      bits++;
      if (bits < 5) continue;
      const s = HUFF.decode.get(`${bits}:${code}`);
      if (s === undefined) {
        if (bits > 30) throw new Error('huffman: invalid code');
        continue;
      }
      if (s === 256) throw new Error('huffman: EOS in string');
      out.push(s);
      code = 0;
      bits = 0;
    }
  }
  if (bits > 7) throw new Error('huffman: padding longer than 7 bits');
  if (code !== 2 ** bits - 1) throw new Error('huffman: padding is not the EOS prefix');
  return Buffer.from(out);
}

/** HPACK representations, each a Buffer; join them with Buffer.concat (or hpack.block(...parts)). */
export const hpack = {
  /** integer with an N-bit prefix (§5.1); `high` = the bits above the prefix in the first octet */
  int(value, prefixBits, high = 0) {
    const max = 2 ** prefixBits - 1;
    if (value < max) return Buffer.from([high | value]);
    const out = [high | max];
    let v = value - max;
    while (v >= 128) {
      out.push((v % 128) + 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return Buffer.from(out);
  },
  /** string literal (§5.2); huffman: true encodes with the Huffman code */
  str(s, { huffman = false } = {}) {
    const b = huffman ? huffmanEncode(s) : Buffer.from(s);
    return Buffer.concat([hpack.int(b.length, 7, huffman ? 0x80 : 0), b]);
  },
  /** raw Huffman bytes as a string literal (for broken encodings) */
  huffmanRaw(bytes) {
    const b = Buffer.from(bytes);
    return Buffer.concat([hpack.int(b.length, 7, 0x80), b]);
  },
  /** indexed header field (§6.1) */
  indexed: (i) => hpack.int(i, 7, 0x80),
  /**
   * literal header field (§6.2): name = a table index or a string; mode 'without' (0000), 'incremental' (01),
   * 'never' (0001)
   */
  literal(name, value, { mode = 'without', huffman = false } = {}) {
    const [bits, high] = { incremental: [6, 0x40], without: [4, 0x00], never: [4, 0x10] }[mode];
    const head =
      typeof name === 'number'
        ? hpack.int(name, bits, high)
        : Buffer.concat([Buffer.from([high]), hpack.str(name, { huffman })]);
    return Buffer.concat([head, hpack.str(value, { huffman })]);
  },
  /** dynamic table size update (§6.3) */
  sizeUpdate: (n) => hpack.int(n, 5, 0x20),
  /** a field by its name: static index for the name where there is one, else a literal name */
  field(name, value, o) {
    for (let i = 1; i < STATIC.length; i++)
      if (STATIC[i][0] === name && STATIC[i][1] === value) return hpack.indexed(i);
    return hpack.literal(STATIC_NAME.get(name) ?? name, value, o);
  },
  block: (...parts) => Buffer.concat(parts.flat()),
  /**
   * A request header block. Pseudo-headers first (in the order given by `pseudo` if set), then `fields`
   * ([name, value] pairs, sent as given).
   */
  request({ method = 'GET', path = '/', scheme = 'http', authority = '127.0.0.1', fields = [], pseudo } = {}) {
    const p = pseudo ?? [
      [':method', method],
      [':scheme', scheme],
      [':path', path],
      [':authority', authority],
    ];
    return Buffer.concat([...p.map(([n, v]) => hpack.field(n, v)), ...fields.map(([n, v]) => hpack.field(n, v))]);
  },
};

/** HPACK decoder with a dynamic table, for the server's header blocks. Throws on a bad block. */
export class HpackDecoder {
  constructor(maxSize = 4096) {
    this.max = maxSize;
    this.size = 0;
    this.dyn = []; // newest first
  }
  entry(i) {
    if (i >= 1 && i < STATIC.length) return STATIC[i];
    const d = this.dyn[i - STATIC.length];
    if (i === 0 || !d) throw new Error(`hpack: index ${i} out of range`);
    return d;
  }
  add(name, value) {
    const sz = Buffer.byteLength(name) + Buffer.byteLength(value) + 32;
    this.dyn.unshift([name, value]);
    this.size += sz;
    this.evict();
  }
  evict() {
    while (this.size > this.max && this.dyn.length) {
      const [n, v] = this.dyn.pop();
      this.size -= Buffer.byteLength(n) + Buffer.byteLength(v) + 32;
    }
  }
  decode(buf) {
    let pos = 0;
    const int = (prefixBits) => {
      const max = 2 ** prefixBits - 1;
      let v = buf[pos++] & max;
      if (v < max) return v;
      let m = 1;
      for (;;) {
        if (pos >= buf.length) throw new Error('hpack: truncated integer');
        const b = buf[pos++];
        v += (b & 0x7f) * m;
        m *= 128;
        if (!(b & 0x80)) return v;
      }
    };
    const str = () => {
      const huff = buf[pos] & 0x80;
      const n = int(7);
      if (pos + n > buf.length) throw new Error('hpack: truncated string');
      const b = buf.subarray(pos, pos + n);
      pos += n;
      return (huff ? huffmanDecode(b) : b).toString('latin1');
    };
    const out = [];
    while (pos < buf.length) {
      const b = buf[pos];
      if (b & 0x80) out.push([...this.entry(int(7))]);
      else if ((b & 0xe0) === 0x20) {
        this.max = int(5);
        this.evict();
      } else {
        const incremental = (b & 0xc0) === 0x40;
        const idx = int(incremental ? 6 : 4);
        const name = idx ? this.entry(idx)[0] : str();
        const value = str();
        if (incremental) this.add(name, value);
        out.push([name, value]);
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The connection: a socket, a frame reader and waits that always end

/** Parses one received frame's payload into named fields (for the types a server sends). */
function parseFrame(type, flags, stream, payload) {
  const f = { type, name: TYPE_NAME[type] ?? `0x${type.toString(16)}`, flags, stream, length: payload.length, payload };
  if (type === T.GOAWAY && payload.length >= 8) {
    f.lastStream = payload.readUInt32BE(0) & 0x7fffffff;
    f.code = payload.readUInt32BE(4);
    f.debug = payload.subarray(8).toString('latin1');
  } else if (type === T.RST_STREAM && payload.length >= 4) f.code = payload.readUInt32BE(0);
  else if (type === T.WINDOW_UPDATE && payload.length >= 4) f.increment = payload.readUInt32BE(0) & 0x7fffffff;
  else if (type === T.SETTINGS) {
    f.ack = !!(flags & F.ACK);
    f.settings = [];
    for (let i = 0; i + 6 <= payload.length; i += 6)
      f.settings.push([payload.readUInt16BE(i), payload.readUInt32BE(i + 2)]);
  } else if (type === T.PING) f.ack = !!(flags & F.ACK);
  else if (type === T.DATA || type === T.HEADERS) {
    let p = payload;
    if (flags & F.PADDED) p = p.subarray(1, p.length - p[0]);
    if (type === T.HEADERS && flags & F.PRIORITY) p = p.subarray(5);
    f.body = p;
    f.endStream = !!(flags & F.END_STREAM);
  }
  if (type === T.HEADERS || type === T.CONTINUATION || type === T.PUSH_PROMISE)
    f.endHeaders = !!(flags & F.END_HEADERS);
  return f;
}

/** A frame as a short string for assertion messages. */
export function describe(f) {
  if (!f) return 'nothing';
  if (f.closed) return f.error ? `closed (${f.error})` : 'closed';
  if (f.timeout) return 'no answer (timed out)';
  let s = `${f.name}(stream ${f.stream}`;
  if (f.code !== undefined) s += `, ${errorName(f.code)}`;
  if (f.lastStream !== undefined) s += `, last ${f.lastStream}`;
  if (f.debug) s += `, "${f.debug.slice(0, 60)}"`;
  return `${s})`;
}

/**
 * Opens a connection to 127.0.0.1:port (TLS with ALPN h2 if `tls` is an options object for tls.connect).
 * Returns an H2Conn; nothing is sent yet (see handshake()).
 */
export async function connect(port, { host = '127.0.0.1', tls: tlsOpts, timeoutMs = 5000, autoAck = true } = {}) {
  const sock = tlsOpts
    ? tls.connect({ host, port, ALPNProtocols: ['h2'], servername: 'localhost', ...tlsOpts })
    : net.connect(port, host);
  const conn = new H2Conn(sock, { autoAck });
  await conn.until((c) => c.connected || c.closed, timeoutMs);
  if (!conn.connected) throw new Error(`h2frames: cannot connect to ${host}:${port}: ${conn.error ?? 'timeout'}`);
  return conn;
}

export class H2Conn {
  constructor(sock, { autoAck = true } = {}) {
    this.sock = sock;
    this.autoAck = autoAck; // answer the server's SETTINGS with an ACK
    this.frames = []; // every frame received, in order
    this.bytesIn = 0;
    this.head = Buffer.alloc(0); // the first 4 KiB received, raw (to tell an HTTP/1 answer from frames)
    this.buf = Buffer.alloc(0);
    this.connected = false;
    this.closed = false;
    this.error = null;
    this.waiters = new Set();
    this.decoder = new HpackDecoder();
    this.headerBlock = null; // {stream, frames, parts}
    this.parseError = null;
    sock.setNoDelay?.(true);
    sock.on(sock instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      this.poke();
    });
    sock.on('data', (d) => this.onData(d));
    sock.on('error', (e) => {
      this.error = e.code ?? e.message;
    });
    sock.on('close', () => {
      this.closed = true;
      this.poke();
    });
  }
  poke() {
    for (const w of [...this.waiters]) w();
  }
  onData(d) {
    this.bytesIn += d.length;
    if (this.head.length < 4096) this.head = Buffer.concat([this.head, d]).subarray(0, 4096);
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f = parseFrame(
        this.buf[3],
        this.buf[4],
        this.buf.readUInt32BE(5) & 0x7fffffff,
        Buffer.from(this.buf.subarray(9, 9 + len)),
      );
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(f);
    }
    this.poke();
  }
  onFrame(f) {
    // header blocks: HEADERS/PUSH_PROMISE + CONTINUATION*, decoded in order (the decoder keeps its table)
    if (f.type === T.HEADERS || f.type === T.PUSH_PROMISE) {
      this.headerBlock = { first: f, parts: [f.type === T.HEADERS ? f.body : f.payload.subarray(4)] };
    } else if (f.type === T.CONTINUATION && this.headerBlock) this.headerBlock.parts.push(f.payload);
    if (this.headerBlock && f.endHeaders) {
      try {
        this.headerBlock.first.headers = this.decoder.decode(Buffer.concat(this.headerBlock.parts));
      } catch (e) {
        this.parseError = e.message;
        this.headerBlock.first.headers = null;
      }
      this.headerBlock = null;
    }
    if (f.type === T.SETTINGS && !f.ack && this.autoAck && !this.closed) this.write(settingsAck());
    this.frames.push(f);
  }
  write(...bufs) {
    if (this.closed || this.sock.destroyed) return false;
    try {
      return this.sock.write(Buffer.concat(bufs.flat()));
    } catch {
      return false;
    }
  }
  /** sends and resolves once the bytes were handed to the kernel (or the socket is gone) */
  send(...bufs) {
    const b = Buffer.concat(bufs.flat());
    if (this.closed || this.sock.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      try {
        this.sock.write(b, (err) => resolve(!err));
      } catch {
        resolve(false);
      }
    });
  }
  /** resolves with fn(this)'s first truthy value, or undefined after timeoutMs */
  until(fn, timeoutMs = 5000) {
    return new Promise((resolve) => {
      const check = () => {
        const v = fn(this);
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
  /** the first frame received since index `from` matching pred, or {closed} / {timeout} */
  async waitFrame(pred, { timeoutMs = 5000, from = 0 } = {}) {
    const r = await this.until((c) => {
      for (let i = from; i < c.frames.length; i++) if (pred(c.frames[i])) return c.frames[i];
      if (c.closed) return { closed: true, error: c.error };
      return null;
    }, timeoutMs);
    return r ?? { timeout: true };
  }
  /**
   * Client preface + SETTINGS, then waits for the server's SETTINGS and for the ACK of ours (h2spec's
   * handshake). Throws if the server does not speak HTTP/2.
   */
  async handshake(entries = [], { timeoutMs = 5000 } = {}) {
    this.write(PREFACE, settings(entries));
    const s = await this.waitFrame((f) => f.type === T.SETTINGS && !f.ack, { timeoutMs });
    if (!s.type) throw new Error(`h2frames: no SETTINGS from the server after the preface (${describe(s)})`);
    this.serverSettings = Object.fromEntries(s.settings);
    const a = await this.waitFrame((f) => f.type === T.SETTINGS && f.ack, { timeoutMs });
    if (!a.type) throw new Error(`h2frames: our SETTINGS were not acknowledged (${describe(a)})`);
    this.mark = this.frames.length;
    return this;
  }
  /**
   * How the connection (or one stream) ended: the first GOAWAY, a RST_STREAM (on `stream` if given), or
   * close; `from` = frame index to start at (default: after the handshake). {timeout: true} if none.
   */
  outcome({ stream, timeoutMs = 5000, from = this.mark ?? 0 } = {}) {
    return this.waitFrame(
      (f) => f.type === T.GOAWAY || (f.type === T.RST_STREAM && (stream === undefined || f.stream === stream)),
      { timeoutMs, from },
    );
  }
  /** waits for the socket to close; true if it did within timeoutMs */
  async waitClosed(timeoutMs = 5000) {
    return !!(await this.until((c) => c.closed, timeoutMs));
  }
  /** sends a PING and waits for its ACK: proves the connection is alive and everything before it was read */
  async pingPong(payload = Buffer.from('alive?!!'), timeoutMs = 5000) {
    const from = this.frames.length;
    this.write(ping(payload));
    return this.waitFrame((f) => f.type === T.PING && f.ack && f.payload.equals(payload), { timeoutMs, from });
  }
  /**
   * The response on `stream`: {status, headers, body, trailers, ended} once END_STREAM arrives, or with
   * rst / goaway / closed / timeout set.
   */
  async response(stream, { timeoutMs = 5000, from = 0 } = {}) {
    const end = await this.waitFrame(
      (f) =>
        ((f.type === T.HEADERS || f.type === T.DATA) && f.stream === stream && f.endStream) ||
        (f.type === T.RST_STREAM && f.stream === stream) ||
        f.type === T.GOAWAY,
      { timeoutMs, from },
    );
    const mine = this.frames.slice(from).filter((f) => f.stream === stream);
    const hs = mine.filter((f) => f.type === T.HEADERS);
    const r = {
      headers: hs[0]?.headers ?? null,
      trailers: hs.length > 1 ? hs[hs.length - 1].headers : null,
      body: Buffer.concat(mine.filter((f) => f.type === T.DATA).map((f) => f.body)),
      ended: !!end.endStream,
    };
    r.status = Number(r.headers?.find(([n]) => n === ':status')?.[1] ?? NaN);
    if (end.type === T.RST_STREAM) r.rst = end.code;
    if (end.type === T.GOAWAY) r.goaway = end.code;
    if (end.closed) r.closed = true;
    if (end.timeout) r.timeout = true;
    return r;
  }
  /** DATA bytes received so far on a stream */
  dataBytes(stream) {
    let n = 0;
    for (const f of this.frames) if (f.type === T.DATA && f.stream === stream) n += f.body.length;
    return n;
  }
  close() {
    this.sock.destroy();
  }
}

/** A full request on a fresh connection: handshake, one GET (or a POST with body), the response. */
export async function request(port, { path = '/', method = 'GET', body, timeoutMs = 5000, tls: tlsOpts } = {}) {
  const c = await connect(port, { tls: tlsOpts, timeoutMs });
  try {
    await c.handshake([], { timeoutMs });
    const block = hpack.request({
      method,
      path,
      scheme: tlsOpts ? 'https' : 'http',
      fields: body ? [['content-length', String(Buffer.byteLength(body))]] : [],
    });
    if (body) c.write(headers(1, block), data(1, body, { endStream: true }));
    else c.write(headers(1, block, { endStream: true }));
    return await c.response(1, { timeoutMs, from: c.mark });
  } finally {
    c.close();
  }
}
