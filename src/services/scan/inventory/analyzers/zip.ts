import { inflateRawSync } from 'node:zlib';

// Just enough of ZIP (APPNOTE.TXT) to read a jar: the end-of-central-directory record (ZIP64
// included), the central directory, and one member's bytes, stored or deflated. Sizes in the
// directory are not trusted: inflation stops at a cap whatever the entry claims.

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  encrypted: boolean;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CEN = 0x02014b50;
const LOC = 0x04034b50;

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('a ZIP64 field is out of range');
  return Number(v);
}

export function readCentralDirectory(buf: Buffer, maxEntries: number): ZipEntry[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('no end of central directory record');
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (
    (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) &&
    eocd >= 20 &&
    buf.readUInt32LE(eocd - 20) === EOCD64_LOCATOR
  ) {
    const at = u64(buf, eocd - 12);
    if (at + 56 > buf.length || buf.readUInt32LE(at) !== EOCD64) throw new ZipError('bad ZIP64 end record');
    count = u64(buf, at + 32);
    cdSize = u64(buf, at + 40);
    cdOffset = u64(buf, at + 48);
  }
  if (cdOffset + cdSize > buf.length) throw new ZipError('central directory lies outside the file');
  if (count > maxEntries) throw new ZipError(`more than ${maxEntries} entries`);
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CEN) throw new ZipError('corrupt central directory');
    const flags = buf.readUInt16LE(p + 8);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > buf.length) throw new ZipError('corrupt central directory');
    const e: ZipEntry = {
      name: buf.toString('utf8', p + 46, p + 46 + nameLen),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      localOffset: buf.readUInt32LE(p + 42),
      encrypted: (flags & 1) === 1,
    };
    // ZIP64 extra field: the 64-bit values, in this order, for whichever fields are saturated.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = buf.readUInt16LE(x);
      const len = buf.readUInt16LE(x + 2);
      if (id === 1) {
        let q = x + 4;
        const take = () => (q + 8 <= x + 4 + len ? ((q += 8), u64(buf, q - 8)) : undefined);
        if (e.size === 0xffffffff) e.size = take() ?? e.size;
        if (e.compressedSize === 0xffffffff) e.compressedSize = take() ?? e.compressedSize;
        if (e.localOffset === 0xffffffff) e.localOffset = take() ?? e.localOffset;
      }
      x += 4 + len;
    }
    entries.push(e);
    p = end;
  }
  return entries;
}

/** A member's bytes, or undefined when it is encrypted or uses a method other than stored/deflate. Throws past `maxBytes`. */
export function readEntry(buf: Buffer, e: ZipEntry, maxBytes: number): Buffer | undefined {
  if (e.encrypted || (e.method !== 0 && e.method !== 8)) return undefined;
  const at = e.localOffset;
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== LOC) throw new ZipError(`bad local header for ${e.name}`);
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
  const end = start + e.compressedSize;
  if (end > buf.length) throw new ZipError(`${e.name} runs past the end of the archive`);
  const raw = buf.subarray(start, end);
  if (e.method === 0) {
    if (raw.length > maxBytes) throw new ZipError(`${e.name} is larger than ${maxBytes} bytes`);
    return raw;
  }
  try {
    return inflateRawSync(raw, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new ZipError(`${e.name} inflates to more than ${maxBytes} bytes`);
    throw new ZipError(`${e.name} does not inflate: ${(err as Error).message}`);
  }
}
