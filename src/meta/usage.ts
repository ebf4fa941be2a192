import { sql, type ExpressionBuilder } from 'kysely';
import { type Executor, type MetaContext } from './context.js';
import type { Database } from './schema.js';

// Exact, dedup-aware storage accounting. Counters change in the same transaction as the link,
// unlink, manifest or repository change that causes them:
// - registry_content holds, per registry, each distinct blob digest and each distinct manifest
//   digest with the number of repositories holding it. The first link of a digest in a registry
//   adds its size to the registry; the last unlink removes it. A layer shared by two repositories
//   therefore counts once for the registry.
// - registry_usage.bytes = sum of registry_content sizes; repository_usage.bytes = sizes of the
//   blobs linked into the repository plus the sizes of its manifests (no dedup inside one
//   repository is needed: a repository links a digest at most once).
// On PostgreSQL the upserts and updates take row locks, so racing pushes never double-count.
// recompute() rebuilds everything from scratch in SQL (also run by the migration that adds it).

/** What one change did to the counters (after it), for quota checks inside the same transaction. */
export interface UsageChange {
  registryId: number;
  repositoryId: number;
  registryDelta: number;
  repositoryDelta: number;
  registryBytes: number;
  registryQuota: number | null;
  repositoryBytes: number;
  repositoryQuota: number | null;
}

export const noChange = (registryId: number, repositoryId: number): UsageChange => ({
  registryId,
  repositoryId,
  registryDelta: 0,
  repositoryDelta: 0,
  registryBytes: 0,
  registryQuota: null,
  repositoryBytes: 0,
  repositoryQuota: null,
});

export async function registryOf(ex: Executor, repositoryId: number): Promise<number> {
  const row = await ex.selectFrom('repositories').select('registry_id').where('id', '=', repositoryId).executeTakeFirstOrThrow();
  return Number(row.registry_id);
}

/** One more repository holds this digest; returns the bytes the registry grows by (size on the first holder). */
export async function addContent(
  ex: Executor,
  registryId: number,
  kind: 'blob' | 'manifest',
  digest: string,
  size: number,
): Promise<number> {
  const row = await ex
    .insertInto('registry_content')
    .values({ registry_id: registryId, kind, digest, size, refs: 1 })
    .onConflict((oc) => oc.columns(['registry_id', 'kind', 'digest']).doUpdateSet({ refs: (eb) => eb('registry_content.refs', '+', 1) }))
    .returning('refs')
    .executeTakeFirstOrThrow();
  return Number(row.refs) === 1 ? size : 0;
}

/** One repository fewer holds this digest; returns the (negative) bytes the registry shrinks by. */
export async function removeContent(ex: Executor, registryId: number, kind: 'blob' | 'manifest', digest: string): Promise<number> {
  const row = await ex
    .updateTable('registry_content')
    .set((eb) => ({ refs: eb('refs', '-', 1) }))
    .where('registry_id', '=', registryId)
    .where('kind', '=', kind)
    .where('digest', '=', digest)
    .returning(['refs', 'size'])
    .executeTakeFirst();
  if (!row || Number(row.refs) > 0) return 0;
  await ex
    .deleteFrom('registry_content')
    .where('registry_id', '=', registryId)
    .where('kind', '=', kind)
    .where('digest', '=', digest)
    .execute();
  return -Number(row.size);
}

/** Applies deltas to both counters and returns their values after the change, with the quotas. */
export async function bump(
  ex: Executor,
  registryId: number,
  repositoryId: number,
  registryDelta: number,
  repositoryDelta: number,
): Promise<UsageChange> {
  const out = noChange(registryId, repositoryId);
  out.registryDelta = registryDelta;
  out.repositoryDelta = repositoryDelta;
  if (registryDelta !== 0) {
    const r = await ex
      .insertInto('registry_usage')
      .values({ registry_id: registryId, bytes: registryDelta, quota_bytes: null })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet({ bytes: (eb) => eb('registry_usage.bytes', '+', registryDelta) }))
      .returning(['bytes', 'quota_bytes'])
      .executeTakeFirstOrThrow();
    out.registryBytes = Number(r.bytes);
    out.registryQuota = r.quota_bytes === null ? null : Number(r.quota_bytes);
    // Today's storage sample, under the registry_usage row lock just taken, so it is the day's last value.
    const day = new Date().toISOString().slice(0, 10);
    await ex
      .insertInto('registry_usage_daily')
      .values({ registry_id: registryId, day, bytes: out.registryBytes })
      .onConflict((oc) => oc.columns(['registry_id', 'day']).doUpdateSet({ bytes: out.registryBytes }))
      .execute();
  }
  if (repositoryDelta !== 0) {
    const r = await ex
      .insertInto('repository_usage')
      .values({ repository_id: repositoryId, registry_id: registryId, bytes: repositoryDelta, quota_bytes: null })
      .onConflict((oc) => oc.column('repository_id').doUpdateSet({ bytes: (eb) => eb('repository_usage.bytes', '+', repositoryDelta) }))
      .returning(['bytes', 'quota_bytes'])
      .executeTakeFirstOrThrow();
    out.repositoryBytes = Number(r.bytes);
    out.repositoryQuota = r.quota_bytes === null ? null : Number(r.quota_bytes);
  }
  return out;
}

/** Before a repository (and, by cascade, its links and manifests) is deleted: release what it held. */
export async function releaseRepository(ex: Executor, registryId: number, repositoryId: number): Promise<void> {
  await ex
    .updateTable('registry_content')
    .set((eb) => ({ refs: eb('refs', '-', 1) }))
    .where('registry_id', '=', registryId)
    .where('kind', '=', 'blob')
    .where('digest', 'in', (eb) =>
      eb.selectFrom('repository_blobs').select('repository_blobs.digest').where('repository_blobs.repository_id', '=', repositoryId),
    )
    .execute();
  await ex
    .updateTable('registry_content')
    .set((eb) => ({ refs: eb('refs', '-', 1) }))
    .where('registry_id', '=', registryId)
    .where('kind', '=', 'manifest')
    .where('digest', 'in', (eb) =>
      eb.selectFrom('manifests').select('manifests.digest').where('manifests.repository_id', '=', repositoryId),
    )
    .execute();
  const freed = await ex
    .selectFrom('registry_content')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('n'))
    .where('registry_id', '=', registryId)
    .where('refs', '<=', 0)
    .executeTakeFirstOrThrow();
  await ex.deleteFrom('registry_content').where('registry_id', '=', registryId).where('refs', '<=', 0).execute();
  if (Number(freed.n) !== 0) await bump(ex, registryId, repositoryId, -Number(freed.n), 0);
}

export interface UsageNumbers {
  registry: number;
  repositories: Record<string, number>;
  /** "kind digest" -> refs */
  content: Record<string, number>;
}

/** The stored counters of one registry (repositories without a row count 0). */
export async function storedUsage(ex: Executor, registryId: number): Promise<UsageNumbers> {
  const reg = await ex.selectFrom('registry_usage').select('bytes').where('registry_id', '=', registryId).executeTakeFirst();
  const repos = await ex
    .selectFrom('repositories')
    .leftJoin('repository_usage', 'repository_usage.repository_id', 'repositories.id')
    .select(['repositories.name', 'repository_usage.bytes'])
    .where('repositories.registry_id', '=', registryId)
    .execute();
  const content = await ex
    .selectFrom('registry_content')
    .select(['kind', 'digest', 'refs'])
    .where('registry_id', '=', registryId)
    .execute();
  return {
    registry: Number(reg?.bytes ?? 0),
    repositories: Object.fromEntries(repos.map((r) => [r.name, Number(r.bytes ?? 0)])),
    content: Object.fromEntries(content.map((c) => [`${c.kind} ${c.digest}`, Number(c.refs)])),
  };
}

/** registry_content as it should be: each distinct blob linked in a registry, with its holders. */
function blobContent(ex: Executor, registryId: number | undefined) {
  const q = ex
    .selectFrom('repository_blobs as rb')
    .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
    .innerJoin('blobs as b', 'b.digest', 'rb.digest')
    .select((eb) => [
      'r.registry_id as registry_id',
      sql.lit('blob').$castTo<string>().as('kind'),
      'rb.digest as digest',
      'b.size as size',
      eb.fn.countAll<number>().as('refs'),
    ])
    .groupBy(['r.registry_id', 'rb.digest', 'b.size']);
  return registryId === undefined ? q : q.where('r.registry_id', '=', registryId);
}

/** ... and each distinct manifest digest (the same digest has the same bytes in every repository). */
function manifestContent(ex: Executor, registryId: number | undefined) {
  const q = ex
    .selectFrom('manifests as m')
    .innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .select((eb) => [
      'r.registry_id as registry_id',
      sql.lit('manifest').$castTo<string>().as('kind'),
      'm.digest as digest',
      eb.fn.max('m.size').as('size'),
      eb.fn.countAll<number>().as('refs'),
    ])
    .groupBy(['r.registry_id', 'm.digest']);
  return registryId === undefined ? q : q.where('r.registry_id', '=', registryId);
}

/** A repository's bytes from scratch: the blobs it links plus its manifests. */
function repositoryBytes(eb: ExpressionBuilder<Database, 'repositories'>) {
  return eb(
    eb.fn.coalesce(
      eb
        .selectFrom('repository_blobs as rb')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .select((e) => e.fn.sum<number>('b.size').as('n'))
        .whereRef('rb.repository_id', '=', 'repositories.id'),
      eb.lit(0),
    ),
    '+',
    eb.fn.coalesce(
      eb
        .selectFrom('manifests as m')
        .select((e) => e.fn.sum<number>('m.size').as('n'))
        .whereRef('m.repository_id', '=', 'repositories.id'),
      eb.lit(0),
    ),
  );
}

/** The same numbers computed from scratch, without writing anything. */
export async function computedUsage(ex: Executor, registryId: number): Promise<UsageNumbers> {
  const content = await blobContent(ex, registryId).unionAll(manifestContent(ex, registryId)).execute();
  const repos = await ex
    .selectFrom('repositories')
    .select((eb) => ['name', repositoryBytes(eb).as('bytes')])
    .where('registry_id', '=', registryId)
    .execute();
  return {
    registry: content.reduce((s, c) => s + Number(c.size), 0),
    repositories: Object.fromEntries(repos.map((r) => [r.name, Number(r.bytes)])),
    content: Object.fromEntries(content.map((c) => [`${c.kind} ${c.digest}`, Number(c.refs)])),
  };
}

/** Rebuilds every counter from scratch (one registry, or all); quotas are kept. */
export async function recompute(ex: Executor, registryId?: number): Promise<void> {
  const one = registryId !== undefined;
  let clear = ex.deleteFrom('registry_content');
  if (one) clear = clear.where('registry_id', '=', registryId);
  await clear.execute();
  await ex
    .insertInto('registry_content')
    .columns(['registry_id', 'kind', 'digest', 'size', 'refs'])
    .expression(blobContent(ex, registryId))
    .execute();
  await ex
    .insertInto('registry_content')
    .columns(['registry_id', 'kind', 'digest', 'size', 'refs'])
    .expression(manifestContent(ex, registryId))
    .execute();

  let registries = ex
    .selectFrom('registries')
    .select((eb) => ['id', eb.lit(0).as('bytes')])
    .where('id', 'not in', (eb) => eb.selectFrom('registry_usage').select('registry_usage.registry_id'));
  if (one) registries = registries.where('id', '=', registryId);
  await ex.insertInto('registry_usage').columns(['registry_id', 'bytes']).expression(registries).execute();
  let registryBytes = ex.updateTable('registry_usage').set((eb) => ({
    bytes: eb.fn.coalesce(
      eb
        .selectFrom('registry_content as c')
        .select((e) => e.fn.sum<number>('c.size').as('n'))
        .whereRef('c.registry_id', '=', 'registry_usage.registry_id'),
      eb.lit(0),
    ),
  }));
  if (one) registryBytes = registryBytes.where('registry_id', '=', registryId);
  await registryBytes.execute();

  let repositories = ex
    .selectFrom('repositories')
    .select((eb) => ['id', 'registry_id', eb.lit(0).as('bytes')])
    .where('id', 'not in', (eb) => eb.selectFrom('repository_usage').select('repository_usage.repository_id'));
  if (one) repositories = repositories.where('registry_id', '=', registryId);
  await ex.insertInto('repository_usage').columns(['repository_id', 'registry_id', 'bytes']).expression(repositories).execute();
  let repoBytes = ex.updateTable('repository_usage').set((eb) => ({
    bytes: eb
      .selectFrom('repositories')
      .select((e) => repositoryBytes(e).as('n'))
      .whereRef('repositories.id', '=', 'repository_usage.repository_id'),
  }));
  if (one) repoBytes = repoBytes.where('registry_id', '=', registryId);
  await repoBytes.execute();
}

/** What a registry uses that its tier limits, besides storage: counted rows of these tables. */
export type CountedInRegistry = 'tokens' | 'scope_maps' | 'webhooks' | 'replications' | 'private_endpoint_connections';

/** Storage counters, quotas, and the other things a tier limits (show-usage, quota checks, SKU changes). */
export interface UsageStore {
  registryUsage(registryId: number): Promise<{ bytes: number; quota: number | null }>;
  repositoryUsage(repositoryId: number): Promise<{ bytes: number; quota: number | null }>;
  /** null clears the quota. */
  setRegistryQuota(registryId: number, quota: number | null): Promise<void>;
  setRepositoryQuota(registryId: number, repositoryId: number, quota: number | null): Promise<void>;
  /** Whether some repository of the registry links this blob (then linking it again adds no registry bytes). */
  registryHoldsBlob(registryId: number, digest: string): Promise<boolean>;
  countInRegistry(registryId: number, what: CountedInRegistry): Promise<number>;
  /** Storage, quota and listed repositories of many registries in two queries (the registries list). */
  registrySummaries(registryIds: number[]): Promise<Map<number, { bytes: number; quota: number | null; repositories: number }>>;
  /** The daily storage samples from `sinceDay` (YYYY-MM-DD) on, and the last one before it. */
  storageHistory(registryId: number, sinceDay: string): Promise<{ day: string; bytes: number }[]>;
  /** Pushes and pulls per UTC day from `sinceDay` on, from the repository audit (events). */
  dailyOperations(registryId: number, sinceDay: string): Promise<{ day: string; pushes: number; pulls: number }[]>;
  /** Whether the registry's retention policy for untagged manifests (a Premium feature) is on. */
  retentionEnabled(registryId: number): Promise<boolean>;
}

export class KyselyUsageStore implements UsageStore {
  constructor(private readonly ctx: MetaContext) {}

  async registryUsage(registryId: number): Promise<{ bytes: number; quota: number | null }> {
    const r = await this.ctx.db
      .selectFrom('registry_usage')
      .select(['bytes', 'quota_bytes'])
      .where('registry_id', '=', registryId)
      .executeTakeFirst();
    return { bytes: Number(r?.bytes ?? 0), quota: r?.quota_bytes == null ? null : Number(r.quota_bytes) };
  }

  async repositoryUsage(repositoryId: number): Promise<{ bytes: number; quota: number | null }> {
    const r = await this.ctx.db
      .selectFrom('repository_usage')
      .select(['bytes', 'quota_bytes'])
      .where('repository_id', '=', repositoryId)
      .executeTakeFirst();
    return { bytes: Number(r?.bytes ?? 0), quota: r?.quota_bytes == null ? null : Number(r.quota_bytes) };
  }

  async setRegistryQuota(registryId: number, quota: number | null): Promise<void> {
    await this.ctx.db
      .insertInto('registry_usage')
      .values({ registry_id: registryId, bytes: 0, quota_bytes: quota })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet({ quota_bytes: quota }))
      .execute();
  }

  async setRepositoryQuota(registryId: number, repositoryId: number, quota: number | null): Promise<void> {
    await this.ctx.db
      .insertInto('repository_usage')
      .values({ repository_id: repositoryId, registry_id: registryId, bytes: 0, quota_bytes: quota })
      .onConflict((oc) => oc.column('repository_id').doUpdateSet({ quota_bytes: quota }))
      .execute();
  }

  async registryHoldsBlob(registryId: number, digest: string): Promise<boolean> {
    const r = await this.ctx.db
      .selectFrom('registry_content')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('registry_id', '=', registryId)
      .where('kind', '=', 'blob')
      .where('digest', '=', digest)
      .executeTakeFirstOrThrow();
    return Number(r.n) > 0;
  }

  async countInRegistry(registryId: number, what: CountedInRegistry): Promise<number> {
    const r = await this.ctx.db
      .selectFrom(what)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('registry_id', '=', registryId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async registrySummaries(registryIds: number[]): Promise<Map<number, { bytes: number; quota: number | null; repositories: number }>> {
    const out = new Map<number, { bytes: number; quota: number | null; repositories: number }>();
    for (const id of registryIds) out.set(id, { bytes: 0, quota: null, repositories: 0 });
    // In slices: a deployment of thousands of registries stays under the engines' bound-parameter limits.
    for (let i = 0; i < registryIds.length; i += 500) {
      const ids = registryIds.slice(i, i + 500);
      const usage = await this.ctx.db
        .selectFrom('registry_usage')
        .select(['registry_id', 'bytes', 'quota_bytes'])
        .where('registry_id', 'in', ids)
        .execute();
      for (const u of usage) {
        const s = out.get(Number(u.registry_id))!;
        s.bytes = Number(u.bytes);
        s.quota = u.quota_bytes == null ? null : Number(u.quota_bytes);
      }
      const counts = await this.ctx.db
        .selectFrom('repositories')
        .select((eb) => ['registry_id', eb.fn.countAll<number>().as('n')])
        .where('registry_id', 'in', ids)
        .where('list_enabled', '=', 1)
        .where('deleted_at', 'is', null)
        .groupBy('registry_id')
        .execute();
      for (const c of counts) out.get(Number(c.registry_id))!.repositories = Number(c.n);
    }
    return out;
  }

  async storageHistory(registryId: number, sinceDay: string): Promise<{ day: string; bytes: number }[]> {
    const rows = await this.ctx.db
      .selectFrom('registry_usage_daily')
      .select(['day', 'bytes'])
      .where('registry_id', '=', registryId)
      .where('day', '>=', sinceDay)
      .orderBy('day')
      .execute();
    const before = await this.ctx.db
      .selectFrom('registry_usage_daily')
      .select(['day', 'bytes'])
      .where('registry_id', '=', registryId)
      .where('day', '<', sinceDay)
      .orderBy('day', 'desc')
      .limit(1)
      .executeTakeFirst();
    return [...(before ? [before] : []), ...rows].map((r) => ({ day: r.day, bytes: Number(r.bytes) }));
  }

  async dailyOperations(registryId: number, sinceDay: string): Promise<{ day: string; pushes: number; pulls: number }[]> {
    // As the audit names them (operation, else action): a push held in quarantine is a push; its
    // later release (action push, operation quarantine) is not a second one.
    const rows = await this.ctx.db
      .selectFrom('events')
      .select((eb) => [
        eb.fn<string>('substr', ['created_at', eb.lit(1), eb.lit(10)]).as('day'),
        eb.fn.coalesce('operation', 'action').as('op'),
        eb.fn.countAll<number>().as('n'),
      ])
      .where('registry_id', '=', registryId)
      .where('action', 'in', ['push', 'pull', 'quarantine'])
      .where('created_at', '>=', sinceDay)
      .groupBy([(eb) => eb.fn('substr', ['created_at', eb.lit(1), eb.lit(10)]), (eb) => eb.fn.coalesce('operation', 'action')])
      .execute();
    const byDay = new Map<string, { day: string; pushes: number; pulls: number }>();
    for (const r of rows) {
      if (r.op !== 'push' && r.op !== 'pull') continue;
      const d = byDay.get(r.day) ?? { day: r.day, pushes: 0, pulls: 0 };
      if (r.op === 'push') d.pushes += Number(r.n);
      else d.pulls += Number(r.n);
      byDay.set(r.day, d);
    }
    return [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  }

  async retentionEnabled(registryId: number): Promise<boolean> {
    const r = await this.ctx.db.selectFrom('retention_policies').select('status').where('registry_id', '=', registryId).executeTakeFirst();
    return r?.status === 'enabled';
  }
}
