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
  if (/gzip|zstd/.test(mediaType) && head.length > 0 && head.length < 512) {
    throw new LayerFormatError(`is declared ${mediaType} but is neither compressed nor a tar`);
  }
  return 'tar';
}

/**
 * The window the first zstd frame asks for (the decoder allocates it up front). Later frames of a
 * multi-frame stream are not checked; the per-layer byte limit still bounds them.
 */
export function zstdWindow(head: Buffer): number | undefined {
  if (head.length < 6) return undefined;
  const fhd = head[4]!;
  const singleSegment = (fhd & 0x20) !== 0;
  if (!singleSegment) {
    const wd = head[5]!;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  const fcsFlag = fhd >> 6;
  const at = 5 + [0, 1, 2, 4][fhd & 3]!;
  const size = [1, 2, 4, 8][fcsFlag]!;
  if (head.length < at + size) return undefined;
  if (size === 1) return head[at]!;
  if (size === 2) return head.readUInt16LE(at) + 256;
  if (size === 4) return head.readUInt32LE(at);
  return Number(head.readBigUInt64LE(at));
}

class ZstdDecompress extends Transform {
  private readonly z = new Decompress((chunk) => {
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
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

export function decompressor(format: LayerFormat): Transform {
  if (format === 'gzip') return createGunzip();
  if (format === 'zstd') return new ZstdDecompress();
  return new PassThrough();
}
