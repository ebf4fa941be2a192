import { sql, type Kysely, type Selectable } from 'kysely';
import { now, type Executor } from './context.js';
import type { Database, ReplicationPendingTable, ReplicationsTable } from './schema.js';

// Geo-replication (migration 22): a registry's replicas, where each blob's bytes are placed, and
// the backlog of manifests not yet complete in a replica region. How bytes are copied is in
// services/replication; this is only what is stored.

export type ReplicaRow = Selectable<ReplicationsTable>;

/** One manifest waiting to be complete in one region. */
export type PendingRow = Selectable<ReplicationPendingTable>;

export type PendingKey = Omit<PendingRow, 'enqueued_at' | 'tag'>;

/** What is still to copy into one region for one registry. */
export interface Backlog {
  manifests: number;
  /** Distinct blobs of those manifests that the region does not hold yet. */
  blobs: number;
  bytes: number;
  /** enqueued_at of the oldest waiting manifest; null when nothing waits. */
  oldest: string | null;
}

export class KyselyReplication {
  constructor(private readonly db: Kysely<Database>) {}

  // ---------------------------------------------------------------- replicas

  listReplicas(registryId: number): Promise<ReplicaRow[]> {
    return this.db.selectFrom('replications').selectAll().where('registry_id', '=', registryId).orderBy('location').execute();
  }

  getReplica(registryId: number, location: string): Promise<ReplicaRow | undefined> {
    return this.db
      .selectFrom('replications')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('location', '=', location)
      .executeTakeFirst();
  }

  /** undefined when the registry already has a replica there. */
  async insertReplica(
    ex: Executor,
    row: { registry_id: number; location: string; region_endpoint_enabled: number; zone_redundancy: string; tags: string },
  ): Promise<ReplicaRow | undefined> {
    const t = now();
    return ex
      .insertInto('replications')
      .values({ ...row, created_at: t, updated_at: t })
      .onConflict((oc) => oc.columns(['registry_id', 'location']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async updateReplica(
    registryId: number,
    location: string,
    patch: { region_endpoint_enabled?: number; zone_redundancy?: string; tags?: string },
  ): Promise<ReplicaRow | undefined> {
    return this.db
      .updateTable('replications')
      .set({ ...patch, updated_at: now() })
      .where('registry_id', '=', registryId)
      .where('location', '=', location)
      .returningAll()
      .executeTakeFirst();
  }

  /** Removes the replica and its backlog; false when there was none. */
  async deleteReplica(ex: Executor, registryId: number, location: string): Promise<boolean> {
    const r = await ex.deleteFrom('replications').where('registry_id', '=', registryId).where('location', '=', location).executeTakeFirst();
    await ex.deleteFrom('replication_pending').where('registry_id', '=', registryId).where('region', '=', location).execute();
    return Number(r.numDeletedRows) > 0;
  }

  async markBackfilled(registryId: number, location: string): Promise<void> {
    await this.db
      .updateTable('replications')
      .set({ backfilled_at: now() })
      .where('registry_id', '=', registryId)
      .where('location', '=', location)
      .execute();
  }

  async setHomeRegion(ex: Executor, registryId: number, location: string): Promise<void> {
    await ex.updateTable('registries').set({ location }).where('id', '=', registryId).execute();
  }

  /** Registries with at least one replica besides their home region. */
  async replicatedRegistries(): Promise<{ registry_id: number; location: string }[]> {
    return this.db.selectFrom('replications').select(['registry_id', 'location']).execute();
  }

  // ---------------------------------------------------------------- placements

  /**
   * Records that a region's store holds a blob's bytes (`domain`: a registry's own copy, sealed
   * with its customer-managed key). Idempotent. Fails (a foreign-key error) when the blob row is
   * gone: a copy that raced garbage collection records nothing.
   */
  async placeBlob(ex: Executor, digest: string, region: string, domain?: number): Promise<void> {
    if (domain !== undefined) {
      await ex
        .insertInto('domain_placements')
        .values({ registry_id: domain, digest, region, created_at: now() })
        .onConflict((oc) => oc.columns(['registry_id', 'digest', 'region']).doNothing())
        .execute();
      return;
    }
    await ex
      .insertInto('blob_placements')
      .values({ digest, region, created_at: now() })
      .onConflict((oc) => oc.columns(['digest', 'region']).doNothing())
      .execute();
  }

  async unplaceBlob(digest: string, region: string, domain?: number): Promise<void> {
    if (domain !== undefined)
      await this.db
        .deleteFrom('domain_placements')
        .where('registry_id', '=', domain)
        .where('digest', '=', digest)
        .where('region', '=', region)
        .execute();
    else await this.db.deleteFrom('blob_placements').where('digest', '=', digest).where('region', '=', region).execute();
  }

  async placements(digest: string, domain?: number): Promise<string[]> {
    const rows =
      domain !== undefined
        ? await this.db
            .selectFrom('domain_placements')
            .select('region')
            .where('registry_id', '=', domain)
            .where('digest', '=', digest)
            .orderBy('created_at')
            .execute()
        : await this.db.selectFrom('blob_placements').select('region').where('digest', '=', digest).orderBy('created_at').execute();
    return rows.map((r) => r.region);
  }

  /** Which of these digests the region does not hold (in the domain's copies, for a registry with its own key). */
  async missingIn(ex: Executor, region: string, digests: string[], domain?: number): Promise<string[]> {
    const unique = [...new Set(digests)];
    const have = new Set<string>();
    for (let i = 0; i < unique.length; i += 500) {
      const batch = unique.slice(i, i + 500);
      const rows =
        domain !== undefined
          ? await ex
              .selectFrom('domain_placements')
              .select('digest')
              .where('registry_id', '=', domain)
              .where('region', '=', region)
              .where('digest', 'in', batch)
              .execute()
          : await ex.selectFrom('blob_placements').select('digest').where('region', '=', region).where('digest', 'in', batch).execute();
      for (const r of rows) have.add(r.digest);
    }
    return unique.filter((d) => !have.has(d));
  }

  /**
   * Blobs recorded before the deployment had regions hold no placement: they are in the store
   * that was the deployment's, which becomes the first region's. Places up to `batch` of them there.
   */
  async adoptUnplaced(region: string, batch: number): Promise<number> {
    const rows = await this.db
      .selectFrom('blobs')
      .select('digest')
      .where((eb) => eb.not(eb.exists(eb.selectFrom('blob_placements as p').select('p.digest').whereRef('p.digest', '=', 'blobs.digest'))))
      .limit(batch)
      .execute();
    if (rows.length === 0) return 0;
    const t = now();
    await this.db
      .insertInto('blob_placements')
      .values(rows.map((r) => ({ digest: r.digest, region, created_at: t })))
      .onConflict((oc) => oc.columns(['digest', 'region']).doNothing())
      .execute();
    return rows.length;
  }

  /**
   * The same for a customer-managed-key registry's own copies (a registry made before the
   * deployment had regions): a blob it links with no domain placement is in the first region's
   * store. Places up to `batch` of them there.
   */
  async adoptUnplacedDomainCopies(region: string, batch: number): Promise<number> {
    const rows = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .innerJoin('registry_keys as k', 'k.registry_id', 'r.registry_id')
      .select(['r.registry_id', 'rb.digest'])
      .distinct()
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('domain_placements as p')
              .select('p.digest')
              .whereRef('p.registry_id', '=', 'r.registry_id')
              .whereRef('p.digest', '=', 'rb.digest'),
          ),
        ),
      )
      .limit(batch)
      .execute();
    if (rows.length === 0) return 0;
    const t = now();
    await this.db
      .insertInto('domain_placements')
      .values(rows.map((r) => ({ registry_id: Number(r.registry_id), digest: r.digest, region, created_at: t })))
      .onConflict((oc) => oc.columns(['registry_id', 'digest', 'region']).doNothing())
      .execute();
    return rows.length;
  }

  // ---------------------------------------------------------------- manifests and their blobs

  /**
   * A manifest with the blobs its image needs (config and layers, and those of an index's child
   * manifests) and their sizes; undefined when the manifest is gone.
   */
  async image(
    ex: Executor,
    repositoryId: number,
    digest: string,
  ): Promise<
    | { repository: string; mediaType: string; size: number; quarantineState: string | null; blobs: { digest: string; size: number }[] }
    | undefined
  > {
    const m = await ex
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['manifests.id', 'manifests.media_type', 'manifests.size', 'manifests.quarantine_state', 'repositories.name'])
      .where('manifests.repository_id', '=', repositoryId)
      .where('manifests.digest', '=', digest)
      .executeTakeFirst();
    if (!m) return undefined;
    const children = await ex
      .selectFrom('manifest_refs as r')
      .innerJoin('manifests as c', (j) => j.onRef('c.digest', '=', 'r.child_digest').on('c.repository_id', '=', repositoryId))
      .select('c.id')
      .where('r.manifest_id', '=', m.id)
      .where('r.kind', '=', 'manifest')
      .execute();
    const ids = [m.id, ...children.map((c) => c.id)];
    const rows = await ex
      .selectFrom('manifest_refs as r')
      .innerJoin('blobs as b', 'b.digest', 'r.child_digest')
      .select(['b.digest', 'b.size'])
      .where('r.manifest_id', 'in', ids)
      .where('r.kind', '=', 'blob')
      .execute();
    const seen = new Map<string, number>();
    for (const r of rows) seen.set(r.digest, Number(r.size));
    return {
      repository: m.name,
      mediaType: m.media_type,
      size: Number(m.size),
      quarantineState: m.quarantine_state,
      blobs: [...seen].map(([d, size]) => ({ digest: d, size })),
    };
  }

  async repositoryOfManifest(ex: Executor, manifestId: number): Promise<number | undefined> {
    const r = await ex.selectFrom('manifests').select('repository_id').where('id', '=', manifestId).executeTakeFirst();
    return r ? Number(r.repository_id) : undefined;
  }

  /** A registry's manifests after `afterId` (backfilling a new replica), oldest first. */
  manifestsAfter(registryId: number, afterId: number, limit: number): Promise<{ id: number; repository_id: number; digest: string }[]> {
    return this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.repository_id', 'm.digest'])
      .where('r.registry_id', '=', registryId)
      .where('m.id', '>', afterId)
      .orderBy('m.id')
      .limit(limit)
      .execute();
  }

  // ---------------------------------------------------------------- backlog

  /** true when the row is new (the caller then queues its copy job). */
  async addPending(ex: Executor, row: Omit<PendingRow, 'enqueued_at'>): Promise<boolean> {
    const r = await ex
      .insertInto('replication_pending')
      .values({ ...row, enqueued_at: now() })
      .onConflict((oc) => oc.columns(['registry_id', 'region', 'repository_id', 'digest']).doNothing())
      .returning('digest')
      .executeTakeFirst();
    return !!r;
  }

  getPending(ex: Executor, row: PendingKey): Promise<PendingRow | undefined> {
    return ex
      .selectFrom('replication_pending')
      .selectAll()
      .where('registry_id', '=', row.registry_id)
      .where('region', '=', row.region)
      .where('repository_id', '=', row.repository_id)
      .where('digest', '=', row.digest)
      .executeTakeFirst();
  }

  async removePending(ex: Executor, row: PendingKey): Promise<boolean> {
    const r = await ex
      .deleteFrom('replication_pending')
      .where('registry_id', '=', row.registry_id)
      .where('region', '=', row.region)
      .where('repository_id', '=', row.repository_id)
      .where('digest', '=', row.digest)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** The regions in which a manifest is still waiting. */
  async pendingRegions(registryId: number, repositoryId: number, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('replication_pending')
      .select('region')
      .where('registry_id', '=', registryId)
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .execute();
    return rows.map((r) => r.region);
  }

  /** `domain`: the registry's own id when its blobs are in its encryption domain (their placements are domain_placements). */
  async backlog(registryId: number, region: string, domain?: number): Promise<Backlog> {
    // Only manifests that still exist: one deleted while waiting is nothing to copy (its row goes
    // when a node of the region takes up its job).
    const head = await this.db
      .selectFrom('replication_pending as p')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository_id', '=', 'p.repository_id').onRef('m.digest', '=', 'p.digest'))
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('p.enqueued_at').as('oldest')])
      .where('p.registry_id', '=', registryId)
      .where('p.region', '=', region)
      .executeTakeFirstOrThrow();
    const manifests = Number(head.n);
    if (manifests === 0) return { manifests: 0, blobs: 0, bytes: 0, oldest: null };
    // Distinct blobs of the waiting manifests (an index's children wait as manifests of their own).
    const blobs = await sql<{ n: number | string; bytes: number | string | null }>`
      select count(*) as n, sum(b.size) as bytes from blobs b where b.digest in (
        select r.child_digest from replication_pending p
          join manifests m on m.repository_id = p.repository_id and m.digest = p.digest
          join manifest_refs r on r.manifest_id = m.id and r.kind = 'blob'
        where p.registry_id = ${registryId} and p.region = ${region}
      ) and not exists (${
        domain !== undefined
          ? sql`select 1 from domain_placements pl where pl.registry_id = ${domain} and pl.digest = b.digest and pl.region = ${region}`
          : sql`select 1 from blob_placements pl where pl.digest = b.digest and pl.region = ${region}`
      })`.execute(this.db);
    const row = blobs.rows[0];
    return { manifests, blobs: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0), oldest: head.oldest };
  }

  /** The oldest waiting manifest of every (registry, region) with a backlog. */
  async oldestPending(): Promise<{ registry_id: number; region: string; oldest: string; manifests: number }[]> {
    const rows = await this.db
      .selectFrom('replication_pending as p')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository_id', '=', 'p.repository_id').onRef('m.digest', '=', 'p.digest'))
      .select((eb) => ['p.registry_id', 'p.region', eb.fn.min('p.enqueued_at').as('oldest'), eb.fn.countAll<number>().as('manifests')])
      .groupBy(['p.registry_id', 'p.region'])
      .execute();
    return rows.map((r) => ({
      registry_id: Number(r.registry_id),
      region: r.region,
      oldest: r.oldest,
      manifests: Number(r.manifests),
    }));
  }
}
