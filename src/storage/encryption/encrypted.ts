import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  StorageError,
  StorageNotFoundError,
  type PositionalReader,
  type ReadRange,
  type StatResult,
  type StorageDriver,
  type Writer,
} from '../driver.js';
import { openPool, RecordOpenError, type RecordJob } from './open-pool.js';

// Encryption at rest: a decorator that seals every object before it reaches the inner driver.
//
// Format, version 1 (the shape of Tink's AES-GCM-HKDF streaming AEAD, with length-prefixed records
// so an object can be appended to at every commit):
//
//   header      version(1)=0x01 | salt(32) | noncePrefix(7)                          40 bytes
//   record i    u32 BE plaintext length L (1..segment) | AES-256-GCM(L bytes) | tag(16)
//   terminator  u32 BE 0xFFFFFFFF | u64 BE plaintext size | u32 BE segment (0: irregular) | tag(16)
//
//   object key  = HKDF-SHA256(DEK, salt, info = "berth storage object v1"), 32 bytes
//   nonce       = noncePrefix(7) | u32 BE record index | flag (0 for data records, 1 for the terminator)
//   AAD         = the record's clear prefix (its length field; for the terminator all 16 clear bytes)
//
// The terminator is sealed like a last segment (flag 1, index = number of data records) and
// carries the plaintext size: a missing, truncated, reordered or duplicated record, bytes appended
// after the end, or any flipped bit makes a read fail with EncryptionIntegrityError. A read streams
// only authenticated bytes; a failure found later ends the stream with the error, never with wrong
// bytes.
//
// The HKDF info is a fixed label, not the object key: objects are written under uploads/<id> and
// then moved (renamed) to blobs/sha256/…, so a key bound to the path would not survive the move.
// The random 32-byte salt makes each object's key unique. What this gives up (an object copied to
// another key still decrypts) is covered for blobs by their content address, which clients verify.
//
// Appends (resumable uploads): every commit() seals the pending short segment as its own record
// and writes a terminator, so each acknowledged offset is a record boundary. writer(key, {offset})
// at a boundary cuts only the terminator (and any unacknowledged bytes after it) and appends new
// records: acknowledged bytes are never rewritten, so a crash at any moment leaves them durable and
// resumable (until the next commit the object has no terminator: reads fail, stat walks the complete
// records). An offset inside a record (the caller discards acknowledged bytes, which uploads never
// do) re-seals that record's kept prefix. Objects written in one go have every record full but the
// last ("regular", segment recorded in the terminator): a range read computes where its segments
// are. An object appended to is "irregular": a range read walks the records from the start,
// decrypting only those it returns.

export const HEADER_SIZE = 40;
const VERSION = 0x01;
const TAG = 16;
const LEN = 4;
const TERMINATOR_SIZE = 16 + TAG;
const TERMINATOR_MARK = 0xffffffff;
const INFO = Buffer.from('berth storage object v1');
/** Tink's default segment; a constructor option so tests can use tiny ones. */
export const DEFAULT_SEGMENT = 1024 * 1024;
/** Records are never larger than this, whatever segment wrote them (a bound on what a tampered length can make us buffer). */
const MAX_RECORD = 64 * 1024 * 1024;
/** Plaintext handed out per decryption step (see openParts). */
const PIECE = 64 * 1024;
/** Ciphertext read per positional batch (a few segments: fewer reads, bounded memory per pull). */
const POSITIONAL_BATCH = 4 * 1024 * 1024 + 4 * (LEN + TAG);

/** An encrypted object failed authentication or is malformed: tampered, truncated, or written with another key. */
export class EncryptionIntegrityError extends StorageError {
  constructor(
    driver: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super(driver, `encrypted object ${key} failed its integrity check: ${reason}`);
    this.name = 'EncryptionIntegrityError';
  }
}

interface Header {
  key: Buffer;
  noncePrefix: Buffer;
}

interface Terminator {
  size: number;
  segment: number;
  records: number;
}

/** A record: [index, ciphertext position, plaintext length, plaintext offset]. */
type RecordSpan = [number, number, number, number];
/** The records holding plaintext bytes start..end (inclusive). */
type Touching = (start: number, end: number) => RecordSpan[];

export interface EncryptingDriverOptions {
  /** Plaintext bytes per segment (default 1 MiB). */
  segmentSize?: number;
}

export class EncryptingDriver implements StorageDriver {
  readonly name: string;
  private readonly segment: number;

  constructor(
    private readonly inner: StorageDriver,
    private readonly dek: Buffer,
    opts: EncryptingDriverOptions = {},
  ) {
    if (dek.length !== 32) throw new Error('the data encryption key must be 32 bytes');
    this.segment = opts.segmentSize ?? DEFAULT_SEGMENT;
    if (!Number.isInteger(this.segment) || this.segment < 1 || this.segment > MAX_RECORD)
      throw new Error(`invalid segment size ${this.segment}`);
    // Errors from the inner driver carry its name; ours do too, so callers see one driver.
    this.name = inner.name;
    // signedReadUrl is deliberately absent: a signed URL would hand out ciphertext. Positional
    // reads decrypt (off the main thread, see open-pool.ts) where the inner driver has them.
    if (inner.openPositional) this.openPositional = (key) => this.openDecrypting(key);
  }

  readonly openPositional?: (key: string) => Promise<PositionalReader>;

  private fail(key: string, reason: string): EncryptionIntegrityError {
    return new EncryptionIntegrityError(this.name, key, reason);
  }

  private objectKey(salt: Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', this.dek, salt, INFO, 32));
  }

  private nonce(h: Header, index: number, last: boolean): Buffer {
    const n = Buffer.alloc(12);
    h.noncePrefix.copy(n, 0);
    n.writeUInt32BE(index, 7);
    n[11] = last ? 1 : 0;
    return n;
  }

  /** [aad, ciphertext pieces..., tag]: sealed piece by piece, for the reason openParts gives. */
  private seal(h: Header, index: number, last: boolean, aad: Buffer, plain: readonly Buffer[]): Buffer[] {
    const c = createCipheriv('aes-256-gcm', h.key, this.nonce(h, index, last));
    c.setAAD(aad);
    const out = [aad];
    for (const p of plain) for (let at = 0; at < p.length; at += PIECE) out.push(c.update(p.subarray(at, at + PIECE)));
    c.final();
    out.push(c.getAuthTag());
    return out;
  }

  private open(key: string, h: Header, index: number, last: boolean, aad: Buffer, body: Buffer, tag: Buffer): Buffer {
    const parts = this.openParts(key, h, index, last, aad, body, tag);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /**
   * A record's plaintext, authenticated, in pieces of at most PIECE bytes: a fresh 1 MiB buffer
   * per record is what the allocator hands back to the kernel and faults in again, which cost an
   * encrypted pull more than AES itself; small pieces are reused from the heap.
   */
  private openParts(key: string, h: Header, index: number, last: boolean, aad: Buffer, body: Buffer, tag: Buffer): Buffer[] {
    try {
      const d = createDecipheriv('aes-256-gcm', h.key, this.nonce(h, index, last));
      d.setAAD(aad);
      d.setAuthTag(tag);
      const out: Buffer[] = [];
      for (let at = 0; at < body.length; at += PIECE) out.push(d.update(body.subarray(at, at + PIECE)));
      if (out.length === 0) out.push(d.update(body));
      d.final();
      return out;
    } catch {
      throw this.fail(
        key,
        last ? 'the end record does not authenticate (truncated, extended or tampered)' : `record ${index} does not authenticate`,
      );
    }
  }

  private sealRecord(h: Header, index: number, plain: readonly Buffer[]): Buffer[] {
    const len = Buffer.alloc(LEN);
    len.writeUInt32BE(plain.reduce((n, p) => n + p.length, 0));
    return this.seal(h, index, false, len, plain);
  }

  private sealTerminator(h: Header, records: number, size: number, segment: number): Buffer[] {
    const clear = Buffer.alloc(16);
    clear.writeUInt32BE(TERMINATOR_MARK, 0);
    clear.writeBigUInt64BE(BigInt(size), 4);
    clear.writeUInt32BE(segment, 12);
    return this.seal(h, records, true, clear, []);
  }

  private async readBytes(key: string, start: number, end: number): Promise<Buffer> {
    return (await this.readRanges(key, [[start, end]]))[0];
  }

  /** Small ranges of one object (inclusive ends): one positional open where the driver has it (fs), else a ranged read each. */
  private async readRanges(key: string, ranges: Array<[number, number]>, open?: PositionalReader): Promise<[Buffer, ...Buffer[]]> {
    if (open || this.inner.openPositional) {
      const r = open ?? (await this.inner.openPositional!(key));
      try {
        return (await Promise.all(
          ranges.map(async ([start, end]) => {
            const buf = Buffer.alloc(end - start + 1);
            let got = 0;
            while (got < buf.length) {
              const n = await r.read(buf.subarray(got), start + got);
              if (n === 0) break;
              got += n;
            }
            return buf.subarray(0, got);
          }),
        )) as [Buffer, ...Buffer[]];
      } finally {
        if (!open) await r.close();
      }
    }
    const out: Buffer[] = [];
    for (const [start, end] of ranges) {
      const chunks: Buffer[] = [];
      for await (const c of await this.inner.read(key, { start, end })) chunks.push(Buffer.from(c as Uint8Array));
      out.push(Buffer.concat(chunks));
    }
    return out as [Buffer, ...Buffer[]];
  }

  private parseHeader(key: string, raw: Buffer): Header {
    if (raw.length < HEADER_SIZE) throw this.fail(key, 'shorter than the header (not an encrypted object, or torn)');
    if (raw[0] !== VERSION) throw this.fail(key, `unknown format version ${raw[0]} (not an encrypted object?)`);
    return { key: this.objectKey(raw.subarray(1, 33)), noncePrefix: Buffer.from(raw.subarray(33, 40)) };
  }

  /** The clear fields of a terminator, or undefined when the tail is not one (torn or in-progress object). */
  private peekTerminator(tail: Buffer): { size: number; segment: number } | undefined {
    if (tail.length !== TERMINATOR_SIZE || tail.readUInt32BE(0) !== TERMINATOR_MARK) return undefined;
    const size = tail.readBigUInt64BE(4);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return { size: Number(size), segment: tail.readUInt32BE(12) };
  }

  /** Header and authenticated terminator of a complete object. */
  private async openObject(key: string, cipherSize: number, open?: PositionalReader): Promise<{ h: Header; t: Terminator }> {
    if (cipherSize < HEADER_SIZE + TERMINATOR_SIZE) throw this.fail(key, `${cipherSize} bytes is too short`);
    const [head, tail = Buffer.alloc(0)] = await this.readRanges(
      key,
      [
        [0, HEADER_SIZE - 1],
        [cipherSize - TERMINATOR_SIZE, cipherSize - 1],
      ],
      open,
    );
    const h = this.parseHeader(key, head);
    const peek = this.peekTerminator(tail);
    if (!peek) throw this.fail(key, 'no end record (truncated, extended, or an upload interrupted before its commit)');
    const dataBytes = cipherSize - HEADER_SIZE - TERMINATOR_SIZE;
    // The record count is not stored: it is what makes the terminator authenticate (its nonce
    // index). For a regular object it follows from the sizes; otherwise the walk counts.
    let records: number;
    if (peek.segment > 0) {
      records = Math.ceil(peek.size / peek.segment);
      if (records * (LEN + TAG) + peek.size !== dataBytes) throw this.fail(key, 'size does not match its end record');
    } else {
      records = (await this.walk(key, cipherSize - TERMINATOR_SIZE, open)).length;
    }
    this.open(key, h, records, true, tail.subarray(0, 16), Buffer.alloc(0), tail.subarray(16));
    return { h, t: { ...peek, records } };
  }

  /** The data records before `limit` (ciphertext position), from their length fields: [position, length]. */
  private async walk(key: string, limit: number, open?: PositionalReader): Promise<Array<[number, number]>> {
    const out: Array<[number, number]> = [];
    let pos = HEADER_SIZE;
    const positional = open ?? (this.inner.openPositional ? await this.inner.openPositional(key) : undefined);
    const lenBuf = Buffer.alloc(LEN);
    try {
      while (pos + LEN <= limit) {
        if (positional) {
          if ((await positional.read(lenBuf, pos)) < LEN) break;
        } else {
          (await this.readBytes(key, pos, pos + LEN - 1)).copy(lenBuf);
        }
        const len = lenBuf.readUInt32BE(0);
        if (len === TERMINATOR_MARK || len === 0 || len > MAX_RECORD || pos + LEN + len + TAG > limit) break;
        out.push([pos, len]);
        pos += LEN + len + TAG;
      }
    } finally {
      if (!open) await positional?.close();
    }
    return out;
  }

  async stat(key: string): Promise<StatResult | null> {
    const st = await this.inner.stat(key);
    if (!st) return null;
    // The size comes from the terminator's clear fields (reads authenticate it). An object without
    // one (an upload interrupted before a commit, or torn) counts its complete records.
    if (st.size >= HEADER_SIZE + TERMINATOR_SIZE) {
      const peek = this.peekTerminator(await this.readBytes(key, st.size - TERMINATOR_SIZE, st.size - 1));
      if (peek) return { size: peek.size, modifiedAt: st.modifiedAt };
    }
    const records = st.size >= HEADER_SIZE ? await this.walk(key, st.size) : [];
    return { size: records.reduce((n, [, len]) => n + len, 0), modifiedAt: st.modifiedAt };
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    // One open object for the header, the end record and every record: a blob pushed again is
    // moved over its key as a new object (same plaintext, new salt), and a read must not mix the two.
    if (this.inner.openPositional) {
      const reader = await this.inner.openPositional(key);
      try {
        const { h, t, touching } = await this.mapRecords(key, reader);
        const start = range?.start ?? 0;
        const end = Math.min(range?.end ?? t.size - 1, t.size - 1);
        if (t.size === 0 || start > end) {
          await reader.close();
          return Readable.from([]);
        }
        return recordStream(this.decryptPositional(key, h, reader, start, end, touching(start, end)));
      } catch (e) {
        await reader.close();
        throw e;
      }
    }
    const st = await this.inner.stat(key);
    if (!st) throw new StorageNotFoundError(this.name, key);
    const { h, t } = await this.openObject(key, st.size);
    const dataEnd = st.size - TERMINATOR_SIZE;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? t.size - 1, t.size - 1);
    if (t.size === 0 || start > end) return Readable.from([]);
    // A regular object: jump straight to the first segment the range touches.
    let first = 0;
    let from = HEADER_SIZE;
    let until = dataEnd;
    if (t.segment > 0) {
      first = Math.floor(start / t.segment);
      const last = Math.floor(end / t.segment);
      from = HEADER_SIZE + first * (t.segment + LEN + TAG);
      until = Math.min(dataEnd, HEADER_SIZE + (last + 1) * (t.segment + LEN + TAG));
    }
    const source = await this.inner.read(key, { start: from, end: until - 1 });
    return recordStream(this.decrypt(key, h, t, source, first, t.segment > 0 ? first * t.segment : 0, start, end, until === dataEnd));
  }

  /**
   * Header, authenticated end record and where each record lies, of an object open in `reader`:
   * a regular object's records are where its segment size puts them, an irregular one's come
   * from its walk (checked against the end record).
   */
  private async mapRecords(key: string, reader: PositionalReader): Promise<{ h: Header; t: Terminator; touching: Touching }> {
    const cipherSize = await reader.size();
    const { h, t } = await this.openObject(key, cipherSize, reader);
    if (t.segment > 0) {
      const stride = t.segment + LEN + TAG;
      return {
        h,
        t,
        touching: (start, end) => {
          const out: RecordSpan[] = [];
          for (let i = Math.floor(start / t.segment); i <= Math.floor(end / t.segment); i++)
            out.push([i, HEADER_SIZE + i * stride, Math.min(t.segment, t.size - i * t.segment), i * t.segment]);
          return out;
        },
      };
    }
    const records = await this.walk(key, cipherSize - TERMINATOR_SIZE, reader);
    if (records.length !== t.records) throw this.fail(key, 'records do not add up to its end record');
    const starts: number[] = [];
    let plain = 0;
    for (const [, len] of records) {
      starts.push(plain);
      plain += len;
    }
    if (plain !== t.size) throw this.fail(key, 'records do not add up to its end record');
    return {
      h,
      t,
      touching: (start, end) => {
        // The last record starting at or before `start` (binary search), then on while they start by `end`.
        let lo = 0;
        let hi = starts.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (starts[mid]! <= start) lo = mid;
          else hi = mid - 1;
        }
        const out: RecordSpan[] = [];
        for (let i = lo; i < starts.length && starts[i]! <= end; i++) out.push([i, records[i]![0], records[i]![1], starts[i]!]);
        return out;
      },
    };
  }

  /**
   * The object open for positional reads of its plaintext: one open inner object (a blob pushed
   * again and moved over its key never mixes into a read), its end record authenticated at once.
   * Each read opens the whole records it touches and copies out only what was asked, after their
   * tags are checked. Into a shared buffer (the pull path's send buffers) the records are opened
   * by the worker pool; into any other, here.
   */
  private async openDecrypting(key: string): Promise<PositionalReader> {
    const reader = await this.inner.openPositional!(key);
    let h: Header;
    let t: Terminator;
    let touching: Touching;
    try {
      ({ h, t, touching } = await this.mapRecords(key, reader));
    } catch (e) {
      await reader.close();
      throw e;
    }
    let scratch: SharedArrayBuffer | undefined;
    let busy = false;
    return {
      size: () => Promise.resolve(t.size),
      close: async () => {
        // A read still running keeps its scratch buffer; it is not pooled again then.
        if (scratch && !busy) giveScratch(scratch);
        scratch = undefined;
        await reader.close();
      },
      read: async (into, position) => {
        if (position >= t.size || into.length === 0) return 0;
        let end = Math.min(t.size, position + into.length) - 1;
        let wanted = touching(position, end);
        // At most a few segments of ciphertext per call (a short read; callers read on).
        while (wanted.length > 1 && wanted[wanted.length - 1]![1] + wanted[wanted.length - 1]![2] - wanted[0]![1] > POSITIONAL_BATCH) {
          wanted = wanted.slice(0, -1);
          const last = wanted[wanted.length - 1]!;
          end = last[3] + last[2] - 1;
        }
        const from = wanted[0]![1];
        const last = wanted[wanted.length - 1]!;
        const span = last[1] + LEN + last[2] + TAG - from;
        // One scratch buffer per open object (from a pool: shared memory is zeroed when made),
        // reused by sequential reads; a concurrent or oversized read gets its own.
        const mine = !busy;
        if (mine && !scratch) scratch = takeScratch();
        const src = mine && scratch!.byteLength >= span ? scratch! : new SharedArrayBuffer(span);
        if (mine) busy = true;
        try {
          const raw = Buffer.from(src, 0, span);
          let got = 0;
          while (got < span) {
            const n = await reader.read(raw.subarray(got), from + got);
            if (n === 0) throw this.fail(key, `record ${wanted[0]![0]} is cut short`);
            got += n;
          }
          const jobs: RecordJob[] = wanted.map(([index, pos, len, recStart]) => {
            const at = pos - from;
            if (raw.readUInt32BE(at) !== len) throw this.fail(key, `record ${index} has length ${raw.readUInt32BE(at)}, not ${len}`);
            const skip = Math.max(0, position - recStart);
            const take = Math.min(len, end + 1 - recStart) - skip;
            return { index, nonce: this.nonce(h, index, false), at, len, skip, take, to: recStart + skip - position };
          });
          if (into.buffer instanceof SharedArrayBuffer) {
            const offset = into.byteOffset;
            await openPool
              .open(
                h.key,
                src,
                into.buffer,
                jobs.map((j) => ({ ...j, to: j.to + offset })),
              )
              .catch((e: unknown) => {
                throw e instanceof RecordOpenError ? this.fail(key, `record ${e.index} does not authenticate`) : e;
              });
          } else {
            for (const j of jobs) {
              const parts = this.openParts(
                key,
                h,
                j.index,
                false,
                raw.subarray(j.at, j.at + LEN),
                raw.subarray(j.at + LEN, j.at + LEN + j.len),
                raw.subarray(j.at + LEN + j.len, j.at + LEN + j.len + TAG),
              );
              let to = j.to;
              for (const piece of within(parts, j.skip, j.skip + j.take)) to += piece.copy(into, to);
            }
          }
          return end - position + 1;
        } finally {
          if (mine) busy = false;
        }
      },
    };
  }

  /**
   * Plaintext bytes start..end of an object open in `reader` (`wanted`: the records holding them),
   * its records read a few at a time by position straight into one buffer (no stream chunks to
   * reassemble, no copy before decryption).
   */
  private async *decryptPositional(
    key: string,
    h: Header,
    reader: PositionalReader,
    start: number,
    end: number,
    wanted: RecordSpan[],
  ): AsyncGenerator<Buffer[]> {
    // Batches of consecutive records, each up to POSITIONAL_BATCH bytes of ciphertext: [first, last] into wanted.
    const batches: Array<[number, number]> = [];
    for (let w = 0; w < wanted.length;) {
      const from = wanted[w]![1];
      let to = w;
      while (to + 1 < wanted.length && wanted[to + 1]![1] + LEN + wanted[to + 1]![2] + TAG - from <= POSITIONAL_BATCH) to++;
      batches.push([w, to]);
      w = to + 1;
    }
    // Two reused buffers: the next batch is read while this one is decrypted (decryption copies out,
    // so a buffer is free again once its records are opened). Fresh buffers per batch made the
    // garbage collector and page faults, not AES, the cost of an encrypted pull.
    const bufs: [Buffer, Buffer] = [takeBatchBuffer(), takeBatchBuffer()];
    const fill = async (b: number): Promise<Buffer> => {
      const [first, lastIdx] = batches[b]!;
      const from = wanted[first]![1];
      const last = wanted[lastIdx]!;
      const buf = bufs[b & 1]!.subarray(0, last[1] + LEN + last[2] + TAG - from);
      let got = 0;
      while (got < buf.length) {
        const n = await reader.read(buf.subarray(got), from + got);
        if (n === 0) throw this.fail(key, `record ${wanted[first]![0]} is cut short`);
        got += n;
      }
      return buf;
    };
    let next: Promise<Buffer> | undefined;
    let done = false;
    try {
      for (let b = 0; b < batches.length; b++) {
        const buf = await (next ?? fill(b));
        // Started before this batch is decrypted; its buffer is the other one, whose records are all opened.
        next = b + 1 < batches.length ? fill(b + 1) : undefined;
        next?.catch(() => undefined);
        const [first, lastIdx] = batches[b]!;
        const from = wanted[first]![1];
        for (let w = first; w <= lastIdx; w++) {
          const [index, pos, len, recStart] = wanted[w]!;
          const at = pos - from;
          if (buf.readUInt32BE(at) !== len) throw this.fail(key, `record ${index} has length ${buf.readUInt32BE(at)}, not ${len}`);
          const parts = this.openParts(
            key,
            h,
            index,
            false,
            buf.subarray(at, at + LEN),
            buf.subarray(at + LEN, at + LEN + len),
            buf.subarray(at + LEN + len, at + LEN + len + TAG),
          );
          yield within(parts, Math.max(0, start - recStart), Math.min(len, end + 1 - recStart));
        }
      }
      done = true;
    } finally {
      // A read still in flight (the consumer went away) must end before its buffer is reused or the file closed.
      await next?.catch(() => undefined);
      if (done) bufs.forEach(giveBatchBuffer);
      await reader.close();
    }
  }

  /** Plaintext bytes start..end from records read in order from `source`, the first being record `index`. */
  private async *decrypt(
    key: string,
    h: Header,
    t: Terminator,
    source: Readable,
    index: number,
    plainPos: number,
    start: number,
    end: number,
    toTheEnd: boolean,
  ): AsyncGenerator<Buffer[]> {
    const q = new ByteQueue();
    let need = LEN;
    let len = -1;
    for await (const c of source) {
      q.push(Buffer.from(c as Uint8Array));
      while (q.length >= need) {
        if (len < 0) {
          len = q.take(LEN).readUInt32BE(0);
          if (len === 0 || len > MAX_RECORD || (t.segment > 0 && len > t.segment))
            throw this.fail(key, `record ${index} has an impossible length ${len}`);
          need = len + TAG;
          continue;
        }
        const body = q.take(len);
        const tag = q.take(TAG);
        const lenBuf = Buffer.alloc(LEN);
        lenBuf.writeUInt32BE(len);
        const recStart = plainPos;
        plainPos += len;
        if (plainPos > t.size) throw this.fail(key, 'records hold more bytes than its end record says');
        if (plainPos > start && recStart <= end) {
          const parts = this.openParts(key, h, index, false, lenBuf, body, tag);
          yield within(parts, Math.max(0, start - recStart), Math.min(len, end + 1 - recStart));
        }
        index++;
        len = -1;
        need = LEN;
        // Past a range that stops short of the end: done (what follows is not needed). A read of
        // the last byte goes on to the end, so every record is checked against the end record.
        if (plainPos > end && end < t.size - 1) {
          source.destroy();
          return;
        }
      }
    }
    if (q.length > 0 || len >= 0) throw this.fail(key, `record ${index} is cut short`);
    if (toTheEnd && (index !== t.records || plainPos !== t.size)) throw this.fail(key, 'records do not add up to its end record');
    if (plainPos <= end) throw this.fail(key, 'fewer bytes than its end record says');
  }

  async writer(key: string, opts: { offset?: number; durableName?: boolean } = {}): Promise<Writer> {
    const offset = opts.offset ?? 0;
    let h: Header;
    let header: Buffer | undefined;
    let cipherOffset = 0;
    let index = 0;
    let pending: Buffer[] = [];
    let regular = true;
    if (offset === 0) {
      const salt = randomBytes(32);
      const noncePrefix = randomBytes(7);
      header = Buffer.concat([Buffer.from([VERSION]), salt, noncePrefix]);
      h = { key: this.objectKey(salt), noncePrefix };
    } else {
      const st = await this.inner.stat(key);
      if (!st) throw new StorageNotFoundError(this.name, key);
      h = this.parseHeader(key, await this.readBytes(key, 0, HEADER_SIZE - 1));
      // Whether the object was regular: then a resume keeps it so when it continues a full segment.
      let wasRegular = false;
      if (st.size >= HEADER_SIZE + TERMINATOR_SIZE) {
        wasRegular =
          (this.peekTerminator(await this.readBytes(key, st.size - TERMINATOR_SIZE, st.size - 1))?.segment ?? 0) === this.segment;
      }
      const records = await this.walk(key, st.size);
      let plain = 0;
      cipherOffset = -1;
      for (const [pos, len] of records) {
        if (plain === offset) {
          cipherOffset = pos;
          break;
        }
        if (plain + len > offset) {
          // Inside a record: keep (re-seal) its first bytes. Only when the caller drops acknowledged bytes.
          const raw = await this.readBytes(key, pos, pos + LEN + len + TAG - 1);
          const clear = this.open(key, h, index, false, raw.subarray(0, LEN), raw.subarray(LEN, LEN + len), raw.subarray(LEN + len));
          pending = [clear.subarray(0, offset - plain)];
          cipherOffset = pos;
          break;
        }
        plain += len;
        index++;
        if (len !== this.segment) regular = false;
      }
      if (cipherOffset < 0) {
        if (plain !== offset) throw new StorageError(this.name, `cannot resume ${key} at ${offset}: it holds ${plain} bytes`);
        cipherOffset = records.length ? records[records.length - 1]![0] + LEN + records[records.length - 1]![1] + TAG : HEADER_SIZE;
      }
      regular = regular && wasRegular;
    }
    // Opened at once for a fresh object (offset 0 starts it over, and a bad key fails here), but for
    // a resume only when bytes arrive or at commit: a writer aborted before writing leaves the
    // committed object, terminator included, as it was.
    let innerP: Promise<Writer> | undefined;
    const errorOnce = (err: Error) => stream.destroy(err);
    const open = (): Promise<Writer> =>
      (innerP ??= this.inner.writer(key, { offset: cipherOffset, durableName: opts.durableName }).then((w) => {
        if (header) w.stream.write(header);
        w.stream.on('error', errorOnce);
        return w;
      }));
    if (offset === 0) await open();
    let pendingBytes = pending.reduce((n, b) => n + b.length, 0);
    let total = offset;
    let lastShort = false;
    const send = (parts: Buffer[], cb: (err?: Error | null) => void) => {
      open().then(
        (w) => {
          // Each part on its own (no copy): the fs stream gathers them with writev.
          let more = true;
          for (const part of parts) more = w.stream.write(part);
          if (more) cb();
          else w.stream.once('drain', () => cb());
        },
        (e: Error) => cb(e),
      );
    };
    const emit = (plain: readonly Buffer[], length: number): Buffer[] => {
      // A short record followed by another makes the layout irregular (range reads walk).
      if (lastShort) regular = false;
      lastShort = length !== this.segment;
      return this.sealRecord(h, index++, plain);
    };
    const stream = new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        pending.push(chunk);
        pendingBytes += chunk.length;
        total += chunk.length;
        if (pendingBytes < this.segment) return cb();
        // Every full segment pending is sealed from the chunks as they came (never concatenated: a
        // copy and a fresh segment-sized buffer per record); the rest waits for more.
        const out: Buffer[] = [];
        while (pendingBytes >= this.segment) {
          const record: Buffer[] = [];
          let need = this.segment;
          while (need > 0) {
            const c = pending[0]!;
            if (c.length <= need) {
              record.push(c);
              pending.shift();
              need -= c.length;
            } else {
              record.push(c.subarray(0, need));
              pending[0] = c.subarray(need);
              need = 0;
            }
          }
          pendingBytes -= this.segment;
          for (const part of emit(record, this.segment)) out.push(part);
        }
        send(out, cb);
      },
      final: (cb) => {
        // Every commit ends with a sealed record boundary and a terminator (see the top of the file).
        const out: Buffer[] = [];
        if (pendingBytes > 0) out.push(...emit(pending, pendingBytes));
        pending = [];
        pendingBytes = 0;
        out.push(...this.sealTerminator(h, index, total, regular ? this.segment : 0));
        open().then(
          (w) => w.stream.end(Buffer.concat(out), () => cb()),
          (e: Error) => cb(e),
        );
      },
    });
    return {
      stream,
      commit: async () => {
        if (!stream.writableFinished) {
          await new Promise<void>((resolve, reject) => {
            stream.once('error', reject);
            stream.end(() => resolve());
          });
        }
        await (await open()).commit();
        return total;
      },
      abort: async () => {
        if (!stream.destroyed) stream.destroy();
        const w = await innerP?.catch(() => undefined);
        if (w) {
          w.stream.off('error', errorOnce);
          // The header may still be in flight: its write fails on the destroyed stream, harmlessly.
          w.stream.on('error', () => {});
          await w.abort();
        }
      },
    };
  }

  move(from: string, to: string): Promise<void> {
    return this.inner.move(from, to);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<string[]> {
    return this.inner.list(prefix, opts);
  }

  /** Whether an object begins with this format's header (false for clear-text objects); reads one small range. */
  async looksEncrypted(key: string): Promise<boolean> {
    const st = await this.inner.stat(key);
    if (!st || st.size < HEADER_SIZE + TERMINATOR_SIZE) return false;
    const [head, tail = Buffer.alloc(0)] = await this.readRanges(key, [
      [0, 0],
      [st.size - TERMINATOR_SIZE, st.size - 1],
    ]);
    return head[0] === VERSION && this.peekTerminator(tail) !== undefined;
  }
}

/** Bytes 'from' (inclusive) to 'to' (exclusive) of the concatenation of parts, without copying. */
function within(parts: Buffer[], from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const p of parts) {
    const s = Math.max(from, at);
    const e = Math.min(to, at + p.length);
    if (e > s) out.push(s === at && e === at + p.length ? p : p.subarray(s - at, e - at));
    at += p.length;
    if (at >= to) break;
  }
  return out;
}

/**
 * A byte stream of records' plaintext pieces. A record's pieces are pushed in one go, so a
 * consumer writing them to a socket does so in one tick (HTTP responses gather them into one
 * writev) rather than one write per piece.
 */
function recordStream(records: AsyncGenerator<Buffer[]>): Readable {
  let pulling = false;
  return new Readable({
    highWaterMark: 2 * DEFAULT_SEGMENT,
    read() {
      if (pulling) return;
      pulling = true;
      const pull = (): void => {
        records.next().then(
          (r) => {
            if (r.done) {
              pulling = false;
              this.push(null);
            } else if (r.value.length === 0) {
              pull();
            } else {
              pulling = false;
              for (const piece of r.value) this.push(piece);
            }
          },
          (e: Error) => this.destroy(e),
        );
      };
      pull();
    },
    destroy(err, cb) {
      // Ends the generator: its finally waits for a read in flight and closes the object.
      records.return(undefined).then(
        () => cb(err),
        () => cb(err),
      );
    },
  });
}

// Scratch buffers of positional readers (shared, so decryption workers read them), kept for reuse.
const scratchPool: SharedArrayBuffer[] = [];
function takeScratch(): SharedArrayBuffer {
  return scratchPool.pop() ?? new SharedArrayBuffer(POSITIONAL_BATCH);
}
function giveScratch(b: SharedArrayBuffer): void {
  if (b.byteLength === POSITIONAL_BATCH && scratchPool.length < BATCH_POOL_MAX) scratchPool.push(b);
}

// Batch buffers kept for reuse across reads (at most BATCH_POOL_MAX, 64 MiB): a busy moment allocates more and lets them go.
const BATCH_POOL_MAX = 16;
const batchPool: Buffer[] = [];
function takeBatchBuffer(): Buffer {
  return batchPool.pop() ?? Buffer.allocUnsafeSlow(POSITIONAL_BATCH);
}
function giveBatchBuffer(b: Buffer): void {
  if (batchPool.length < BATCH_POOL_MAX) batchPool.push(b);
}

/** A FIFO of buffers that hands out exact byte counts without re-concatenating everything. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.length -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}
