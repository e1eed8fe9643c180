// A raw-socket WebSocket client for the tests (and bench/callgrind.mjs, bench/ws.mjs): the opening handshake
// (upgradeRequest, handshake: Sec-WebSocket-Accept checked), frames as a client sends them (encodeFrame: any
// FIN/RSV/opcode, masked, lengths that may lie), and WsClient, which reads and parses the server's frames, answers
// pings, assembles (and inflates, with permessage-deflate) messages and records the close as Autobahn's
// protocol object does (test/helpers/autobahn.mjs judges its cases from it). Also what the WebSocket tests
// share around the `ws` npm client (openWs, waitFor), Python's websockets (pythonClient) and raw HTTP
// exchanges (rawRequest).
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import WebSocket from 'ws';

import { ROOT, sleep } from './gts.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };
/** RFC 6455 §1.3's sample key (its accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=) */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const b = (x) => (Buffer.isBuffer(x) ? x : Buffer.from(x, typeof x === 'string' ? 'utf8' : undefined));
/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)) */
export function acceptKey(key) {
  return crypto
    .createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** `pattern` repeated to `len` bytes (Autobahn's payload_len) */
export function repeat(pattern, len) {
  const p = b(pattern);
  const out = Buffer.allocUnsafe(len);
  if (len === 0) return out;
  if (p.length === 0) return out.fill(0);
  out.fill(p);
  return out;
}

/**
 * One frame, as a client sends it: any FIN/RSV/opcode, masked (a random key unless `maskKey`), with the
 * minimal length encoding unless `length` (a number or bigint, may lie) is given.
 */
export function encodeFrame({ opcode, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, maskKey, length }) {
  const p = b(payload);
  const len = length ?? p.length;
  const n = BigInt(len);
  let hdr;
  if (n < 126n) {
    hdr = Buffer.alloc(2);
    hdr[1] = Number(n);
  } else if (n < 65536n) {
    hdr = Buffer.alloc(4);
    hdr[1] = 126;
    hdr.writeUInt16BE(Number(n), 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[1] = 127;
    hdr.writeBigUInt64BE(n, 2);
  }
  hdr[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  if (!mask) return Buffer.concat([hdr, p]);
  hdr[1] |= 0x80;
  const key = maskKey ?? crypto.randomBytes(4);
  const body = Buffer.allocUnsafe(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ key[i & 3];
  return Buffer.concat([hdr, key, body]);
}

/** Sec-WebSocket-Extensions → [{ name, params: { key: value | true } }] */
export function parseExtensions(header) {
  if (!header) return [];
  return String(header)
    .split(',')
    .map((ext) => {
      const [name, ...ps] = ext.split(';').map((s) => s.trim());
      const params = {};
      for (const p of ps) {
        if (!p) continue;
        const i = p.indexOf('=');
        if (i < 0) params[p] = true;
        else
          params[p.slice(0, i).trim()] = p
            .slice(i + 1)
            .trim()
            .replace(/^"|"$/g, '');
      }
      return { name: name.toLowerCase(), params };
    })
    .filter((e) => e.name);
}

/**
 * A permessage-deflate offer as Autobahn's client builds it (PerMessageDeflateOffer): by default it accepts
 * client_no_context_takeover and client_max_window_bits, and may request server_no_context_takeover and
 * server_max_window_bits=N.
 */
export function deflateOffer({ serverNoContextTakeover = false, serverMaxWindowBits = 0, accept = true } = {}) {
  let s = 'permessage-deflate';
  if (accept) s += '; client_no_context_takeover; client_max_window_bits';
  if (serverNoContextTakeover) s += '; server_no_context_takeover';
  if (serverMaxWindowBits) s += `; server_max_window_bits=${serverMaxWindowBits}`;
  return s;
}

/** A node:zlib raw deflate/inflate stream used message by message (RFC 7692 §7.2.1/§7.2.2). */
class ZStream {
  constructor(kind, windowBits, reset) {
    // windowBits 9–15 (zlib refuses a raw deflate window of 8: WsClient raises a negotiated 8 to 9)
    this.z = kind === 'deflate' ? zlib.createDeflateRaw({ windowBits }) : zlib.createInflateRaw({ windowBits });
    this.kind = kind;
    this.reset = reset;
    this.queue = Promise.resolve();
  }
  /** deflate: the compressed message without the 00 00 ff ff tail; inflate: the message (tail appended) */
  run(data) {
    const step = () =>
      new Promise((resolve, reject) => {
        const chunks = [];
        const onData = (c) => chunks.push(c);
        const onError = (e) => {
          this.z.off('data', onData);
          reject(e);
        };
        this.z.on('data', onData);
        this.z.once('error', onError);
        this.z.write(data);
        if (this.kind === 'inflate') this.z.write(TAIL);
        this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          this.z.off('data', onData);
          this.z.off('error', onError);
          let out = Buffer.concat(chunks);
          if (this.kind === 'deflate') {
            if (out.length < 4 || !out.subarray(-4).equals(TAIL)) {
              reject(new Error('deflate output does not end in 00 00 ff ff'));
              return;
            }
            out = out.subarray(0, -4);
            if (out.length === 0) out = Buffer.from([0]);
          }
          if (this.reset) this.z.reset();
          resolve(out);
        });
      });
    const p = this.queue.then(step);
    this.queue = p.catch(() => {});
    return p;
  }
  close() {
    this.z.close();
  }
}

/**
 * The raw-socket client. `connect()` does the opening handshake (Sec-WebSocket-Accept checked) and resolves
 * a client that records what the server sends, in order, in `events`:
 *   { type: 'message', data: Buffer, binary: boolean, compressed: boolean, frames: number }
 *   { type: 'pong', data }   (pings from the server are answered and recorded as { type: 'ping' } elsewhere)
 *   { type: 'timeout', label }   (added by the cases, as Autobahn's continueLater does)
 * and the close as Autobahn's protocol object has it: closedByMe, remoteCloseCode/Reason, wasClean,
 * droppedByMe, serverClosedTcp. `protocolErrors` lists what the server got wrong on the wire.
 */
export class WsClient {
  constructor(socket, response, { timeScale = 1 } = {}) {
    this.socket = socket;
    this.response = response; // { status, headers }
    this.timeScale = timeScale;
    this.events = [];
    this.serverPings = [];
    this.protocolErrors = [];
    this.listeners = new Set();
    this.closeSent = false;
    this.closeReceived = false;
    this.closedByMe = null;
    this.remoteCloseCode = null;
    this.remoteCloseReason = null;
    this.remoteCloseRaw = null;
    this.droppedByMe = false;
    this.serverClosedTcp = false;
    this.socketError = null;
    this.destroyed = false;
    this.timers = new Set();
    this.pending = [];
    this.flushScheduled = false;
    this.chain = Promise.resolve();
    this.frag = null; // { opcode, compressed, parts: [], frames }
    this.bufs = [];
    this.buffered = 0;
    this.extensions = parseExtensions(response.headers['sec-websocket-extensions']);
    const pmd = this.extensions.find((e) => e.name === 'permessage-deflate');
    this.deflate = null;
    if (pmd) {
      const p = pmd.params;
      const clientBits = Math.max(9, Number(p.client_max_window_bits) || 15);
      const serverBits = Math.max(9, Number(p.server_max_window_bits) || 15);
      this.deflate = {
        params: p,
        tx: new ZStream('deflate', clientBits, Boolean(p.client_no_context_takeover)),
        // the inflater's window is what the server promised: a server that deflates with a larger window than
        // it answered makes zlib fail ("invalid distance too far back"), which is recorded as a protocol error
        rx: new ZStream('inflate', serverBits, false),
      };
    }
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.destroyed = true;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        // a connection the server ended without any close frame was closed by the server
        if (this.closedByMe === null) this.closedByMe = false;
        this.chain.then(() => {
          if (this.deflate) {
            this.deflate.tx.close();
            this.deflate.rx.close();
          }
          resolve(this);
        });
      });
    });
    socket.on('data', (d) => this.onData(d));
    socket.on('end', () => {
      this.serverClosedTcp = true;
      // Autobahn's client closes its side as soon as the server has (after the close handshake, or not)
      this.chain.then(() => socket.end());
    });
    socket.on('error', (e) => {
      this.socketError = e.code ?? e.message;
    });
  }

  /** calls fn on every recorded event (used for finishWhenDone and the cases' onMessage) */
  onEvent(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  record(ev) {
    this.events.push(ev);
    for (const fn of [...this.listeners]) fn(ev);
  }
  /** the next event of `type` after the ones seen so far; rejects after ms (or when the socket closes) */
  next(type, ms = 10000) {
    const start = this.events.length;
    return new Promise((resolve, reject) => {
      const found = this.events.slice(start).find((e) => e.type === type);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${type} within ${ms} ms`));
      }, ms * this.timeScale);
      const off = this.onEvent((e) => {
        if (e.type === type) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
      this.closed.then(() => {
        clearTimeout(timer);
        off();
        reject(new Error(`connection closed before a ${type}`));
      });
    });
  }

  // --- sending -------------------------------------------------------------------------------------------------

  write(buf) {
    if (this.destroyed || this.socket.writableEnded) return;
    this.pending.push(buf);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushPending());
    }
  }
  flushPending() {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const all = Buffer.concat(this.pending);
    this.pending = [];
    if (!this.destroyed && !this.socket.writableEnded) this.socket.write(all);
  }
  /** writes `buf` now, as its own write(2), and waits until node has handed it to the kernel */
  writeNow(buf) {
    this.flushPending();
    if (this.destroyed || this.socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(buf, () => resolve()));
  }
  /**
   * Autobahn's sendFrame: `payloadLen` repeats `payload`; `chop` sends the frame's octets in chops of that
   * many bytes (each its own write); `sync` sends the frame on its own. Without either, frames sent in the
   * same tick leave in one write ("sent in one chop").
   */
  async sendFrame({ opcode, payload = '', payloadLen, fin = true, rsv = 0, chop = 0, sync = false, length }) {
    const p = payloadLen === undefined ? b(payload) : repeat(payload, payloadLen);
    const frame = encodeFrame({ opcode, payload: p, fin, rsv, length });
    if (opcode === OP.CLOSE) this.noteCloseSent();
    if (chop > 0) {
      for (let i = 0; i < frame.length && !this.destroyed; i += chop) await this.writeNow(frame.subarray(i, i + chop));
    } else if (sync) {
      await this.writeNow(frame);
    } else {
      this.write(frame);
    }
  }
  /**
   * Autobahn's sendMessage: compressed when permessage-deflate was negotiated (unless compress: false),
   * fragmented into frames of `fragmentSize` payload bytes (0: one frame), RSV1 on the first frame only.
   */
  async sendMessage(payload, { binary = false, fragmentSize = 0, compress = true, chop = 0 } = {}) {
    let p = b(payload);
    let rsv = 0;
    if (compress && this.deflate) {
      p = await this.deflate.tx.run(p);
      rsv = 4;
    }
    const opcode = binary ? OP.BINARY : OP.TEXT;
    if (!fragmentSize || p.length <= fragmentSize) {
      return this.sendFrame({ opcode, payload: p, rsv, chop });
    }
    const frames = [];
    for (let i = 0; i < p.length; i += fragmentSize) {
      const last = i + fragmentSize >= p.length;
      frames.push(
        encodeFrame({
          opcode: i === 0 ? opcode : OP.CONT,
          payload: p.subarray(i, i + fragmentSize),
          fin: last,
          rsv: i === 0 ? rsv : 0,
        }),
      );
    }
    if (chop > 0) {
      const all = Buffer.concat(frames);
      for (let i = 0; i < all.length && !this.destroyed; i += chop) await this.writeNow(all.subarray(i, i + chop));
    } else {
      for (const f of frames) this.write(f);
    }
  }
  /** Autobahn's sendCloseFrame: code (or none) and a reason given as bytes or a string */
  sendCloseFrame(code, reason = '') {
    let payload = Buffer.alloc(0);
    if (code !== undefined && code !== null) {
      const r = b(reason);
      payload = Buffer.alloc(2 + r.length);
      payload.writeUInt16BE(code, 0);
      r.copy(payload, 2);
    } else if (reason) {
      payload = b(reason); // a reason without a code: 7.3.2's one-byte close payload
    }
    return this.sendFrame({ opcode: OP.CLOSE, payload });
  }
  /** Autobahn's sendClose: only the first close is sent */
  sendClose(code = 1000, reason = '') {
    if (this.closeSent || this.destroyed) return;
    return this.sendCloseFrame(code, reason);
  }
  noteCloseSent() {
    if (!this.closeSent) {
      this.closeSent = true;
      if (this.closedByMe === null) this.closedByMe = !this.closeReceived;
      this.armCloseTimeout();
    }
  }
  /** After a close was sent, the server has this long to answer it and close TCP; then we drop (droppedByMe). */
  armCloseTimeout() {
    this.after(2, () => this.drop());
  }
  after(seconds, fn) {
    if (this.destroyed) return;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        if (!this.destroyed) fn();
      },
      seconds * 1000 * this.timeScale,
    );
    this.timers.add(t);
  }
  /** Autobahn's killAfter: drop TCP after s seconds if it is still open */
  killAfter(s) {
    this.after(s, () => this.drop());
  }
  /** Autobahn's closeAfter: start the close handshake after s seconds if nobody has */
  closeAfter(s) {
    this.after(s, () => this.sendClose(1000));
  }
  drop() {
    if (this.destroyed) return;
    this.droppedByMe = true;
    if (this.closedByMe === null) this.closedByMe = true;
    this.socket.destroy();
  }

  // --- receiving -----------------------------------------------------------------------------------------------

  onData(d) {
    this.bufs.push(d);
    this.buffered += d.length;
    for (;;) {
      if (this.buffered < 2) return;
      const h = this.peek(14);
      const b1 = h[1];
      let len = b1 & 0x7f;
      let hl = 2;
      if (len === 126) hl = 4;
      else if (len === 127) hl = 10;
      if (b1 & 0x80) hl += 4;
      if (this.buffered < hl) return;
      if (len === 126) len = h.readUInt16BE(2);
      else if (len === 127) {
        const big = h.readBigUInt64BE(2);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
          this.protocolErrors.push('64-bit length out of range');
          this.socket.destroy();
          return;
        }
        len = Number(big);
      }
      if (this.buffered < hl + len) return;
      this.take(hl);
      const payload = this.take(len);
      if (b1 & 0x80) {
        this.protocolErrors.push('server frame masked');
        const key = h.subarray(hl - 4, hl);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      this.onFrame({ fin: (h[0] & 0x80) !== 0, rsv: (h[0] >> 4) & 7, opcode: h[0] & 0x0f, payload });
    }
  }
  peek(n) {
    const want = Math.min(n, this.buffered);
    if (this.bufs[0].length >= want) return this.bufs[0];
    const out = Buffer.concat(this.bufs, Math.min(this.buffered, Math.max(want, 14)));
    return out;
  }
  take(n) {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const first = this.bufs[0];
      const k = Math.min(first.length, n - off);
      first.copy(out, off, 0, k);
      off += k;
      if (k === first.length) this.bufs.shift();
      else this.bufs[0] = first.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
  onFrame(f) {
    if (this.closeReceived) {
      this.protocolErrors.push(`frame (opcode ${f.opcode}) after the server's close`);
      return;
    }
    const rsv1 = (f.rsv & 4) !== 0;
    if (f.rsv & 3 || (rsv1 && (!this.deflate || f.opcode >= 8 || f.opcode === OP.CONT))) {
      this.protocolErrors.push(`RSV ${f.rsv} on opcode ${f.opcode}`);
    }
    if (f.opcode >= 8) {
      if (!f.fin || f.payload.length > 125) this.protocolErrors.push(`bad control frame (opcode ${f.opcode})`);
      if (f.opcode === OP.PING) {
        this.serverPings.push(f.payload);
        if (!this.closeSent) this.write(encodeFrame({ opcode: OP.PONG, payload: f.payload }));
      } else if (f.opcode === OP.PONG) {
        this.chain = this.chain.then(() => this.record({ type: 'pong', data: f.payload }));
      } else if (f.opcode === OP.CLOSE) {
        this.onClose(f.payload);
      } else {
        this.protocolErrors.push(`reserved opcode ${f.opcode}`);
      }
      return;
    }
    if (f.opcode === OP.CONT) {
      if (!this.frag) {
        this.protocolErrors.push('continuation without a message');
        return;
      }
    } else if (f.opcode === OP.TEXT || f.opcode === OP.BINARY) {
      if (this.frag) this.protocolErrors.push('new message inside a fragmented one');
      this.frag = { opcode: f.opcode, compressed: rsv1, parts: [], frames: 0 };
    } else {
      this.protocolErrors.push(`reserved opcode ${f.opcode}`);
      return;
    }
    this.frag.parts.push(f.payload);
    this.frag.frames++;
    if (!f.fin) return;
    const m = this.frag;
    this.frag = null;
    const raw = Buffer.concat(m.parts);
    const binary = m.opcode === OP.BINARY;
    const data = m.compressed ? this.deflate.rx.run(raw) : Promise.resolve(raw);
    this.chain = this.chain.then(async () => {
      let payload;
      try {
        payload = await data;
      } catch (e) {
        this.protocolErrors.push(`inflate: ${e.message}`);
        return;
      }
      if (!binary && !isUtf8(payload)) this.protocolErrors.push('text message is not UTF-8');
      this.record({ type: 'message', data: payload, binary, compressed: m.compressed, frames: m.frames });
    });
  }
  onClose(payload) {
    this.closeReceived = true;
    if (payload.length === 1) this.protocolErrors.push('close payload of 1 byte');
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
    const reason = payload.length > 2 ? payload.subarray(2) : Buffer.alloc(0);
    this.chain = this.chain.then(() => {
      this.remoteCloseCode = code;
      this.remoteCloseReason = reason.toString();
      this.remoteCloseRaw = payload;
      if (this.closedByMe === null) this.closedByMe = false;
      if (!this.closeSent) {
        // echo the server's close (Autobahn's client answers with the code it got)
        this.closeSent = true;
        const echo = Buffer.alloc(code === null ? 0 : 2);
        if (code !== null) echo.writeUInt16BE(code, 0);
        this.write(encodeFrame({ opcode: OP.CLOSE, payload: echo }));
        this.armCloseTimeout();
      }
    });
  }
  /** Autobahn's wasClean: close frames went both ways, and TCP ended without the client having to drop it */
  get wasClean() {
    return this.closeSent && this.closeReceived && !this.droppedByMe && this.serverClosedTcp;
  }
}

export function isUtf8(buf) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/**
 * An opening handshake request as text: `Host: host`, Upgrade, Connection, the key (none when `key` is null),
 * the version (none when null), the extension offer, then `headers`. The defaults are a valid handshake.
 */
export function upgradeRequest({
  method = 'GET',
  path = '/',
  host = 'a',
  connection = 'Upgrade',
  key = SAMPLE_KEY,
  version = '13',
  extensions,
  headers = {},
} = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, 'Upgrade: websocket', `Connection: ${connection}`];
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (extensions) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Opens a TCP connection and does the opening handshake. Resolves { socket, status, headers, rest } (`rest`: the
 * bytes after the 101's head) once a 101 with Upgrade, Connection and the right Sec-WebSocket-Accept came back,
 * or rejects with an Error that carries `status`, `headers` and `body` when the server does not answer 101 (or
 * answers it wrongly). From then on the socket's errors are the caller's to listen to.
 */
export function handshake({
  port,
  host = '127.0.0.1',
  path = '/',
  key = crypto.randomBytes(16).toString('base64'),
  extensions,
  headers = {},
  timeoutMs = 10000,
} = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no handshake answer within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.once('error', fail);
    socket.on('connect', () =>
      socket.write(upgradeRequest({ path, host: `${host}:${port}`, key, extensions, headers })),
    );
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 65536) fail(new Error('handshake answer head too long'));
        return;
      }
      socket.off('data', onData);
      clearTimeout(timer);
      const text = head.subarray(0, end).toString('latin1');
      const rest = head.subarray(end + 4);
      const [statusLine, ...hl] = text.split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      const hdrs = {};
      for (const l of hl) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        const v = l.slice(i + 1).trim();
        hdrs[k] = hdrs[k] === undefined ? v : `${hdrs[k]}, ${v}`;
      }
      const bad = (msg) => {
        const e = new Error(msg);
        e.status = status;
        e.headers = hdrs;
        e.body = rest.toString();
        socket.destroy();
        reject(e);
      };
      if (status !== 101) return bad(`handshake answered ${status}`);
      if (!/\bwebsocket\b/i.test(hdrs.upgrade ?? '')) return bad(`101 without Upgrade: websocket (${hdrs.upgrade})`);
      if (!/\bupgrade\b/i.test(hdrs.connection ?? '')) return bad(`101 without Connection: upgrade`);
      if (hdrs['sec-websocket-accept'] !== acceptKey(key)) {
        return bad(`Sec-WebSocket-Accept ${hdrs['sec-websocket-accept']} != ${acceptKey(key)}`);
      }
      const exts = parseExtensions(hdrs['sec-websocket-extensions']);
      if (exts.length && !extensions) return bad('the server answered an extension that was not offered');
      socket.off('error', fail);
      resolve({ socket, status, headers: hdrs, rest });
    };
    socket.on('data', onData);
  });
}

/** The handshake (see handshake()), then a WsClient on the socket. */
export async function connect({ timeScale = 1, ...opts } = {}) {
  const { socket, status, headers, rest } = await handshake(opts);
  const c = new WsClient(socket, { status, headers }, { timeScale });
  if (rest.length) c.onData(rest);
  return c;
}

/** Sends `text` on a new connection; resolves everything the server answered until it closed (at most 3 s). */
export function rawRequest(port, text) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), 3000);
  });
}

// --- the `ws` npm client and Python's websockets ---------------------------------------------------------------

/**
 * Opens a `ws` client; resolves once open with { ws, messages, closed }: the messages so far ({ data, isBinary })
 * and its close ({ code, reason }) as a promise; the 101's headers are ws.upgradeHeaders.
 */
export function openWs(url, protocols, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    const messages = [];
    const closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (d, isBinary) => messages.push({ data: d, isBinary }));
    ws.on('upgrade', (res) => (ws.upgradeHeaders = res.headers));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('error', reject);
  });
}

/** Polls cond() every 10 ms until it is true or ms pass; resolves its last value. */
export async function waitFor(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
  return cond();
}

export const PY = '/usr/bin/python3';

/** false, and a failed assertion, where Debian's python3 (with python3-websockets) is missing */
export function havePython(t) {
  if (fs.existsSync(PY)) return true;
  t.fail(`${PY} is missing (apt-get install python3-websockets)`);
  return false;
}

/**
 * Runs test/fixtures/ws_autobahn_client.py (Python's websockets) against `url` (at most 90 s); one assertion
 * that it ran; resolves its JSON report (extensions, version, echoes, pong, close, plain_extensions, too_big).
 */
export async function pythonClient(t, url) {
  const out = await new Promise((resolve) =>
    execFile(
      PY,
      [path.join(ROOT, 'test/fixtures/ws_autobahn_client.py'), url],
      { timeout: 90_000 },
      (err, stdout, stderr) => resolve({ err, stdout, stderr }),
    ),
  );
  t.error(out.err, `python ran (${out.stderr.trim()})`);
  return JSON.parse(out.stdout);
}
