import { sql, type ExpressionBuilder } from 'kysely';
import type { ManifestHead as DomainManifestHead } from '../domain/manifest-head.js';
import { missingDigests } from './blobs.js';
import { now, type Executor, type MetaContext } from './context.js';
import { addContent, bump, registryOf, removeContent, type UsageChange } from './usage.js';
import { prepared } from './prepared.js';
import type { Database } from './schema.js';

export type ManifestHead = DomainManifestHead;

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

export interface ReadFlags {
  repo_read: number;
  manifest_read: number;
  tag_read: number | null;
  /** Read with the row, so a pull's quarantine check costs no query (domain/quarantine.ts). */
  quarantine_state: string | null;
}

/** A manifest to store, with the blobs and manifests it references. */
export interface NewManifest {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  config_digest: string | null;
  config_media_type?: string | null;
  annotations: string | null;
  content: Uint8Array;
  refs: { digest: string; kind: 'blob' | 'manifest' }[];
  /** 'Quarantined' when pushed under the registry's quarantine policy; a manifest already stored keeps its state. */
  quarantine_state?: 'Quarantined' | null;
}

export interface TagDetail {
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

export interface ManifestDetail {
  id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  size: number;
  /** ACR's imageSize (see imageSizes). */
  image_size: number;
  created_at: string;
  tags: string[];
  quarantine_state: string | null;
}

export interface Referrer {
  digest: string;
  media_type: string;
  artifact_type: string | null;
  annotations: string | null;
  size: number;
}

/** Manifests and tags of repositories: reads for pulls and listings, writes for pushes and deletes. */
export interface ManifestStore {
  getManifestByTag(registryId: number, repository: string, tag: string): Promise<(ManifestRow & ReadFlags) | undefined>;
  getManifestByDigest(registryId: number, repository: string, digest: string): Promise<(ManifestRow & ReadFlags) | undefined>;
  /** HEAD needs no content: cheaper on large manifests. */
  headManifest(registryId: number, repository: string, ref: { tag?: string; digest?: string }): Promise<ManifestHead | undefined>;
  /** Inserts the manifest if new (same repository + digest = same bytes) and returns its id. */
  /** quarantine_state: the stored manifest's (an existing one keeps its own). */
  putManifest(
    ex: Executor,
    m: NewManifest,
  ): Promise<{ id: number; created: boolean; usage?: UsageChange; quarantine_state: string | null }>;
  /** Which of these digests the repository does not hold as manifests. */
  missingManifests(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]>;
  /** Points a tag at a manifest. */
  setTag(ex: Executor, repositoryId: number, tag: string, manifestId: number): Promise<void>;
  /** Stamps untagged_since on those of these manifests that no tag points at any more. */
  markUntagged(ex: Executor, manifestIds: number[]): Promise<void>;
  /** Removes a tag; returns the digest it pointed at (undefined if there was no such tag). */
  deleteTag(ex: Executor, repositoryId: number, tag: string): Promise<string | undefined>;
  /** Deletes a manifest (its tags go with it); returns the removed tags, or undefined if it was not there. */
  deleteManifest(
    ex: Executor,
    repositoryId: number,
    digest: string,
  ): Promise<{ tags: string[]; mediaType: string; size: number } | undefined>;
  /** The digest a tag points at. */
  tagTarget(ex: Executor, repositoryId: number, tag: string): Promise<string | undefined>;
  /** Digests of the repository's manifests whose subject is one of these. */
  manifestsWithSubject(ex: Executor, repositoryId: number, subjects: string[]): Promise<string[]>;
  /** Every manifest digest of a repository, byte order. */
  manifestDigestsOf(ex: Executor, repositoryId: number): Promise<string[]>;
  /** Every tag of a repository, byte order. */
  tagNamesOf(ex: Executor, repositoryId: number): Promise<string[]>;
  /** Listable tags, keyset-paged by name. */
  listTags(repositoryId: number, after: string | undefined, limit: number, hideQuarantined?: boolean): Promise<string[]>;
  /** Tags with their manifest digest, for the management API. */
  listTagDetails(repositoryId: number, after: string | undefined, limit: number, hideQuarantined?: boolean): Promise<TagDetail[]>;
  /** Manifests with their tags, for the management API; keyset on digest. */
  listManifestDetails(repositoryId: number, after: string | undefined, limit: number, hideQuarantined?: boolean): Promise<ManifestDetail[]>;
  /** Referrers of a subject, keyset-paged on digest. */
  listReferrers(
    repositoryId: number,
    subject: string,
    artifactType: string | undefined,
    after: string | undefined,
    limit: number,
    hideQuarantined?: boolean,
  ): Promise<Referrer[]>;
  /**
   * Is this blob of the repository referenced only by manifests quarantine hides (Quarantined or
   * Failed)? false when a visible manifest references it, or none does (an upload in progress).
   */
  blobOnlyInQuarantine(registryId: number, repository: string, digest: string): Promise<boolean>;
  /**
   * Sets a manifest's quarantine state; when it is an index, its child manifests in the repository
   * that are still Quarantined follow it (a multi-platform pull reads them by digest). Returns the
   * manifests changed (digest, media type, size, first tag), the named one first; [] when unknown.
   */
  setQuarantineState(
    ex: Executor,
    repositoryId: number,
    digest: string,
    q: { state: string; details: string | null; by: string | null },
  ): Promise<{ id: number; digest: string; media_type: string; size: number; tag: string | null; previous: string | null }[]>;
}

const MANIFEST_COLUMNS = [
  'manifests.id',
  'manifests.repository_id',
  'manifests.digest',
  'manifests.media_type',
  'manifests.artifact_type',
  'manifests.subject_digest',
  'manifests.annotations',
  'manifests.size',
  'manifests.content',
  'manifests.created_at',
  'manifests.quarantine_state',
] as const;

export class KyselyManifestStore implements ManifestStore {
  constructor(private readonly ctx: MetaContext) {}

  private readonly byTag = prepared((ex, registryId: number, repository: string, tag: string) =>
    ex
      .selectFrom('tags')
      .innerJoin('repositories', 'repositories.id', 'tags.repository_id')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(MANIFEST_COLUMNS)
      .select(['repositories.read_enabled as repo_read', 'manifests.read_enabled as manifest_read', 'tags.read_enabled as tag_read'])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository)
      .where('tags.name', '=', tag),
  );

  async getManifestByTag(registryId: number, repository: string, tag: string): Promise<(ManifestRow & ReadFlags) | undefined> {
    return (await this.byTag(this.ctx.db, registryId, repository, tag))[0];
  }

  private readonly byDigest = prepared((ex, registryId: number, repository: string, digest: string) =>
    ex
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(MANIFEST_COLUMNS)
      .select(['repositories.read_enabled as repo_read', 'manifests.read_enabled as manifest_read', sql<null>`null`.as('tag_read')])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository)
      .where('manifests.digest', '=', digest),
  );

  async getManifestByDigest(registryId: number, repository: string, digest: string): Promise<(ManifestRow & ReadFlags) | undefined> {
    return (await this.byDigest(this.ctx.db, registryId, repository, digest))[0];
  }

  headManifest(registryId: number, repository: string, ref: { tag?: string; digest?: string }): Promise<ManifestHead | undefined> {
    const q = this.ctx.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select([
        'manifests.id',
        'manifests.repository_id',
        'manifests.digest',
        'manifests.media_type',
        'manifests.size',
        'manifests.subject_digest',
        'repositories.read_enabled as repo_read',
        'manifests.read_enabled as manifest_read',
        'manifests.quarantine_state',
      ])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository);
    if (ref.tag !== undefined) {
      return q
        .innerJoin('tags', 'tags.manifest_id', 'manifests.id')
        .where('tags.name', '=', ref.tag)
        .select('tags.read_enabled as tag_read')
        .executeTakeFirst();
    }
    return q
      .where('manifests.digest', '=', ref.digest!)
      .select(sql<null>`null`.as('tag_read'))
      .executeTakeFirst();
  }

  async putManifest(
    ex: Executor,
    m: NewManifest,
  ): Promise<{ id: number; created: boolean; usage?: UsageChange; quarantine_state: string | null }> {
    const existing = await ex
      .selectFrom('manifests')
      .select(['id', 'quarantine_state'])
      .where('repository_id', '=', m.repository_id)
      .where('digest', '=', m.digest)
      .executeTakeFirst();
    if (existing) return { id: existing.id, created: false, quarantine_state: existing.quarantine_state };
    // Untagged from birth until setTag points a tag at it (retention counts from untagged_since).
    const ts = now();
    const inserted = await ex
      .insertInto('manifests')
      .values({
        repository_id: m.repository_id,
        digest: m.digest,
        media_type: m.media_type,
        artifact_type: m.artifact_type,
        subject_digest: m.subject_digest,
        config_digest: m.config_digest,
        config_media_type: m.config_media_type ?? null,
        annotations: m.annotations,
        size: m.content.byteLength,
        content: m.content,
        created_at: ts,
        untagged_since: ts,
        quarantine_state: m.quarantine_state ?? null,
        quarantine_updated_at: m.quarantine_state ? ts : null,
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      // A concurrent writer on another connection inserted it first.
      const row = await ex
        .selectFrom('manifests')
        .select(['id', 'quarantine_state'])
        .where('repository_id', '=', m.repository_id)
        .where('digest', '=', m.digest)
        .executeTakeFirstOrThrow();
      return { id: row.id, created: false, quarantine_state: row.quarantine_state };
    }
    const refs = dedupeRefs(m.refs);
    for (let i = 0; i < refs.length; i += 300) {
      await ex
        .insertInto('manifest_refs')
        .values(refs.slice(i, i + 300).map((r) => ({ manifest_id: inserted.id, child_digest: r.digest, kind: r.kind })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const registryId = await registryOf(ex, m.repository_id);
    const size = m.content.byteLength;
    const usage = await bump(ex, registryId, m.repository_id, await addContent(ex, registryId, 'manifest', m.digest, size), size);
    return { id: inserted.id, created: true, usage, quarantine_state: m.quarantine_state ?? null };
  }

  missingManifests(ex: Executor, repositoryId: number, digests: string[]): Promise<string[]> {
    return missingDigests(ex, this.ctx.dialect, 'manifests', repositoryId, digests);
  }

  async setTag(ex: Executor, repositoryId: number, tag: string, manifestId: number): Promise<void> {
    const ts = now();
    const before = await ex
      .selectFrom('tags')
      .select('manifest_id')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .executeTakeFirst();
    await ex
      .updateTable('manifests')
      .set({ untagged_since: null })
      .where('id', '=', manifestId)
      .where('untagged_since', 'is not', null)
      .execute();
    await ex
      .insertInto('tags')
      .values({ repository_id: repositoryId, name: tag, manifest_id: manifestId, created_at: ts, updated_at: ts })
      .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifestId, updated_at: ts }))
      .execute();
    if (before && before.manifest_id !== manifestId) await this.markUntagged(ex, [before.manifest_id]);
  }

  async markUntagged(ex: Executor, manifestIds: number[]): Promise<void> {
    for (let i = 0; i < manifestIds.length; i += 500) {
      await ex
        .updateTable('manifests')
        .set({ untagged_since: now() })
        .where('id', 'in', manifestIds.slice(i, i + 500))
        .where('untagged_since', 'is', null)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('tags').select('tags.name').whereRef('tags.manifest_id', '=', 'manifests.id'))))
        .execute();
    }
  }

  async deleteTag(ex: Executor, repositoryId: number, tag: string): Promise<string | undefined> {
    const row = await ex
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(['manifests.digest', 'manifests.id'])
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.name', '=', tag)
      .executeTakeFirst();
    if (!row) return undefined;
    await ex.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).execute();
    await this.markUntagged(ex, [row.id]);
    return row.digest;
  }

  async deleteManifest(
    ex: Executor,
    repositoryId: number,
    digest: string,
  ): Promise<{ tags: string[]; mediaType: string; size: number } | undefined> {
    const m = await ex
      .selectFrom('manifests')
      .select(['id', 'media_type', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!m) return undefined;
    const tags = (await ex.selectFrom('tags').select('name').where('manifest_id', '=', m.id).execute()).map((t) => t.name);
    await ex.deleteFrom('manifests').where('id', '=', m.id).execute();
    const registryId = await registryOf(ex, repositoryId);
    await bump(ex, registryId, repositoryId, await removeContent(ex, registryId, 'manifest', digest), -m.size);
    return { tags, mediaType: m.media_type, size: m.size };
  }

  async tagTarget(ex: Executor, repositoryId: number, tag: string): Promise<string | undefined> {
    const row = await ex
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select('manifests.digest')
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.name', '=', tag)
      .executeTakeFirst();
    return row?.digest;
  }

  async manifestsWithSubject(ex: Executor, repositoryId: number, subjects: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < subjects.length; i += 500) {
      const rows = await ex
        .selectFrom('manifests')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('subject_digest', 'in', subjects.slice(i, i + 500))
        .execute();
      for (const r of rows) out.push(r.digest);
    }
    return out;
  }

  async manifestDigestsOf(ex: Executor, repositoryId: number): Promise<string[]> {
    return (await ex.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).orderBy('digest').execute()).map(
      (r) => r.digest,
    );
  }

  async tagNamesOf(ex: Executor, repositoryId: number): Promise<string[]> {
    return (await ex.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').execute()).map(
      (r) => r.name,
    );
  }

  async listTags(repositoryId: number, after: string | undefined, limit: number, hideQuarantined = false): Promise<string[]> {
    let q = this.ctx.db
      .selectFrom('tags')
      .select('tags.name')
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.list_enabled', '=', 1);
    // The join only when asked: a registry without the quarantine policy lists tags as before.
    if (hideQuarantined) q = q.innerJoin('manifests', 'manifests.id', 'tags.manifest_id').where(visibleState);
    if (after !== undefined) q = q.where('tags.name', '>', after);
    return (await q.orderBy('tags.name').limit(limit).execute()).map((r) => r.name);
  }

  listTagDetails(repositoryId: number, after: string | undefined, limit: number, hideQuarantined = false): Promise<TagDetail[]> {
    let q = this.ctx.db
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(['tags.name', 'manifests.digest', 'tags.created_at', 'tags.updated_at'])
      .where('tags.repository_id', '=', repositoryId);
    if (hideQuarantined) q = q.where(visibleState);
    if (after !== undefined) q = q.where('tags.name', '>', after);
    return q.orderBy('tags.name').limit(limit).execute();
  }

  async listManifestDetails(
    repositoryId: number,
    after: string | undefined,
    limit: number,
    hideQuarantined = false,
  ): Promise<ManifestDetail[]> {
    let q = this.ctx.db
      .selectFrom('manifests')
      .select(['id', 'digest', 'media_type', 'artifact_type', 'subject_digest', 'size', 'created_at', 'quarantine_state'])
      .where('repository_id', '=', repositoryId);
    if (hideQuarantined) q = q.where(visibleState);
    if (after !== undefined) q = q.where('digest', '>', after);
    const rows = await q.orderBy('digest').limit(limit).execute();
    const ids = rows.map((r) => r.id);
    const tags = await tagNames(this.ctx.db, ids, { listedOnly: false });
    const sizes = await imageSizes(this.ctx.db, repositoryId, ids);
    return rows.map((r) => ({ ...r, id: Number(r.id), image_size: sizes.get(r.id) ?? Number(r.size), tags: tags.get(r.id) ?? [] }));
  }

  listReferrers(
    repositoryId: number,
    subject: string,
    artifactType: string | undefined,
    after: string | undefined,
    limit: number,
    hideQuarantined = false,
  ): Promise<Referrer[]> {
    let q = this.ctx.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'annotations', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject);
    if (hideQuarantined) q = q.where(visibleState);
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    if (after !== undefined) q = q.where('digest', '>', after);
    return q.orderBy('digest').limit(limit).execute();
  }

  async blobOnlyInQuarantine(registryId: number, repository: string, digest: string): Promise<boolean> {
    const rows = await this.ctx.db
      .selectFrom('manifest_refs as r')
      .innerJoin('manifests', 'manifests.id', 'r.manifest_id')
      .innerJoin('repositories as p', 'p.id', 'manifests.repository_id')
      .select(
        sql<number>`case when manifests.quarantine_state is null or manifests.quarantine_state = 'Passed' then 1 else 0 end`.as('visible'),
      )
      .where('p.registry_id', '=', registryId)
      .where('p.name', '=', repository)
      .where('r.child_digest', '=', digest)
      .where('r.kind', '=', 'blob')
      .orderBy('visible', 'desc')
      .limit(1)
      .execute();
    return rows.length > 0 && Number(rows[0]!.visible) === 0;
  }

  async setQuarantineState(
    ex: Executor,
    repositoryId: number,
    digest: string,
    q: { state: string; details: string | null; by: string | null },
  ): Promise<{ id: number; digest: string; media_type: string; size: number; tag: string | null; previous: string | null }[]> {
    const row = await ex
      .selectFrom('manifests')
      .select(['id', 'digest', 'media_type', 'size', 'quarantine_state as previous'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!row) return [];
    const children = await ex
      .selectFrom('manifest_refs as r')
      .innerJoin('manifests as c', (j) => j.onRef('c.digest', '=', 'r.child_digest').on('c.repository_id', '=', repositoryId))
      .select(['c.id', 'c.digest', 'c.media_type', 'c.size', 'c.quarantine_state as previous'])
      .where('r.manifest_id', '=', row.id)
      .where('r.kind', '=', 'manifest')
      .where('c.quarantine_state', '=', 'Quarantined')
      .execute();
    const changed = [row, ...children.filter((c) => c.id !== row.id)];
    const ts = now();
    await ex
      .updateTable('manifests')
      .set({ quarantine_state: q.state, quarantine_details: q.details, quarantine_updated_at: ts, quarantine_updated_by: q.by })
      .where(
        'id',
        'in',
        changed.map((c) => c.id),
      )
      .execute();
    const tags = await tagNames(
      ex,
      changed.map((c) => c.id),
      { listedOnly: false },
    );
    return changed.map((c) => ({ ...c, size: Number(c.size), tag: tags.get(c.id)?.[0] ?? null }));
  }
}

/** Manifests a caller without quarantine read may see: never quarantined, or Passed. */
export function visibleState(eb: ExpressionBuilder<Database, 'manifests'>) {
  return eb.or([eb('manifests.quarantine_state', 'is', null), eb('manifests.quarantine_state', '=', 'Passed')]);
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

/** The tag names of each manifest, sorted; `listedOnly` leaves out tags with listEnabled=false. */
export async function tagNames(db: Executor, manifestIds: number[], o: { listedOnly: boolean }): Promise<Map<number, string[]>> {
  const byManifest = new Map<number, string[]>();
  if (manifestIds.length === 0) return byManifest;
  let q = db.selectFrom('tags').select(['manifest_id', 'name']).where('manifest_id', 'in', manifestIds);
  if (o.listedOnly) q = q.where('list_enabled', '=', 1);
  for (const t of await q.orderBy('name').execute()) {
    const names = byManifest.get(t.manifest_id);
    if (names) names.push(t.name);
    else byManifest.set(t.manifest_id, [t.name]);
  }
  return byManifest;
}

/**
 * Image sizes as ACR reports them (imageSize): an image's own manifest bytes plus the blobs it
 * references (config and layers); an index's (or manifest list's) own bytes plus the image sizes of
 * its children in the repository, nested indexes included. Layers shared between children count
 * once per child, as each child's size does. Computed when read, a few grouped queries per page,
 * so it is right whatever happens to the children after the index was pushed (a child deleted
 * later no longer counts).
 */
export async function imageSizes(db: Executor, repositoryId: number, manifestIds: number[]): Promise<Map<number, number>> {
  const own = new Map<number, number>();
  const children = new Map<number, number[]>();
  let frontier = [...new Set(manifestIds)];
  const seen = new Set(frontier);
  while (frontier.length > 0) {
    const next: number[] = [];
    for (let i = 0; i < frontier.length; i += 500) {
      const ids = frontier.slice(i, i + 500);
      const rows = await db
        .selectFrom('manifests as m')
        .leftJoin('manifest_refs as r', (j) => j.onRef('r.manifest_id', '=', 'm.id').on('r.kind', '=', 'blob'))
        .leftJoin('blobs as b', 'b.digest', 'r.child_digest')
        .select(['m.id', 'm.size', (eb) => eb.fn.coalesce(eb.fn.sum<number>('b.size'), eb.lit(0)).as('blob_bytes')])
        .where('m.id', 'in', ids)
        .groupBy(['m.id', 'm.size'])
        .execute();
      for (const r of rows) own.set(Number(r.id), Number(r.size) + Number(r.blob_bytes));
      const kids = await db
        .selectFrom('manifest_refs as r')
        .innerJoin('manifests as c', (j) => j.onRef('c.digest', '=', 'r.child_digest').on('c.repository_id', '=', repositoryId))
        .select(['r.manifest_id as parent', 'c.id as child'])
        .where('r.kind', '=', 'manifest')
        .where('r.manifest_id', 'in', ids)
        .execute();
      for (const k of kids) {
        const parent = Number(k.parent);
        const child = Number(k.child);
        const list = children.get(parent);
        if (list) list.push(child);
        else children.set(parent, [child]);
        if (!seen.has(child)) {
          seen.add(child);
          next.push(child);
        }
      }
    }
    frontier = next;
  }
  const total = new Map<number, number>();
  // Content addressing rules out cycles; `open` only guards against a corrupt database.
  const open = new Set<number>();
  const sizeOf = (id: number): number => {
    const known = total.get(id);
    if (known !== undefined) return known;
    if (open.has(id)) return 0;
    open.add(id);
    let n = own.get(id) ?? 0;
    for (const c of children.get(id) ?? []) n += sizeOf(c);
    open.delete(id);
    total.set(id, n);
    return n;
  };
  const out = new Map<number, number>();
  for (const id of manifestIds) out.set(id, sizeOf(id));
  return out;
}
