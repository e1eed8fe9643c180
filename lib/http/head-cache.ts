// Response heads that repeat. Most applications answer with the same status and
// the same headers again and again; the native core keeps a few validated heads
// (native/src/response.h AppHead, `headSlots` of them, slot 0 being scratch) and
// this cache remembers which status and headers each slot holds. A repeat then
// crosses to C++ as a slot number: the header block is neither rebuilt here nor
// copied and validated there. Measured with bench/callgrind.mjs (hello): about
// 2,000 fewer instructions per request.
//
// A slot is filled only after the native side has validated its strings (in
// the same synchronous respond() call), so a slot number never names a head
// that failed validation. A hit remembers the slot's generation: if the slot is
// reused before the response goes out (an async application), the strings are
// sent again instead.
import type { ResponseHeaders } from '../types.js';

export class HeadCache {
  private readonly status: (string | undefined)[];
  private readonly fields: string[][];
  private readonly blocks: string[];
  readonly gen: Uint32Array;
  private next = 1;
  private last = 1;

  constructor(readonly slots: number) {
    this.status = new Array<string | undefined>(slots).fill(undefined);
    this.fields = Array.from({ length: slots }, () => []);
    this.blocks = new Array<string>(slots).fill('');
    this.gen = new Uint32Array(slots);
  }

  /** the slot holding exactly this status and these headers, or 0 */
  find(status: string, headers: ResponseHeaders): number {
    if (this.matches(this.last, status, headers)) return this.last;
    for (let k = 1; k < this.slots; k++) {
      if (k !== this.last && this.matches(k, status, headers)) {
        this.last = k;
        return k;
      }
    }
    return 0;
  }

  block(key: number): string {
    return this.blocks[key]!;
  }

  /** empties the next slot (round robin) for a head about to be validated */
  claim(): number {
    const k = this.next;
    this.next = k + 1 === this.slots ? 1 : k + 1;
    this.status[k] = undefined;
    this.gen[k]!++;
    return k;
  }

  /** records what slot `key` now holds (after the native side accepted it) */
  fill(key: number, status: string, headers: ResponseHeaders, block: string): void {
    const f = this.fields[key]!;
    f.length = 0;
    for (const h of headers) f.push(h[0], h[1]);
    this.status[key] = status;
    this.blocks[key] = block;
    this.last = key;
  }

  private matches(k: number, status: string, headers: ResponseHeaders): boolean {
    if (this.status[k] !== status) return false;
    const f = this.fields[k]!;
    const n = headers.length;
    if (f.length !== 2 * n) return false;
    for (let i = 0; i < n; i++) {
      const h = headers[i]!;
      if (f[2 * i] !== h[0] || f[2 * i + 1] !== h[1]) return false;
    }
    return true;
  }
}
