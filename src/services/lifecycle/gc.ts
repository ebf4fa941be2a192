import { hostname } from 'node:os';
import { sql } from 'kysely';
import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import type { MetaStore } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { requestContext } from '../../observability/request-context.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey } from '../../storage/paths.js';
import type { ManifestService } from '../content/manifests.js';

// Online garbage collection: no read-only mode, no downtime, safe beside pushes on any node.
//
// Blobs are stored once (content-addressed) and linked into repositories (repository_blobs);
// manifests reference linked blobs (manifest_refs). Garbage is collected in three layers, each by
// mark and sweep across runs, so nothing is removed until it has been garbage for a grace period:
//  1. referrers (signatures, SBOMs) whose subject manifest is gone from their repository;
//  2. links no manifest of their repository references (and no soft-deleted manifest either);
//  3. blobs no repository links: their bytes, then their row;
//  plus 4. bytes under blobs/ that have no row at all (left by a transaction that failed after
//  moving them into place), once older than the grace period.
// Races with pushes are settled by row locks, not timing (PostgreSQL; SQLite has one writer):
//  - a manifest PUT locks the links it references FOR SHARE; GC removes a link only after
//    locking it FOR UPDATE and seeing, in a fresh statement, that nothing references it;
//  - an upload's commit upserts (locks) the blob row before moving the bytes into place; GC deletes
//    bytes only while holding that row FOR UPDATE after seeing it unlinked;
//  - a mount links only a blob row it can lock FOR SHARE.
// Reading a marked link (blob HEAD/GET, mount) clears the mark: the reader gets a full grace period
// to push the manifest that references the blob it was told exists.

export interface GcOptions {
  /** How long garbage must stay garbage before it is removed. */
  gracePeriodSeconds: number;
  /** Remove referrers whose subject is gone (off keeps them; they are still listed by digest). */
  deleteDanglingReferrers: boolean;
  /** Also remove bytes under blobs/ that have no metadata row (lists the whole blob store). */
  storageSweep: boolean;
  /** Rows examined per query and removed per transaction. */
  batchSize: number;
  /** A run not heard from for this long is taken as dead (its node crashed). */
  leaseSeconds: number;
}

export const DEFAULT_GC: GcOptions = { gracePeriodSeconds: 3600, deleteDanglingReferrers: true, storageSweep: true, batchSize: 500, leaseSeconds: 300 };

export interface GcCounts {
  referrersRemoved: number;
  linksMarked: number;
  linksRemoved: number;
  blobsMarked: number;
  blobsRemoved: number;
  filesRemoved: number;
  bytesReclaimed: number;
}

export interface GcReport extends GcCounts {
  id: number;
  dryRun: boolean;
  status: 'running' | 'succeeded' | 'failed';
  node: string;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export interface GcStatus {
  gracePeriodSeconds: number;
  /** Garbage waiting out its grace period (marked by an earlier run). */
  pending: { links: number; blobs: number; bytes: number };
  running: GcReport | null;
  lastRuns: GcReport[];
}

export interface GcMetrics {
  run(outcome: 'succeeded' | 'failed', counts: GcCounts): void;
}

type Clock = () => Date;
const zero = (): GcCounts => ({ referrersRemoved: 0, linksMarked: 0, linksRemoved: 0, blobsMarked: 0, blobsRemoved: 0, filesRemoved: 0, bytesReclaimed: 0 });

export class GcService {
  private readonly node = `${hostname()}:${process.pid}`;
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;
  metrics?: GcMetrics;

  constructor(
    private readonly meta: MetaStore,
    private readonly storage: StorageDriver,
    private readonly manifests: ManifestService,
    readonly opts: GcOptions,
    private readonly log: Logger,
    private readonly clock: Clock = () => new Date(),
  ) {}

  private iso(d = this.clock()): string {
    return d.toISOString();
  }

  private cutoff(): string {
    return new Date(this.clock().getTime() - this.opts.gracePeriodSeconds * 1000).toISOString();
  }

  /**
   * One collection. A dry run changes nothing and reports what a run now would remove (garbage whose
   * grace period is over) and mark. A real run refuses to start while another is alive (409).
   */
  run(opts: { dryRun?: boolean } = {}): Promise<GcReport> {
    return this.track(this.runNow(opts));
  }

  /** Shutdown: the running collection stops after its current batch (its report says so). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  private async runNow(opts: { dryRun?: boolean }): Promise<GcReport> {
    const dryRun = opts.dryRun ?? false;
    const id = await this.begin(dryRun);
    const counts = zero();
    try {
      if (dryRun) await this.plan(counts);
      else await this.collect(id, counts);
      await this.finish(id, 'succeeded', counts, null);
      if (!dryRun) this.metrics?.run('succeeded', counts);
      if (!dryRun && (counts.linksRemoved || counts.blobsRemoved || counts.referrersRemoved || counts.filesRemoved)) {
        this.log.info({ gcRun: id, ...counts }, 'garbage collected');
      }
    } catch (e) {
      await this.finish(id, 'failed', counts, (e as Error).message).catch(() => undefined);
      if (!dryRun) this.metrics?.run('failed', counts);
      throw e;
    }
    return (await this.report(id))!;
  }

  /** Starts a run in the background (the API answers 202 with its id; GET the run to follow it). */
  async start(): Promise<GcReport> {
    const id = await this.begin(false);
    const counts = zero();
    void this.track((async () => {
      try {
        await this.collect(id, counts);
        await this.finish(id, 'succeeded', counts, null);
        this.metrics?.run('succeeded', counts);
      } catch (e) {
        this.log.error({ err: e, gcRun: id }, 'garbage collection failed');
        await this.finish(id, 'failed', counts, (e as Error).message).catch(() => undefined);
        this.metrics?.run('failed', counts);
      }
    })());
    return (await this.report(id))!;
  }

  /** The scheduled run: skipped quietly when another node's run is alive. */
  async runScheduled(): Promise<GcReport | undefined> {
    try {
      return await this.run();
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'CONFLICT') return undefined;
      throw e;
    }
  }

  private async begin(dryRun: boolean): Promise<number> {
    const ts = this.iso();
    const lease = new Date(this.clock().getTime() + this.opts.leaseSeconds * 1000).toISOString();
    return this.meta.transaction(async (trx) => {
      // A dead node's run: its lease ran out, so it is marked failed and no longer blocks.
      await trx.updateTable('gc_runs').set({ status: 'failed', error: 'the node running it stopped', finished_at: ts })
        .where('status', '=', 'running').where('lease_until', '<', ts).execute();
      if (!dryRun) {
        if (this.meta.dialect === 'postgres') {
          // Two nodes starting at once: serialize the check-and-insert on a transaction-scoped lock.
          await sql`select pg_advisory_xact_lock(${0x6263}, ${0x6763})`.execute(trx);
        }
        const alive = await trx.selectFrom('gc_runs').select(['id', 'node']).where('status', '=', 'running').where('dry_run', '=', 0).executeTakeFirst();
        if (alive) {
          throw new RegistryError('CONFLICT', `garbage collection run ${alive.id} is already running on ${alive.node}; wait for it (berth gc status)`, { detail: { run: alive.id } });
        }
      }
      const row = await trx.insertInto('gc_runs').values({ node: this.node, dry_run: dryRun ? 1 : 0, status: 'running', started_at: ts, lease_until: lease })
        .returning('id').executeTakeFirstOrThrow();
      return Number(row.id);
    });
  }

  private async heartbeat(id: number, counts: GcCounts): Promise<void> {
    if (this.stopping) throw new Error('stopped: the node is shutting down (the next run goes on from scratch)');
    const lease = new Date(this.clock().getTime() + this.opts.leaseSeconds * 1000).toISOString();
    await this.meta.db.updateTable('gc_runs').set({ lease_until: lease, ...columns(counts) }).where('id', '=', id).execute();
  }

  private async finish(id: number, status: 'succeeded' | 'failed', counts: GcCounts, error: string | null): Promise<void> {
    await this.meta.db.updateTable('gc_runs').set({ status, finished_at: this.iso(), error, ...columns(counts) }).where('id', '=', id).execute();
  }

  // ------------------------------------------------------------------ the collection

  private async collect(id: number, c: GcCounts): Promise<void> {
    if (this.opts.deleteDanglingReferrers) await this.referrers(c, false);
    await this.heartbeat(id, c);
    await this.links(c, false, () => this.heartbeat(id, c));
    await this.blobs(c, false, () => this.heartbeat(id, c));
    if (this.opts.storageSweep) await this.files(c, false, () => this.heartbeat(id, c));
  }

  private async plan(c: GcCounts): Promise<void> {
    if (this.opts.deleteDanglingReferrers) await this.referrers(c, true);
    await this.links(c, true, async () => undefined);
    await this.blobs(c, true, async () => undefined);
    if (this.opts.storageSweep) await this.files(c, true, async () => undefined);
  }

  /** Referrers whose subject is not in their repository, pushed before the grace cutoff. */
  private async referrers(c: GcCounts, dryRun: boolean): Promise<void> {
    const cutoff = this.cutoff();
    let after = 0;
    for (;;) {
      const rows = await this.meta.db.selectFrom('manifests as m')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .innerJoin('registries as g', 'g.id', 'r.registry_id')
        .select(['m.id', 'm.digest', 'r.name as repository', 'g.id as registry_id'])
        .where('m.subject_digest', 'is not', null).where('m.created_at', '<', cutoff).where('m.id', '>', after)
        .where(({ not, exists, selectFrom }) => not(exists(
          selectFrom('manifests as s').select('s.id').whereRef('s.repository_id', '=', 'm.repository_id').whereRef('s.digest', '=', 'm.subject_digest'),
        )))
        .orderBy('m.id').limit(this.opts.batchSize).execute();
      if (rows.length === 0) return;
      after = Number(rows[rows.length - 1]!.id);
      for (const r of rows) {
        if (dryRun) {
          c.referrersRemoved++;
          continue;
        }
        const reg = await this.meta.getRegistryById(Number(r.registry_id));
        if (!reg) continue;
        try {
          // Through the ordinary delete: locks hold, the event is audited, soft delete applies.
          await requestContext.run({ id: `gc-${Date.now()}`, host: '', method: 'GC', useragent: 'berth-gc', identity: 'garbage-collector' },
            () => this.manifests.delete(reg, r.repository, r.digest));
          c.referrersRemoved++;
        } catch (e) {
          // Locked (deleteEnabled=false), or already gone: leave it.
          if (!(e instanceof RegistryError)) throw e;
        }
      }
    }
  }

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

  private async links(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    const cutoff = this.cutoff();
    const ts = this.iso();
    let after: { repo: number; digest: string } | undefined;
    for (;;) {
      let q = this.meta.db.selectFrom('repository_blobs as rb')
        .select(['rb.repository_id', 'rb.digest', 'rb.unreferenced_since'])
        .select(this.referenced(sql.ref('rb.repository_id'), sql.ref('rb.digest')).as('referenced'));
      if (after) {
        const a = after;
        q = q.where((eb) => eb.or([eb('rb.repository_id', '>', a.repo), eb.and([eb('rb.repository_id', '=', a.repo), eb('rb.digest', '>', a.digest)])]));
      }
      const rows = await q.orderBy('rb.repository_id').orderBy('rb.digest').limit(this.opts.batchSize).execute();
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      after = { repo: Number(last.repository_id), digest: last.digest };

      const unmark: typeof rows = [];
      const mark: typeof rows = [];
      const sweep: typeof rows = [];
      for (const r of rows) {
        const referenced = truthy(r.referenced);
        if (referenced && r.unreferenced_since !== null) unmark.push(r);
        else if (!referenced && r.unreferenced_since === null) mark.push(r);
        else if (!referenced && r.unreferenced_since! <= cutoff) sweep.push(r);
      }
      if (dryRun) {
        c.linksMarked += mark.length;
        c.linksRemoved += sweep.length;
        continue;
      }
      if (unmark.length || mark.length) {
        await this.meta.transaction(async (trx) => {
          for (const r of unmark) {
            await trx.updateTable('repository_blobs').set({ unreferenced_since: null }).where('repository_id', '=', r.repository_id).where('digest', '=', r.digest).execute();
          }
          for (const r of mark) {
            await trx.updateTable('repository_blobs').set({ unreferenced_since: ts })
              .where('repository_id', '=', r.repository_id).where('digest', '=', r.digest).where('unreferenced_since', 'is', null).execute();
          }
        });
        c.linksMarked += mark.length;
      }
      for (const r of sweep) {
        const removed = await this.meta.transaction(async (trx) => {
          // Lock the link, then look again in a fresh statement: a manifest that referenced it
          // meanwhile has committed (or waits on our lock and will find the link gone).
          let lq = trx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', r.repository_id).where('digest', '=', r.digest)
            .where('unreferenced_since', 'is not', null).where('unreferenced_since', '<=', cutoff);
          if (this.meta.dialect === 'postgres') lq = lq.forUpdate();
          if (!(await lq.executeTakeFirst())) return false;
          const still = await trx.selectNoFrom(this.referenced(Number(r.repository_id), r.digest).as('referenced')).executeTakeFirstOrThrow();
          if (truthy(still.referenced)) {
            await trx.updateTable('repository_blobs').set({ unreferenced_since: null }).where('repository_id', '=', r.repository_id).where('digest', '=', r.digest).execute();
            return false;
          }
          return this.meta.unlinkBlob(trx, Number(r.repository_id), r.digest);
        });
        if (removed) c.linksRemoved++;
      }
      await beat();
    }
  }

  private async blobs(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    const cutoff = this.cutoff();
    const ts = this.iso();
    let after = '';
    for (;;) {
      const rows = await this.meta.db.selectFrom('blobs as b')
        .select(['b.digest', 'b.size', 'b.orphaned_since'])
        .select(({ exists, selectFrom }) => exists(selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest')).as('linked'))
        .where('b.digest', '>', after).orderBy('b.digest').limit(this.opts.batchSize).execute();
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.digest;
      const unmark = rows.filter((r) => truthy(r.linked) && r.orphaned_since !== null);
      const mark = rows.filter((r) => !truthy(r.linked) && r.orphaned_since === null);
      const sweep = rows.filter((r) => !truthy(r.linked) && r.orphaned_since !== null && r.orphaned_since <= cutoff);
      if (dryRun) {
        c.blobsMarked += mark.length;
        c.blobsRemoved += sweep.length;
        c.bytesReclaimed += sweep.reduce((n, r) => n + Number(r.size), 0);
        continue;
      }
      if (unmark.length || mark.length) {
        await this.meta.transaction(async (trx) => {
          if (unmark.length) await trx.updateTable('blobs').set({ orphaned_since: null }).where('digest', 'in', unmark.map((r) => r.digest)).execute();
          if (mark.length) await trx.updateTable('blobs').set({ orphaned_since: ts }).where('digest', 'in', mark.map((r) => r.digest)).where('orphaned_since', 'is', null).execute();
        });
        c.blobsMarked += mark.length;
      }
      for (const r of sweep) {
        const size = await this.meta.transaction(async (trx) => {
          let bq = trx.selectFrom('blobs').select('size').where('digest', '=', r.digest).where('orphaned_since', 'is not', null).where('orphaned_since', '<=', cutoff);
          if (this.meta.dialect === 'postgres') bq = bq.forUpdate();
          const row = await bq.executeTakeFirst();
          if (!row) return undefined;
          const linked = await trx.selectFrom('repository_blobs').select('digest').where('digest', '=', r.digest).executeTakeFirst();
          if (linked) {
            await trx.updateTable('blobs').set({ orphaned_since: null }).where('digest', '=', r.digest).execute();
            return undefined;
          }
          // Bytes first, row second, both under the row lock: if the commit fails the row stays and
          // the next run finishes (deleting a missing object is not an error). An upload of the same
          // content waits on this lock, then writes its bytes afresh.
          await this.storage.delete(blobKey(parseDigest(r.digest)));
          await trx.deleteFrom('blobs').where('digest', '=', r.digest).execute();
          return Number(row.size);
        });
        if (size !== undefined) {
          c.blobsRemoved++;
          c.bytesReclaimed += size;
        }
      }
      await beat();
    }
  }

  /** Bytes under blobs/ without a row, older than the grace period. */
  private async files(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    const cutoff = this.clock().getTime() - this.opts.gracePeriodSeconds * 1000;
    let startAfter: string | undefined;
    for (;;) {
      const keys = await this.storage.list('blobs/', { startAfter, limit: this.opts.batchSize });
      if (keys.length === 0) return;
      startAfter = keys[keys.length - 1];
      const byDigest = new Map<string, string>();
      for (const key of keys) {
        const m = /^blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
        if (m) byDigest.set(`${m[1]}:${m[2]}`, key);
      }
      if (byDigest.size === 0) continue;
      const known = new Set((await this.meta.db.selectFrom('blobs').select('digest').where('digest', 'in', [...byDigest.keys()]).execute()).map((r) => r.digest));
      for (const [digest, key] of byDigest) {
        if (known.has(digest)) continue;
        const st = await this.storage.stat(key);
        if (!st || st.modifiedAt.getTime() > cutoff) continue;
        if (dryRun) {
          c.filesRemoved++;
          c.bytesReclaimed += st.size;
          continue;
        }
        // Claim the digest with a placeholder row: an upload committing the same content either
        // inserted its row first (we skip) or waits for us and then writes its bytes afresh.
        const removed = await this.meta.transaction(async (trx) => {
          const claimed = await trx.insertInto('blobs').values({ digest, size: st.size, created_at: this.iso(), orphaned_since: this.iso() })
            .onConflict((oc) => oc.column('digest').doNothing()).returning('digest').executeTakeFirst();
          if (!claimed) return false;
          await this.storage.delete(key);
          await trx.deleteFrom('blobs').where('digest', '=', digest).execute();
          return true;
        });
        if (removed) {
          c.filesRemoved++;
          c.bytesReclaimed += st.size;
        }
      }
      await beat();
    }
  }

  // ------------------------------------------------------------------ reports

  async report(id: number): Promise<GcReport | undefined> {
    const row = await this.meta.db.selectFrom('gc_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? view(row) : undefined;
  }

  async status(): Promise<GcStatus> {
    const runs = await this.meta.db.selectFrom('gc_runs').selectAll().orderBy('id', 'desc').limit(10).execute();
    const links = await this.meta.db.selectFrom('repository_blobs').select((eb) => eb.fn.countAll<number>().as('n')).where('unreferenced_since', 'is not', null).executeTakeFirstOrThrow();
    const blobs = await this.meta.db.selectFrom('blobs').select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('bytes')])
      .where('orphaned_since', 'is not', null).executeTakeFirstOrThrow();
    const running = runs.find((r) => r.status === 'running' && r.dry_run === 0);
    return {
      gracePeriodSeconds: this.opts.gracePeriodSeconds,
      pending: { links: Number(links.n), blobs: Number(blobs.n), bytes: Number(blobs.bytes ?? 0) },
      running: running ? view(running) : null,
      lastRuns: runs.map(view),
    };
  }
}

function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

function columns(c: GcCounts) {
  return {
    referrers_removed: c.referrersRemoved, links_marked: c.linksMarked, links_removed: c.linksRemoved,
    blobs_marked: c.blobsMarked, blobs_removed: c.blobsRemoved, files_removed: c.filesRemoved, bytes_reclaimed: c.bytesReclaimed,
  };
}

function view(r: {
  id: number; node: string; dry_run: number; status: string; started_at: string; finished_at: string | null; error: string | null;
  links_marked: number; links_removed: number; blobs_marked: number; blobs_removed: number; bytes_reclaimed: number; referrers_removed: number; files_removed: number;
}): GcReport {
  return {
    id: Number(r.id), dryRun: Number(r.dry_run) === 1, status: r.status as GcReport['status'], node: r.node, startedAt: r.started_at, finishedAt: r.finished_at, error: r.error,
    referrersRemoved: Number(r.referrers_removed), linksMarked: Number(r.links_marked), linksRemoved: Number(r.links_removed),
    blobsMarked: Number(r.blobs_marked), blobsRemoved: Number(r.blobs_removed), filesRemoved: Number(r.files_removed), bytesReclaimed: Number(r.bytes_reclaimed),
  };
}
