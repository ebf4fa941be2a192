// A small, bounded CBOR (RFC 8949) decoder for COSE envelopes, plus the few encoders the
// COSE Sig_structure needs. Definite lengths only (COSE forbids the others in what is signed);
// every length is checked against the bytes left before anything is allocated, nesting is
// capped, and map keys must be integers or text and unique. Errors are CborError.

export class CborError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CborError';
  }
}

export class Tagged {
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

export type CborKey = number | string;
export type CborValue = number | bigint | string | boolean | null | undefined | Uint8Array | CborValue[] | Map<CborKey, CborValue> | Tagged;

export const CBOR_MAX_DEPTH = 16;

/** Decodes exactly one item filling all of `bytes`. */
export function decodeCbor(bytes: Uint8Array, maxDepth = CBOR_MAX_DEPTH): CborValue {
  const r = new Reader(bytes, maxDepth);
  const v = r.item(0);
  if (r.pos !== bytes.length) throw new CborError(`${bytes.length - r.pos} unexpected byte(s) after the CBOR item`);
  return v;
}

class Reader {
  pos = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly maxDepth: number,
  ) {}

  private need(n: number): void {
    if (n > this.b.length - this.pos)
      throw new CborError(`truncated CBOR: ${n} byte(s) needed at offset ${this.pos}, ${this.b.length - this.pos} left`);
  }

  private byte(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  /** The argument of a head; a bigint only above 2^53. */
  private argument(info: number): number | bigint {
    if (info < 24) return info;
    if (info === 24) return this.byte();
    if (info === 25 || info === 26 || info === 27) {
      const n = info === 25 ? 2 : info === 26 ? 4 : 8;
      this.need(n);
      let v = 0n;
      for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(this.b[this.pos++]!);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    if (info === 31) throw new CborError('indefinite-length CBOR items are not supported');
    throw new CborError(`reserved CBOR additional information ${info} at offset ${this.pos - 1}`);
  }

  /** A length, which must fit in what is left (each element takes at least `unit` bytes). */
  private length(info: number, unit: number): number {
    const n = this.argument(info);
    if (typeof n === 'bigint' || n * unit > this.b.length - this.pos)
      throw new CborError(`truncated CBOR: a length of ${n} at offset ${this.pos} is more than the bytes left`);
    return n;
  }

  item(depth: number): CborValue {
    if (depth > this.maxDepth) throw new CborError(`CBOR nested deeper than ${this.maxDepth} levels`);
    const head = this.byte();
    const major = head >> 5;
    const info = head & 0x1f;
    switch (major) {
      case 0:
        return this.argument(info);
      case 1: {
        const n = this.argument(info);
        return typeof n === 'bigint' ? -1n - n : -1 - n;
      }
      case 2: {
        const n = this.length(info, 1);
        // A plain Uint8Array view (not a Buffer) whatever the input was: one type for callers.
        const out = new Uint8Array(this.b.buffer, this.b.byteOffset + this.pos, n);
        this.pos += n;
        return out;
      }
      case 3: {
        const n = this.length(info, 1);
        const bytes = this.b.subarray(this.pos, this.pos + n);
        this.pos += n;
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        } catch {
          throw new CborError('a CBOR text string is not valid UTF-8');
        }
      }
      case 4: {
        const n = this.length(info, 1);
        const out: CborValue[] = [];
        for (let k = 0; k < n; k++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        const n = this.length(info, 2);
        const out = new Map<CborKey, CborValue>();
        for (let k = 0; k < n; k++) {
          const key = this.item(depth + 1);
          if (typeof key !== 'number' && typeof key !== 'string') throw new CborError('a CBOR map key is neither an integer nor text');
          if (out.has(key)) throw new CborError(`duplicate CBOR map key ${JSON.stringify(key)}`);
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      case 6: {
        const tag = this.argument(info);
        if (typeof tag === 'bigint') throw new CborError('a CBOR tag number is too large');
        return new Tagged(tag, this.item(depth + 1));
      }
      default:
        return this.simple(info);
    }
  }

  private simple(info: number): CborValue {
    if (info === 20) return false;
    if (info === 21) return true;
    if (info === 22) return null;
    if (info === 23) return undefined;
    if (info === 25) {
      this.need(2);
      const h = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
      this.pos += 2;
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      const sign = h & 0x8000 ? -1 : 1;
      if (exp === 0) return sign * mant * 2 ** -24;
      if (exp === 31) return mant ? NaN : sign * Infinity;
      return sign * (1 + mant / 1024) * 2 ** (exp - 15);
    }
    if (info === 26 || info === 27) {
      const n = info === 26 ? 4 : 8;
      this.need(n);
      const view = new DataView(this.b.buffer, this.b.byteOffset + this.pos, n);
      this.pos += n;
      return n === 4 ? view.getFloat32(0) : view.getFloat64(0);
    }
    if (info === 31) throw new CborError('an unexpected CBOR "break" (indefinite lengths are not supported)');
    throw new CborError(`unsupported CBOR simple value ${info}`);
  }
}

// --- encoding: just what Sig_structure and test envelopes need ------------------------------

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = (major << 5) | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

/** Encodes integers, text, bytes, arrays, maps (in insertion order), tags, booleans and null. */
export function encodeCbor(v: CborValue): Buffer {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error('encodeCbor: only integers are supported');
    return v >= 0 ? head(0, v) : head(1, -1 - v);
  }
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(encodeCbor)]);
  if (v instanceof Map) return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [encodeCbor(k), encodeCbor(x)])]);
  if (v instanceof Tagged) return Buffer.concat([head(6, v.tag), encodeCbor(v.value)]);
  if (v === false) return Buffer.from([0xf4]);
  if (v === true) return Buffer.from([0xf5]);
  if (v === null) return Buffer.from([0xf6]);
  throw new Error(`encodeCbor: unsupported value ${String(v)}`);
}
