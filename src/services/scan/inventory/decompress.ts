import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';

// A layer blob to a stream of tar bytes. The magic bytes decide (registries mislabel media types);
// the media type only names what was expected in the error when neither matches.

export type LayerFormat = 'gzip' | 'zstd' | 'tar';

export class LayerFormatError extends Error {}

export function detectFormat(head: Buffer, mediaType: string): LayerFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh')
    throw new LayerFormatError('is bzip2-compressed, which is not supported');
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    throw new LayerFormatError('is xz-compressed, which is not supported');
  // A tar starts with a header block whose checksum holds; random bytes under a tar+gzip label
  // would otherwise surface as tar-stream's "needs to be gunzipped?" hint.
  if (/gzip|zstd/.test(mediaType) && head.length > 0 && (head.length < 512 || !isTarHeader(head))) {
    throw new LayerFormatError(`is declared ${mediaType} but is neither compressed nor a tar`);
  }
  return 'tar';
}

/** Whether the first 512 bytes are a tar header (its checksum holds) or an end-of-archive block of zeros. */
export function isTarHeader(head: Buffer): boolean {
  if (head.length < 512) return false;
  const block = head.subarray(0, 512);
  if (block.every((b) => b === 0)) return true;
  const stored = parseInt(
    block
      .toString('latin1', 148, 156)
      .replace(/[\0 ]+$/g, '')
      .trim(),
    8,
  );
  if (!Number.isFinite(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** The window a zstd frame header asks for (RFC 8878 §3.1.1.1.2); `head` starts at the frame's magic. */
export function zstdWindow(head: Buffer): number | undefined {
  if (head.length < 6) return undefined;
  const fhd = head[4]!;
  if ((fhd & 0x20) === 0) {
    const wd = head[5]!;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  // Single segment: the window is the frame's content size.
  const at = 5 + [0, 1, 2, 4][fhd & 3]!;
  const size = [1, 2, 4, 8][fhd >> 6]!;
  if (head.length < at + size) return undefined;
  if (size === 1) return head[at]!;
  if (size === 2) return head.readUInt16LE(at) + 256;
  if (size === 4) return head.readUInt32LE(at);
  return Number(head.readBigUInt64LE(at));
}

/**
 * Walks the frame and block headers of a zstd stream as it passes (they can be walked without
 * decoding: every block says how long it is) and refuses a frame whose window exceeds `maxWindow`
 * before the decoder allocates it. fzstd itself accepts windows up to 2 GiB, per frame.
 */
export class ZstdFrameGuard {
  private pending = Buffer.alloc(0);
  private skip = 0;
  private state: 'magic' | 'skippable' | 'header' | 'block' = 'magic';
  private checksum = false;

  constructor(private readonly maxWindow: number) {}

  feed(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      const need = this.needed();
      const take = Math.min(need - this.pending.length, chunk.length - pos);
      this.pending = Buffer.concat([this.pending, chunk.subarray(pos, pos + take)]);
      pos += take;
      if (this.pending.length === need) this.step();
    }
  }

  private needed(buf = this.pending): number {
    switch (this.state) {
      case 'magic':
        return 4;
      case 'skippable':
        return 4;
      case 'block':
        return 3;
      case 'header': {
        if (buf.length < 5) return 5;
        const fhd = buf[4]!;
        const single = (fhd & 0x20) !== 0;
        const fcs = [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
        return 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcs;
      }
    }
  }

  private step(): void {
    const p = this.pending;
    this.pending = Buffer.alloc(0);
    if (this.state === 'magic') {
      const magic = p.readUInt32LE(0);
      if (magic === 0xfd2fb528) {
        this.state = 'header';
        this.pending = p;
      } else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) this.state = 'skippable';
      else throw new LayerFormatError('is not a valid zstd stream (bad frame magic)');
    } else if (this.state === 'skippable') {
      this.skip = p.readUInt32LE(0);
      this.state = 'magic';
    } else if (this.state === 'header') {
      if (p.length < this.needed(p)) {
        this.pending = p;
        return;
      }
      const w = zstdWindow(p);
      if (w !== undefined && w > this.maxWindow) {
        throw new LayerFormatError(`is zstd-compressed with a ${w}-byte window, more than the ${this.maxWindow} allowed`);
      }
      this.checksum = (p[4]! & 0x04) !== 0;
      this.state = 'block';
    } else {
      const h = p[0]! | (p[1]! << 8) | (p[2]! << 16);
      const last = h & 1;
      const type = (h >> 1) & 3;
      if (type === 3) throw new LayerFormatError('is not a valid zstd stream (reserved block type)');
      this.skip = type === 1 ? 1 : h >>> 3;
      if (last) {
        this.skip += this.checksum ? 4 : 0;
        this.state = 'magic';
      }
    }
  }
}

class ZstdDecompress extends Transform {
  private readonly z = new Decompress((chunk) => {
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  constructor(private readonly guard: ZstdFrameGuard) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.guard.feed(chunk);
      this.z.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Reads enough of `source` to see its magic, then hands back the format and a stream of all of it. */
export async function sniff(source: NodeJS.ReadableStream, want: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < want) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    parts.push(b);
    len += b.length;
  }
  const head = Buffer.concat(parts);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head, stream: Readable.from(all(), { objectMode: false }) };
}

export function decompressor(format: LayerFormat, maxZstdWindow: number): Transform {
  if (format === 'gzip') return createGunzip();
  if (format === 'zstd') return new ZstdDecompress(new ZstdFrameGuard(maxZstdWindow));
  return new PassThrough();
}
