import type { Kysely } from 'kysely';
import { subjectMissing } from './referrers.js';
import type { Database } from './schema.js';
import type { Executor } from './store.js';

// What purge (and the retention policy, which deletes the same kind of manifest) read and remove:
// repositories by name, tags by age, untagged manifests that are garbage, and the result a purge
// job leaves on its job row. The rules (filters, keep, locks, immutability) are in
// services/lifecycle/purge.ts.

export interface UntaggedQuery {
  /** Which timestamp must be older than the cutoff: created_at (purge) or untagged_since (retention). */
  age: 'created_at' | 'untagged_since';
  cutoff: string;
  /** Keyset: manifests with id below this (pages go newest first). */
  beforeId?: number;
  /** Instead of "untagged now": these manifests (a dry run's would-be-untagged ones). */
  ids?: number[];
  /** With ids: only those of them that still have no tag (children rechecked after their index went). */
  stillUntagged?: boolean;
  /** Only manifests untagged at or after this time (retention ignores what was untagged before it was enabled). */
  untaggedSince?: string;
  limit: number;
}

export interface PurgeRepository {
  id: number;
  name: string;
  write_enabled: number;
  delete_enabled: number;
}

export interface PurgeTag {
  name: string;
  updated_at: string;
  manifest_id: number;
  write_enabled: number;
  delete_enabled: number;
  digest: string;
}

export interface UntaggedManifest {
  id: number;
  digest: string;
  write_enabled: number;
  delete_enabled: number;
}

/** A manifest an index references, in the index's repository. */
export interface IndexChild extends UntaggedManifest {
  parent_id: number;
  /** How many tags point at it now. */
  tags: number;
}

export interface PurgeStore {
  /** A keyset page of a registry's repositories (soft-deleted ones too), by name. */
  repositoryPage(registryId: number, after: string | undefined, limit: number): Promise<PurgeRepository[]>;
  /** Tags last updated before the cutoff, newest first, one keyset page after `after`. */
  tagPage(repositoryId: number, cutoff: string, after: { time: string; name: string } | undefined, limit: number): Promise<PurgeTag[]>;
  /** Of these tags, those still last updated before the cutoff and unlocked (with the manifest they point at now). */
  deletableTags(ex: Executor, repositoryId: number, names: string[], cutoff: string): Promise<{ name: string; manifest_id: number }[]>;
  deleteTags(ex: Executor, repositoryId: number, names: string[]): Promise<void>;
  /** How many tags point at each of these manifests (manifests without tags are absent). */
  tagCounts(manifestIds: number[]): Promise<Map<number, number>>;
  /**
   * Untagged manifests of a repository that are garbage: no tag, not referenced by an index in the
   * same repository, not a referrer whose subject exists; older than the cutoff; newest first.
   */
  untaggedCandidates(repositoryId: number, q: UntaggedQuery): Promise<UntaggedManifest[]>;
  /** The manifests these indexes reference in their repository (one row per index and child). */
  indexChildren(repositoryId: number, parentIds: number[]): Promise<IndexChild[]>;
  /** Every index of the repository that references one of these digests: digest -> index ids. */
  referencingIndexes(repositoryId: number, digests: string[]): Promise<Map<string, number[]>>;
  /** Leaves a result (JSON) on a job's row for whoever waits on it. */
  setJobResult(jobId: number, result: string): Promise<void>;
}

export class KyselyPurgeStore implements PurgeStore {
  constructor(private readonly db: Kysely<Database>) {}

  async repositoryPage(registryId: number, after: string | undefined, limit: number): Promise<PurgeRepository[]> {
    let q = this.db
      .selectFrom('repositories')
      .select(['id', 'name', 'write_enabled', 'delete_enabled'])
      .where('registry_id', '=', registryId);
    if (after !== undefined) q = q.where('name', '>', after);
    return q.orderBy('name').limit(limit).execute();
  }

  tagPage(repositoryId: number, cutoff: string, after: { time: string; name: string } | undefined, limit: number): Promise<PurgeTag[]> {
    let q = this.db
      .selectFrom('tags')
      .innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(['tags.name', 'tags.updated_at', 'tags.manifest_id', 'tags.write_enabled', 'tags.delete_enabled', 'manifests.digest'])
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.updated_at', '<', cutoff);
    if (after)
      q = q.where((eb) =>
        eb.or([eb('tags.updated_at', '<', after.time), eb.and([eb('tags.updated_at', '=', after.time), eb('tags.name', '<', after.name)])]),
      );
    return q.orderBy('tags.updated_at', 'desc').orderBy('tags.name', 'desc').limit(limit).execute();
  }

  async deletableTags(
    ex: Executor,
    repositoryId: number,
    names: string[],
    cutoff: string,
  ): Promise<{ name: string; manifest_id: number }[]> {
    if (names.length === 0) return [];
    return ex
      .selectFrom('tags')
      .select(['name', 'manifest_id'])
      .where('repository_id', '=', repositoryId)
      .where('name', 'in', names)
      .where('updated_at', '<', cutoff)
      .where('write_enabled', '=', 1)
      .where('delete_enabled', '=', 1)
      .execute();
  }

  async deleteTags(ex: Executor, repositoryId: number, names: string[]): Promise<void> {
    if (names.length === 0) return;
    await ex.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', 'in', names).execute();
  }

  async tagCounts(manifestIds: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (let i = 0; i < manifestIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('tags')
        .select(['manifest_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('manifest_id', 'in', manifestIds.slice(i, i + 500))
        .groupBy('manifest_id')
        .execute();
      for (const r of rows) out.set(Number(r.manifest_id), Number(r.n));
    }
    return out;
  }

  untaggedCandidates(repositoryId: number, q: UntaggedQuery): Promise<UntaggedManifest[]> {
    let s = this.db
      .selectFrom('manifests as m')
      .select(['m.id', 'm.digest', 'm.write_enabled', 'm.delete_enabled'])
      .where('m.repository_id', '=', repositoryId)
      .where(`m.${q.age}`, '<', q.cutoff)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('manifest_refs as r')
              .innerJoin('manifests as p', 'p.id', 'r.manifest_id')
              .select('r.kind')
              .whereRef('r.child_digest', '=', 'm.digest')
              .where('r.kind', '=', 'manifest')
              .whereRef('p.repository_id', '=', 'm.repository_id'),
          ),
        ),
      )
      .where((eb) => eb.or([eb('m.subject_digest', 'is', null), subjectMissing(eb)]));
    if (q.ids) s = s.where('m.id', 'in', q.ids.length ? q.ids : [-1]);
    if (!q.ids || q.stillUntagged)
      s = s
        .where('m.untagged_since', 'is not', null)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('tags').select('tags.name').whereRef('tags.manifest_id', '=', 'm.id'))));
    if (q.untaggedSince !== undefined) s = s.where('m.untagged_since', '>=', q.untaggedSince);
    if (q.beforeId !== undefined) s = s.where('m.id', '<', q.beforeId);
    return s.orderBy('m.id', 'desc').limit(q.limit).execute();
  }

  async indexChildren(repositoryId: number, parentIds: number[]): Promise<IndexChild[]> {
    const out: IndexChild[] = [];
    for (let i = 0; i < parentIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('manifest_refs as r')
        .innerJoin('manifests as c', (j) => j.onRef('c.digest', '=', 'r.child_digest').on('c.repository_id', '=', repositoryId))
        .select(['r.manifest_id as parent_id', 'c.id', 'c.digest', 'c.write_enabled', 'c.delete_enabled'])
        .select((eb) => eb.selectFrom('tags').select(eb.fn.countAll<number>().as('n')).whereRef('tags.manifest_id', '=', 'c.id').as('tags'))
        .where('r.kind', '=', 'manifest')
        .where('r.manifest_id', 'in', parentIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.push({ ...r, parent_id: Number(r.parent_id), id: Number(r.id), tags: Number(r.tags ?? 0) });
    }
    return out;
  }

  async referencingIndexes(repositoryId: number, digests: string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (let i = 0; i < digests.length; i += 500) {
      const rows = await this.db
        .selectFrom('manifest_refs as r')
        .innerJoin('manifests as p', 'p.id', 'r.manifest_id')
        .select(['r.child_digest', 'p.id'])
        .where('p.repository_id', '=', repositoryId)
        .where('r.kind', '=', 'manifest')
        .where('r.child_digest', 'in', digests.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        const list = out.get(r.child_digest);
        if (list) list.push(Number(r.id));
        else out.set(r.child_digest, [Number(r.id)]);
      }
    }
    return out;
  }

  async setJobResult(jobId: number, result: string): Promise<void> {
    await this.db.updateTable('jobs').set({ result }).where('id', '=', jobId).execute();
  }
}
