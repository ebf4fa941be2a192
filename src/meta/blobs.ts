import { now, type Dialect, type Executor, type MetaContext } from './context.js';
import { addContent, bump, noChange, registryOf, removeContent, type UsageChange } from './usage.js';
import { prepared } from './prepared.js';

/** Blobs (recorded once, globally) and their links into repositories, with the storage counters they move. */
export interface BlobStore {
  /**
   * Size of a blob if the repository holds it (a blob is served only through repositories linked to it);
   * reading it clears a GC mark on the link.
   */
  blobInRepository(registryId: number, repository: string, digest: string): Promise<number | undefined>;
  /** Repositories of a registry that hold a blob (for mounts that must respect read access). */
  repositoriesHoldingBlob(registryId: number, digest: string, limit: number): Promise<string[]>;
  blobSize(digest: string): Promise<number | undefined>;
  /**
   * Records the blob (idempotent) and clears a GC mark; on PostgreSQL the row stays locked until
   * commit, so GC cannot delete bytes moved into place meanwhile. Takes no other lock.
   */
  recordBlob(ex: Executor, digest: string, size: number): Promise<void>;
  /** Links a blob recordBlob recorded in this transaction into a repository (linkBlob's second half). */
  linkRecordedBlob(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange>;
  /** Records the blob and links it into a repository (idempotent); the result feeds quota checks. */
  linkBlob(ex: Executor, repositoryId: number, digest: string, size: number): Promise<UsageChange>;
  /** Links a blob that is already stored (a mount); undefined when GC collected it meanwhile. */
  linkStoredBlob(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange | undefined>;
  unlinkBlob(ex: Executor, repositoryId: number, digest: string): Promise<boolean>;
  /** Which of these digests the repository does not hold as blobs. */
  missingBlobs(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]>;
}

export class KyselyBlobStore implements BlobStore {
  constructor(private readonly ctx: MetaContext) {}

  /**
   * Size of a blob if the repository holds it (a blob is served only through repositories linked to it).
   * A link GC has marked as unreferenced is unmarked on the way: whoever asked may be about to push
   * a manifest that references it, and gets a full grace period to do so.
   */
  private readonly linkedBlob = prepared((ex, registryId: number, repository: string, digest: string) =>
    ex
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select(['blobs.size', 'repository_blobs.repository_id', 'repository_blobs.unreferenced_since'])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository)
      .where('repositories.deleted_at', 'is', null)
      .where('repository_blobs.digest', '=', digest),
  );

  async blobInRepository(registryId: number, repository: string, digest: string): Promise<number | undefined> {
    const [row] = await this.linkedBlob(this.ctx.db, registryId, repository, digest);
    if (row && row.unreferenced_since !== null) {
      const r = await this.ctx.db
        .updateTable('repository_blobs')
        .set({ unreferenced_since: null })
        .where('repository_id', '=', row.repository_id)
        .where('digest', '=', digest)
        .executeTakeFirst();
      // GC removed the link between the read and the unmark: the blob is no longer here.
      if (Number(r.numUpdatedRows) === 0) return undefined;
    }
    return row?.size;
  }

  async repositoriesHoldingBlob(registryId: number, digest: string, limit: number): Promise<string[]> {
    const rows = await this.ctx.db
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .select('repositories.name')
      .where('repositories.registry_id', '=', registryId)
      .where('repository_blobs.digest', '=', digest)
      .where('repositories.deleted_at', 'is', null)
      .orderBy('repositories.name')
      .limit(limit)
      .execute();
    return rows.map((r) => r.name);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    const row = await this.ctx.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
    return row?.size;
  }

  /**
   * Records the blob (once, globally) and links it into a repository. Idempotent. Upserting the
   * blob row clears a GC mark and, on PostgreSQL, locks the row until commit: GC deletes a blob's
   * bytes only while holding that row's lock, so bytes moved into place inside this transaction
   * can never be deleted by a GC that saw the blob as orphaned.
   * Storage counters move in the same transaction (see usage.ts); the result feeds quota checks.
   */
  async linkBlob(ex: Executor, repositoryId: number, digest: string, size: number): Promise<UsageChange> {
    await this.recordBlob(ex, digest, size);
    return this.#addLink(ex, repositoryId, digest);
  }

  linkRecordedBlob(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange> {
    return this.#addLink(ex, repositoryId, digest);
  }

  async recordBlob(ex: Executor, digest: string, size: number): Promise<void> {
    await ex
      .insertInto('blobs')
      .values({ digest, size, created_at: now() })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ orphaned_since: null }))
      .execute();
  }

  /**
   * Links a blob that is already stored (a mount). Returns undefined when the blob is gone: GC may
   * have collected it since the caller looked, and then the caller must upload it instead.
   */
  async linkStoredBlob(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange | undefined> {
    let q = ex.selectFrom('blobs').select('digest').where('digest', '=', digest);
    if (this.ctx.dialect === 'postgres') q = q.forShare();
    if (!(await q.executeTakeFirst())) return undefined;
    await ex
      .updateTable('blobs')
      .set({ orphaned_since: null })
      .where('digest', '=', digest)
      .where('orphaned_since', 'is not', null)
      .execute();
    return this.#addLink(ex, repositoryId, digest);
  }

  async #addLink(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange> {
    const linked = await ex
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest, created_at: now() })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .returning('digest')
      .executeTakeFirst();
    const registryId = await registryOf(ex, repositoryId);
    if (!linked) {
      // Pushed again: the link is wanted, so a GC mark on it no longer holds.
      await ex
        .updateTable('repository_blobs')
        .set({ unreferenced_since: null })
        .where('repository_id', '=', repositoryId)
        .where('digest', '=', digest)
        .where('unreferenced_since', 'is not', null)
        .execute();
      return noChange(registryId, repositoryId);
    }
    const stored = (await ex.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirstOrThrow()).size;
    return bump(ex, registryId, repositoryId, await addContent(ex, registryId, 'blob', digest, stored), stored);
  }

  async unlinkBlob(ex: Executor, repositoryId: number, digest: string): Promise<boolean> {
    const r = await ex
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    const registryId = await registryOf(ex, repositoryId);
    const size = (await ex.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirstOrThrow()).size;
    await bump(ex, registryId, repositoryId, await removeContent(ex, registryId, 'blob', digest), -size);
    return true;
  }

  missingBlobs(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]> {
    return missingDigests(ex, this.ctx.dialect, 'repository_blobs', repositoryId, digests);
  }
}

/** Which of these digests a repository does not hold, as blob links or as manifests (deduplicated). */
export async function missingDigests(
  ex: Executor,
  dialect: Dialect,
  table: 'repository_blobs' | 'manifests',
  repositoryId: number,
  digests: string[],
): Promise<string[]> {
  if (digests.length === 0) return [];
  const unique = [...new Set(digests)];
  const have = new Set<string>();
  for (let i = 0; i < unique.length; i += 500) {
    let q = ex
      .selectFrom(table)
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', unique.slice(i, i + 500));
    // The links a manifest is about to reference stay locked until it commits, so GC (which takes
    // the same rows FOR UPDATE before removing one) either sees the reference or removed the link first.
    if (dialect === 'postgres' && table === 'repository_blobs') q = q.forShare();
    const rows = await q.execute();
    for (const r of rows) have.add(r.digest);
  }
  return unique.filter((d) => !have.has(d));
}
