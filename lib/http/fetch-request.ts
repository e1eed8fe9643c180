// The Request a fetch-style application gets (lib/http/fetch.ts). It is a
// Request (instanceof Request, its prototype chain ends in Request.prototype)
// whose parts are made on first use: `url` from Host and the scheme, `headers`
// from the header offsets copied out of the native meta array, `body` as a
// ReadableStream over wsgi.input's buffer (pulled only when the application
// reads, so the native core stops reading the socket when it is full),
// `signal` as an AbortController's signal aborted when the client disconnects.
// text()/json()/arrayBuffer()/bytes()/blob() read the body without a stream.
// Anything else Request has (cache, mode, clone(), formData()...) comes from a
// real Request built from these parts on first use.
import { KNOWN_KEY } from '../native.js';
import { HEADER_KEYS, type ListenerInfo } from './environ.js';
import type { Input } from './input.js';
import type { ResponseHeaders } from '../types.js';

/** What onRequest copies out of the native blob/meta for a request. */
export interface RequestFacts {
  blob: string;
  method: string;
  /** the request target as sent (origin-form /path?query, or absolute-form) */
  target: string;
  scheme: 'http' | 'https';
  hostStart: number;
  /** -1: no Host header */
  hostEnd: number;
  listener: ListenerInfo;
  /** [first key start, key end or KNOWN_KEY + index, value end, ...] (offsets into blob) */
  headers: number[];
  /** the exchange, for earlyHints() */
  hints: { earlyHints(headers: ResponseHeaders): void } | null;
}

/**
 * 103 Early Hints for a fetch-style application (Gunicorn 25's wsgi.early_hints, for a Request):
 * `earlyHints(request, [['Link', '</app.css>; rel=preload; as=style']])` (or a Headers / record) sends
 * the hints at once, before the Response. Ignored once the response has started, for HTTP/1.0 clients,
 * and for a Request that gunicorn-ts did not make. An invalid header name or value throws.
 */
export function earlyHints(
  request: Request,
  headers: ReadonlyArray<readonly [string, string]> | Headers | Record<string, string>,
): void {
  if (!(request instanceof FetchRequest)) return;
  const pairs: ResponseHeaders = [];
  if (Array.isArray(headers)) {
    for (const h of headers as unknown[]) {
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string')
        throw new TypeError('each early hint must be a [name, value] pair of strings');
      pairs.push([h[0], h[1]]);
    }
  } else if (headers instanceof Headers) {
    for (const [k, v] of headers) pairs.push([k, v]);
  } else if (headers !== null && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers)) pairs.push([k, String(v)]);
  } else {
    throw new TypeError('early hints must be [name, value] pairs, a Headers or a record');
  }
  FetchRequest.hints(request)?.earlyHints(pairs);
}

// fetch names of the native core's known header keys: HTTP_USER_AGENT -> user-agent
const KNOWN_NAMES = HEADER_KEYS.map(envKeyToName);
function envKeyToName(key: string): string {
  return (key.startsWith('HTTP_') ? key.slice(5) : key).toLowerCase().replace(/_/g, '-');
}

const EMPTY = Buffer.alloc(0);
const NativeRequest = globalThis.Request;

function unusable(): TypeError {
  return new TypeError('Body is unusable: Body has already been read');
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

/** Host, or the listener's address without one (HTTP/1.0) */
function hostOf(f: RequestFacts): string {
  if (f.hostEnd > f.hostStart) return f.blob.substring(f.hostStart, f.hostEnd);
  const l = f.listener;
  if (l.kind === 'unix') return 'localhost';
  const h = l.host.includes(':') ? `[${l.host}]` : l.host;
  return (f.scheme === 'https' && l.port === 443) || (f.scheme === 'http' && l.port === 80) ? h : `${h}:${l.port}`;
}

export class FetchRequest {
  #f: RequestFacts;
  #input: Input | null;
  #url: string | null = null;
  #headers: Headers | null = null;
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;
  #ac: AbortController | null = null;
  #aborted = false;
  #real: Request | null = null;

  constructor(f: RequestFacts, input: Input | null) {
    this.#f = f;
    this.#input = input;
  }

  get method(): string {
    return this.#f.method;
  }

  get url(): string {
    if (this.#url !== null) return this.#url;
    const f = this.#f;
    const t = f.target;
    let url: string;
    if (t.charCodeAt(0) === 47 /* / */) {
      url = `${f.scheme}://${hostOf(f)}${t}`;
    } else if (/^https?:\/\//i.test(t)) {
      url = t; // absolute-form (a proxy request): its own authority
    } else {
      url = `${f.scheme}://${hostOf(f)}/`; // asterisk-form (OPTIONS *)
    }
    return (this.#url = url);
  }

  get headers(): Headers {
    if (this.#real !== null) return this.#real.headers;
    if (this.#headers !== null) return this.#headers;
    const h = new Headers();
    const f = this.#f;
    const b = f.blob;
    const o = f.headers;
    let p = o[0]!;
    for (let i = 1; i < o.length; i += 2) {
      const ke = o[i]!;
      const ve = o[i + 1]!;
      let name: string;
      if (ke >= KNOWN_KEY) name = KNOWN_NAMES[ke - KNOWN_KEY]!;
      else {
        name = envKeyToName(b.substring(p, ke));
        p = ke;
      }
      h.append(name, b.substring(p, ve));
      p = ve;
    }
    return (this.#headers = h);
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#real !== null) return this.#real.body;
    const input = this.#input;
    if (input === null) return null;
    if (this.#stream !== null) return this.#stream;
    if (this.#used) {
      // read already by text()/json()...: a used, empty stream (as Request's is)
      const s = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      void s.getReader().read();
      return (this.#stream = s);
    }
    const it = input[Symbol.asyncIterator]();
    // highWaterMark 0: nothing is pulled before the application reads, so
    // input's buffer fills to its mark and then the native core pauses the socket
    this.#stream = new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          this.#used = true;
          const step = await it.next();
          if (step.done === true) c.close();
          else c.enqueue(new Uint8Array(step.value.buffer, step.value.byteOffset, step.value.length));
        },
        cancel: async () => {
          this.#used = true;
          await it.return?.();
        },
      },
      { highWaterMark: 0 },
    );
    return this.#stream;
  }

  get bodyUsed(): boolean {
    if (this.#real !== null) return this.#real.bodyUsed;
    return this.#used;
  }

  get signal(): AbortSignal {
    if (this.#real !== null) return this.#real.signal;
    if (this.#ac === null) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort();
    }
    return this.#ac.signal;
  }

  /** the client disconnected: the request's signal aborts (now, or when it is first asked for) */
  static hints(r: FetchRequest): RequestFacts['hints'] {
    return r.#f.hints;
  }

  static abort(r: FetchRequest): void {
    r.#aborted = true;
    r.#ac?.abort();
  }

  private whole(): Promise<Buffer> {
    if (this.#used || this.#stream !== null) return Promise.reject(unusable());
    this.#used = true;
    const input = this.#input;
    return input === null ? Promise.resolve(EMPTY) : input.read();
  }

  text(): Promise<string> {
    if (this.#real !== null) return this.#real.text();
    return this.whole().then((b) => {
      const s = b.toString('utf8');
      return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
    });
  }

  json(): Promise<unknown> {
    if (this.#real !== null) return this.#real.json();
    return this.text().then((s) => JSON.parse(s) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#real !== null) return this.#real.arrayBuffer();
    return this.whole().then(toArrayBuffer);
  }

  bytes(): Promise<Uint8Array> {
    if (this.#real !== null) return this.#real.arrayBuffer().then((a) => new Uint8Array(a));
    return this.whole().then((b) => new Uint8Array(toArrayBuffer(b)));
  }

  blob(): Promise<Blob> {
    if (this.#real !== null) return this.#real.blob();
    const type = this.headers.get('content-type') ?? '';
    return this.whole().then((b) => new Blob([toArrayBuffer(b)], { type }));
  }

  /** the real Request, built on first use of anything the parts above do not cover */
  static real(r: FetchRequest): Request {
    return r.#makeReal();
  }

  #makeReal(): Request {
    if (this.#real !== null) return this.#real;
    const method = this.#f.method;
    const hasBody = method !== 'GET' && method !== 'HEAD' && this.#input !== null;
    const init: RequestInit & { duplex?: 'half' } = { method, headers: this.headers, signal: this.signal };
    if (hasBody) {
      init.body = this.body;
      init.duplex = 'half';
    }
    this.#real = new NativeRequest(this.url, init);
    return this.#real;
  }
}

// Request.prototype's other members, through the real Request
{
  const own = new Set(Object.getOwnPropertyNames(FetchRequest.prototype));
  for (const name of Object.getOwnPropertyNames(NativeRequest.prototype)) {
    if (own.has(name)) continue;
    const d = Object.getOwnPropertyDescriptor(NativeRequest.prototype, name)!;
    if (d.get !== undefined) {
      Object.defineProperty(FetchRequest.prototype, name, {
        configurable: true,
        enumerable: d.enumerable ?? false,
        get(this: FetchRequest) {
          return (FetchRequest.real(this) as unknown as Record<string, unknown>)[name];
        },
      });
    } else if (typeof d.value === 'function') {
      Object.defineProperty(FetchRequest.prototype, name, {
        configurable: true,
        writable: true,
        enumerable: d.enumerable ?? false,
        value(this: FetchRequest, ...args: unknown[]) {
          const r = FetchRequest.real(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
          return r[name]!(...args);
        },
      });
    }
  }
  Object.setPrototypeOf(FetchRequest.prototype, NativeRequest.prototype);
}
