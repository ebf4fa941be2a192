import { write as fsWrite } from 'node:fs';
import { Writable } from 'node:stream';

/** Size of the writes a request body is gathered into. */
const WRITE_SIZE = 1024 * 1024;

/**
 * A Writable over a file descriptor that gathers the small chunks a request body arrives in
 * (16-64 KiB from the socket) into 1 MiB positioned writes. Each fs write is a trip through the
 * thread pool and the stream machinery; a profile of chunked pushes spent a quarter of the event
 * loop dispatching them one socket chunk at a time. Chunks already as large as the buffer are
 * written as they are, without a copy.
 *
 * The descriptor belongs to the caller (never closed here). destroy() waits for a write in flight
 * to finish before 'close', so the caller can close the descriptor afterwards without racing it.
 */
export class CoalescingFileWriter extends Writable {
  /** Bytes handed to the file so far (all of them once 'finish' has fired). */
  bytesWritten = 0;
  private readonly buf = Buffer.allocUnsafe(WRITE_SIZE);
  private used = 0;
  private position: number;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly fd: number,
    start: number,
  ) {
    super({ highWaterMark: WRITE_SIZE });
    this.position = start;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.track(this.take(chunk)).then(() => cb(), cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.track(
      (async () => {
        for (const c of chunks) await this.take(c.chunk);
      })(),
    ).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.track(this.flush()).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const pending = this.inFlight;
    if (!pending) return cb(err);
    pending.then(
      () => cb(err),
      () => cb(err),
    );
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight = p;
    return p.finally(() => {
      if (this.inFlight === p) this.inFlight = undefined;
    });
  }

  private async take(chunk: Buffer): Promise<void> {
    if (this.used === 0 && chunk.length >= WRITE_SIZE) return this.writeOut(chunk, chunk.length);
    let from = 0;
    while (from < chunk.length) {
      const n = chunk.copy(this.buf, this.used, from);
      this.used += n;
      from += n;
      if (this.used === WRITE_SIZE) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    await this.writeOut(this.buf, n);
  }

  private async writeOut(data: Buffer, length: number): Promise<void> {
    let off = 0;
    while (off < length) {
      const written = await new Promise<number>((resolve, reject) =>
        fsWrite(this.fd, data, off, length - off, this.position, (e, n) => (e ? reject(e) : resolve(n))),
      );
      off += written;
      this.position += written;
      this.bytesWritten += written;
    }
  }
}
