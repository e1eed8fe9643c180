// wsgi.file_wrapper (PEP 3333 "optional platform-specific file handling"):
// wraps a file so that returning it streams the file in blocks. Accepts a file
// descriptor, a fs.promises FileHandle, a Node Readable, or any object with a
// read(size) method returning bytes (or a Promise of them). close() closes the
// underlying file; the server calls it once after the response.
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

type Readerish = {
  read(size: number): Uint8Array | string | null | undefined | Promise<Uint8Array | string | null | undefined>;
};
export type FileLike = number | FileHandle | NodeJS.ReadableStream | Readerish;

function isFileHandle(f: unknown): f is FileHandle {
  return (
    typeof f === 'object' &&
    f !== null &&
    typeof (f as FileHandle).fd === 'number' &&
    typeof (f as FileHandle).stat === 'function'
  );
}

export class FileWrapper implements AsyncIterable<Uint8Array> {
  private closed = false;

  constructor(
    readonly filelike: FileLike,
    readonly blksize = 8192,
  ) {
    if (!Number.isInteger(blksize) || blksize <= 0)
      throw new RangeError(`blksize must be a positive integer, got ${blksize}`);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const f = this.filelike;
    if (typeof f === 'number' || isFileHandle(f)) {
      const buf = Buffer.allocUnsafe(this.blksize);
      for (;;) {
        const n =
          typeof f === 'number'
            ? await new Promise<number>((res, rej) =>
                fs.read(f, buf, 0, buf.length, null, (e, k) => (e ? rej(e) : res(k))),
              )
            : (await f.read(buf, 0, buf.length, null)).bytesRead;
        if (n === 0) return;
        yield Buffer.from(buf.subarray(0, n));
      }
    }
    if (typeof (f as NodeJS.ReadableStream)[Symbol.asyncIterator] === 'function') {
      for await (const chunk of f as AsyncIterable<Uint8Array | string>)
        yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      return;
    }
    if (typeof f.read === 'function') {
      for (;;) {
        const b = await f.read(this.blksize);
        if (b === null || b === undefined || b.length === 0) return;
        yield typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
      }
    }
    throw new TypeError('wsgi.file_wrapper: not a file descriptor, FileHandle, stream or object with read()');
  }

  /** the file descriptor under it (a number or a FileHandle), for sendfile; undefined for streams and readers */
  fileno(): number | undefined {
    const f = this.filelike;
    if (typeof f === 'number') return f;
    return isFileHandle(f) ? f.fd : undefined;
  }

  close(): unknown {
    if (this.closed) return undefined;
    this.closed = true;
    const f = this.filelike as { close?: () => unknown; destroy?: () => unknown };
    if (typeof this.filelike === 'number') return fs.closeSync(this.filelike);
    if (typeof f.close === 'function') return f.close();
    if (typeof f.destroy === 'function') return f.destroy();
    return undefined;
  }
}
