import type { Kysely, Selectable } from 'kysely';
import type { Database, ImmutabilityPoliciesTable } from './schema.js';
import { isUniqueViolation, now, type Executor } from './store.js';

// Immutability policies (immutability_policies: a repository glob and a tag glob per policy, names
// unique per registry case-insensitively), and the tag names the checks match against them. The
// globs and what they forbid are in services/policy/immutability.ts.

export type ImmutabilityPolicyRow = Selectable<ImmutabilityPoliciesTable>;

export interface ImmutabilityPolicies {
  /** A registry's policies by name (case-insensitive order). */
  list(registryId: number, ex?: Executor): Promise<ImmutabilityPolicyRow[]>;
  /** false when the registry already has a policy of that name (any case). */
  add(p: { registryId: number; name: string; repositoryPattern: string; tagPattern: string }): Promise<boolean>;
  /** false when there was no such policy. */
  remove(registryId: number, name: string): Promise<boolean>;
  /** Names of the tags pointing at a manifest. */
  tagsOfManifest(ex: Executor, manifestId: number): Promise<string[]>;
  /** A keyset page of a repository's tag names, in name order. */
  tagPage(ex: Executor, repositoryId: number, after: string | undefined, limit: number): Promise<string[]>;
}

export class KyselyImmutabilityPolicies implements ImmutabilityPolicies {
  constructor(private readonly db: Kysely<Database>) {}

  list(registryId: number, ex: Executor = this.db): Promise<ImmutabilityPolicyRow[]> {
    return ex.selectFrom('immutability_policies').selectAll().where('registry_id', '=', registryId).orderBy('name_key').execute();
  }

  async add(p: { registryId: number; name: string; repositoryPattern: string; tagPattern: string }): Promise<boolean> {
    try {
      await this.db
        .insertInto('immutability_policies')
        .values({
          registry_id: p.registryId,
          name: p.name,
          name_key: p.name.toLowerCase(),
          repository_pattern: p.repositoryPattern,
          tag_pattern: p.tagPattern,
          created_at: now(),
        })
        .execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async remove(registryId: number, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('immutability_policies')
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async tagsOfManifest(ex: Executor, manifestId: number): Promise<string[]> {
    return (await ex.selectFrom('tags').select('name').where('manifest_id', '=', manifestId).execute()).map((t) => t.name);
  }

  async tagPage(ex: Executor, repositoryId: number, after: string | undefined, limit: number): Promise<string[]> {
    let q = ex.selectFrom('tags').select('name').where('repository_id', '=', repositoryId);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.orderBy('name').limit(limit).execute()).map((t) => t.name);
  }
}
