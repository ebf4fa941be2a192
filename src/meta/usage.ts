import { sql, type Kysely } from 'kysely';
import type { Dialect } from './db.js';
import type { Migration } from './migrations.js';

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

export interface RegistryContentTable {
  registry_id: number;
  /** 'blob' or 'manifest' */
  kind: string;
  digest: string;
  size: number;
  refs: number;
}

export interface RegistryUsageTable {
  registry_id: number;
  bytes: number;
  quota_bytes: number | null;
}

export interface RepositoryUsageTable {
  repository_id: number;
  registry_id: number;
  bytes: number;
  quota_bytes: number | null;
}

export interface UsageTables {
  registry_content: RegistryContentTable;
  registry_usage: RegistryUsageTable;
  repository_usage: RepositoryUsageTable;
}

/** Any executor (Kysely or a transaction) of the main database: our tables live beside it. */
type AnyEx = Kysely<any>;
const u = (ex: unknown) => ex as Kysely<UsageTables & { repositories: { id: number; registry_id: number; name: string }; blobs: { digest: string; size: number } }>;

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
  registryId, repositoryId, registryDelta: 0, repositoryDelta: 0, registryBytes: 0, registryQuota: null, repositoryBytes: 0, repositoryQuota: null,
});

export async function registryOf(ex: unknown, repositoryId: number): Promise<number> {
  const row = await u(ex).selectFrom('repositories').select('registry_id').where('id', '=', repositoryId).executeTakeFirstOrThrow();
  return Number(row.registry_id);
}

/** One more repository holds this digest; returns the bytes the registry grows by (size on the first holder). */
export async function addContent(ex: unknown, registryId: number, kind: 'blob' | 'manifest', digest: string, size: number): Promise<number> {
  const row = await u(ex).insertInto('registry_content').values({ registry_id: registryId, kind, digest, size, refs: 1 })
    .onConflict((oc) => oc.columns(['registry_id', 'kind', 'digest']).doUpdateSet({ refs: (eb) => eb('registry_content.refs', '+', 1) }))
    .returning('refs').executeTakeFirstOrThrow();
  return Number(row.refs) === 1 ? size : 0;
}

/** One repository fewer holds this digest; returns the (negative) bytes the registry shrinks by. */
export async function removeContent(ex: unknown, registryId: number, kind: 'blob' | 'manifest', digest: string): Promise<number> {
  const row = await u(ex).updateTable('registry_content').set({ refs: (eb) => eb('refs', '-', 1) })
    .where('registry_id', '=', registryId).where('kind', '=', kind).where('digest', '=', digest)
    .returning(['refs', 'size']).executeTakeFirst();
  if (!row || Number(row.refs) > 0) return 0;
  await u(ex).deleteFrom('registry_content').where('registry_id', '=', registryId).where('kind', '=', kind).where('digest', '=', digest).execute();
  return -Number(row.size);
}

/** Applies deltas to both counters and returns their values after the change, with the quotas. */
export async function bump(ex: unknown, registryId: number, repositoryId: number, registryDelta: number, repositoryDelta: number): Promise<UsageChange> {
  const out = noChange(registryId, repositoryId);
  out.registryDelta = registryDelta;
  out.repositoryDelta = repositoryDelta;
  if (registryDelta !== 0) {
    const r = await u(ex).insertInto('registry_usage').values({ registry_id: registryId, bytes: registryDelta, quota_bytes: null })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet({ bytes: (eb) => eb('registry_usage.bytes', '+', registryDelta) }))
      .returning(['bytes', 'quota_bytes']).executeTakeFirstOrThrow();
    out.registryBytes = Number(r.bytes);
    out.registryQuota = r.quota_bytes === null ? null : Number(r.quota_bytes);
  }
  if (repositoryDelta !== 0) {
    const r = await u(ex).insertInto('repository_usage').values({ repository_id: repositoryId, registry_id: registryId, bytes: repositoryDelta, quota_bytes: null })
      .onConflict((oc) => oc.column('repository_id').doUpdateSet({ bytes: (eb) => eb('repository_usage.bytes', '+', repositoryDelta) }))
      .returning(['bytes', 'quota_bytes']).executeTakeFirstOrThrow();
    out.repositoryBytes = Number(r.bytes);
    out.repositoryQuota = r.quota_bytes === null ? null : Number(r.quota_bytes);
  }
  return out;
}

/** Before a repository (and, by cascade, its links and manifests) is deleted: release what it held. */
export async function releaseRepository(ex: unknown, registryId: number, repositoryId: number): Promise<void> {
  const db = ex as AnyEx;
  await sql`update registry_content set refs = refs - 1 where registry_id = ${registryId} and kind = 'blob'
    and digest in (select digest from repository_blobs where repository_id = ${repositoryId})`.execute(db);
  await sql`update registry_content set refs = refs - 1 where registry_id = ${registryId} and kind = 'manifest'
    and digest in (select digest from manifests where repository_id = ${repositoryId})`.execute(db);
  const freed = await u(ex).selectFrom('registry_content').select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('n'))
    .where('registry_id', '=', registryId).where('refs', '<=', 0).executeTakeFirstOrThrow();
  await u(ex).deleteFrom('registry_content').where('registry_id', '=', registryId).where('refs', '<=', 0).execute();
  if (Number(freed.n) !== 0) await bump(ex, registryId, repositoryId, -Number(freed.n), 0);
}

export interface UsageNumbers {
  registry: number;
  repositories: Record<string, number>;
  /** "kind digest" -> refs */
  content: Record<string, number>;
}

/** The stored counters of one registry (repositories without a row count 0). */
export async function storedUsage(ex: unknown, registryId: number): Promise<UsageNumbers> {
  const reg = await u(ex).selectFrom('registry_usage').select('bytes').where('registry_id', '=', registryId).executeTakeFirst();
  const repos = await u(ex).selectFrom('repositories').leftJoin('repository_usage', 'repository_usage.repository_id', 'repositories.id')
    .select(['repositories.name', 'repository_usage.bytes']).where('repositories.registry_id', '=', registryId).execute();
  const content = await u(ex).selectFrom('registry_content').select(['kind', 'digest', 'refs']).where('registry_id', '=', registryId).execute();
  return {
    registry: Number(reg?.bytes ?? 0),
    repositories: Object.fromEntries(repos.map((r) => [r.name, Number(r.bytes ?? 0)])),
    content: Object.fromEntries(content.map((c) => [`${c.kind} ${c.digest}`, Number(c.refs)])),
  };
}

const BLOB_CONTENT = sql`select r.registry_id as registry_id, 'blob' as kind, rb.digest as digest, b.size as size, count(*) as refs
  from repository_blobs rb join repositories r on r.id = rb.repository_id join blobs b on b.digest = rb.digest`;
const BLOB_GROUP = sql`group by r.registry_id, rb.digest, b.size`;
const MANIFEST_CONTENT = sql`select r.registry_id as registry_id, 'manifest' as kind, m.digest as digest, max(m.size) as size, count(*) as refs
  from manifests m join repositories r on r.id = m.repository_id`;
const MANIFEST_GROUP = sql`group by r.registry_id, m.digest`;
const REPO_BYTES = sql`coalesce((select sum(b.size) from repository_blobs rb join blobs b on b.digest = rb.digest where rb.repository_id = repositories.id), 0)
  + coalesce((select sum(m.size) from manifests m where m.repository_id = repositories.id), 0)`;

/** The same numbers computed from scratch with SQL, without writing anything. */
export async function computedUsage(ex: unknown, registryId: number): Promise<UsageNumbers> {
  const db = ex as AnyEx;
  const where = sql`where r.registry_id = ${registryId}`;
  const content = (await sql<{ kind: string; digest: string; size: number; refs: number }>`${BLOB_CONTENT} ${where} ${BLOB_GROUP}
    union all ${MANIFEST_CONTENT} ${where} ${MANIFEST_GROUP}`.execute(db)).rows;
  const repos = (await sql<{ name: string; bytes: number }>`select name, ${REPO_BYTES} as bytes from repositories where registry_id = ${registryId}`.execute(db)).rows;
  return {
    registry: content.reduce((s, c) => s + Number(c.size), 0),
    repositories: Object.fromEntries(repos.map((r) => [r.name, Number(r.bytes)])),
    content: Object.fromEntries(content.map((c) => [`${c.kind} ${c.digest}`, Number(c.refs)])),
  };
}

/** Rebuilds every counter from scratch (one registry, or all); quotas are kept. */
export async function recompute(ex: unknown, registryId?: number): Promise<void> {
  const db = ex as AnyEx;
  const onlyR = registryId === undefined ? sql`` : sql`where r.registry_id = ${registryId}`;
  const onlyId = registryId === undefined ? sql`` : sql`where registry_id = ${registryId}`;
  await sql`delete from registry_content ${onlyId}`.execute(db);
  await sql`insert into registry_content (registry_id, kind, digest, size, refs) ${BLOB_CONTENT} ${onlyR} ${BLOB_GROUP}`.execute(db);
  await sql`insert into registry_content (registry_id, kind, digest, size, refs) ${MANIFEST_CONTENT} ${onlyR} ${MANIFEST_GROUP}`.execute(db);
  const regFilter = registryId === undefined ? sql`` : sql`and id = ${registryId}`;
  await sql`insert into registry_usage (registry_id, bytes) select id, 0 from registries
    where id not in (select registry_id from registry_usage) ${regFilter}`.execute(db);
  await sql`update registry_usage set bytes = coalesce((select sum(c.size) from registry_content c where c.registry_id = registry_usage.registry_id), 0) ${onlyId}`.execute(db);
  await sql`insert into repository_usage (repository_id, registry_id, bytes) select id, registry_id, 0 from repositories
    where id not in (select repository_id from repository_usage) ${registryId === undefined ? sql`` : sql`and registry_id = ${registryId}`}`.execute(db);
  await sql`update repository_usage set bytes = (select ${REPO_BYTES} from repositories where repositories.id = repository_usage.repository_id) ${onlyId}`.execute(db);
}

export async function setRegistryQuota(ex: unknown, registryId: number, quota: number | null): Promise<void> {
  await u(ex).insertInto('registry_usage').values({ registry_id: registryId, bytes: 0, quota_bytes: quota })
    .onConflict((oc) => oc.column('registry_id').doUpdateSet({ quota_bytes: quota })).execute();
}

export async function setRepositoryQuota(ex: unknown, registryId: number, repositoryId: number, quota: number | null): Promise<void> {
  await u(ex).insertInto('repository_usage').values({ repository_id: repositoryId, registry_id: registryId, bytes: 0, quota_bytes: quota })
    .onConflict((oc) => oc.column('repository_id').doUpdateSet({ quota_bytes: quota })).execute();
}

export async function registryUsage(ex: unknown, registryId: number): Promise<{ bytes: number; quota: number | null }> {
  const r = await u(ex).selectFrom('registry_usage').select(['bytes', 'quota_bytes']).where('registry_id', '=', registryId).executeTakeFirst();
  return { bytes: Number(r?.bytes ?? 0), quota: r?.quota_bytes == null ? null : Number(r.quota_bytes) };
}

export async function repositoryUsage(ex: unknown, repositoryId: number): Promise<{ bytes: number; quota: number | null }> {
  const r = await u(ex).selectFrom('repository_usage').select(['bytes', 'quota_bytes']).where('repository_id', '=', repositoryId).executeTakeFirst();
  return { bytes: Number(r?.bytes ?? 0), quota: r?.quota_bytes == null ? null : Number(r.quota_bytes) };
}

export const usageMigration: Migration = {
  version: 4,
  name: 'storage accounting and quotas',
  async up(db: Kysely<any>, d: Dialect) {
    const big = 'bigint';
    const text = d === 'postgres' ? sql`text collate "C"` : sql`text`;
    await db.schema.createTable('registry_content')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('digest', text, (c) => c.notNull())
      .addColumn('size', big, (c) => c.notNull())
      .addColumn('refs', big, (c) => c.notNull())
      .addPrimaryKeyConstraint('registry_content_pk', ['registry_id', 'kind', 'digest'])
      .execute();
    await db.schema.createTable('registry_usage')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
      .addColumn('quota_bytes', big)
      .execute();
    await db.schema.createTable('repository_usage')
      .addColumn('repository_id', big, (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
      .addColumn('registry_id', big, (c) => c.notNull())
      .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
      .addColumn('quota_bytes', big)
      .execute();
    await db.schema.createIndex('repository_usage_registry').on('repository_usage').column('registry_id').execute();
    await recompute(db);
  },
};
