import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newHasher, parseDigest } from '../../domain/digest.js';
import { StorageNotFoundError, StorageUnavailableError } from '../../storage/driver.js';
import { EncryptionIntegrityError } from '../../storage/encryption/encrypted.js';
import { blobKey, uploadKey, type Domain } from '../../storage/paths.js';
import type { Region } from '../../storage/regional.js';

// Copying one blob's bytes from a region that holds them into another, storage to storage:
// streamed (never held whole), checked against the digest and the recorded size before it takes
// the blob's key in the target region, and paced by a node-wide byte budget. With encryption at
// rest each region's driver seals its own store: the copy reads plaintext from the source
// (authenticated record by record), checks the digest, and the target seals it anew (a new salt:
// other ciphertext than the source's). A registry's own copies (its encryption domain) are read
// and written through that domain in both regions, under the registry's key.

/** A node-wide budget of bytes per second shared by all of its copies (0 = no limit). */
export class ByteBudget {
  private next = 0;
  constructor(private readonly perSecond: number) {}

  /**
   * Waits until n more bytes may pass: the end of their slot after the bytes already let through,
   * so a chunk is paid for before it passes (a first chunk after an idle spell included: reads come
   * in chunks of up to 1 MiB, which would otherwise cross at full speed, leaving the wait to the next copy).
   */
  async take(n: number): Promise<void> {
    if (this.perSecond <= 0) return;
    const t = Date.now();
    this.next = Math.max(t, this.next) + (n / this.perSecond) * 1000;
    const wait = this.next - t;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

export class DamagedCopyError extends Error {
  constructor(
    readonly region: string,
    message: string,
  ) {
    super(message);
    this.name = 'DamagedCopyError';
  }
}

/**
 * Passes bytes through and checks them against the digest and size: the last chunk is held back
 * until the whole has been checked, so damaged content is never delivered whole (the stream
 * fails instead).
 */
export function verifier(digest: string, size: number, region: string, budget?: ByteBudget): Transform {
  const parsed = parseDigest(digest);
  const hash = newHasher(parsed.algorithm);
  let seen = 0;
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > size) {
        cb(new DamagedCopyError(region, `blob ${digest} in region ${region} is longer than its ${size} bytes`));
        return;
      }
      hash.update(chunk);
      const out = held;
      held = chunk;
      if (budget) budget.take(chunk.length).then(() => cb(null, out), cb);
      else cb(null, out);
    },
    flush(cb) {
      const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
      if (seen !== size) cb(new DamagedCopyError(region, `blob ${digest} in region ${region} has ${seen} bytes, not ${size}`));
      else if (actual !== digest)
        cb(new DamagedCopyError(region, `blob ${digest} in region ${region} has digest ${actual}: its copy is damaged`));
      else cb(null, held);
    },
  });
}

/**
 * Copies a blob from `source` to `target` (verified), leaving it at its content address there.
 * Throws DamagedCopyError when the source's bytes do not match, StorageNotFoundError when the
 * source does not hold them.
 */
export async function copyBlob(
  source: Region,
  target: Region,
  digest: string,
  size: number,
  budget?: ByteBudget,
  domain?: Domain,
): Promise<void> {
  const key = blobKey(parseDigest(digest), domain);
  const temp = uploadKey(randomUUID(), domain);
  const input: Readable = await source.driver.read(key).catch((e: unknown) => {
    throw damaged(e, source.name, digest);
  });
  const w = await target.driver.writer(temp);
  try {
    await pipeline(input, verifier(digest, size, source.name, budget), w.stream);
    await w.commit();
    // A copy already there (a push or another copy meanwhile) stays: a reader may be part way
    // through it, and sealed again the same content is other bytes.
    if ((await target.driver.stat(key))?.size === size) await target.driver.delete(temp);
    else await target.driver.move(temp, key);
  } catch (e) {
    input.destroy();
    await w.abort().catch(() => undefined);
    await target.driver.delete(temp).catch(() => undefined);
    throw damaged(e, source.name, digest);
  }
}

/** A source object that fails its encryption's integrity check is a damaged copy, as one whose digest does not match. */
export function damaged(e: unknown, region: string, digest: string): unknown {
  return e instanceof EncryptionIntegrityError
    ? new DamagedCopyError(region, `blob ${digest} in region ${region} failed its integrity check: ${e.reason}`)
    : e;
}

/** Whether a source's failure means "try another region" rather than "fail the job". */
export function tryElsewhere(e: unknown): boolean {
  return e instanceof StorageNotFoundError || e instanceof StorageUnavailableError || e instanceof DamagedCopyError;
}
