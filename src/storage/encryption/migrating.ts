import { createHash, randomUUID } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, StorageNotFoundError, type ReadRange, type StatResult, type StorageDriver, type Writer } from '../driver.js';
import type { Readable } from 'node:stream';

// A deployment that held clear-text objects when encryption at rest was turned on keeps its
// encrypted objects under a prefix (PrefixedDriver, "encrypted/<key>") and encrypts the clear ones
// in place with a job (services/operations/encryption.ts). Until the job is done, MigratingDriver
// presents both sides as one store:
//
//   read/stat   the encrypted object first, else the clear one, else the encrypted one again (the
//               job may have moved it into place in between)
//   writer      always the encrypted side; a resumed upload (offset > 0) whose bytes are still clear
//               is first encrypted (converted)
//   move        on the encrypted side; a clear source is converted into the destination
//   delete      both sides
//   list        both sides merged, in byte order
//
// Converting one object (the job, a resumed upload, a move): copy it encrypted to a temporary key,
// read that back and compare (size and SHA-256 of the decrypted bytes against the clear bytes), move
// it into place unless the encrypted side already has the key (a newer write wins), then delete the
// clear object. Every step is durable or repeatable: a crash at any point leaves either the clear
// object (converted again) or the encrypted one (the clear one is deleted on the next pass), plus at
// worst a temporary key (removed by the job).
//
// Objects are written once (blobs: content-addressed; task logs and build contexts), except upload
// sessions, which are appended to. Two converters of one upload (the job and a PATCH at that moment)
// could put back an older copy after the PATCH appended; the upload then fails its size or digest
// check at the next chunk or at commit (BLOB_UPLOAD_INVALID / DIGEST_INVALID) and the client pushes
// it again: never a wrong blob.

/** Where a migrated deployment's encrypted objects live (for good). */
export const ENCRYPTED_PREFIX = 'encrypted/';
/** Temporary keys of conversions, on the encrypted side; `job/` is the job's own (it clears them on start). */
export const TEMP_PREFIX = '.migrating/';
export const JOB_TEMP_PREFIX = `${TEMP_PREFIX}job/`;

export interface Converted {
  /** Plaintext bytes encrypted (0 when nothing was left to convert). */
  bytes: number;
  /** The clear bytes did not match the digest their key names: damaged before the migration (kept as they were). */
  damaged?: boolean;
}

const isNotFound = (e: unknown) => e instanceof StorageNotFoundError;

export class MigratingDriver implements StorageDriver {
  readonly name: string;

  constructor(
    /** The EncryptingDriver over the prefixed physical store. */
    readonly encrypted: StorageDriver,
    /** The physical store itself, where the clear objects are (keys outside the prefix). */
    readonly clear: StorageDriver,
  ) {
    this.name = encrypted.name;
    // Neither openPositional nor signedReadUrl: the encrypted side has neither.
  }

  async stat(key: string): Promise<StatResult | null> {
    return (await this.encrypted.stat(key)) ?? (await this.clear.stat(key)) ?? this.encrypted.stat(key);
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    try {
      return await this.encrypted.read(key, range);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    try {
      return await this.clear.read(key, range);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return this.encrypted.read(key, range);
  }

  async writer(key: string, opts: { offset?: number; durableName?: boolean } = {}): Promise<Writer> {
    if ((opts.offset ?? 0) > 0 && !(await this.encrypted.stat(key))) await this.convert(key, key);
    return this.encrypted.writer(key, opts);
  }

  async move(from: string, to: string): Promise<void> {
    if (!(await this.encrypted.stat(from))) await this.convert(from, from);
    await this.encrypted.move(from, to);
    // A clear object at the destination is replaced, as a move replaces it.
    await this.clear.delete(to);
  }

  async delete(key: string): Promise<void> {
    await this.encrypted.delete(key);
    await this.clear.delete(key);
  }

  async list(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<string[]> {
    const [enc, clear] = await Promise.all([this.encrypted.list(prefix, opts), this.clear.list(prefix, opts)]);
    const merged = [...new Set([...enc.filter((k) => !k.startsWith(TEMP_PREFIX)), ...clear.filter(isClearKey)])].sort(byteOrder);
    return opts.limit === undefined ? merged : merged.slice(0, opts.limit);
  }

  /**
   * Encrypts the clear object `from` into the encrypted key `to` and deletes the clear one.
   * Returns undefined when there is no clear object (converted or deleted meanwhile). An encrypted
   * object already at `to` is kept (it is newer) and the copy dropped.
   */
  async convert(from: string, to: string, o: { temp?: string } = {}): Promise<Converted | undefined> {
    const st = await this.clear.stat(from);
    if (!st) return undefined;
    const temp = `${o.temp ?? TEMP_PREFIX}${randomUUID()}`;
    let copied: { size: number; sha256: string };
    try {
      copied = await this.copyEncrypted(from, temp);
      const back = await digestOf(await this.encrypted.read(temp));
      if (back.size !== copied.size || back.sha256 !== copied.sha256)
        throw new StorageError(this.name, `the encrypted copy of ${from} does not read back the same bytes`);
    } catch (e) {
      await this.encrypted.delete(temp).catch(() => undefined);
      if (isNotFound(e)) return undefined;
      throw e;
    }
    if (await this.encrypted.stat(to)) await this.encrypted.delete(temp);
    else await this.encrypted.move(temp, to);
    await this.clear.delete(from);
    const named = /^blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(from)?.[1];
    return { bytes: copied.size, damaged: named !== undefined && named !== copied.sha256 };
  }

  private async copyEncrypted(from: string, temp: string): Promise<{ size: number; sha256: string }> {
    const source = await this.clear.read(from);
    const w = await this.encrypted.writer(temp);
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            size += chunk.length;
            cb(null, chunk);
          },
        }),
        w.stream,
      );
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
    return { size, sha256: hash.digest('hex') };
  }
}

/** Keys of the physical store that are clear objects (not the encrypted side). */
export function isClearKey(physicalKey: string): boolean {
  return !physicalKey.startsWith(ENCRYPTED_PREFIX);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function digestOf(s: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of s) {
    hash.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}
