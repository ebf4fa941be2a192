import { hostname } from 'node:os';
import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import type { GcRunPatch, GcRunRow, GcStore } from '../../meta/gc.js';
import type { MetaStore } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { activityError, type ActivityRecorder } from '../../domain/activity.js';
import { asSystem, currentActor } from '../actor.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey, DOMAIN_ROOT, domainOfKey, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
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
// (The locking queries are GcStore.lockMarkedLink and lockOrphanedBlob, in meta/gc.ts.)
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
  /** Whether collections run in the background (gc.enabled); status says when the next is due. */
  scheduled?: boolean;
}

export const DEFAULT_GC: GcOptions = {
  gracePeriodSeconds: 3600,
  deleteDanglingReferrers: true,
  storageSweep: true,
  batchSize: 500,
  leaseSeconds: 300,
};

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

/**
 * Garbage awaiting collection, whether or not a collection has seen (marked) it yet. Each
 * reclaimableAfter is the earliest time the collection that removes it can run (the first
 * collection at or after it does); null when there is nothing of that kind.
 */
export interface GcPending {
  /** Links (repository -> blob) no manifest of the repository references any more. */
  links: number;
  /** Blobs that go once those links go (or that no repository links), and their bytes. */
  blobs: number;
  bytes: number;
  /** Referrers (signatures, SBOMs) whose subject manifest is gone; their blobs follow later. */
  manifests: number;
  /** How many of them a collection has already marked (their grace period is running). */
  marked: { links: number; blobs: number };
  reclaimableAfter: { manifests: string | null; links: string | null; blobs: string | null };
  /** Soft-deleted manifests keep their blobs until their purge time (they are not garbage until then). */
  recycleBin: { manifests: number; until: string | null };
}

export interface GcStatus {
  gracePeriodSeconds: number;
  /** When the background collection is next due; null when it is off (gc.enabled false: only `berth gc run` collects). */
  nextRunAt: string | null;
  pending: GcPending;
  running: GcReport | null;
  lastRuns: GcReport[];
}

export interface GcMetrics {
  run(outcome: 'succeeded' | 'failed', counts: GcCounts): void;
}

type Clock = () => Date;
const zero = (): GcCounts => ({
  referrersRemoved: 0,
  linksMarked: 0,
  linksRemoved: 0,
  blobsMarked: 0,
  blobsRemoved: 0,
  filesRemoved: 0,
  bytesReclaimed: 0,
});

export class GcService {
  private readonly node = `${hostname()}:${process.pid}`;
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopping = false;
  metrics?: GcMetrics;
  /** Where each real run's outcome is recorded (the activity log), with who asked for it when someone did. */
  activity?: ActivityRecorder;
  /** The stores the storage sweep lists (geo-replication: every region's); default the one storage. */
  sweepStores?: StorageDriver[];
  /**
   * Registries with a customer-managed key keep their own copy of each blob (domains/<id>/…), and
   * the store those copies are in, read without their keys: the domain sweep lists names and
   * modification times and deletes, which no key is needed for (a registry whose key is revoked,
   * or that was deleted with its key, is still cleaned up).
   */
  domains: DomainLookup = NO_DOMAINS;
  /** Each region's such store (one, unnamed, without regions): a domain's copies are swept in every region. */
  domainStores: { region?: string; store: StorageDriver }[] = [];

  constructor(
    private readonly meta: MetaStore,
    private readonly store: GcStore,
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
    const started = Date.now();
    try {
      if (dryRun) await this.plan(counts);
      else await this.collect(id, counts);
      await this.finish(id, 'succeeded', counts, null);
      if (!dryRun) this.metrics?.run('succeeded', counts);
      if (!dryRun) await this.recordRun(id, started, counts);
      if (!dryRun && (counts.linksRemoved || counts.blobsRemoved || counts.referrersRemoved || counts.filesRemoved)) {
        this.log.info({ gcRun: id, ...counts }, 'garbage collected');
      }
    } catch (e) {
      await this.finish(id, 'failed', counts, (e as Error).message).catch(() => undefined);
      if (!dryRun) this.metrics?.run('failed', counts);
      if (!dryRun) await this.recordRun(id, started, counts, e);
      throw e;
    }
    return (await this.report(id))!;
  }

  /** Starts a run in the background (the API answers 202 with its id; GET the run to follow it). */
  async start(): Promise<GcReport> {
    const id = await this.begin(false);
    const counts = zero();
    const started = Date.now();
    void this.track(
      (async () => {
        try {
          await this.collect(id, counts);
          await this.finish(id, 'succeeded', counts, null);
          this.metrics?.run('succeeded', counts);
          await this.recordRun(id, started, counts);
        } catch (e) {
          this.log.error({ err: e, gcRun: id }, 'garbage collection failed');
          await this.finish(id, 'failed', counts, (e as Error).message).catch(() => undefined);
          this.metrics?.run('failed', counts);
          await this.recordRun(id, started, counts, e);
        }
      })(),
    );
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
      await this.store.expireDeadRuns(trx, ts);
      if (!dryRun) {
        // Two nodes starting at once: serialize the check-and-insert on a transaction-scoped lock.
        await this.store.lockRunStarts(trx);
        const alive = await this.store.aliveRun(trx);
        if (alive) {
          throw new RegistryError(
            'CONFLICT',
            `garbage collection run ${alive.id} is already running on ${alive.node}; wait for it (berth gc status)`,
            { detail: { run: alive.id } },
          );
        }
      }
      return this.store.insertRun(trx, { node: this.node, dryRun, startedAt: ts, leaseUntil: lease });
    });
  }

  private async heartbeat(id: number, counts: GcCounts): Promise<void> {
    if (this.stopping) throw new Error('stopped: the node is shutting down (the next run goes on from scratch)');
    const lease = new Date(this.clock().getTime() + this.opts.leaseSeconds * 1000).toISOString();
    await this.store.updateRun(id, { lease_until: lease, ...columns(counts) });
  }

  /** A real run's outcome in the activity log; `requestedBy` is the caller of POST /api/gc/runs (the run goes on in its context). */
  private async recordRun(id: number, started: number, counts: GcCounts, error?: unknown): Promise<void> {
    const requestedBy = currentActor()?.identity;
    await this.activity?.record({
      operation: 'Berth/garbageCollection/run/action',
      resource: `/gc/runs/${id}`,
      result: error === undefined ? 'Succeeded' : 'Failed',
      ...(error === undefined ? {} : { error: activityError(error) }),
      identity: 'garbage-collector',
      identityType: 'System',
      correlationId: `gc-run-${id}`,
      durationMs: Date.now() - started,
      properties: { ...counts, ...(requestedBy ? { requestedBy } : {}) },
    });
  }

  private async finish(id: number, status: 'succeeded' | 'failed', counts: GcCounts, error: string | null): Promise<void> {
    await this.store.updateRun(id, { status, finished_at: this.iso(), error, ...columns(counts) });
  }

  // ------------------------------------------------------------------ the collection

  private async collect(id: number, c: GcCounts): Promise<void> {
    if (this.opts.deleteDanglingReferrers) await this.referrers(c, false);
    await this.heartbeat(id, c);
    await this.links(c, false, () => this.heartbeat(id, c));
    await this.blobs(c, false, () => this.heartbeat(id, c));
    await this.domainBlobs(c, false, () => this.heartbeat(id, c));
    if (this.opts.storageSweep) await this.files(c, false, () => this.heartbeat(id, c));
  }

  private async plan(c: GcCounts): Promise<void> {
    if (this.opts.deleteDanglingReferrers) await this.referrers(c, true);
    const nothing = () => Promise.resolve();
    await this.links(c, true, nothing);
    await this.blobs(c, true, nothing);
    await this.domainBlobs(c, true, nothing);
    if (this.opts.storageSweep) await this.files(c, true, nothing);
  }

  /** Referrers whose subject is not in their repository, pushed before the grace cutoff. */
  private async referrers(c: GcCounts, dryRun: boolean): Promise<void> {
    const cutoff = this.cutoff();
    let after = 0;
    for (;;) {
      const rows = await this.store.danglingReferrers(cutoff, after, this.opts.batchSize);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.id;
      for (const r of rows) {
        if (dryRun) {
          c.referrersRemoved++;
          continue;
        }
        const reg = await this.meta.getRegistryById(r.registry_id);
        if (!reg) continue;
        try {
          // Through the ordinary delete: locks hold, the event is audited, soft delete applies.
          await asSystem({ name: 'gc', method: 'GC', identity: 'garbage-collector' }, () =>
            this.manifests.delete(reg, r.repository, r.digest),
          );
          c.referrersRemoved++;
        } catch (e) {
          // Locked (deleteEnabled=false), or already gone: leave it.
          if (!(e instanceof RegistryError)) throw e;
        }
      }
    }
  }

  /**
   * Links no manifest of their repository references, nor a soft-deleted one (the recycle bin
   * keeps its blobs until the entry expires): marked, then removed once marked for the grace period.
   */
  private async links(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    const cutoff = this.cutoff();
    const ts = this.iso();
    let after: { repositoryId: number; digest: string } | undefined;
    for (;;) {
      const rows = await this.store.linkPage(after, this.opts.batchSize);
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      after = { repositoryId: last.repository_id, digest: last.digest };

      const unmark: typeof rows = [];
      const mark: typeof rows = [];
      const sweep: typeof rows = [];
      for (const r of rows) {
        const referenced = r.referenced;
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
          await this.store.unmarkLinks(trx, unmark);
          await this.store.markLinks(trx, mark, ts);
        });
        c.linksMarked += mark.length;
      }
      for (const r of sweep) {
        const removed = await this.meta.transaction(async (trx) => {
          // Lock the link (FOR UPDATE), then look again in a fresh statement: a manifest that referenced
          // it meanwhile has committed (or waits on our lock and will find the link gone).
          if (!(await this.store.lockMarkedLink(trx, r.repository_id, r.digest, cutoff))) return false;
          if (await this.store.linkReferenced(trx, r.repository_id, r.digest)) {
            await this.store.unmarkLinks(trx, [r]);
            return false;
          }
          return this.meta.unlinkBlob(trx, r.repository_id, r.digest);
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
      const rows = await this.store.blobPage(after, this.opts.batchSize);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.digest;
      const unmark = rows.filter((r) => r.linked && r.orphaned_since !== null);
      const mark = rows.filter((r) => !r.linked && r.orphaned_since === null);
      const sweep = rows.filter((r) => !r.linked && r.orphaned_since !== null && r.orphaned_since <= cutoff);
      if (dryRun) {
        c.blobsMarked += mark.length;
        c.blobsRemoved += sweep.length;
        c.bytesReclaimed += sweep.reduce((n, r) => n + r.size, 0);
        continue;
      }
      if (unmark.length || mark.length) {
        await this.meta.transaction(async (trx) => {
          await this.store.unmarkBlobs(
            trx,
            unmark.map((r) => r.digest),
          );
          await this.store.markBlobs(
            trx,
            mark.map((r) => r.digest),
            ts,
          );
        });
        c.blobsMarked += mark.length;
      }
      for (const r of sweep) {
        const size = await this.meta.transaction(async (trx) => {
          // The blob row FOR UPDATE: an upload of the same content upserts it, a mount locks it FOR SHARE.
          const size = await this.store.lockOrphanedBlob(trx, r.digest, cutoff);
          if (size === undefined) return undefined;
          if (await this.store.blobLinked(trx, r.digest)) {
            await this.store.unmarkBlobs(trx, [r.digest]);
            return undefined;
          }
          // Bytes first, row second, both under the row lock: if the commit fails the row stays and
          // the next run finishes (deleting a missing object is not an error). An upload of the same
          // content waits on this lock, then writes its bytes afresh.
          await this.storage.delete(blobKey(parseDigest(r.digest)));
          await this.store.deleteBlob(trx, r.digest);
          return size;
        });
        if (size !== undefined) {
          c.blobsRemoved++;
          c.bytesReclaimed += size;
        }
      }
      await beat();
    }
  }

  /**
   * Copies in encryption domains that their registry no longer links, and everything of a domain
   * whose registry is gone (crypto-shredded already: its wrapped key went with the registry),
   * once older than the grace period (an upload moves its bytes in before it links them).
   */
  private async domainBlobs(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    if (this.domainStores.length === 0) return;
    const live = new Set(await this.domains.registryIds());
    for (const { region, store } of this.domainStores) await this.domainBlobsIn(store, region, live, c, dryRun, beat);
  }

  private async domainBlobsIn(
    store: StorageDriver,
    region: string | undefined,
    live: Set<number>,
    c: GcCounts,
    dryRun: boolean,
    beat: () => Promise<void>,
  ): Promise<void> {
    const cutoff = this.clock().getTime() - this.opts.gracePeriodSeconds * 1000;
    let startAfter: string | undefined;
    for (;;) {
      const keys = await store.list(DOMAIN_ROOT, { startAfter, limit: this.opts.batchSize });
      if (keys.length === 0) return;
      startAfter = keys[keys.length - 1];
      const byDomain = new Map<number, Map<string, string>>();
      for (const key of keys) {
        const domain = domainOfKey(key)!;
        if (!live.has(domain)) {
          // A deleted registry's objects: unreadable (no key), removed once past the grace period.
          const st = await store.stat(key);
          if (!st || st.modifiedAt.getTime() > cutoff) continue;
          c.filesRemoved++;
          c.bytesReclaimed += st.size;
          if (!dryRun) await store.delete(key);
          continue;
        }
        const m = /^domains\/\d+\/blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
        if (!m) continue; // uploads and task files: their own services clean them up
        let digests = byDomain.get(domain);
        if (!digests) byDomain.set(domain, (digests = new Map<string, string>()));
        digests.set(`${m[1]}:${m[2]}`, key);
      }
      for (const [domain, digests] of byDomain) {
        const linked = await this.store.linkedInRegistry(domain, [...digests.keys()]);
        for (const [digest, key] of digests) {
          if (linked.has(digest)) continue;
          const st = await store.stat(key);
          if (!st || st.modifiedAt.getTime() > cutoff) continue;
          if (dryRun) {
            c.blobsRemoved++;
            c.bytesReclaimed += st.size;
            continue;
          }
          // Under the digest's row lock (or a placeholder claiming it): an upload or mount of the
          // same content in this registry waits, then finds the bytes gone and writes them afresh.
          const removed = await this.meta.transaction(async (trx) => {
            if (await this.store.lockBlob(trx, digest)) {
              if (await this.store.blobLinkedInRegistry(trx, domain, digest)) return false;
              await store.delete(key);
              if (region !== undefined) await this.store.unplaceDomainCopy(trx, domain, digest, region);
              return true;
            }
            if (!(await this.store.claimBlob(trx, digest, st.size, this.iso()))) return false;
            await store.delete(key);
            await this.store.deleteBlob(trx, digest);
            return true;
          });
          if (removed) {
            c.blobsRemoved++;
            c.bytesReclaimed += st.size;
          }
        }
      }
      await beat();
    }
  }

  /** Bytes under blobs/ without a row, older than the grace period, in each store. */
  private async files(c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    for (const store of this.sweepStores ?? [this.storage]) await this.filesIn(store, c, dryRun, beat);
  }

  private async filesIn(store: StorageDriver, c: GcCounts, dryRun: boolean, beat: () => Promise<void>): Promise<void> {
    const cutoff = this.clock().getTime() - this.opts.gracePeriodSeconds * 1000;
    let startAfter: string | undefined;
    for (;;) {
      const keys = await store.list('blobs/', { startAfter, limit: this.opts.batchSize });
      if (keys.length === 0) return;
      startAfter = keys[keys.length - 1];
      const byDigest = new Map<string, string>();
      for (const key of keys) {
        const m = /^blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
        if (m) byDigest.set(`${m[1]}:${m[2]}`, key);
      }
      if (byDigest.size === 0) continue;
      const known = await this.store.knownBlobs([...byDigest.keys()]);
      for (const [digest, key] of byDigest) {
        if (known.has(digest)) continue;
        const st = await store.stat(key);
        if (!st || st.modifiedAt.getTime() > cutoff) continue;
        if (dryRun) {
          c.filesRemoved++;
          c.bytesReclaimed += st.size;
          continue;
        }
        // Claim the digest with a placeholder row: an upload committing the same content either
        // inserted its row first (we skip) or waits for us and then writes its bytes afresh.
        const removed = await this.meta.transaction(async (trx) => {
          if (!(await this.store.claimBlob(trx, digest, st.size, this.iso()))) return false;
          await store.delete(key);
          await this.store.deleteBlob(trx, digest);
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
    const row = await this.store.run(id);
    return row ? view(row) : undefined;
  }

  async status(): Promise<GcStatus> {
    const runs = await this.store.recentRuns(10);
    const b = await this.store.backlog();
    const running = runs.find((r) => r.status === 'running' && Number(r.dry_run) === 0);
    const now = this.clock().getTime();
    const grace = this.opts.gracePeriodSeconds * 1000;
    const due = this.opts.scheduled && b.nextRunAt ? Date.parse(b.nextRunAt) : now;
    // The next collection marks what no run has seen yet; the grace period counts from a mark.
    const next = Math.max(now, due);
    const latest = (...ms: (number | false)[]) => Math.max(next, ...ms.map((m) => (m === false ? -Infinity : m)));
    const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const referrers = this.opts.deleteDanglingReferrers ? b.referrers.count : 0;
    const manifestsAfter = referrers ? latest(Date.parse(b.referrers.newestCreatedAt!) + grace) : null;
    const linksAfter = b.links.count
      ? latest(b.links.marked > 0 && Date.parse(b.links.latestMark!) + grace, b.links.count > b.links.marked && next + grace)
      : null;
    // A blob still linked is marked by the collection that removes its last link, a grace period after that.
    const unmarkedOrphans = b.blobs.count - b.blobs.linked - b.blobs.marked;
    const blobsAfter = b.blobs.count
      ? latest(
          b.blobs.linked > 0 && (linksAfter ?? next) + grace,
          b.blobs.marked > 0 && Date.parse(b.blobs.latestMark!) + grace,
          unmarkedOrphans > 0 && next + grace,
        )
      : null;
    return {
      gracePeriodSeconds: this.opts.gracePeriodSeconds,
      nextRunAt: this.opts.scheduled ? at(next) : null,
      pending: {
        links: b.links.count,
        blobs: b.blobs.count,
        bytes: b.blobs.bytes,
        manifests: referrers,
        marked: { links: b.links.marked, blobs: b.blobs.marked },
        reclaimableAfter: { manifests: at(manifestsAfter), links: at(linksAfter), blobs: at(blobsAfter) },
        recycleBin: { manifests: b.recycleBin.count, until: b.recycleBin.latestPurgeAfter },
      },
      running: running ? view(running) : null,
      lastRuns: runs.map(view),
    };
  }
}

function columns(c: GcCounts): GcRunPatch {
  return {
    referrers_removed: c.referrersRemoved,
    links_marked: c.linksMarked,
    links_removed: c.linksRemoved,
    blobs_marked: c.blobsMarked,
    blobs_removed: c.blobsRemoved,
    files_removed: c.filesRemoved,
    bytes_reclaimed: c.bytesReclaimed,
  };
}

function view(r: GcRunRow): GcReport {
  return {
    id: Number(r.id),
    dryRun: Number(r.dry_run) === 1,
    status: r.status as GcReport['status'],
    node: r.node,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
    referrersRemoved: Number(r.referrers_removed),
    linksMarked: Number(r.links_marked),
    linksRemoved: Number(r.links_removed),
    blobsMarked: Number(r.blobs_marked),
    blobsRemoved: Number(r.blobs_removed),
    filesRemoved: Number(r.files_removed),
    bytesReclaimed: Number(r.bytes_reclaimed),
  };
}
