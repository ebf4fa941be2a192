import { sql, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from './db.js';
import { subjectMissing } from './referrers.js';
import type { Database, GcRunsTable } from './schema.js';
import type { Executor } from './store.js';

// What the garbage collector reads and writes: its runs (gc_runs), the marks it leaves on links
// (repository_blobs.unreferenced_since) and blobs (blobs.orphaned_since), and the row locks that
// keep a sweep from racing a push. The algorithm, and why it is safe beside pushes on any node,
// is in services/lifecycle/gc.ts; the locking rules it relies on are restated at each method here.

export type GcRunRow = Selectable<GcRunsTable>;

/** Counter and state columns of a run a heartbeat or the end of a run writes. */
export type GcRunPatch = Partial<
  Pick<
    GcRunRow,
    | 'status'
    | 'finished_at'
    | 'error'
    | 'lease_until'
    | 'links_marked'
    | 'links_removed'
    | 'blobs_marked'
    | 'blobs_removed'
    | 'bytes_reclaimed'
    | 'referrers_removed'
    | 'files_removed'
  >
>;

export interface GcLink {
  repository_id: number;
  digest: string;
  unreferenced_since: string | null;
  /** Whether a manifest of the repository, live or in the recycle bin, references the blob. */
  referenced: boolean;
}

export interface GcBlob {
  digest: string;
  size: number;
  orphaned_since: string | null;
  /** Whether any repository links the blob. */
  linked: boolean;
}

export interface DanglingReferrer {
  id: number;
  digest: string;
  repository: string;
  registry_id: number;
}

/** Garbage awaiting collection, marked by a run or not yet (for `gc status`). */
export interface GcBacklog {
  /** Referrers whose subject is gone from their repository; the latest push among them. */
  referrers: { count: number; newestCreatedAt: string | null };
  /** Links no manifest of their repository references (nor a soft-deleted one). */
  links: { count: number; marked: number; latestMark: string | null };
  /**
   * Blobs none of whose links is referenced (so they go once those links go), or that no
   * repository links; `linked` of them still wait for their links to go.
   */
  blobs: { count: number; bytes: number; linked: number; marked: number; latestMark: string | null };
  /** Soft-deleted manifests, which keep their blobs until their purge time. */
  recycleBin: { count: number; latestPurgeAfter: string | null };
  /** When the scheduled collection (maintenance task 'gc') is next due, if it ever ran. */
  nextRunAt: string | null;
}

export interface GcStore {
  // ---- runs
  /** Marks failed the runs whose lease ran out before `now` (their node stopped). */
  expireDeadRuns(ex: Executor, now: string): Promise<void>;
  /** Serializes starting runs across nodes until `trx` ends (a no-op where there is one writer). */
  lockRunStarts(trx: Executor): Promise<void>;
  /** The real (not dry) run in progress, if any. */
  aliveRun(ex: Executor): Promise<{ id: number; node: string } | undefined>;
  insertRun(ex: Executor, run: { node: string; dryRun: boolean; startedAt: string; leaseUntil: string }): Promise<number>;
  updateRun(id: number, patch: GcRunPatch): Promise<void>;
  run(id: number): Promise<GcRunRow | undefined>;
  /** The most recent runs, newest first. */
  recentRuns(limit: number): Promise<GcRunRow[]>;
  /**
   * Everything awaiting collection, marked or not: one pass over links and blobs (as a dry run's),
   * so it costs about what a collection's marking costs.
   */
  backlog(): Promise<GcBacklog>;

  // ---- layer 1: referrers whose subject is gone
  /** Referrers pushed before `cutoff` whose subject is not in their repository, by id after `afterId`. */
  danglingReferrers(cutoff: string, afterId: number, limit: number): Promise<DanglingReferrer[]>;

  // ---- layer 2: links
  /** A keyset page of links in (repository, digest) order, each with whether it is referenced. */
  linkPage(after: { repositoryId: number; digest: string } | undefined, limit: number): Promise<GcLink[]>;
  unmarkLinks(ex: Executor, links: { repository_id: number; digest: string }[]): Promise<void>;
  /** Marks the links not marked yet as unreferenced since `at`. */
  markLinks(ex: Executor, links: { repository_id: number; digest: string }[], at: string): Promise<void>;
  /** Locks a link marked at or before `cutoff`; false when it is gone or no longer marked so. */
  lockMarkedLink(trx: Executor, repositoryId: number, digest: string, cutoff: string): Promise<boolean>;
  /** Whether the link is referenced, read in a fresh statement (after lockMarkedLink). */
  linkReferenced(trx: Executor, repositoryId: number, digest: string): Promise<boolean>;

  // ---- layer 3: blobs
  /** A keyset page of blobs in digest order, each with whether any repository links it. */
  blobPage(after: string, limit: number): Promise<GcBlob[]>;
  unmarkBlobs(ex: Executor, digests: string[]): Promise<void>;
  /** Marks the blobs not marked yet as orphaned since `at`. */
  markBlobs(ex: Executor, digests: string[], at: string): Promise<void>;
  /** Locks a blob row marked orphaned at or before `cutoff` and returns its size; undefined when it is gone or no longer marked so. */
  lockOrphanedBlob(trx: Executor, digest: string, cutoff: string): Promise<number | undefined>;
  blobLinked(trx: Executor, digest: string): Promise<boolean>;
  deleteBlob(trx: Executor, digest: string): Promise<void>;

  // ---- layer 4: bytes without a row
  /** Which of these digests have a blob row. */
  knownBlobs(digests: string[]): Promise<Set<string>>;
  /** Inserts a placeholder row for a digest that has none; false when a row exists (an upload got there first). */
  claimBlob(trx: Executor, digest: string, size: number, at: string): Promise<boolean>;

  // ---- layer 5: encryption domains (registries with a customer-managed key keep their own copies)
  /** Which of these digests a repository of the registry links. */
  linkedInRegistry(registryId: number, digests: string[]): Promise<Set<string>>;
  /** Locks a digest's blob row (an upload or mount of it waits); false when there is none. */
  lockBlob(trx: Executor, digest: string): Promise<boolean>;
  /** Whether a repository of the registry links the digest, read in a fresh statement (after lockBlob). */
  blobLinkedInRegistry(trx: Executor, registryId: number, digest: string): Promise<boolean>;
  /** A registry's own copy of a blob is gone from a region's store (geo-replication's record of it). */
  unplaceDomainCopy(trx: Executor, registryId: number, digest: string, region: string): Promise<void>;
}

export class KyselyGcStore implements GcStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  // ---------------------------------------------------------------- runs

  async expireDeadRuns(ex: Executor, now: string): Promise<void> {
    await ex
      .updateTable('gc_runs')
      .set({ status: 'failed', error: 'the node running it stopped', finished_at: now })
      .where('status', '=', 'running')
      .where('lease_until', '<', now)
      .execute();
  }

  async lockRunStarts(trx: Executor): Promise<void> {
    // Two nodes starting at once: serialize the check-and-insert on a transaction-scoped lock.
    // SQLite has one writer, which serializes them already.
    if (this.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${0x6263}, ${0x6763})`.execute(trx);
  }

  async aliveRun(ex: Executor): Promise<{ id: number; node: string } | undefined> {
    const row = await ex
      .selectFrom('gc_runs')
      .select(['id', 'node'])
      .where('status', '=', 'running')
      .where('dry_run', '=', 0)
      .executeTakeFirst();
    return row ? { id: Number(row.id), node: row.node } : undefined;
  }

  async insertRun(ex: Executor, run: { node: string; dryRun: boolean; startedAt: string; leaseUntil: string }): Promise<number> {
    const row = await ex
      .insertInto('gc_runs')
      .values({ node: run.node, dry_run: run.dryRun ? 1 : 0, status: 'running', started_at: run.startedAt, lease_until: run.leaseUntil })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async updateRun(id: number, patch: GcRunPatch): Promise<void> {
    await this.db.updateTable('gc_runs').set(patch).where('id', '=', id).execute();
  }

  run(id: number): Promise<GcRunRow | undefined> {
    return this.db.selectFrom('gc_runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  recentRuns(limit: number): Promise<GcRunRow[]> {
    return this.db.selectFrom('gc_runs').selectAll().orderBy('id', 'desc').limit(limit).execute();
  }

  async backlog(): Promise<GcBacklog> {
    const referrers = await this.db
      .selectFrom('manifests as m')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('m.created_at').as('newest')])
      .where('m.subject_digest', 'is not', null)
      .where((eb) => subjectMissing(eb))
      .executeTakeFirstOrThrow();
    const links = await this.db
      .selectFrom('repository_blobs as rb')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.count<number>('rb.unreferenced_since').as('marked'),
        eb.fn.max('rb.unreferenced_since').as('latest'),
      ])
      .where(sql<boolean>`not ${this.referenced(sql.ref('rb.repository_id'), sql.ref('rb.digest'))}`)
      .executeTakeFirstOrThrow();
    const linkedAt = sql<number>`(case when exists (select 1 from repository_blobs l where l.digest = b.digest) then 1 else 0 end)`;
    const blobs = await this.db
      .selectFrom('blobs as b')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.sum<number>('b.size').as('bytes'),
        eb.fn.sum<number>(linkedAt).as('linked'),
        eb.fn.count<number>('b.orphaned_since').as('marked'),
        eb.fn.max('b.orphaned_since').as('latest'),
      ])
      .where(
        sql<boolean>`not exists (select 1 from repository_blobs rb where rb.digest = b.digest and ${this.referenced(sql.ref('rb.repository_id'), sql.ref('rb.digest'))})`,
      )
      .executeTakeFirstOrThrow();
    const bin = await this.db
      .selectFrom('deleted_manifests')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('purge_after').as('latest')])
      .executeTakeFirstOrThrow();
    const task = await this.db.selectFrom('maintenance_tasks').select('next_run_at').where('name', '=', 'gc').executeTakeFirst();
    return {
      referrers: { count: Number(referrers.n), newestCreatedAt: referrers.newest ?? null },
      links: { count: Number(links.n), marked: Number(links.marked), latestMark: links.latest ?? null },
      blobs: {
        count: Number(blobs.n),
        bytes: Number(blobs.bytes ?? 0),
        linked: Number(blobs.linked ?? 0),
        marked: Number(blobs.marked),
        latestMark: blobs.latest ?? null,
      },
      recycleBin: { count: Number(bin.n), latestPurgeAfter: bin.latest ?? null },
      nextRunAt: task?.next_run_at ?? null,
    };
  }

  // ---------------------------------------------------------------- referrers

  async danglingReferrers(cutoff: string, afterId: number, limit: number): Promise<DanglingReferrer[]> {
    const rows = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .select(['m.id', 'm.digest', 'r.name as repository', 'g.id as registry_id'])
      .where('m.subject_digest', 'is not', null)
      .where('m.created_at', '<', cutoff)
      .where('m.id', '>', afterId)
      .where((eb) => subjectMissing(eb))
      .orderBy('m.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: Number(r.id), digest: r.digest, repository: r.repository, registry_id: Number(r.registry_id) }));
  }

  // ---------------------------------------------------------------- links

  /**
   * Is (repository, digest) referenced by a manifest of that repository, or by a soft-deleted one
   * (the recycle bin keeps its blobs until the entry expires)?
   */
  private referenced(repositoryId: unknown, digest: unknown) {
    return sql<number>`(exists (select 1 from manifest_refs mr inner join manifests m on m.id = mr.manifest_id
      where mr.child_digest = ${digest} and mr.kind = 'blob' and m.repository_id = ${repositoryId})
      or exists (select 1 from deleted_manifest_refs dr inner join deleted_manifests dm on dm.id = dr.deleted_manifest_id
      where dr.child_digest = ${digest} and dr.kind = 'blob' and dm.repository_id = ${repositoryId}))`;
  }

  async linkPage(after: { repositoryId: number; digest: string } | undefined, limit: number): Promise<GcLink[]> {
    let q = this.db
      .selectFrom('repository_blobs as rb')
      .select(['rb.repository_id', 'rb.digest', 'rb.unreferenced_since'])
      .select(this.referenced(sql.ref('rb.repository_id'), sql.ref('rb.digest')).as('referenced'));
    if (after) {
      const a = after;
      q = q.where((eb) =>
        eb.or([
          eb('rb.repository_id', '>', a.repositoryId),
          eb.and([eb('rb.repository_id', '=', a.repositoryId), eb('rb.digest', '>', a.digest)]),
        ]),
      );
    }
    const rows = await q.orderBy('rb.repository_id').orderBy('rb.digest').limit(limit).execute();
    return rows.map((r) => ({
      repository_id: Number(r.repository_id),
      digest: r.digest,
      unreferenced_since: r.unreferenced_since,
      referenced: truthy(r.referenced),
    }));
  }

  async unmarkLinks(ex: Executor, links: { repository_id: number; digest: string }[]): Promise<void> {
    for (const r of links) {
      await ex
        .updateTable('repository_blobs')
        .set({ unreferenced_since: null })
        .where('repository_id', '=', r.repository_id)
        .where('digest', '=', r.digest)
        .execute();
    }
  }

  async markLinks(ex: Executor, links: { repository_id: number; digest: string }[], at: string): Promise<void> {
    for (const r of links) {
      await ex
        .updateTable('repository_blobs')
        .set({ unreferenced_since: at })
        .where('repository_id', '=', r.repository_id)
        .where('digest', '=', r.digest)
        .where('unreferenced_since', 'is', null)
        .execute();
    }
  }

  async lockMarkedLink(trx: Executor, repositoryId: number, digest: string, cutoff: string): Promise<boolean> {
    let q = trx
      .selectFrom('repository_blobs')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .where('unreferenced_since', 'is not', null)
      .where('unreferenced_since', '<=', cutoff);
    // FOR UPDATE: a manifest PUT holds the links it references FOR SHARE until it commits
    // (MetaStore.missingBlobs), so this waits for it, and the caller's next look sees its reference.
    if (this.dialect === 'postgres') q = q.forUpdate();
    return !!(await q.executeTakeFirst());
  }

  async linkReferenced(trx: Executor, repositoryId: number, digest: string): Promise<boolean> {
    const row = await trx.selectNoFrom(this.referenced(repositoryId, digest).as('referenced')).executeTakeFirstOrThrow();
    return truthy(row.referenced);
  }

  // ---------------------------------------------------------------- blobs

  async blobPage(after: string, limit: number): Promise<GcBlob[]> {
    const rows = await this.db
      .selectFrom('blobs as b')
      .select(['b.digest', 'b.size', 'b.orphaned_since'])
      .select((eb) =>
        eb.exists(eb.selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest')).as('linked'),
      )
      .where('b.digest', '>', after)
      .orderBy('b.digest')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size), orphaned_since: r.orphaned_since, linked: truthy(r.linked) }));
  }

  async unmarkBlobs(ex: Executor, digests: string[]): Promise<void> {
    if (digests.length) await ex.updateTable('blobs').set({ orphaned_since: null }).where('digest', 'in', digests).execute();
  }

  async markBlobs(ex: Executor, digests: string[], at: string): Promise<void> {
    if (digests.length)
      await ex
        .updateTable('blobs')
        .set({ orphaned_since: at })
        .where('digest', 'in', digests)
        .where('orphaned_since', 'is', null)
        .execute();
  }

  async lockOrphanedBlob(trx: Executor, digest: string, cutoff: string): Promise<number | undefined> {
    let q = trx
      .selectFrom('blobs')
      .select('size')
      .where('digest', '=', digest)
      .where('orphaned_since', 'is not', null)
      .where('orphaned_since', '<=', cutoff);
    // FOR UPDATE: an upload's commit upserts this row (MetaStore.linkBlob) and a mount locks it FOR
    // SHARE (linkStoredBlob) before linking, so neither can link the blob while it is being deleted.
    if (this.dialect === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return row ? Number(row.size) : undefined;
  }

  async blobLinked(trx: Executor, digest: string): Promise<boolean> {
    return !!(await trx.selectFrom('repository_blobs').select('digest').where('digest', '=', digest).executeTakeFirst());
  }

  async deleteBlob(trx: Executor, digest: string): Promise<void> {
    // Its placements first (they reference the row); the caller has deleted the bytes in every region.
    await trx.deleteFrom('blob_placements').where('digest', '=', digest).execute();
    await trx.deleteFrom('domain_placements').where('digest', '=', digest).execute();
    await trx.deleteFrom('blobs').where('digest', '=', digest).execute();
  }

  // ---------------------------------------------------------------- bytes without a row

  async knownBlobs(digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    return new Set((await this.db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute()).map((r) => r.digest));
  }

  async claimBlob(trx: Executor, digest: string, size: number, at: string): Promise<boolean> {
    // The insert takes the row's key: an upload committing the same content waits on it (PostgreSQL) or on the writer (SQLite).
    const claimed = await trx
      .insertInto('blobs')
      .values({ digest, size, created_at: at, orphaned_since: at })
      .onConflict((oc) => oc.column('digest').doNothing())
      .returning('digest')
      .executeTakeFirst();
    return !!claimed;
  }

  async linkedInRegistry(registryId: number, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select('rb.digest')
      .distinct()
      .where('r.registry_id', '=', registryId)
      .where('rb.digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  async lockBlob(trx: Executor, digest: string): Promise<boolean> {
    let q = trx.selectFrom('blobs').select('digest').where('digest', '=', digest);
    if (this.dialect === 'postgres') q = q.forUpdate();
    return (await q.executeTakeFirst()) !== undefined;
  }

  async unplaceDomainCopy(trx: Executor, registryId: number, digest: string, region: string): Promise<void> {
    await trx
      .deleteFrom('domain_placements')
      .where('registry_id', '=', registryId)
      .where('digest', '=', digest)
      .where('region', '=', region)
      .execute();
  }

  async blobLinkedInRegistry(trx: Executor, registryId: number, digest: string): Promise<boolean> {
    const row = await trx
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select('rb.digest')
      .where('r.registry_id', '=', registryId)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }
}

/** Booleans from SQL: PostgreSQL answers true/false, SQLite 1/0. */
function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}
