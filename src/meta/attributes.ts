import { now, type Executor, type MetaContext } from './context.js';
import { imageSizes, tagNames, visibleState } from './manifests.js';

// ACR's changeableAttributes (deleteEnabled, writeEnabled, listEnabled, readEnabled) on
// repositories, tags and manifests: the locks checked before writes, and the /acr/v1 listings
// that show them with pull statistics and the cached platform of each manifest.

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
export interface Keyset {
  name: string;
  time?: string;
}

export interface TagLock {
  name: string;
  manifest_id: number;
  write_enabled: number;
  delete_enabled: number;
}
export interface ManifestLock {
  id: number;
  write_enabled: number;
  delete_enabled: number;
}

export interface TagAttributes extends AttrColumns {
  name: string;
  digest: string;
  manifest_id: number;
  /** Of the manifest the tag points at. */
  quarantine_state: string | null;
  created_at: string;
  updated_at: string;
  last_pulled_at: string | null;
  pull_count: number;
}

export interface ManifestAttributes extends AttrColumns {
  id: number;
  digest: string;
  media_type: string;
  config_digest: string | null;
  config_media_type: string | null;
  /** null = not read yet; '' = none. */
  architecture: string | null;
  os: string | null;
  size: number;
  /** ACR's imageSize: the manifest with its config and layers, or an index with its children (imageSizes). */
  image_size: number;
  created_at: string;
  last_pulled_at: string | null;
  pull_count: number;
  quarantine_state: string | null;
  quarantine_details: string | null;
  /** Its listable tags, byte order. */
  tags: string[];
}

export interface AttributeStore {
  /** Tags of a repository with their locks and targets (for lock checks before writes). */
  tagLocks(ex: Executor, repositoryId: number, names: string[]): Promise<TagLock[]>;
  manifestLocks(ex: Executor, repositoryId: number, digest: string): Promise<ManifestLock | undefined>;
  /** Tags pointing at a manifest that may not be deleted (writeEnabled or deleteEnabled false); at most 5. */
  lockedTagsOf(ex: Executor, manifestId: number): Promise<{ name: string }[]>;
  /** A locked tag or manifest in a repository, if any (deleting the repository would break its lock). */
  firstLockedInRepository(ex: Executor, repositoryId: number): Promise<{ kind: 'tag' | 'manifest'; name: string } | undefined>;
  setRepositoryAttributes(id: number, patch: Partial<AttrColumns>): Promise<void>;
  /** false when there is no such tag. */
  setTagAttributes(repositoryId: number, name: string, patch: Partial<AttrColumns>): Promise<boolean>;
  /** false when there is no such manifest. */
  setManifestAttributes(repositoryId: number, digest: string, patch: Partial<AttrColumns>): Promise<boolean>;
  getTagAttributes(repositoryId: number, name: string): Promise<TagAttributes | undefined>;
  /** Listable tags, keyset-paged by name or by (updated_at, name). */
  listTagAttributes(
    repositoryId: number,
    o: { order: TimeOrder; after?: Keyset; digest?: string; prefix?: string; limit: number; hideQuarantined?: boolean },
  ): Promise<TagAttributes[]>;
  getManifestAttributes(repositoryId: number, digest: string): Promise<ManifestAttributes | undefined>;
  /** Listable manifests with their tags, keyset-paged by digest or by (created_at, digest). */
  listManifestAttributes(
    repositoryId: number,
    o: { order: TimeOrder; after?: Keyset; limit: number; hideQuarantined?: boolean },
  ): Promise<ManifestAttributes[]>;
  /** The stored bytes of these manifests, by id (to read a platform not cached yet). */
  manifestContents(ids: number[]): Promise<Map<number, Uint8Array>>;
  /** Caches what a manifest's config says ('' = none). */
  setManifestPlatform(id: number, architecture: string, os: string): Promise<void>;
}

const TAG_ATTR_COLUMNS = [
  'tags.name',
  'manifests.digest',
  'tags.manifest_id',
  'tags.created_at',
  'tags.updated_at',
  'tags.delete_enabled',
  'tags.write_enabled',
  'tags.list_enabled',
  'tags.read_enabled',
  'tags.last_pulled_at',
  'tags.pull_count',
  'manifests.quarantine_state',
] as const;

const MANIFEST_ATTR_COLUMNS = [
  'id',
  'digest',
  'media_type',
  'config_digest',
  'config_media_type',
  'architecture',
  'os',
  'size',
  'created_at',
  'delete_enabled',
  'write_enabled',
  'list_enabled',
  'read_enabled',
  'last_pulled_at',
  'pull_count',
  'quarantine_state',
  'quarantine_details',
] as const;

export class KyselyAttributeStore implements AttributeStore {
  constructor(private readonly ctx: MetaContext) {}

  async tagLocks(ex: Executor, repositoryId: number, names: string[]): Promise<TagLock[]> {
    if (names.length === 0) return [];
    return ex
      .selectFrom('tags')
      .select(['name', 'manifest_id', 'write_enabled', 'delete_enabled'])
      .where('repository_id', '=', repositoryId)
      .where('name', 'in', names)
      .execute();
  }

  manifestLocks(ex: Executor, repositoryId: number, digest: string): Promise<ManifestLock | undefined> {
    return ex
      .selectFrom('manifests')
      .select(['id', 'write_enabled', 'delete_enabled'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
  }

  lockedTagsOf(ex: Executor, manifestId: number): Promise<{ name: string }[]> {
    return ex
      .selectFrom('tags')
      .select('name')
      .where('manifest_id', '=', manifestId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
      .limit(5)
      .execute();
  }

  async firstLockedInRepository(ex: Executor, repositoryId: number): Promise<{ kind: 'tag' | 'manifest'; name: string } | undefined> {
    const t = await ex
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', repositoryId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
      .limit(1)
      .executeTakeFirst();
    if (t) return { kind: 'tag', name: t.name };
    const m = await ex
      .selectFrom('manifests')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where((eb) => eb.or([eb('write_enabled', '=', 0), eb('delete_enabled', '=', 0)]))
      .limit(1)
      .executeTakeFirst();
    return m ? { kind: 'manifest', name: m.digest } : undefined;
  }

  async setRepositoryAttributes(id: number, patch: Partial<AttrColumns>): Promise<void> {
    if (Object.keys(patch).length === 0) return;
    await this.ctx.db
      .updateTable('repositories')
      .set({ ...patch, updated_at: now() })
      .where('id', '=', id)
      .execute();
  }

  async setTagAttributes(repositoryId: number, name: string, patch: Partial<AttrColumns>): Promise<boolean> {
    if (Object.keys(patch).length === 0) return true;
    const r = await this.ctx.db
      .updateTable('tags')
      .set(patch)
      .where('repository_id', '=', repositoryId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setManifestAttributes(repositoryId: number, digest: string, patch: Partial<AttrColumns>): Promise<boolean> {
    if (Object.keys(patch).length === 0) return true;
    const r = await this.ctx.db
      .updateTable('manifests')
      .set(patch)
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  getTagAttributes(repositoryId: number, name: string): Promise<TagAttributes | undefined> {
    return this.ctx.db
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(TAG_ATTR_COLUMNS)
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.name', '=', name)
      .executeTakeFirst();
  }

  listTagAttributes(
    repositoryId: number,
    o: { order: TimeOrder; after?: Keyset; digest?: string; prefix?: string; limit: number; hideQuarantined?: boolean },
  ): Promise<TagAttributes[]> {
    let q = this.ctx.db
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(TAG_ATTR_COLUMNS)
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.list_enabled', '=', 1);
    if (o.hideQuarantined) q = q.where(visibleState);
    if (o.digest !== undefined) q = q.where('manifests.digest', '=', o.digest);
    if (o.prefix) q = q.where('tags.name', '>=', o.prefix).where('tags.name', '<', prefixEnd(o.prefix));
    const a = o.after;
    if (o.order === 'none') {
      if (a) q = q.where('tags.name', '>', a.name);
      return q.orderBy('tags.name').limit(o.limit).execute();
    }
    const cmp = o.order === 'timedesc' ? '<' : '>';
    if (a && a.time !== undefined) {
      const time = a.time;
      q = q.where((eb) =>
        eb.or([eb('tags.updated_at', cmp, time), eb.and([eb('tags.updated_at', '=', time), eb('tags.name', cmp, a.name)])]),
      );
    }
    const dir = o.order === 'timedesc' ? 'desc' : 'asc';
    return q.orderBy('tags.updated_at', dir).orderBy('tags.name', dir).limit(o.limit).execute();
  }

  async getManifestAttributes(repositoryId: number, digest: string): Promise<ManifestAttributes | undefined> {
    const row = await this.ctx.db
      .selectFrom('manifests')
      .select(MANIFEST_ATTR_COLUMNS)
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? (await this.#withTags(repositoryId, [row]))[0] : undefined;
  }

  async listManifestAttributes(
    repositoryId: number,
    o: { order: TimeOrder; after?: Keyset; limit: number; hideQuarantined?: boolean },
  ): Promise<ManifestAttributes[]> {
    let q = this.ctx.db
      .selectFrom('manifests')
      .select(MANIFEST_ATTR_COLUMNS)
      .where('repository_id', '=', repositoryId)
      .where('list_enabled', '=', 1);
    if (o.hideQuarantined) q = q.where(visibleState);
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
    return this.#withTags(repositoryId, rows);
  }

  /** Adds each manifest's listable tags and its image size. */
  async #withTags<T extends { id: number; size: number }>(
    repositoryId: number,
    rows: T[],
  ): Promise<(T & { tags: string[]; image_size: number })[]> {
    const ids = rows.map((r) => r.id);
    const tags = await tagNames(this.ctx.db, ids, { listedOnly: true });
    const sizes = await imageSizes(this.ctx.db, repositoryId, ids);
    return rows.map((r) => ({ ...r, tags: tags.get(r.id) ?? [], image_size: sizes.get(r.id) ?? Number(r.size) }));
  }

  async manifestContents(ids: number[]): Promise<Map<number, Uint8Array>> {
    if (ids.length === 0) return new Map();
    const rows = await this.ctx.db.selectFrom('manifests').select(['id', 'content']).where('id', 'in', ids).execute();
    return new Map(rows.map((r) => [r.id, r.content]));
  }

  async setManifestPlatform(id: number, architecture: string, os: string): Promise<void> {
    await this.ctx.db.updateTable('manifests').set({ architecture, os }).where('id', '=', id).execute();
  }
}

/**
 * The first name after every name that starts with `prefix`, in byte order: names are of letters,
 * digits and "_.-/", all below "~", so a prefix filter is an index range rather than a LIKE (whose
 * "_" would be a wildcard).
 */
export const prefixEnd = (prefix: string): string => `${prefix}~`;
