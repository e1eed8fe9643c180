// A lighter Response for fetch-style workers. Node's Response builds a
// ReadableStream and a Headers object in its constructor (tens of microseconds),
// which a server that only sends the body never needs. In a process serving a
// fetch-style application (-k fetch, or one detected), globalThis.Response is
// LightResponse: `new Response(body, init)` with a string/bytes/null body and a
// plain init ({status, statusText, headers} with headers a record or [name, value]
// pairs) only keeps its arguments, and the dispatcher sends them as they are.
// Anything else — another body kind (stream, Blob, FormData...), a Headers init,
// reading res.headers or res.body, clone(), text() — makes the real Response
// from the same arguments and goes on with it, so the object behaves as one:
// `instanceof Response` holds for both kinds, and Response.json(),
// Response.redirect() and Response.error() are Node's own.
import type { ResponseHeaders } from '../types.js';

export const NativeResponse: typeof Response = globalThis.Response;

type Body = string | Uint8Array | null;
type Init = { status?: number; statusText?: string; headers?: Record<string, string> | Array<[string, string]> };

/** What the dispatcher sends for a LightResponse that has not become a real one. */
export interface LightParts {
  status: number;
  statusText: string;
  headers: ResponseHeaders;
  body: Body;
}

const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
const TEXT_PLAIN = 'text/plain;charset=UTF-8';

// (a `constructor` load, not Object.getPrototypeOf(): that is a runtime call, about 140 instructions a request)
function plainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const c = (v as { constructor?: unknown }).constructor;
  return c === Object || (c === undefined && Object.getPrototypeOf(v) === null);
}

function isContentType(k: string): boolean {
  return k === 'Content-Type' || k === 'content-type' || (k.length === 12 && k.toLowerCase() === 'content-type');
}

/** true when (body, init) can stay light: anything unusual goes to the real constructor (and its errors) */
function lightable(body: unknown, init: unknown): boolean {
  if (!(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)) return false;
  if (body instanceof Uint8Array && !(body.buffer instanceof ArrayBuffer)) return false;
  if (init === undefined) return true;
  if (!plainObject(init)) return false;
  for (const k in init) if (k !== 'status' && k !== 'statusText' && k !== 'headers') return false;
  const { status, statusText, headers } = init as { status?: unknown; statusText?: unknown; headers?: unknown };
  if (status !== undefined) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return false;
    // a null-body status with a body: the real constructor throws
    if ((status === 204 || status === 205 || status === 304) && body !== undefined && body !== null) return false;
  }
  if (statusText !== undefined && (typeof statusText !== 'string' || !REASON.test(statusText))) return false;
  if (headers === undefined) return true;
  if (Array.isArray(headers)) {
    for (const h of headers as unknown[])
      if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') return false;
    return true;
  }
  if (!plainObject(headers)) return false;
  for (const k in headers) if (typeof headers[k] !== 'string') return false;
  return true;
}

export class LightResponse {
  #body: Body = null;
  #init: Init | undefined = undefined;
  #real: Response | null = null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (lightable(body, init)) {
      this.#body = (body ?? null) as Body;
      this.#init = init as Init | undefined;
    } else {
      this.#real = new NativeResponse(body, init);
    }
  }

  /** a real Response is an instance too */
  static [Symbol.hasInstance](v: unknown): boolean {
    return v instanceof NativeResponse;
  }

  /** the parts of a light response still light, else undefined (read it as a Response) */
  static parts(r: unknown): LightParts | undefined {
    if (typeof r !== 'object' || r === null || !(#real in r) || r.#real !== null) return undefined;
    return r.#parts();
  }

  /** the real Response behind a light one that became real; anything else as it is */
  static unwrap(r: unknown): unknown {
    if (typeof r !== 'object' || r === null || !(#real in r)) return r;
    return r.#real ?? r;
  }

  #parts(): LightParts {
    const init = this.#init;
    const body = this.#body;
    const headers: ResponseHeaders = [];
    let typed = false;
    const h = init?.headers;
    if (Array.isArray(h)) {
      for (const [k, v] of h) {
        headers.push([k, v]);
        if (!typed && isContentType(k)) typed = true;
      }
    } else if (h !== undefined) {
      for (const k in h) {
        headers.push([k, h[k]!]);
        if (!typed && isContentType(k)) typed = true;
      }
    }
    if (!typed && typeof body === 'string') headers.push(['content-type', TEXT_PLAIN]);
    return { status: init?.status ?? 200, statusText: init?.statusText ?? '', headers, body };
  }

  static real(r: LightResponse): Response {
    return (r.#real ??= new NativeResponse(r.#body as BodyInit | null, r.#init));
  }

  get status(): number {
    return this.#real !== null ? this.#real.status : (this.#init?.status ?? 200);
  }
  get statusText(): string {
    return this.#real !== null ? this.#real.statusText : (this.#init?.statusText ?? '');
  }
  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }
  get bodyUsed(): boolean {
    return this.#real !== null ? this.#real.bodyUsed : false;
  }
}

// Response.prototype's other members (headers, body, type, clone(), text()...), through the real Response
{
  const own = new Set(Object.getOwnPropertyNames(LightResponse.prototype));
  for (const name of Object.getOwnPropertyNames(NativeResponse.prototype)) {
    if (own.has(name)) continue;
    const d = Object.getOwnPropertyDescriptor(NativeResponse.prototype, name)!;
    if (d.get !== undefined) {
      Object.defineProperty(LightResponse.prototype, name, {
        configurable: true,
        enumerable: d.enumerable ?? false,
        get(this: LightResponse) {
          return (LightResponse.real(this) as unknown as Record<string, unknown>)[name];
        },
      });
    } else if (typeof d.value === 'function') {
      Object.defineProperty(LightResponse.prototype, name, {
        configurable: true,
        writable: true,
        enumerable: d.enumerable ?? false,
        value(this: LightResponse, ...args: unknown[]) {
          const r = LightResponse.real(this) as unknown as Record<string, (...a: unknown[]) => unknown>;
          return r[name]!(...args);
        },
      });
    }
  }
  Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
  Object.setPrototypeOf(LightResponse, NativeResponse); // Response.json(), .redirect(), .error()
}

/** Makes globalThis.Response the light one (a fetch-style worker); idempotent. */
export function installLightResponse(): void {
  if (globalThis.Response === NativeResponse) {
    Object.defineProperty(globalThis, 'Response', {
      value: LightResponse,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}
