// wsgi.input: the request body as the application reads it. Every method
// returns a Promise of a Buffer; `for await` yields the chunks as they arrive.
// Backpressure: while nobody is reading and more than HIGH_WATER bytes are
// buffered, the native core stops reading from the socket.
import { ClientDisconnected, RequestError } from './errors.js';

const HIGH_WATER = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

type Waiter = () => void;

export interface InputControl {
  pause(paused: boolean): void;
  /** HTTP/2: the application took n bytes (flow control reopens the window by that much) */
  consumed?(n: number): void;
}

/** An HTTP/2 stream's control: what the application reads reopens the stream's window (credit(n)). */
export class FlowControl implements InputControl {
  constructor(
    private readonly inner: InputControl,
    private readonly credit: (n: number) => void,
  ) {}
  pause(paused: boolean): void {
    this.inner.pause(paused);
  }
  consumed(n: number): void {
    this.credit(n);
  }
}

export class Input implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended: boolean;
  private failure: Error | null = null;
  private waiter: Waiter | null = null;
  private paused = false;
  private readonly control: InputControl | null;
  private uncredited = 0; // HTTP/2: bytes received that the application has neither taken nor waited for

  /** `whole` is the complete body (or undefined for none); `control` set when more body follows. */
  constructor(whole: Buffer | undefined, control: InputControl | null) {
    this.control = control;
    this.ended = control === null;
    if (whole !== undefined && whole.length > 0) {
      this.chunks.push(whole);
      this.buffered = whole.length;
    }
  }

  // ---- fed by the server ----
  /** @internal */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.uncredited += chunk.length;
    if (this.waiter !== null) this.credit(this.uncredited); // the application is reading: the window stays open
    if (this.waiter === null && this.buffered > HIGH_WATER && !this.paused && this.control) {
      this.paused = true;
      this.control.pause(true);
    }
    this.wake();
  }
  /** @internal */
  end(): void {
    this.ended = true;
    this.wake();
  }
  /** @internal */
  fail(err: Error): void {
    if (this.ended && this.failure === null && this.chunks.length === 0) return;
    this.failure = err;
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w();
    }
  }

  /** HTTP/2 flow control: the application took (or is waiting for) n more bytes. */
  private credit(n: number): void {
    const k = Math.min(n, this.uncredited);
    if (k <= 0 || this.control?.consumed === undefined) return;
    this.uncredited -= k;
    this.control.consumed(k);
  }

  private wait(): Promise<void> {
    this.credit(this.uncredited);
    if (this.paused && this.control) {
      this.paused = false;
      this.control.pause(false);
    }
    return new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
  }

  private take(n: number): Buffer {
    this.credit(n);
    if (n >= this.buffered) {
      const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.buffered -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  private check(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Reads `size` bytes (fewer at the end of the body); without a size, the whole rest of the body. */
  async read(size?: number | null): Promise<Buffer> {
    const want = size === undefined || size === null || size < 0 ? Infinity : size;
    if (want === 0) return EMPTY;
    while (this.buffered < want && !this.ended) await this.wait();
    this.check();
    if (this.buffered === 0) return EMPTY;
    return this.take(Math.min(want, this.buffered));
  }

  /** Reads one line including its "\n" (or up to `size` bytes). */
  async readline(size?: number | null): Promise<Buffer> {
    const limit = size === undefined || size === null || size < 0 ? Infinity : size;
    if (limit === 0) return EMPTY;
    for (;;) {
      let seen = 0;
      for (const c of this.chunks) {
        const i = c.indexOf(10);
        if (i >= 0 && seen + i + 1 <= limit) return this.take(seen + i + 1);
        seen += c.length;
        if (seen >= limit) break;
      }
      if (this.buffered >= limit) return this.take(limit);
      if (this.ended) {
        this.check();
        return this.buffered === 0 ? EMPTY : this.take(this.buffered);
      }
      await this.wait();
    }
  }

  /** All remaining lines; stops after the line that reaches `hint` bytes, if given. */
  async readlines(hint?: number | null): Promise<Buffer[]> {
    const lines: Buffer[] = [];
    let total = 0;
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return lines;
      lines.push(line);
      total += line.length;
      if (hint !== undefined && hint !== null && hint > 0 && total >= hint) return lines;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      while (this.buffered === 0 && !this.ended) await this.wait();
      this.check();
      if (this.buffered === 0) return;
      yield this.take(this.buffered);
    }
  }
}

export function disconnected(): Error {
  return new ClientDisconnected();
}

export function bodyError(code: number): Error {
  return new RequestError(code);
}
