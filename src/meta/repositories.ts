import type { AttrColumns, Keyset } from './attributes.js';
import { ATTR_COLUMNS, prefixEnd } from './attributes.js';
import { now, type Executor, type MetaContext } from './context.js';
import { registryOf, releaseRepository } from './usage.js';
import { prepared } from './prepared.js';

export interface RepositoryRecord {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
}

/** A live repository with its changeable attributes (ACR's changeableAttributes, 1 = enabled). */
export type RepositoryWithAttributes = RepositoryRecord & AttrColumns;

/**
 * Repositories of a registry. A soft-deleted repository (deleted_at set) is hidden from every
 * read here: it answers as if it did not exist.
 */
export interface RepositoryStore {
  /** A live repository's id (a soft-deleted repository is not found: it answers NAME_UNKNOWN). */
  findRepositoryId(registryId: number, name: string, ex?: Executor): Promise<number | undefined>;
  /** Returns the repository's id, creating it (or reviving a soft-deleted one); safe when two writers race. */
  ensureRepository(ex: Executor, registryId: number, name: string): Promise<number>;
  touchRepository(ex: Executor, id: number): Promise<void>;
  getRepository(registryId: number, name: string): Promise<RepositoryRecord | undefined>;
  repositoryRow(registryId: number, name: string, ex?: Executor): Promise<RepositoryWithAttributes | undefined>;
  /** Keyset page of repository names in one registry, byte order. */
  listRepositories(registryId: number, after: string | undefined, limit: number, prefix?: string): Promise<string[]>;
  /**
   * Keyset page of repository names in one registry by last update time (oldest or newest first),
   * ties broken by name; `after` is the (time, name) of the previous page's last entry.
   */
  listRepositoriesByTime(
    registryId: number,
    o: { order: 'timeasc' | 'timedesc'; after?: Required<Keyset>; limit: number; prefix?: string },
  ): Promise<{ name: string; updated_at: string }[]>;
  /** Keyset page over every registry: (registry key, repository name), which is the order of "key/name". */
  listAllRepositories(
    after: { key: string; name: string } | undefined,
    limit: number,
    registryIds?: number[],
  ): Promise<{ registry: string; name: string }[]>;
  repositoryStats(repositoryId: number, ex?: Executor): Promise<{ manifests: number; tags: number }>;
  /** Deletes the row (its tags, manifests and links go by cascade) and releases its storage; returns what it held. */
  deleteRepository(ex: Executor, id: number): Promise<{ manifests: number; tags: number }>;
  /** Hides a repository whose content went to the recycle bin; its row and blob links stay. */
  markRepositoryDeleted(ex: Executor, id: number, at: string): Promise<void>;
}

export class KyselyRepositoryStore implements RepositoryStore {
  constructor(private readonly ctx: MetaContext) {}

  private readonly repositoryId = prepared((ex, registryId: number, name: string) =>
    ex
      .selectFrom('repositories')
      .select('id')
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('deleted_at', 'is', null),
  );

  async findRepositoryId(registryId: number, name: string, ex: Executor = this.ctx.db): Promise<number | undefined> {
    return (await this.repositoryId(ex, registryId, name))[0]?.id;
  }

  /**
   * Returns the repository's id, creating it; safe when two writers race (unique constraint).
   * A push into a soft-deleted repository revives it (ACR); its recycle bin stays as it was.
   */
  async ensureRepository(ex: Executor, registryId: number, name: string): Promise<number> {
    const ts = now();
    await ex
      .insertInto('repositories')
      .values({ registry_id: registryId, name, created_at: ts, updated_at: ts })
      .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing())
      .execute();
    await ex
      .updateTable('repositories')
      .set({ deleted_at: null, updated_at: ts })
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('deleted_at', 'is not', null)
      .execute();
    const id = await this.findRepositoryId(registryId, name, ex);
    if (id === undefined) throw new Error(`repository ${name} vanished while being created`);
    return id;
  }

  async touchRepository(ex: Executor, id: number): Promise<void> {
    await ex.updateTable('repositories').set({ updated_at: now() }).where('id', '=', id).execute();
  }

  async listRepositories(registryId: number, after: string | undefined, limit: number, prefix?: string): Promise<string[]> {
    let q = this.ctx.db
      .selectFrom('repositories')
      .select('name')
      .where('registry_id', '=', registryId)
      .where('list_enabled', '=', 1)
      .where('deleted_at', 'is', null);
    if (prefix) q = q.where('name', '>=', prefix).where('name', '<', prefixEnd(prefix));
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.orderBy('name').limit(limit).execute()).map((r) => r.name);
  }

  listRepositoriesByTime(
    registryId: number,
    o: { order: 'timeasc' | 'timedesc'; after?: Required<Keyset>; limit: number; prefix?: string },
  ): Promise<{ name: string; updated_at: string }[]> {
    let q = this.ctx.db
      .selectFrom('repositories')
      .select(['name', 'updated_at'])
      .where('registry_id', '=', registryId)
      .where('list_enabled', '=', 1)
      .where('deleted_at', 'is', null);
    if (o.prefix) q = q.where('name', '>=', o.prefix).where('name', '<', prefixEnd(o.prefix));
    const cmp = o.order === 'timedesc' ? '<' : '>';
    const a = o.after;
    if (a) q = q.where((eb) => eb.or([eb('updated_at', cmp, a.time), eb.and([eb('updated_at', '=', a.time), eb('name', cmp, a.name)])]));
    const dir = o.order === 'timedesc' ? 'desc' : 'asc';
    return q.orderBy('updated_at', dir).orderBy('name', dir).limit(o.limit).execute();
  }

  async listAllRepositories(
    after: { key: string; name: string } | undefined,
    limit: number,
    registryIds?: number[],
  ): Promise<{ registry: string; name: string }[]> {
    if (registryIds && registryIds.length === 0) return [];
    return allRepositoriesQuery(this.ctx.db, after, limit, registryIds).execute();
  }

  async repositoryStats(repositoryId: number, ex: Executor = this.ctx.db): Promise<{ manifests: number; tags: number }> {
    const [m, t] = await Promise.all([
      ex
        .selectFrom('manifests')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('repository_id', '=', repositoryId)
        .executeTakeFirstOrThrow(),
      ex
        .selectFrom('tags')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('repository_id', '=', repositoryId)
        .executeTakeFirstOrThrow(),
    ]);
    return { manifests: Number(m.n), tags: Number(t.n) };
  }

  getRepository(registryId: number, name: string): Promise<RepositoryRecord | undefined> {
    return this.ctx.db
      .selectFrom('repositories')
      .select(['id', 'name', 'created_at', 'updated_at'])
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  repositoryRow(registryId: number, name: string, ex: Executor = this.ctx.db): Promise<RepositoryWithAttributes | undefined> {
    return ex
      .selectFrom('repositories')
      .select(['id', 'name', 'created_at', 'updated_at', ...ATTR_COLUMNS])
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  async deleteRepository(ex: Executor, id: number): Promise<{ manifests: number; tags: number }> {
    const stats = await this.repositoryStats(id, ex);
    await releaseRepository(ex, await registryOf(ex, id), id);
    await ex.deleteFrom('repositories').where('id', '=', id).execute();
    return stats;
  }

  async markRepositoryDeleted(ex: Executor, id: number, at: string): Promise<void> {
    await ex.updateTable('repositories').set({ deleted_at: at }).where('id', '=', id).execute();
  }
}

/**
 * The root catalog's page query: repositories of every registry (or of registryIds) in
 * (registry name_key, repository name) order, after a keyset. Besides the exact keyset (an OR the
 * planners cannot use as an index bound), `name_key >= key` lets the registries index start at
 * the page's registry: without it every page scanned the index from the first registry, so a walk
 * over a catalog of thousands of registries cost O(pages x registries).
 */
export function allRepositoriesQuery(
  db: Executor,
  after: { key: string; name: string } | undefined,
  limit: number,
  registryIds?: number[],
) {
  let q = db
    .selectFrom('repositories')
    .innerJoin('registries', 'registries.id', 'repositories.registry_id')
    .select(['registries.name_key as registry', 'repositories.name as name'])
    .where('repositories.list_enabled', '=', 1)
    .where('repositories.deleted_at', 'is', null);
  if (registryIds) q = q.where('registries.id', 'in', registryIds);
  if (after) {
    q = q
      .where('registries.name_key', '>=', after.key)
      .where((eb) =>
        eb.or([
          eb('registries.name_key', '>', after.key),
          eb.and([eb('registries.name_key', '=', after.key), eb('repositories.name', '>', after.name)]),
        ]),
      );
  }
  return q.orderBy('registries.name_key').orderBy('repositories.name').limit(limit);
}
