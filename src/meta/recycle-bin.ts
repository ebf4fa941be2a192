import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from './db.js';
import type { Database, DeletedManifestsTable, ManifestsTable } from './schema.js';
import { imageSizes } from './manifests.js';
import type { Executor } from './store.js';

// The recycle bin (soft delete): deleted_manifests and their refs, each registry's policy columns,
// and the soft-deleted state of repositories. What goes in and comes out, and when, is decided in
// services/lifecycle/soft-delete.ts. Timestamps are ISO-8601 UTC text on both engines.

const ENTRY_COLUMNS = [
  'id',
  'repository_id',
  'kind',
  'group_id',
  'digest',
  'media_type',
  'artifact_type',
  'subject_digest',
  'config_digest',
  'config_media_type',
  'annotations',
  'size',
  'created_at',
  'deleted_at',
  'purge_after',
  'tags',
  'deleted_by',
] as const;

/** A bin row without its bytes (the columns listings and restores read). */
export type BinEntry = Pick<Selectable<DeletedManifestsTable>, (typeof ENTRY_COLUMNS)[number]>;

export type NewBinEntry = Omit<Insertable<DeletedManifestsTable>, 'id'>;

export type ManifestRecord = Selectable<ManifestsTable>;

/** The tag names an entry holds (a JSON array in the row). */
export const entryTags = (e: { tags: string }): string[] => JSON.parse(e.tags) as string[];

export interface BinQuery {
  kind?: string;
  digest?: string;
  /** Entries holding this tag (exactly). */
  tag?: string;
  group?: string;
  subject?: string;
  /** Keyset: entries with an id below this. */
  beforeId?: number;
  limit?: number;
}

export interface RecycleBin {
  // ---- policy
  policy(registryId: number, ex?: Executor): Promise<{ enabled: boolean; days: number }>;
  setPolicy(
    ex: Executor,
    registryId: number,
    set: { soft_delete_enabled?: number; soft_delete_days?: number },
    updatedAt: string,
  ): Promise<void>;
  /** purge_after = deleted_at + days for every entry of a registry. */
  movePurgeTimes(ex: Executor, registryId: number, days: number): Promise<void>;

  // ---- into the bin
  /** The live manifest about to be deleted, bytes and all. */
  manifest(ex: Executor, repositoryId: number, digest: string): Promise<ManifestRecord | undefined>;
  /** Tag names pointing at a manifest, in name order. */
  tagsOf(ex: Executor, manifestId: number): Promise<string[]>;
  /** Adds an entry, copying the references of the live manifest `fromManifestId`. */
  add(ex: Executor, entry: NewBinEntry, fromManifestId: number): Promise<void>;
  hasEntries(ex: Executor, repositoryId: number): Promise<boolean>;

  // ---- listing
  /** A repository by name, live or soft-deleted. */
  anyRepository(
    registryId: number,
    name: string,
    ex?: Executor,
  ): Promise<{ id: number; deleted_at: string | null; write_enabled: number } | undefined>;
  /** Soft-deleted repositories with manifest entries not yet expired at `now`, by name. */
  deletedRepositories(
    registryId: number,
    now: string,
  ): Promise<{ name: string; deleted_at: string | null; count: number; purge_after: string | null }[]>;
  /** Entries not past their purge time at `now`, newest deletion (highest id) first. */
  liveEntries(repositoryId: number, q: BinQuery, now: string, ex?: Executor): Promise<BinEntry[]>;
  /**
   * ACR's imageSize of entries (as meta/manifests.ts imageSizes): the manifest with the blobs it
   * references, or an index with its children, found live in the repository or else in its bin.
   */
  entryImageSizes(repositoryId: number, entryIds: number[]): Promise<Map<number, number>>;

  // ---- restore
  entryRefs(ex: Executor, entryId: number): Promise<{ child_digest: string; kind: string }[]>;
  entryContent(ex: Executor, entryId: number): Promise<Uint8Array>;
  deleteEntry(ex: Executor, entryId: number): Promise<void>;
  /** Brings a soft-deleted repository back (deleted_at cleared). */
  reviveRepository(ex: Executor, repositoryId: number, updatedAt: string): Promise<void>;
  manifestDigest(ex: Executor, manifestId: number): Promise<string | undefined>;

  // ---- purge
  /** Deletes up to `limit` entries whose purge time is at or before `cutoff`, earliest first; returns how many. */
  deleteExpired(ex: Executor, cutoff: string, limit: number): Promise<number>;
  /** A keyset page of soft-deleted repository ids. */
  softDeletedRepositories(afterId: number, limit: number): Promise<number[]>;
  /** Locks a repository that is still soft-deleted; false when it is gone or live again. */
  lockSoftDeletedRepository(trx: Executor, repositoryId: number): Promise<boolean>;
  /** Whether the repository still has bin entries or live manifests. */
  repositoryBusy(trx: Executor, repositoryId: number): Promise<boolean>;
}

export class KyselyRecycleBin implements RecycleBin {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  // ---------------------------------------------------------------- policy

  async policy(registryId: number, ex: Executor = this.db): Promise<{ enabled: boolean; days: number }> {
    const row = await ex
      .selectFrom('registries')
      .select(['soft_delete_enabled', 'soft_delete_days'])
      .where('id', '=', registryId)
      .executeTakeFirstOrThrow();
    return { enabled: !!row.soft_delete_enabled, days: Number(row.soft_delete_days) };
  }

  async setPolicy(
    ex: Executor,
    registryId: number,
    set: { soft_delete_enabled?: number; soft_delete_days?: number },
    updatedAt: string,
  ): Promise<void> {
    await ex
      .updateTable('registries')
      .set({ ...set, updated_at: updatedAt })
      .where('id', '=', registryId)
      .execute();
  }

  async movePurgeTimes(ex: Executor, registryId: number, days: number): Promise<void> {
    // Date arithmetic in SQL, written back in the same ISO-8601 form (milliseconds and Z) on both engines.
    const expr =
      this.dialect === 'postgres'
        ? sql`to_char((deleted_at::timestamptz + ${days} * interval '1 day') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
        : sql`strftime('%Y-%m-%dT%H:%M:%fZ', deleted_at, ${`+${days} days`})`;
    await sql`update deleted_manifests set purge_after = ${expr} where registry_id = ${registryId}`.execute(ex);
  }

  // ---------------------------------------------------------------- into the bin

  manifest(ex: Executor, repositoryId: number, digest: string): Promise<ManifestRecord | undefined> {
    return ex.selectFrom('manifests').selectAll().where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  }

  async tagsOf(ex: Executor, manifestId: number): Promise<string[]> {
    return (await ex.selectFrom('tags').select('name').where('manifest_id', '=', manifestId).orderBy('name').execute()).map((t) => t.name);
  }

  async add(ex: Executor, entry: NewBinEntry, fromManifestId: number): Promise<void> {
    const inserted = await ex.insertInto('deleted_manifests').values(entry).returning('id').executeTakeFirstOrThrow();
    await sql`insert into deleted_manifest_refs (deleted_manifest_id, child_digest, kind)
      select ${inserted.id}, child_digest, kind from manifest_refs where manifest_id = ${fromManifestId}`.execute(ex);
  }

  async hasEntries(ex: Executor, repositoryId: number): Promise<boolean> {
    return !!(await ex.selectFrom('deleted_manifests').select('id').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst());
  }

  // ---------------------------------------------------------------- listing

  anyRepository(registryId: number, name: string, ex: Executor = this.db) {
    return ex
      .selectFrom('repositories')
      .select(['id', 'deleted_at', 'write_enabled'])
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async deletedRepositories(registryId: number, now: string) {
    const rows = await this.db
      .selectFrom('repositories as r')
      .innerJoin('deleted_manifests as d', 'd.repository_id', 'r.id')
      .select((eb) => ['r.name', 'r.deleted_at', eb.fn.countAll<number>().as('n'), eb.fn.max('d.purge_after').as('purge')])
      .where('r.registry_id', '=', registryId)
      .where('r.deleted_at', 'is not', null)
      .where('d.kind', '=', 'manifest')
      .where('d.purge_after', '>', now)
      .groupBy(['r.id', 'r.name', 'r.deleted_at'])
      .orderBy('r.name')
      .execute();
    return rows.map((r) => ({ name: r.name, deleted_at: r.deleted_at, count: Number(r.n), purge_after: r.purge }));
  }

  async liveEntries(repositoryId: number, q: BinQuery, now: string, ex: Executor = this.db): Promise<BinEntry[]> {
    let s = ex
      .selectFrom('deleted_manifests')
      .select(ENTRY_COLUMNS)
      .where('repository_id', '=', repositoryId)
      .where('purge_after', '>', now);
    if (q.kind !== undefined) s = s.where('kind', '=', q.kind);
    if (q.digest !== undefined) s = s.where('digest', '=', q.digest);
    if (q.group !== undefined) s = s.where('group_id', '=', q.group);
    if (q.subject !== undefined) s = s.where('subject_digest', '=', q.subject);
    // A superset (LIKE: "_" matches any character, SQLite ignores case); checked exactly below.
    if (q.tag !== undefined) s = s.where('tags', 'like', `%${JSON.stringify(q.tag)}%`);
    if (q.beforeId !== undefined) s = s.where('id', '<', q.beforeId);
    if (q.limit !== undefined) s = s.limit(q.limit);
    const rows = await s.orderBy('id', 'desc').execute();
    return q.tag === undefined ? rows : rows.filter((e) => entryTags(e).includes(q.tag!));
  }

  async entryImageSizes(repositoryId: number, entryIds: number[], depth = 0): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    // Content addressing rules out cycles; the depth only guards against a corrupt database.
    const ids = depth > 8 ? [] : [...new Set(entryIds)];
    for (let i = 0; i < ids.length; i += 500) {
      const page = ids.slice(i, i + 500);
      const own = await this.db
        .selectFrom('deleted_manifests as d')
        .leftJoin('deleted_manifest_refs as r', (j) => j.onRef('r.deleted_manifest_id', '=', 'd.id').on('r.kind', '=', 'blob'))
        .leftJoin('blobs as b', 'b.digest', 'r.child_digest')
        .select(['d.id', 'd.size', (eb) => eb.fn.coalesce(eb.fn.sum<number>('b.size'), eb.lit(0)).as('blob_bytes')])
        .where('d.id', 'in', page)
        .groupBy(['d.id', 'd.size'])
        .execute();
      for (const r of own) out.set(Number(r.id), Number(r.size) + Number(r.blob_bytes));
      const kids = await this.db
        .selectFrom('deleted_manifest_refs')
        .select(['deleted_manifest_id as parent', 'child_digest'])
        .where('kind', '=', 'manifest')
        .where('deleted_manifest_id', 'in', page)
        .execute();
      if (kids.length === 0) continue;
      const digests = [...new Set(kids.map((k) => k.child_digest))];
      // A child still live counts as it is listed; one deleted too, as its newest bin entry.
      const live = await this.db
        .selectFrom('manifests')
        .select(['id', 'digest'])
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', digests)
        .execute();
      const liveSizes = await imageSizes(
        this.db,
        repositoryId,
        live.map((m) => m.id),
      );
      const sizeOf = new Map(live.map((m) => [m.digest, liveSizes.get(m.id) ?? 0]));
      const gone = digests.filter((d) => !sizeOf.has(d));
      const binned = !gone.length
        ? []
        : await this.db
            .selectFrom('deleted_manifests')
            .select(['digest', (eb) => eb.fn.max('id').as('id')])
            .where('repository_id', '=', repositoryId)
            .where('kind', '=', 'manifest')
            .where('digest', 'in', gone)
            .groupBy('digest')
            .execute();
      if (binned.length > 0) {
        const binSizes = await this.entryImageSizes(
          repositoryId,
          binned.map((b) => Number(b.id)),
          depth + 1,
        );
        for (const b of binned) sizeOf.set(b.digest, binSizes.get(Number(b.id)) ?? 0);
      }
      for (const k of kids) out.set(Number(k.parent), (out.get(Number(k.parent)) ?? 0) + (sizeOf.get(k.child_digest) ?? 0));
    }
    return out;
  }

  // ---------------------------------------------------------------- restore

  entryRefs(ex: Executor, entryId: number) {
    return ex.selectFrom('deleted_manifest_refs').select(['child_digest', 'kind']).where('deleted_manifest_id', '=', entryId).execute();
  }

  async entryContent(ex: Executor, entryId: number): Promise<Uint8Array> {
    return (await ex.selectFrom('deleted_manifests').select('content').where('id', '=', entryId).executeTakeFirstOrThrow()).content;
  }

  async deleteEntry(ex: Executor, entryId: number): Promise<void> {
    await ex.deleteFrom('deleted_manifests').where('id', '=', entryId).execute();
  }

  async reviveRepository(ex: Executor, repositoryId: number, updatedAt: string): Promise<void> {
    await ex.updateTable('repositories').set({ deleted_at: null, updated_at: updatedAt }).where('id', '=', repositoryId).execute();
  }

  async manifestDigest(ex: Executor, manifestId: number): Promise<string | undefined> {
    return (await ex.selectFrom('manifests').select('digest').where('id', '=', manifestId).executeTakeFirst())?.digest;
  }

  // ---------------------------------------------------------------- purge

  async deleteExpired(ex: Executor, cutoff: string, limit: number): Promise<number> {
    const ids = (
      await ex.selectFrom('deleted_manifests').select('id').where('purge_after', '<=', cutoff).orderBy('purge_after').limit(limit).execute()
    ).map((r) => r.id);
    if (ids.length === 0) return 0;
    await ex.deleteFrom('deleted_manifests').where('id', 'in', ids).execute();
    return ids.length;
  }

  async softDeletedRepositories(afterId: number, limit: number): Promise<number[]> {
    return (
      await this.db
        .selectFrom('repositories')
        .select('id')
        .where('deleted_at', 'is not', null)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute()
    ).map((r) => r.id);
  }

  async lockSoftDeletedRepository(trx: Executor, repositoryId: number): Promise<boolean> {
    let q = trx.selectFrom('repositories').select('id').where('id', '=', repositoryId).where('deleted_at', 'is not', null);
    // FOR UPDATE: a push reviving it (ensureRepository) or a delete refilling its bin waits for us.
    if (this.dialect === 'postgres') q = q.forUpdate();
    return !!(await q.executeTakeFirst());
  }

  async repositoryBusy(trx: Executor, repositoryId: number): Promise<boolean> {
    const busy =
      (await trx.selectFrom('deleted_manifests').select('id').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst()) ??
      (await trx.selectFrom('manifests').select('id').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst());
    return !!busy;
  }
}
