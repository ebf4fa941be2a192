import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isSupportedAlgorithm, newHasher, parseDigest, type DigestAlgorithm } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import type { BlobStore, Executor, RegistryRow, RepositoryStore, Transactor, UploadRow, UploadStore } from '../../meta/store.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey, isUploadId, uploadKey, uploadsPrefix, type Domain, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
import type { Logger } from '../../observability/logger.js';
import { assertWithinQuota, precheckBlob, type PrecheckStore } from '../policy/tiers.js';

export interface UploadState {
  id: string;
  /** Bytes received and acknowledged so far. */
  offset: number;
}

export interface ChunkInput {
  body: Readable;
  /** Content-Length of the request, when the client sent one. */
  contentLength?: number;
  /** Parsed Content-Range "start-end" (inclusive), when the client sent one. */
  range?: { start: number; end: number };
}

interface LiveHash {
  algorithm: DigestAlgorithm;
  hash: Hash;
  offset: number;
}

/**
 * Blob upload sessions (distribution-spec "Pushing blobs"). Bytes go to uploads/<id> and are fsynced
 * before a chunk is acknowledged; the session row records the acknowledged offset, so an upload
 * resumes after a restart or on another node. Closing moves the bytes to their content address and
 * only then commits the metadata that makes the blob visible.
 */
export class UploadService {
  /** Running hashes of sessions this process is receiving; rebuilt from storage when missing. */
  private readonly live = new Map<string, LiveHash>();
  /** Serialises requests on one session within this process. */
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Request bodies being received per session, so a retry can cut off a stalled one. */
  private readonly receiving = new Map<string, Readable>();

  constructor(
    /** PrecheckStore: quotas are checked before bytes move; linkRecordedBlob and ensureRepository commit them. */
    private readonly meta: UploadStore &
      PrecheckStore &
      Pick<BlobStore, 'recordBlob' | 'linkRecordedBlob'> &
      Pick<RepositoryStore, 'ensureRepository'> &
      Transactor,
    private readonly storage: StorageDriver,
    private readonly opts: { blobMaxBytes: number; maxAgeSeconds: number },
    private readonly log: Logger,
  ) {}

  /**
   * Called in the transaction that commits a blob's bytes (geo-replication records that this
   * node's region holds them: services/replication).
   */
  onBlobCommitted: ((trx: Executor, digest: string, domain: Domain) => Promise<void>) | undefined;

  /** Registries with a customer-managed key keep their uploads and blobs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;

  async start(reg: RegistryRow, repository: string, algorithmParam?: string): Promise<UploadState> {
    const algorithm = parseAlgorithm(algorithmParam);
    const id = randomUUID();
    await this.meta.createUpload({ id, registry_id: reg.id, repository, algorithm });
    return { id, offset: 0 };
  }

  async status(reg: RegistryRow, repository: string, id: string): Promise<UploadState> {
    const row = await this.session(reg, repository, id);
    return { id, offset: row.offset };
  }

  /** PATCH: appends one chunk (spec: chunks MUST be in order; otherwise 416). */
  append(reg: RegistryRow, repository: string, id: string, chunk: ChunkInput): Promise<UploadState> {
    return this.locked(
      id,
      async () => {
        const row = await this.session(reg, repository, id);
        const offset = await this.write(row, chunk, true);
        return { id, offset };
      },
      chunk.body,
    );
  }

  /** PUT ?digest=: optional final chunk, digest check, then the blob becomes visible in the repository. */
  finish(
    reg: RegistryRow,
    repository: string,
    id: string,
    digestText: string,
    chunk?: ChunkInput,
  ): Promise<{ digest: string; size: number }> {
    const digest = parseDigest(digestText);
    return this.locked(
      id,
      async () => {
        const row = await this.session(reg, repository, id);
        const size = chunk ? await this.write(row, chunk, false) : row.offset;
        return this.commit(reg, repository, row.id, digest.value, size, true);
      },
      chunk?.body,
    );
  }

  /** POST ?digest=: the whole blob in one request, no session left behind. */
  async monolithic(reg: RegistryRow, repository: string, digestText: string, chunk: ChunkInput): Promise<{ digest: string; size: number }> {
    const digest = parseDigest(digestText);
    const id = randomUUID();
    const domain = await this.domains.domainOf(reg.id);
    const writer = await this.storage.writer(uploadKey(id, domain));
    const hash = newHasher(digest.algorithm);
    let size: number;
    try {
      size = await this.pump(chunk, writer.stream, hash, 0);
      await writer.commit();
    } catch (e) {
      await writer.abort();
      await this.storage.delete(uploadKey(id, domain)).catch(() => {});
      throw e;
    }
    this.live.set(id, { algorithm: digest.algorithm, hash, offset: size });
    return this.commit(reg, repository, id, digest.value, size, false);
  }

  /**
   * Server-side ingestion (image import): a stream whose digest and size are known in advance goes
   * through the same durable path as a monolithic push (temp key, hashed as bytes arrive, verified,
   * moved, then linked with quota and usage in one transaction). The one entry point for such
   * streams, so the commit order is defined in one place.
   */
  ingest(reg: RegistryRow, repository: string, digest: string, size: number, body: Readable): Promise<{ digest: string; size: number }> {
    return this.monolithic(reg, repository, digest, { body, contentLength: size });
  }

  async cancel(reg: RegistryRow, repository: string, id: string): Promise<void> {
    await this.locked(id, async () => {
      await this.session(reg, repository, id);
      await this.meta.deleteUpload(this.meta.db, id);
      this.live.delete(id);
      await this.storage.delete(uploadKey(id, await this.domains.domainOf(reg.id)));
    });
  }

  /** Removes sessions idle for longer than the configured age, and upload files no session owns. */
  async purgeStale(nowMs = Date.now()): Promise<number> {
    const cutoff = new Date(nowMs - this.opts.maxAgeSeconds * 1000);
    let removed = 0;
    for (;;) {
      const stale = await this.meta.listStaleUploads(cutoff.toISOString(), 200);
      for (const u of stale) {
        await this.storage.delete(uploadKey(u.id, await this.domains.domainOf(u.registry_id)));
        await this.meta.deleteUpload(this.meta.db, u.id);
        this.live.delete(u.id);
        removed++;
      }
      if (stale.length < 200) break;
    }
    // Files left by monolithic pushes or sessions whose row is gone (e.g. a crash mid-request).
    const known = await this.meta.allUploadIds();
    const domains: Domain[] = [undefined, ...(await this.domains.registryIds())];
    for (const domain of domains) {
      const prefix = uploadsPrefix(domain);
      try {
        for (const key of await this.storage.list(prefix)) {
          const id = key.slice(prefix.length);
          if (known.has(id) || !isUploadId(id)) continue;
          const st = await this.storage.stat(key);
          if (st && st.modifiedAt < cutoff) {
            await this.storage.delete(key);
            removed++;
          }
        }
      } catch (e) {
        // A domain whose key is inaccessible is swept once the key is back.
        this.log.warn({ domain, err: (e as Error).message }, 'could not sweep abandoned uploads of an encryption domain');
      }
    }
    if (removed) this.log.info({ removed }, 'removed abandoned uploads');
    return removed;
  }

  // ---------------------------------------------------------------- internals

  private async session(reg: RegistryRow, repository: string, id: string): Promise<UploadRow> {
    const row = isUploadId(id) ? await this.meta.getUpload(id) : undefined;
    // An id from another repository or registry is as unknown as a made-up one.
    if (!row || row.registry_id !== reg.id || row.repository !== repository) {
      throw new RegistryError(
        'BLOB_UPLOAD_UNKNOWN',
        `upload ${clip(id)} is not in progress for ${repository}: it finished, was cancelled, expired, or never existed; start a new upload`,
      );
    }
    return row;
  }

  /**
   * Serialises work on one session. A newer request supersedes a body still streaming for the same
   * session (a client retries when its connection stalled): the stale body is cut off, its bytes are
   * never acknowledged, and the newcomer continues from the acknowledged offset at once instead of
   * waiting out the stalled connection's idle timeout.
   */
  private async locked<T>(id: string, fn: () => Promise<T>, body?: Readable): Promise<T> {
    const stale = this.receiving.get(id);
    if (stale && stale !== body && !stale.readableEnded)
      stale.destroy(new RegistryError('BLOB_UPLOAD_INVALID', 'a newer request for this upload superseded this one'));
    if (body) {
      this.receiving.set(id, body);
      body.once('close', () => {
        if (this.receiving.get(id) === body) this.receiving.delete(id);
      });
    }
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === run) this.locks.delete(id);
    }
  }

  private rangeError(row: UploadRow, message: string): RegistryError {
    return new RegistryError('BLOB_UPLOAD_INVALID', message, {
      status: 416,
      headers: { Range: rangeHeader(row.offset) },
      detail: { offset: row.offset },
    });
  }

  /**
   * Appends a chunk at the session's offset, makes it durable, and advances the offset. `ack` is
   * true when the chunk is acknowledged on its own (PATCH), so the session file's name must survive
   * a crash too; a closing PUT moves the file right away instead.
   */
  private async write(row: UploadRow, chunk: ChunkInput, ack: boolean): Promise<number> {
    if (chunk.range) {
      const { start, end } = chunk.range;
      if (start !== row.offset) {
        throw this.rangeError(
          row,
          `chunk starts at byte ${start} but the upload has ${row.offset} bytes: chunks must be sent in order, each starting where the last one ended (GET the upload URL for the current Range)`,
        );
      }
      if (end < start) throw this.rangeError(row, `Content-Range ${start}-${end} ends before it starts`);
      if (chunk.contentLength !== undefined && chunk.contentLength !== end - start + 1) {
        throw new RegistryError(
          'SIZE_INVALID',
          `Content-Range ${start}-${end} is ${end - start + 1} bytes but Content-Length is ${chunk.contentLength}`,
        );
      }
    }
    if (chunk.contentLength === 0) return row.offset;
    const key = uploadKey(row.id, await this.domains.domainOf(row.registry_id));
    if (row.offset > 0) {
      const st = await this.storage.stat(key);
      if (!st || st.size < row.offset) {
        throw new RegistryError(
          'BLOB_UPLOAD_INVALID',
          `the data of upload ${row.id} was lost (${st?.size ?? 0} of ${row.offset} bytes remain); start the upload again`,
        );
      }
    }
    let live = this.live.get(row.id);
    if (live && live.offset !== row.offset) {
      this.live.delete(row.id);
      live = undefined;
    }
    // Hash as the bytes arrive only when we can continue from the start; otherwise rehash at the end.
    const hash = live?.hash ?? (row.offset === 0 ? newHasher(row.algorithm as DigestAlgorithm) : undefined);
    const writer = await this.storage.writer(key, { offset: row.offset, durableName: ack && row.offset === 0 });
    let size: number;
    try {
      size = await this.pump(chunk, writer.stream, hash, row.offset);
      await writer.commit();
    } catch (e) {
      await writer.abort();
      this.live.delete(row.id);
      throw e;
    }
    if (chunk.range && size !== chunk.range.end + 1) {
      this.live.delete(row.id);
      throw new RegistryError(
        'SIZE_INVALID',
        `Content-Range promised bytes ${chunk.range.start}-${chunk.range.end} but ${size - row.offset} bytes arrived`,
      );
    }
    if (!(await this.meta.advanceUpload(row.id, row.offset, size))) {
      this.live.delete(row.id);
      throw this.rangeError(
        row,
        'another request changed this upload at the same time; GET the upload URL for the current Range and continue from there',
      );
    }
    if (hash) this.live.set(row.id, { algorithm: row.algorithm as DigestAlgorithm, hash, offset: size });
    return size;
  }

  /** Streams a request body into storage, hashing and counting; enforces the blob size limit. */
  private async pump(chunk: ChunkInput, dest: NodeJS.WritableStream, hash: Hash | undefined, startOffset: number): Promise<number> {
    const max = this.opts.blobMaxBytes;
    let total = startOffset;
    await pipeline(
      chunk.body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const buf of source) {
          total += buf.length;
          if (max > 0 && total > max) {
            throw new RegistryError('SIZE_INVALID', `blob exceeds the maximum size of ${max} bytes`, { status: 413 });
          }
          hash?.update(buf);
          yield buf;
        }
      },
      dest,
    );
    if (chunk.contentLength !== undefined && total - startOffset !== chunk.contentLength) {
      throw new RegistryError('SIZE_INVALID', `Content-Length was ${chunk.contentLength} but ${total - startOffset} bytes arrived`);
    }
    return total;
  }

  /** Verifies the digest, moves the bytes to their content address, then commits metadata. */
  private async commit(
    reg: RegistryRow,
    repository: string,
    id: string,
    digest: string,
    size: number,
    hasSession: boolean,
  ): Promise<{ digest: string; size: number }> {
    const parsed = parseDigest(digest);
    const domain = await this.domains.domainOf(reg.id);
    const key = uploadKey(id, domain);
    const target = blobKey(parsed, domain);
    const live = this.live.get(id);
    this.live.delete(id);
    const drop = async () => {
      if (hasSession) await this.meta.deleteUpload(this.meta.db, id);
      await this.storage.delete(key);
    };
    let moved = false;
    let actual: string;
    if (live && live.offset === size && live.algorithm === parsed.algorithm) {
      actual = `${parsed.algorithm}:${live.hash.digest('hex')}`;
    } else if (await this.storage.stat(key)) {
      actual = await this.rehash(key, parsed.algorithm, size);
    } else {
      // The session's bytes are gone. If a crash struck between the move below and the metadata
      // commit, they already sit at their content address (moved only after verification): finish.
      const there = await this.storage.stat(target);
      if (!there || there.size !== size) {
        await drop();
        throw new RegistryError('BLOB_UPLOAD_INVALID', `the data of upload ${id} is no longer stored; start the upload again`);
      }
      moved = true;
      actual = digest;
    }
    if (actual !== digest) {
      await drop();
      throw new RegistryError(
        'DIGEST_INVALID',
        `the uploaded content has digest ${actual}, not ${digest} as given; the upload was discarded`,
        { detail: { digest } },
      );
    }
    // Content-addressed: if the blob is already stored (its size checked), the upload's copy is
    // dropped instead of moved over it (below).
    // A blob that cannot fit is refused before it is moved or linked (and checked again, exactly, on link).
    try {
      await precheckBlob(this.meta, reg, repository, digest, size);
    } catch (e) {
      await drop();
      throw e;
    }
    // The move happens inside the transaction, after recordBlob has upserted (and on PostgreSQL
    // locked) the blob row: GC deletes bytes only under that row's lock, so it can never delete
    // bytes this commit is about to make visible. Only then are the link and the storage counters
    // written: the registry's usage row is a lock every commit in the registry takes, and holding
    // it through a storage round trip (a server-side copy on Azure) would serialize all blob
    // commits of a registry behind each other's moves. If the transaction fails after the move
    // (e.g. the exact quota check on link), the bytes sit at their content address with no row,
    // and GC's storage sweep removes them.
    await this.meta.transaction(async (trx) => {
      // Every attempt records (and on PostgreSQL locks) the row: a retried transaction starts afresh.
      await this.meta.recordBlob(trx, digest, size);
      if (!moved) {
        // Content already stored stays as it is: a reader may be part way through it, and with
        // encryption at rest the same content sealed again is other bytes (a new salt), which a
        // read spanning both would fail on. Under the row lock, GC cannot take it meanwhile.
        const there = await this.storage.stat(target, { here: true });
        if (there?.size === size) await this.storage.delete(key);
        else await this.storage.move(key, target);
        moved = true; // a retried transaction must not move twice
      }
      await this.onBlobCommitted?.(trx, digest, domain);
      const repoId = await this.meta.ensureRepository(trx, reg.id, repository);
      assertWithinQuota(reg, repository, await this.meta.linkRecordedBlob(trx, repoId, digest));
      if (hasSession) await this.meta.deleteUpload(trx, id);
    });
    return { digest, size };
  }

  private async rehash(key: string, algorithm: DigestAlgorithm, size: number): Promise<string> {
    const hash = newHasher(algorithm);
    if (size > 0) {
      const stream = await this.storage.read(key, { start: 0, end: size - 1 });
      for await (const buf of stream) hash.update(buf as Buffer);
    }
    return `${algorithm}:${hash.digest('hex')}`;
  }
}

function parseAlgorithm(raw: string | undefined): DigestAlgorithm {
  if (raw === undefined || raw === '') return 'sha256';
  if (!isSupportedAlgorithm(raw))
    throw new RegistryError('DIGEST_INVALID', `digest-algorithm "${clip(raw)}" is not supported: use sha256 or sha512`);
  return raw;
}

/** The Range header of an upload: "0-<last byte>", "0-0" when nothing has arrived (as Distribution). */
export function rangeHeader(offset: number): string {
  return `0-${offset > 0 ? offset - 1 : 0}`;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}
