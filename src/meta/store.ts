import { sql, type Kysely, type Transaction } from 'kysely';
import type { Db, Dialect } from './db.js';
import type { Database } from './schema.js';
import { addContent, bump, noChange, registryOf, releaseRepository, removeContent, type UsageChange } from './usage.js';
import { requestContext } from '../observability/request-context.js';

// The metadata store: every query Berth runs, on one query layer for SQLite and PostgreSQL.
// Services depend on the narrow role types at the bottom, not on this whole class.

export type Executor = Kysely<Database> | Transaction<Database>;

export interface RegistryRow {
  id: number;
  name: string;
  sku: string;
  admin_enabled: number;
  anonymous_pull_enabled: number;
  created_at: string;
  updated_at: string;
}

const REGISTRY_COLUMNS = ['id', 'name', 'sku', 'admin_enabled', 'anonymous_pull_enabled', 'created_at', 'updated_at'] as const;

export interface ManifestRow {
  id: number;
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  annotations: string | null;
  size: number;
  content: Uint8Array;
  created_at: string;
}

export interface ManifestHead {
  id: number;
  repository_id: number;
  digest: string;
  media_type: string;
  size: number;
  subject_digest: string | null;
  /** readEnabled of the repository, the manifest and (when addressed by tag) the tag: 0 = locked. */
  repo_read: number;
  manifest_read: number;
  tag_read: number | null;
}

/** ACR's changeableAttributes, as columns (1 = enabled). */
export interface AttrColumns {
  delete_enabled: number;
  write_enabled: number;
  list_enabled: number;
  read_enabled: number;
}
export const ATTR_COLUMNS = ['delete_enabled', 'write_enabled', 'list_enabled', 'read_enabled'] as const;

export type TimeOrder = 'timedesc' | 'timeasc' | 'none';
/** Keyset position: by name alone, or by (time, name) for time orders. */
export interface Keyset { name: string; time?: string }

/** One pull, as the audit records it (an events row with action "pull"). */
export interface PullEvent {
  registry_id: number;
  repository: string;
  digest: string;
  tag: string | null;
  media_type: string;
  size: number;
  created_at: string;
  request_id: string | null;
  request_host: string | null;
  request_method: string | null;
  request_useragent: string | null;
  identity: string | null;
  caller_ip: string | null;
}

export interface UploadRow {
  id: string;
  registry_id: number;
  repository: string;
  algorithm: string;
  offset: number;
  created_at: string;
  updated_at: string;
}

export interface NewEvent {
  registry_id: number;
  action: string;
  repository: string;
  digest?: string | null;
  tag?: string | null;
  media_type?: string | null;
  size?: number | null;
  /** The audit's operation when it is not the action (a purge's deletes: 'purge'). */
  operation?: string | null;
}

export interface ReadFlags { repo_read: number; manifest_read: number; tag_read: number | null }

function requestColumns() {
  const r = requestContext.getStore();
  return r ? { request_id: r.id, request_host: r.host, request_method: r.method, request_useragent: r.useragent, identity: r.identity ?? null, caller_ip: r.ip || null } : {};
}

export const now = (): string => new Date().toISOString();

export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export class MetaStore {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;

  constructor(private readonly handle: Db) {
    this.db = handle.kysely;
    this.dialect = handle.dialect;
  }

  /**
   * Runs fn in one transaction; the commit is durable before the promise resolves. PostgreSQL may
   * abort one of two racing writers (deadlock, serialization failure): such a transaction is run
   * again, a few times, so concurrent pushes of the same tags never surface as errors.
   */
  async transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(fn);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  // ---------------------------------------------------------------- registries

  async createRegistry(name: string, sku: string): Promise<RegistryRow | null> {
    const ts = now();
    try {
      return await this.db.insertInto('registries')
        .values({ name, name_key: name.toLowerCase(), sku, created_at: ts, updated_at: ts })
        .returning(REGISTRY_COLUMNS)
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  getRegistry(name: string, ex: Executor = this.db): Promise<RegistryRow | undefined> {
    return ex.selectFrom('registries').select(REGISTRY_COLUMNS)
      .where('name_key', '=', name.toLowerCase()).executeTakeFirst();
  }

  listRegistries(): Promise<RegistryRow[]> {
    return this.db.selectFrom('registries').select(REGISTRY_COLUMNS).orderBy('name_key').execute();
  }

  async updateRegistry(id: number, patch: { sku?: string }): Promise<void> {
    await this.db.updateTable('registries').set({ ...patch, updated_at: now() }).where('id', '=', id).execute();
  }

  getRegistryById(id: number): Promise<RegistryRow | undefined> {
    return this.db.selectFrom('registries').select(REGISTRY_COLUMNS).where('id', '=', id).executeTakeFirst();
  }

  async deleteRegistry(id: number): Promise<void> {
    await this.db.deleteFrom('registries').where('id', '=', id).execute();
  }

  // ---------------------------------------------------------------- repositories

  /** A live repository's id (a soft-deleted repository is not found: it answers NAME_UNKNOWN). */
  async findRepositoryId(registryId: number, name: string, ex: Executor = this.db): Promise<number | undefined> {
    const row = await ex.selectFrom('repositories').select('id').where('registry_id', '=', registryId).where('name', '=', name)
      .where('deleted_at', 'is', null).executeTakeFirst();
    return row?.id;
  }

  /** Returns the repository's id, creating it; safe when two writers race (unique constraint). */
  /** A push into a soft-deleted repository revives it (ACR); its recycle bin stays as it was. */
  async ensureRepository(ex: Executor, registryId: number, name: string): Promise<number> {
    const ts = now();
    await ex.insertInto('repositories').values({ registry_id: registryId, name, created_at: ts, updated_at: ts })
      .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing()).execute();
    await ex.updateTable('repositories').set({ deleted_at: null, updated_at: ts })
      .where('registry_id', '=', registryId).where('name', '=', name).where('deleted_at', 'is not', null).execute();
    const id = await this.findRepositoryId(registryId, name, ex);
    if (id === undefined) throw new Error(`repository ${name} vanished while being created`);
    return id;
  }

  async touchRepository(ex: Executor, id: number): Promise<void> {
    await ex.updateTable('repositories').set({ updated_at: now() }).where('id', '=', id).execute();
  }

  /** Keyset page of repository names in one registry, byte order. */
  async listRepositories(registryId: number, after: string | undefined, limit: number): Promise<string[]> {
    let q = this.db.selectFrom('repositories').select('name').where('registry_id', '=', registryId).where('list_enabled', '=', 1)
      .where('deleted_at', 'is', null);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.orderBy('name').limit(limit).execute()).map((r) => r.name);
  }

  /** Keyset page over every registry: (registry key, repository name), which is the order of "key/name". */
  async listAllRepositories(after: { key: string; name: string } | undefined, limit: number, registryIds?: number[]): Promise<{ registry: string; name: string }[]> {
    if (registryIds && registryIds.length === 0) return [];
    let q = this.db.selectFrom('repositories').innerJoin('registries', 'registries.id', 'repositories.registry_id')
      .select(['registries.name_key as registry', 'repositories.name as name']);
    q = q.where('repositories.list_enabled', '=', 1).where('repositories.deleted_at', 'is', null);
    if (registryIds) q = q.where('registries.id', 'in', registryIds);
    if (after) {
      q = q.where((eb) => eb.or([
        eb('registries.name_key', '>', after.key),
        eb.and([eb('registries.name_key', '=', after.key), eb('repositories.name', '>', after.name)]),
      ]));
    }
    return q.orderBy('registries.name_key').orderBy('repositories.name').limit(limit).execute();
  }

  async repositoryStats(repositoryId: number, ex: Executor = this.db): Promise<{ manifests: number; tags: number }> {
    const [m, t] = await Promise.all([
      ex.selectFrom('manifests').select((eb) => eb.fn.countAll<number>().as('n')).where('repository_id', '=', repositoryId).executeTakeFirstOrThrow(),
      ex.selectFrom('tags').select((eb) => eb.fn.countAll<number>().as('n')).where('repository_id', '=', repositoryId).executeTakeFirstOrThrow(),
    ]);
    return { manifests: Number(m.n), tags: Number(t.n) };
  }

  getRepository(registryId: number, name: string) {
    return this.db.selectFrom('repositories').select(['id', 'name', 'created_at', 'updated_at'])
      .where('registry_id', '=', registryId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
  }

  async deleteRepository(ex: Executor, id: number): Promise<{ manifests: number; tags: number }> {
    const stats = await this.repositoryStats(id, ex);
    await releaseRepository(ex, await registryOf(ex, id), id);
    await ex.deleteFrom('repositories').where('id', '=', id).execute();
    return stats;
  }

  // ---------------------------------------------------------------- blobs

  /**
   * Size of a blob if the repository holds it (a blob is served only through repositories linked to it).
   * A link GC has marked as unreferenced is unmarked on the way: whoever asked may be about to push
   * a manifest that references it, and gets a full grace period to do so.
   */
  async blobInRepository(registryId: number, repository: string, digest: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select(['blobs.size', 'repository_blobs.repository_id', 'repository_blobs.unreferenced_since'])
      .where('repositories.registry_id', '=', registryId).where('repositories.name', '=', repository)
      .where('repositories.deleted_at', 'is', null)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
    if (row && row.unreferenced_since !== null) {
      const r = await this.db.updateTable('repository_blobs').set({ unreferenced_since: null })
        .where('repository_id', '=', row.repository_id).where('digest', '=', digest).executeTakeFirst();
      // GC removed the link between the read and the unmark: the blob is no longer here.
      if (Number(r.numUpdatedRows) === 0) return undefined;
    }
    return row?.size;
  }

  /** Repositories of a registry that hold a blob (for mounts that must respect read access). */
  async repositoriesHoldingBlob(registryId: number, digest: string, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('repository_blobs').innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .select('repositories.name').where('repositories.registry_id', '=', registryId).where('repository_blobs.digest', '=', digest)
      .where('repositories.deleted_at', 'is', null)
      .orderBy('repositories.name').limit(limit).execute();
    return rows.map((r) => r.name);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
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
    const ts = now();
    await ex.insertInto('blobs').values({ digest, size, created_at: ts })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ orphaned_since: null })).execute();
    return this.addLink(ex, repositoryId, digest);
  }

  /**
   * Links a blob that is already stored (a mount). Returns undefined when the blob is gone: GC may
   * have collected it since the caller looked, and then the caller must upload it instead.
   */
  async linkStoredBlob(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange | undefined> {
    let q = ex.selectFrom('blobs').select('digest').where('digest', '=', digest);
    if (this.dialect === 'postgres') q = q.forShare();
    if (!(await q.executeTakeFirst())) return undefined;
    await ex.updateTable('blobs').set({ orphaned_since: null }).where('digest', '=', digest).where('orphaned_since', 'is not', null).execute();
    return this.addLink(ex, repositoryId, digest);
  }

  private async addLink(ex: Executor, repositoryId: number, digest: string): Promise<UsageChange> {
    const linked = await ex.insertInto('repository_blobs').values({ repository_id: repositoryId, digest, created_at: now() })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing()).returning('digest').executeTakeFirst();
    const registryId = await registryOf(ex, repositoryId);
    if (!linked) {
      // Pushed again: the link is wanted, so a GC mark on it no longer holds.
      await ex.updateTable('repository_blobs').set({ unreferenced_since: null })
        .where('repository_id', '=', repositoryId).where('digest', '=', digest).where('unreferenced_since', 'is not', null).execute();
      return noChange(registryId, repositoryId);
    }
    const stored = (await ex.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirstOrThrow()).size;
    return bump(ex, registryId, repositoryId, await addContent(ex, registryId, 'blob', digest, stored), stored);
  }

  async unlinkBlob(ex: Executor, repositoryId: number, digest: string): Promise<boolean> {
    const r = await ex.deleteFrom('repository_blobs').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    const registryId = await registryOf(ex, repositoryId);
    const size = (await ex.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirstOrThrow()).size;
    await bump(ex, registryId, repositoryId, await removeContent(ex, registryId, 'blob', digest), -size);
    return true;
  }

  /** Which of these digests the repository does not hold as blobs. */
  missingBlobs(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]> {
    return this.missing(ex, 'repository_blobs', repositoryId, digests);
  }

  /** Which of these digests the repository does not hold as manifests. */
  missingManifests(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]> {
    return this.missing(ex, 'manifests', repositoryId, digests);
  }

  private async missing(ex: Executor, table: 'repository_blobs' | 'manifests', repositoryId: number, digests: string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const unique = [...new Set(digests)];
    const have = new Set<string>();
    for (let i = 0; i < unique.length; i += 500) {
      let q = ex.selectFrom(table).select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', unique.slice(i, i + 500));
      // The links a manifest is about to reference stay locked until it commits, so GC (which takes
      // the same rows FOR UPDATE before removing one) either sees the reference or removed the link first.
      if (this.dialect === 'postgres' && table === 'repository_blobs') q = q.forShare();
      const rows = await q.execute();
      for (const r of rows) have.add(r.digest);
    }
    return unique.filter((d) => !have.has(d));
  }

  // ---------------------------------------------------------------- manifests and tags

  private manifestColumns = ['manifests.id', 'manifests.repository_id', 'manifests.digest', 'manifests.media_type', 'manifests.artifact_type',
    'manifests.subject_digest', 'manifests.annotations', 'manifests.size', 'manifests.content', 'manifests.created_at'] as const;

  getManifestByTag(registryId: number, repository: string, tag: string): Promise<(ManifestRow & ReadFlags) | undefined> {
    return this.db.selectFrom('tags')
      .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(this.manifestColumns)
      .select(['repositories.read_enabled as repo_read', 'manifests.read_enabled as manifest_read', 'tags.read_enabled as tag_read'])
      .where('repositories.registry_id', '=', registryId).where('repositories.name', '=', repository).where('tags.name', '=', tag)
      .executeTakeFirst();
  }

  getManifestByDigest(registryId: number, repository: string, digest: string): Promise<(ManifestRow & ReadFlags) | undefined> {
    return this.db.selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(this.manifestColumns)
      .select(['repositories.read_enabled as repo_read', 'manifests.read_enabled as manifest_read', sql<null>`null`.as('tag_read')])
      .where('repositories.registry_id', '=', registryId).where('repositories.name', '=', repository).where('manifests.digest', '=', digest)
      .executeTakeFirst();
  }

  /** HEAD needs no content: cheaper on large manifests. */
  headManifest(registryId: number, repository: string, ref: { tag?: string; digest?: string }): Promise<ManifestHead | undefined> {
    const q = this.db.selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['manifests.id', 'manifests.repository_id', 'manifests.digest', 'manifests.media_type', 'manifests.size', 'manifests.subject_digest',
        'repositories.read_enabled as repo_read', 'manifests.read_enabled as manifest_read'])
      .where('repositories.registry_id', '=', registryId).where('repositories.name', '=', repository);
    if (ref.tag !== undefined) {
      return q.innerJoin('tags', 'tags.manifest_id', 'manifests.id').where('tags.name', '=', ref.tag).select('tags.read_enabled as tag_read').executeTakeFirst();
    }
    return q.where('manifests.digest', '=', ref.digest!).select(sql<null>`null`.as('tag_read')).executeTakeFirst();
  }

  /** Inserts the manifest if new (same repository + digest = same bytes) and returns its id. */
  async putManifest(ex: Executor, m: {
    repository_id: number; digest: string; media_type: string; artifact_type: string | null; subject_digest: string | null;
    config_digest: string | null; config_media_type?: string | null; annotations: string | null; content: Uint8Array; refs: { digest: string; kind: 'blob' | 'manifest' }[];
  }): Promise<{ id: number; created: boolean; usage?: UsageChange }> {
    const existing = await ex.selectFrom('manifests').select('id').where('repository_id', '=', m.repository_id).where('digest', '=', m.digest).executeTakeFirst();
    if (existing) return { id: existing.id, created: false };
    // Untagged from birth until setTag points a tag at it (retention counts from untagged_since).
    const ts = now();
    const inserted = await ex.insertInto('manifests').values({
      repository_id: m.repository_id, digest: m.digest, media_type: m.media_type, artifact_type: m.artifact_type,
      subject_digest: m.subject_digest, config_digest: m.config_digest, config_media_type: m.config_media_type ?? null, annotations: m.annotations,
      size: m.content.byteLength, content: m.content, created_at: ts, untagged_since: ts,
    }).onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing()).returning('id').executeTakeFirst();
    if (!inserted) {
      // A concurrent writer on another connection inserted it first.
      const row = await ex.selectFrom('manifests').select('id').where('repository_id', '=', m.repository_id).where('digest', '=', m.digest).executeTakeFirstOrThrow();
      return { id: row.id, created: false };
    }
    const refs = dedupeRefs(m.refs);
    for (let i = 0; i < refs.length; i += 300) {
      await ex.insertInto('manifest_refs').values(refs.slice(i, i + 300).map((r) => ({ manifest_id: inserted.id, child_digest: r.digest, kind: r.kind })))
        .onConflict((oc) => oc.doNothing()).execute();
    }
    const registryId = await registryOf(ex, m.repository_id);
    const size = m.content.byteLength;
    const usage = await bump(ex, registryId, m.repository_id, await addContent(ex, registryId, 'manifest', m.digest, size), size);
    return { id: inserted.id, created: true, usage };
  }

  /** Points a tag at a manifest; returns the digest it pointed at before (undefined if new). */
  async setTag(ex: Executor, repositoryId: number, tag: string, manifestId: number): Promise<void> {
    const ts = now();
    const before = await ex.selectFrom('tags').select('manifest_id').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    await ex.updateTable('manifests').set({ untagged_since: null }).where('id', '=', manifestId).where('untagged_since', 'is not', null).execute();
    await ex.insertInto('tags').values({ repository_id: repositoryId, name: tag, manifest_id: manifestId, created_at: ts, updated_at: ts })
      .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifestId, updated_at: ts })).execute();
    if (before && before.manifest_id !== manifestId) await this.markUntagged(ex, [before.manifest_id]);
  }

  /** Stamps untagged_since on those of these manifests that no tag points at any more. */
  async markUntagged(ex: Executor, manifestIds: number[]): Promise<void> {
    for (let i = 0; i < manifestIds.length; i += 500) {
      await ex.updateTable('manifests').set({ untagged_since: now() })
        .where('id', 'in', manifestIds.slice(i, i + 500)).where('untagged_since', 'is', null)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('tags').select('tags.name').whereRef('tags.manifest_id', '=', 'manifests.id'))))
        .execute();
    }
  }

  async deleteTag(ex: Executor, repositoryId: number, tag: string): Promise<string | undefined> {
    const row = await ex.selectFrom('tags').innerJoin('manifests', 'manifests.id', 'tags.manifest_id').select(['manifests.digest', 'manifests.id'])
      .where('tags.repository_id', '=', repositoryId).where('tags.name', '=', tag).executeTakeFirst();
    if (!row) return undefined;
    await ex.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).execute();
    await this.markUntagged(ex, [row.id]);
    return row.digest;
  }

  /** Deletes a manifest (its tags go with it); returns the removed tags, or undefined if it was not there. */
  async deleteManifest(ex: Executor, repositoryId: number, digest: string): Promise<{ tags: string[]; mediaType: string; size: number } | undefined> {
    const m = await ex.selectFrom('manifests').select(['id', 'media_type', 'size']).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    if (!m) return undefined;
    const tags = (await ex.selectFrom('tags').select('name').where('manifest_id', '=', m.id).execute()).map((t) => t.name);
    await ex.deleteFrom('manifests').where('id', '=', m.id).execute();
    const registryId = await registryOf(ex, repositoryId);
    await bump(ex, registryId, repositoryId, await removeContent(ex, registryId, 'manifest', digest), -m.size);
    return { tags, mediaType: m.media_type, size: m.size };
  }

  async listTags(repositoryId: number, after: string | undefined, limit: number): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('list_enabled', '=', 1);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.orderBy('name').limit(limit).execute()).map((r) => r.name);
  }

  /** Tags with their manifest digest, for the management API. */
  listTagDetails(repositoryId: number, after: string | undefined, limit: number) {
    let q = this.db.selectFrom('tags').innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(['tags.name', 'manifests.digest', 'tags.created_at', 'tags.updated_at']).where('tags.repository_id', '=', repositoryId);
    if (after !== undefined) q = q.where('tags.name', '>', after);
    return q.orderBy('tags.name').limit(limit).execute();
  }

  /** Manifests with their tags, for the management API; keyset on digest. */
  async listManifestDetails(repositoryId: number, after: string | undefined, limit: number) {
    let q = this.db.selectFrom('manifests').select(['id', 'digest', 'media_type', 'artifact_type', 'subject_digest', 'size', 'created_at'])
      .where('repository_id', '=', repositoryId);
    if (after !== undefined) q = q.where('digest', '>', after);
    const rows = await q.orderBy('digest').limit(limit).execute();
    const tags = rows.length === 0 ? [] : await this.db.selectFrom('tags').select(['manifest_id', 'name'])
      .where('manifest_id', 'in', rows.map((r) => r.id)).orderBy('name').execute();
    return rows.map(({ id, ...r }) => ({ ...r, tags: tags.filter((t) => t.manifest_id === id).map((t) => t.name) }));
  }

  /** Referrers of a subject, keyset-paged on digest. */
  listReferrers(repositoryId: number, subject: string, artifactType: string | undefined, after: string | undefined, limit: number) {
    let q = this.db.selectFrom('manifests').select(['digest', 'media_type', 'artifact_type', 'annotations', 'size'])
      .where('repository_id', '=', repositoryId).where('subject_digest', '=', subject);
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    if (after !== undefined) q = q.where('digest', '>', after);
    return q.orderBy('digest').limit(limit).execute();
  }

  // ---------------------------------------------------------------- changeable attributes, pulls, /acr/v1

  repositoryRow(registryId: number, name: string, ex: Executor = this.db) {
    return ex.selectFrom('repositories').select(['id', 'name', 'created_at', 'updated_at', ...ATTR_COLUMNS])
      .where('registry_id', '=', registryId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
  }

  /** Tags of a repository with their locks and targets (for lock checks before writes). */
  async tagLocks(ex: Executor, repositoryId: number, names: string[]) {
    if (names.length === 0) return [];
    return ex.selectFrom('tags').select(['name', 'manifest_id', 'write_enabled', 'delete_enabled'])
      .where('repository_id', '=', repositoryId).where('name', 'in', names).execute();
  }

  manifestLocks(ex: Executor, repositoryId: number, digest: string) {
    return ex.selectFrom('manifests').select(['id', 'write_enabled', 'delete_enabled'])
      .where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  }

  /** Tags pointing at a manifest that may not be deleted (writeEnabled or deleteEnabled false). */
  lockedTagsOf(ex: Executor, manifestId: number) {
    return ex.selectFrom('tags').select('name').where('manifest_id', '=', manifestId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)])).limit(5).execute();
  }

  /** A locked tag or manifest in a repository, if any (deleting the repository would break its lock). */
  async firstLockedInRepository(ex: Executor, repositoryId: number): Promise<{ kind: 'tag' | 'manifest'; name: string } | undefined> {
    const t = await ex.selectFrom('tags').select('name').where('repository_id', '=', repositoryId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)])).limit(1).executeTakeFirst();
    if (t) return { kind: 'tag', name: t.name };
    const m = await ex.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)])).limit(1).executeTakeFirst();
    return m ? { kind: 'manifest', name: m.digest } : undefined;
  }

  async setRepositoryAttributes(id: number, patch: Partial<AttrColumns>): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.db.updateTable('repositories').set({ ...patch, updated_at: now() }).where('id', '=', id).execute();
  }

  async setTagAttributes(repositoryId: number, name: string, patch: Partial<AttrColumns>): Promise<boolean> {
    if (Object.keys(patch).length === 0) return true;
    const r = await this.db.updateTable('tags').set(patch).where('repository_id', '=', repositoryId).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setManifestAttributes(repositoryId: number, digest: string, patch: Partial<AttrColumns>): Promise<boolean> {
    if (Object.keys(patch).length === 0) return true;
    const r = await this.db.updateTable('manifests').set(patch).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Adds pulls counted in memory: one UPDATE per manifest and per tag pulled since the last flush. */
  async addPulls(manifests: { id: number; count: number; at: string }[], tags: { repositoryId: number; name: string; count: number; at: string }[], audit: PullEvent[] = []): Promise<void> {
    // One transaction (one commit, one fsync) per flush, in slices so a huge flush never holds it
    // long: each slice updates up to 200 manifests and 200 tags and inserts up to 1000 pull records.
    const slices = Math.max(Math.ceil(manifests.length / 200), Math.ceil(tags.length / 200), Math.ceil(audit.length / 1000));
    for (let k = 0; k < slices; k++) {
      const i = k * 200;
      await this.transaction(async (trx) => {
        // Pull records are audit only: born dispatched, so the webhook outbox never looks at them.
        const rows = audit.slice(k * 1000, (k + 1) * 1000);
        for (let j = 0; j < rows.length; j += 100) {
          await trx.insertInto('events').values(rows.slice(j, j + 100).map((e) => ({ ...e, action: 'pull', dispatched: 1 }))).execute();
        }
        for (const m of manifests.slice(i, i + 200)) {
          await trx.updateTable('manifests').set((eb) => ({ pull_count: eb('pull_count', '+', m.count), last_pulled_at: m.at })).where('id', '=', m.id).execute();
        }
        for (const t of tags.slice(i, i + 200)) {
          await trx.updateTable('tags').set((eb) => ({ pull_count: eb('pull_count', '+', t.count), last_pulled_at: t.at }))
            .where('repository_id', '=', t.repositoryId).where('name', '=', t.name).execute();
        }
      });
      await new Promise((r) => setImmediate(r));
    }
  }

  private tagAttrColumns = ['tags.name', 'manifests.digest', 'tags.created_at', 'tags.updated_at', 'tags.delete_enabled', 'tags.write_enabled',
    'tags.list_enabled', 'tags.read_enabled', 'tags.last_pulled_at', 'tags.pull_count'] as const;

  getTagAttributes(repositoryId: number, name: string) {
    return this.db.selectFrom('tags').innerJoin('manifests', 'manifests.id', 'tags.manifest_id').select(this.tagAttrColumns)
      .where('tags.repository_id', '=', repositoryId).where('tags.name', '=', name).executeTakeFirst();
  }

  /** Listable tags, keyset-paged by name or by (updated_at, name). */
  listTagAttributes(repositoryId: number, o: { order: TimeOrder; after?: Keyset; digest?: string; limit: number }) {
    let q = this.db.selectFrom('tags').innerJoin('manifests', 'manifests.id', 'tags.manifest_id').select(this.tagAttrColumns)
      .where('tags.repository_id', '=', repositoryId).where('tags.list_enabled', '=', 1);
    if (o.digest !== undefined) q = q.where('manifests.digest', '=', o.digest);
    const a = o.after;
    if (o.order === 'none') {
      if (a) q = q.where('tags.name', '>', a.name);
      return q.orderBy('tags.name').limit(o.limit).execute();
    }
    const cmp = o.order === 'timedesc' ? '<' : '>';
    if (a && a.time !== undefined) {
      const time = a.time;
      q = q.where((eb) => eb.or([eb('tags.updated_at', cmp, time), eb.and([eb('tags.updated_at', '=', time), eb('tags.name', cmp, a.name)])]));
    }
    const dir = o.order === 'timedesc' ? 'desc' : 'asc';
    return q.orderBy('tags.updated_at', dir).orderBy('tags.name', dir).limit(o.limit).execute();
  }

  private manifestAttrColumns = ['id', 'digest', 'media_type', 'config_digest', 'config_media_type', 'architecture', 'os', 'size', 'created_at',
    'delete_enabled', 'write_enabled', 'list_enabled', 'read_enabled', 'last_pulled_at', 'pull_count'] as const;

  async getManifestAttributes(repositoryId: number, digest: string) {
    const row = await this.db.selectFrom('manifests').select(this.manifestAttrColumns)
      .where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    return row ? (await this.withTags([row]))[0] : undefined;
  }

  /** Listable manifests with their tags, keyset-paged by digest or by (created_at, digest). */
  async listManifestAttributes(repositoryId: number, o: { order: TimeOrder; after?: Keyset; limit: number }) {
    let q = this.db.selectFrom('manifests').select(this.manifestAttrColumns)
      .where('repository_id', '=', repositoryId).where('list_enabled', '=', 1);
    const a = o.after;
    let rows;
    if (o.order === 'none') {
      if (a) q = q.where('digest', '>', a.name);
      rows = await q.orderBy('digest').limit(o.limit).execute();
    } else {
      const cmp = o.order === 'timedesc' ? '<' : '>';
      if (a && a.time !== undefined) {
        const time = a.time;
        q = q.where((eb) => eb.or([eb('created_at', cmp, time), eb.and([eb('created_at', '=', time), eb('digest', cmp, a.name)])]));
      }
      const dir = o.order === 'timedesc' ? 'desc' : 'asc';
      rows = await q.orderBy('created_at', dir).orderBy('digest', dir).limit(o.limit).execute();
    }
    return this.withTags(rows);
  }

  private async withTags<T extends { id: number }>(rows: T[]): Promise<(T & { tags: string[] })[]> {
    const tags = rows.length === 0 ? [] : await this.db.selectFrom('tags').select(['manifest_id', 'name'])
      .where('manifest_id', 'in', rows.map((r) => r.id)).where('list_enabled', '=', 1).orderBy('name').execute();
    return rows.map((r) => ({ ...r, tags: tags.filter((t) => t.manifest_id === r.id).map((t) => t.name) }));
  }

  async manifestContents(ids: number[]): Promise<Map<number, Uint8Array>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.selectFrom('manifests').select(['id', 'content']).where('id', 'in', ids).execute();
    return new Map(rows.map((r) => [r.id, r.content]));
  }

  async setManifestPlatform(id: number, architecture: string, os: string): Promise<void> {
    await this.db.updateTable('manifests').set({ architecture, os }).where('id', '=', id).execute();
  }

  // ---------------------------------------------------------------- uploads

  async createUpload(u: Omit<UploadRow, 'created_at' | 'updated_at' | 'offset'>): Promise<void> {
    const ts = now();
    await this.db.insertInto('uploads').values({ ...u, offset: 0, created_at: ts, updated_at: ts }).execute();
  }

  getUpload(id: string): Promise<UploadRow | undefined> {
    return this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Advances the acknowledged offset only if nobody else moved it (optimistic, safe across nodes). */
  async advanceUpload(id: string, from: number, to: number): Promise<boolean> {
    const r = await this.db.updateTable('uploads').set({ offset: to, updated_at: now() }).where('id', '=', id).where('offset', '=', from).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async deleteUpload(ex: Executor, id: string): Promise<boolean> {
    const r = await ex.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  listStaleUploads(olderThan: string, limit: number): Promise<UploadRow[]> {
    return this.db.selectFrom('uploads').selectAll().where('updated_at', '<', olderThan).orderBy('updated_at').limit(limit).execute();
  }

  async allUploadIds(): Promise<Set<string>> {
    return new Set((await this.db.selectFrom('uploads').select('id').execute()).map((r) => r.id));
  }

  // ---------------------------------------------------------------- events (outbox)

  recordEvent(ex: Executor, e: NewEvent): Promise<void> {
    return this.recordEvents(ex, [e]);
  }

  /**
   * Prunes audit records older than `before`, a batch per transaction: events the outbox has
   * dispatched (an undispatched one still owes its webhooks) and login events.
   */
  async pruneAudit(before: string, batch = 5000): Promise<number> {
    let total = 0;
    for (const table of ['events', 'login_events'] as const) {
      const time = table === 'events' ? 'created_at' : 'time';
      for (;;) {
        let q = (this.db as Kysely<any>).selectFrom(table).select('id').where(time, '<', before);
        if (table === 'events') q = q.where('dispatched', '=', 1);
        const ids = (await q.orderBy('id').limit(batch).execute()).map((r: { id: number }) => r.id);
        if (ids.length === 0) break;
        await (this.db as Kysely<any>).deleteFrom(table).where('id', 'in', ids).execute();
        total += ids.length;
        if (ids.length < batch) break;
      }
    }
    return total;
  }

  /** Many events in one statement per slice (a purge untags thousands of tags). */
  async recordEvents(ex: Executor, events: NewEvent[]): Promise<void> {
    const ts = now();
    const req = requestColumns();
    for (let i = 0; i < events.length; i += 200) {
      await ex.insertInto('events').values(events.slice(i, i + 200).map((e) => ({
        registry_id: e.registry_id, action: e.action, repository: e.repository, digest: e.digest ?? null, tag: e.tag ?? null,
        media_type: e.media_type ?? null, size: e.size ?? null, created_at: ts, ...req, operation: e.operation ?? null,
      }))).execute();
    }
  }

  listEvents(registryId: number, afterId: number, limit: number) {
    return this.db.selectFrom('events').selectAll().where('registry_id', '=', registryId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function dedupeRefs(refs: { digest: string; kind: 'blob' | 'manifest' }[]) {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const k = `${r.kind}:${r.digest}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
