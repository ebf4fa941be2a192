import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { ActivityRecorder } from '../../domain/activity.js';
import { parseDigest } from '../../domain/digest.js';
import { isTransient, RegistryError } from '../../domain/errors.js';
import type { JobQueue, JobRow } from '../../jobs/queue.js';
import type { EventStore } from '../../meta/events.js';
import type { Backlog, KyselyReplication, PendingKey, ReplicaRow } from '../../meta/replication.js';
import type { Executor, RegistryRow, Transactor } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { StorageNotFoundError, type ReadRange } from '../../storage/driver.js';
import { blobKey, NO_DOMAINS, type Domain, type DomainLookup } from '../../storage/paths.js';
import type { Region, RegionalStorage } from '../../storage/regional.js';
import { currentActor } from '../actor.js';
import type { PushHook } from '../content/manifests.js';
import { tierOf } from '../policy/tiers.js';
import { quarantineHides } from '../../domain/quarantine.js';
import { ByteBudget, copyBlob, damaged, DamagedCopyError, tryElsewhere, verifier } from './copy.js';

// Geo-replication. Metadata is one database for every region, so a manifest or tag is visible
// everywhere the moment its push commits; only bytes travel. Each region has its own blob store;
// blob_placements records which stores hold a blob. A push (the hook below) notes, in its own
// transaction, every replica region still missing some of the image's blobs and queues a
// `replicate@<region>` job there; that region's nodes copy the blobs storage to storage,
// verified against their digests, record each placement, then mark the image complete in that
// region (per-replica webhooks fire then). A pull of a blob the serving region does not hold yet
// reads it from a region that does, and copies it here meanwhile (read repair): never a 404 for
// content that exists. Lag is the age of a region's oldest waiting image.
//
// A registry with a customer-managed key keeps its own copies of its blobs (its encryption
// domain, domains/<id>/…): they are placed (domain_placements), copied and read-repaired as
// copies of their own, through the domain in both regions, so they stay sealed with the
// registry's key everywhere and become unreadable everywhere when it is revoked.

export const REPLICATE_JOB_PREFIX = 'replicate@';
export const BACKFILL_JOB = 'replication-backfill';

export interface RegionInfo {
  name: string;
  url: string;
}

export interface ReplicationOptions {
  /** The deployment's regions, in configuration order (the first is the default home). */
  regions: readonly RegionInfo[];
  /** This node's region. */
  local: string;
  copyConcurrency: number;
  maxBytesPerSecond: number;
  verifyReads: boolean;
  /** How a pull of a blob this region lacks is answered. */
  missingBlobs: 'proxy' | 'redirect';
  /** Lifetime of a read URL a client is redirected to (storage.redirectTtlSeconds). */
  redirectTtlSeconds: number;
}

interface ReplicateJob {
  registryId: number;
  repositoryId: number;
  digest: string;
}

/** What a replica's owner sets (az acr replication create/update). */
export interface ReplicaSettings {
  regionEndpointEnabled?: boolean;
  zoneRedundancy?: string;
  tags?: Record<string, string>;
}

/** A replica as the API shows it (ACR's replication resource, with Berth's lag fields). */
export interface ReplicaView {
  location: string;
  home: boolean;
  regionEndpointEnabled: boolean;
  zoneRedundancy: string;
  tags: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  url: string | undefined;
  backlog: Backlog;
  /** The replica is new and what the registry held is still being queued for it. */
  backfilling: boolean;
  lagSeconds: number;
}

type Meta = Transactor & Pick<EventStore, 'recordEvent'> & { getRegistryById(id: number): Promise<RegistryRow | undefined> };

export class ReplicationService implements PushHook {
  /** Where each region's background outcome is recorded (lag alerts). */
  activity?: ActivityRecorder;
  private readonly budget: ByteBudget;
  /** Copies in progress on this node, so two jobs (or a read repair) needing one blob copy it once. */
  private readonly copying = new Map<string, Promise<void>>();
  /** (registry, region) pairs currently reported as lagging, so each crossing is reported once. */
  private readonly lagging = new Set<string>();
  /** Registries with a customer-managed key: their blobs are copies of their own (their domain's). */
  domains: DomainLookup = NO_DOMAINS;

  constructor(
    private readonly store: KyselyReplication,
    private readonly meta: Meta,
    private readonly jobs: JobQueue,
    /** Every region's blob store; undefined on a deployment with one region. */
    private readonly stores: RegionalStorage | undefined,
    private readonly opts: ReplicationOptions,
    private readonly log: Logger,
  ) {
    this.budget = new ByteBudget(opts.maxBytesPerSecond);
  }

  /** Whether the deployment has more than one region (else nothing is placed or copied). */
  get enabled(): boolean {
    return this.stores !== undefined && this.opts.regions.length > 1;
  }

  get localRegion(): string {
    return this.opts.local;
  }

  get regions(): readonly RegionInfo[] {
    return this.opts.regions.length ? this.opts.regions : [{ name: this.opts.local, url: '' }];
  }

  /** A registry's home region. */
  home(reg: RegistryRow): string {
    return reg.location ?? this.regions[0]!.name;
  }

  /**
   * The home region of a new registry: the one asked for (it must be declared), else this node's;
   * undefined on a deployment that declares no regions.
   */
  homeFor(location: string | undefined | null): string | undefined {
    if (location) this.assertRegion(location);
    if (this.opts.regions.length === 0) return undefined;
    return location || this.opts.local;
  }

  /** A per-replica webhook's region: stored only on a deployment with several regions. */
  webhookLocation(location: string): string | null {
    if (!location) return null;
    this.assertRegion(location);
    return this.enabled ? location : null;
  }

  private assertRegion(location: string): void {
    if (!this.regions.some((r) => r.name === location)) {
      const declared = this.regions.map((r) => r.name).join(', ');
      throw new RegistryError(
        'REQUEST_INVALID',
        this.opts.regions.length
          ? `region "${location.slice(0, 60)}" is not declared in this deployment; its regions are ${declared}`
          : `region "${location.slice(0, 60)}" is not declared: this deployment has one region (${declared}); declare regions in the configuration (regions: [{name, url, storage}])`,
      );
    }
  }

  /** Regions that must hold a registry's content: its home and its replicas. */
  async replicaRegions(reg: RegistryRow): Promise<string[]> {
    const rows = await this.store.listReplicas(reg.id);
    return [this.home(reg), ...rows.map((r) => r.location).filter((l) => l !== this.home(reg))];
  }

  // ---------------------------------------------------------------- replicas (az acr replication)

  async list(reg: RegistryRow): Promise<ReplicaView[]> {
    const rows = await this.store.listReplicas(reg.id);
    const views = [await this.view(reg, undefined)];
    for (const r of rows) views.push(await this.view(reg, r));
    return views;
  }

  /** Whether the registry has a replica (not its home) in that region. */
  async isReplica(reg: RegistryRow, location: string): Promise<boolean> {
    return location !== this.home(reg) && (await this.store.getReplica(reg.id, location)) !== undefined;
  }

  async show(reg: RegistryRow, location: string): Promise<ReplicaView> {
    if (location === this.home(reg)) return this.view(reg, undefined);
    const row = await this.store.getReplica(reg.id, location);
    if (!row) throw this.unknown(reg, location);
    return this.view(reg, row);
  }

  async create(reg: RegistryRow, location: string, o: ReplicaSettings): Promise<ReplicaView> {
    if (tierOf(reg.sku).geoReplications === 0)
      throw new RegistryError(
        'REQUEST_INVALID',
        `geo-replication needs the Premium tier; registry ${reg.name} is ${reg.sku} (berth update -n ${reg.name} --sku Premium)`,
      );
    this.assertRegion(location);
    if (location === this.home(reg))
      throw new RegistryError('CONFLICT', `${location} is the home region of registry ${reg.name}: its content is already there`);
    const row = await this.meta.transaction(async (trx) => {
      const inserted = await this.store.insertReplica(trx, {
        registry_id: reg.id,
        location,
        region_endpoint_enabled: o.regionEndpointEnabled === false ? 0 : 1,
        zone_redundancy: o.zoneRedundancy ?? 'Disabled',
        tags: JSON.stringify(o.tags ?? {}),
      });
      if (!inserted) throw new RegistryError('CONFLICT', `registry ${reg.name} already has a replica in ${location}`);
      // What the registry already holds is copied there too (one job walks it, in batches).
      await this.jobs.enqueue(trx, BACKFILL_JOB, { registryId: reg.id, region: location });
      return inserted;
    });
    return this.view(reg, row);
  }

  async update(reg: RegistryRow, location: string, o: ReplicaSettings): Promise<ReplicaView> {
    if (location === this.home(reg))
      throw new RegistryError(
        'REQUEST_INVALID',
        `${location} is the home region of registry ${reg.name}: its replica always serves; only other replicas can be updated`,
      );
    const row = await this.store.updateReplica(reg.id, location, {
      ...(o.regionEndpointEnabled !== undefined ? { region_endpoint_enabled: o.regionEndpointEnabled ? 1 : 0 } : {}),
      ...(o.zoneRedundancy !== undefined ? { zone_redundancy: o.zoneRedundancy } : {}),
      ...(o.tags !== undefined ? { tags: JSON.stringify(o.tags) } : {}),
    });
    if (!row) throw this.unknown(reg, location);
    return this.view(reg, row);
  }

  /** Removes a replica; its region keeps the bytes other registries may share, until GC collects them. */
  async delete(reg: RegistryRow, location: string): Promise<void> {
    if (location === this.home(reg))
      throw new RegistryError(
        'REQUEST_INVALID',
        `${location} is the home region of registry ${reg.name} and cannot be deleted (delete the registry instead)`,
      );
    const gone = await this.meta.transaction((trx) => this.store.deleteReplica(trx, reg.id, location));
    if (!gone) throw this.unknown(reg, location);
  }

  private unknown(reg: RegistryRow, location: string): RegistryError {
    return new RegistryError('RESOURCE_UNKNOWN', `registry ${reg.name} has no replica in ${location.slice(0, 60)}`);
  }

  private async view(reg: RegistryRow, row: ReplicaRow | undefined): Promise<ReplicaView> {
    const location = row?.location ?? this.home(reg);
    const backlog = await this.store.backlog(reg.id, location, await this.domains.domainOf(reg.id));
    return {
      location,
      home: !row,
      regionEndpointEnabled: row ? Number(row.region_endpoint_enabled) === 1 : true,
      zoneRedundancy: row?.zone_redundancy ?? 'Disabled',
      tags: row ? (JSON.parse(row.tags) as Record<string, string>) : {},
      createdAt: row?.created_at ?? reg.created_at,
      updatedAt: row?.updated_at ?? reg.updated_at,
      url: this.regions.find((r) => r.name === location)?.url || undefined,
      backlog,
      backfilling: !!row && row.backfilled_at === null,
      // While the backfill runs, the replica is as far behind as it is old.
      lagSeconds: row && row.backfilled_at === null ? lagSeconds(row.created_at) : lagSeconds(backlog.oldest),
    };
  }

  /** In which of the registry's replica regions a manifest is complete, and where it still waits. */
  async manifestStatus(reg: RegistryRow, repositoryId: number, digest: string): Promise<{ location: string; status: string }[]> {
    if (!this.enabled) return []; // one region: no query on the manifest's path
    const regions = await this.replicaRegions(reg);
    if (regions.length < 2) return [];
    const waiting = new Set(await this.store.pendingRegions(reg.id, repositoryId, digest));
    return regions.map((location) => ({ location, status: waiting.has(location) ? 'Syncing' : 'Ready' }));
  }

  // ---------------------------------------------------------------- writes

  /** Called in the blob commit's transaction: this node's region now holds the bytes. */
  async placed(trx: Executor, digest: string, domain?: Domain): Promise<void> {
    if (this.enabled) await this.store.placeBlob(trx, digest, this.opts.local, domain);
  }

  /**
   * In the push's transaction: for each replica region, the image is complete there already (a
   * per-replica event now) or it waits, with a copy job queued in that region.
   */
  async pushed(
    trx: Executor,
    p: { reg: RegistryRow; repository: string; digest: string; tags: string[]; manifestId: number },
  ): Promise<void> {
    if (!this.enabled) return;
    const repositoryId = await this.store.repositoryOfManifest(trx, p.manifestId);
    if (repositoryId === undefined) return;
    const image = await this.store.image(trx, repositoryId, p.digest);
    if (!image) return;
    const regions = [this.home(p.reg), ...(await this.store.listReplicas(p.reg.id)).map((r) => r.location)];
    const tag = p.tags[0] ?? null;
    const domain = await this.domains.domainOf(p.reg.id);
    for (const region of new Set(regions)) {
      const queued = await this.queueIfMissing(
        trx,
        { registryId: p.reg.id, repositoryId, digest: p.digest },
        region,
        image.blobs,
        tag,
        domain,
      );
      if (!queued) await this.completeEvent(trx, p.reg.id, region, image, p.digest, tag, p.reg.quarantine_enabled);
    }
  }

  /**
   * Queues the copy of an image into a region when the region lacks some of its blobs (once: a
   * waiting image is not queued again); false when the region has them all.
   */
  private async queueIfMissing(
    trx: Executor,
    job: ReplicateJob,
    region: string,
    blobs: { digest: string }[],
    tag: string | null,
    domain: Domain,
  ): Promise<boolean> {
    const missing = await this.store.missingIn(
      trx,
      region,
      blobs.map((b) => b.digest),
      domain,
    );
    if (missing.length === 0) return false;
    const key = { registry_id: job.registryId, region, repository_id: job.repositoryId, digest: job.digest };
    if (await this.store.addPending(trx, { ...key, tag })) await this.jobs.enqueue(trx, REPLICATE_JOB_PREFIX + region, job);
    return true;
  }

  private async completeEvent(
    trx: Executor,
    registryId: number,
    region: string,
    image: { repository: string; mediaType: string; size: number; quarantineState: string | null },
    digest: string,
    tag: string | null,
    quarantinePolicy: number,
  ): Promise<void> {
    await this.meta.recordEvent(trx, currentActor(), {
      registry_id: registryId,
      // An image held back by quarantine is announced as such in its region too, never as a push.
      action: quarantineHides(quarantinePolicy, image.quarantineState) ? 'quarantine' : 'push',
      operation: 'replicated',
      region,
      repository: image.repository,
      digest,
      tag,
      media_type: image.mediaType,
      size: image.size,
    });
  }

  // ---------------------------------------------------------------- jobs

  /** This node copies into its own region; other regions' jobs are left to their nodes. */
  register(): void {
    this.jobs.handledElsewherePrefix(REPLICATE_JOB_PREFIX);
    this.jobs.handle<ReplicateJob>(REPLICATE_JOB_PREFIX + this.opts.local, (p, job) => this.replicate(p, job), { long: true });
    this.jobs.handle<{ registryId: number; region: string }>(BACKFILL_JOB, (p) => this.backfill(p.registryId, p.region), { long: true });
  }

  /** Makes one image complete in this node's region. */
  async replicate(p: ReplicateJob, job?: JobRow): Promise<void> {
    const region = this.opts.local;
    const key: PendingKey = { registry_id: p.registryId, region, repository_id: p.repositoryId, digest: p.digest };
    const pending = await this.store.getPending(this.meta.db, key);
    if (!pending) return; // done already, or the replica was removed
    const image = await this.store.image(this.meta.db, p.repositoryId, p.digest);
    if (!image) {
      await this.store.removePending(this.meta.db, key); // deleted meanwhile: nothing to copy
      return;
    }
    const domain = await this.domains.domainOf(p.registryId);
    const missing = new Set(
      await this.store.missingIn(
        this.meta.db,
        region,
        image.blobs.map((b) => b.digest),
        domain,
      ),
    );
    const todo = image.blobs.filter((b) => missing.has(b.digest));
    // The lease is kept while copying, on a timer: one (throttled) blob may take longer than the
    // lease, and a lease that ran out would let this node or another claim the job again mid-copy.
    const beat = job
      ? setInterval(() => void this.jobs.renewLease(job).catch(() => undefined), Math.max(200, (this.jobs.opts.leaseSeconds * 1000) / 3))
      : undefined;
    try {
      await eachLimit(todo, this.opts.copyConcurrency, (b) => this.place(b.digest, b.size, domain));
    } finally {
      clearInterval(beat);
    }
    const reg = await this.meta.getRegistryById(p.registryId);
    await this.meta.transaction(async (trx) => {
      if (await this.store.removePending(trx, key))
        await this.completeEvent(trx, p.registryId, region, image, p.digest, pending.tag, reg?.quarantine_enabled ?? 0);
    });
  }

  /** A new replica: every manifest the registry holds waits there, each with its copy job. */
  async backfill(registryId: number, region: string): Promise<void> {
    const domain = await this.domains.domainOf(registryId);
    let after = 0;
    for (;;) {
      const rows = await this.store.manifestsAfter(registryId, after, 200);
      if (rows.length === 0) {
        await this.store.markBackfilled(registryId, region);
        return;
      }
      after = Number(rows[rows.length - 1]!.id);
      // A replica deleted meanwhile stops the walk.
      if (!(await this.store.getReplica(registryId, region))) return;
      await this.meta.transaction(async (trx) => {
        for (const m of rows) {
          const image = await this.store.image(trx, Number(m.repository_id), m.digest);
          if (image)
            await this.queueIfMissing(
              trx,
              { registryId, repositoryId: Number(m.repository_id), digest: m.digest },
              region,
              image.blobs,
              null,
              domain,
            );
        }
      });
    }
  }

  /**
   * Copies one blob into this node's region from a region that holds an intact copy, then records
   * the placement. A damaged copy found on the way is dropped from its region (its reads then go
   * elsewhere, and it is copied again there). One copy per blob at a time on this node.
   */
  place(digest: string, size: number, domain?: Domain): Promise<void> {
    const id = `${domain ?? ''}/${digest}`;
    const running = this.copying.get(id);
    if (running) return running;
    const p = this.#place(digest, size, domain).finally(() => this.copying.delete(id));
    this.copying.set(id, p);
    return p;
  }

  async #place(digest: string, size: number, domain: Domain): Promise<void> {
    const stores = this.stores!;
    const holders = await this.store.placements(digest, domain);
    const failures: string[] = [];
    // Regions that record the blob first, then the rest (bytes written before regions existed).
    for (const source of stores.peersFor(holders)) {
      try {
        await copyBlob(source, stores.local, digest, size, this.budget, domain);
        try {
          await this.meta.transaction((trx) => this.store.placeBlob(trx, digest, stores.local.name, domain));
        } catch (e) {
          if (isTransient(e)) throw e; // the database, not the blob: the job is retried
          // The blob was collected while it was copied (its row is gone): its bytes here are swept as an orphan.
          this.log.info({ digest, region: stores.local.name, err: e }, 'a copied blob was collected meanwhile; left for the storage sweep');
        }
        return;
      } catch (e) {
        if (!tryElsewhere(e)) throw e;
        if (e instanceof DamagedCopyError) await this.dropDamaged(source, digest, e.message, domain);
        failures.push(`${source.name}: ${(e as Error).message}`);
      }
    }
    throw new Error(`no region holds an intact copy of blob ${digest} (${failures.join('; ') || 'no other region'})`);
  }

  /** A copy whose bytes do not match its digest: removed from its region, never served again. */
  private async dropDamaged(region: Region, digest: string, why: string, domain: Domain): Promise<void> {
    this.log.error({ digest, region: region.name, domain }, `removing a damaged blob copy: ${why}`);
    await this.store.unplaceBlob(digest, region.name, domain);
    await region.driver.delete(blobKey(parseDigest(digest), domain)).catch(() => undefined);
  }

  // ---------------------------------------------------------------- reads

  /**
   * A blob's bytes for a pull: this region's copy (checked against the digest on a whole read),
   * else another region's, while a copy is made here. Throws StorageNotFoundError when no region
   * holds it.
   */
  async open(digest: string, size: number, range?: ReadRange, domain?: Domain): Promise<Readable> {
    const stores = this.stores!;
    const key = blobKey(parseDigest(digest), domain);
    const verify = (r: Region, s: Readable): Readable => {
      // A copy that fails its digest, or (encrypted) its integrity check, is dropped from its region.
      const dropIfDamaged = (err: unknown) => {
        const d = err ? damaged(err, r.name, digest) : undefined;
        if (d instanceof DamagedCopyError) void this.dropDamaged(r, digest, d.message, domain);
      };
      if (range || !this.opts.verifyReads) {
        s.once('error', dropIfDamaged);
        return s;
      }
      return pipeline(s, verifier(digest, size, r.name), dropIfDamaged);
    };
    try {
      return verify(stores.local, await stores.local.driver.read(key, range));
    } catch (e) {
      const d = damaged(e, stores.local.name, digest);
      if (d instanceof DamagedCopyError) await this.dropDamaged(stores.local, digest, d.message, domain);
      else if (!tryElsewhere(e)) throw e;
    }
    for (const r of stores.peersFor(await this.store.placements(digest, domain))) {
      let s: Readable;
      try {
        s = await r.driver.read(key, range);
      } catch (e) {
        if (!tryElsewhere(damaged(e, r.name, digest))) throw e;
        continue;
      }
      // Read repair: this region gets its own copy, in the background (a failure is only logged;
      // the replication job, if any, tries again).
      this.place(digest, size, domain).catch((err: unknown) => this.log.warn({ digest, err }, 'read repair failed'));
      return verify(r, s);
    }
    throw new StorageNotFoundError(stores.local.driver.name, key);
  }

  /**
   * With missingBlobs: redirect, a short-lived read URL in a region that holds a blob this region
   * lacks (undefined: serve it, from here or through open()).
   */
  async missingBlobUrl(digest: string, size: number, domain?: Domain): Promise<string | undefined> {
    // A domain's objects are never handed out: they are sealed with the registry's key.
    if (!this.enabled || this.opts.missingBlobs !== 'redirect' || domain !== undefined) return undefined;
    const stores = this.stores!;
    const holders = await this.store.placements(digest);
    if (holders.includes(stores.local.name)) return undefined;
    const key = blobKey(parseDigest(digest));
    for (const r of stores.peersFor(holders)) {
      if (!holders.includes(r.name) || !r.driver.signedReadUrl) continue;
      const url = await r.driver.signedReadUrl(key, { expiresInSeconds: this.opts.redirectTtlSeconds });
      if (url) {
        this.place(digest, size).catch((err: unknown) => this.log.warn({ digest, err }, 'read repair failed'));
        return url;
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Blobs recorded before the deployment had regions: placed in the first region, whose store
   * held them (and so the own copies of registries with a customer-managed key made then).
   */
  async adoptUnplaced(): Promise<number> {
    if (!this.enabled) return 0;
    let total = 0;
    for (const adopt of [this.store.adoptUnplaced.bind(this.store), this.store.adoptUnplacedDomainCopies.bind(this.store)]) {
      for (;;) {
        const n = await adopt(this.regions[0]!.name, 1000);
        total += n;
        if (n < 1000) break;
      }
    }
    return total;
  }

  /** Lag of every (registry, region) with a backlog, for metrics and alerts. */
  async lag(): Promise<{ registry: string; region: string; seconds: number; manifests: number }[]> {
    if (!this.enabled) return [];
    const out: { registry: string; region: string; seconds: number; manifests: number }[] = [];
    const names = new Map<number, string>();
    for (const r of await this.store.oldestPending()) {
      if (!names.has(r.registry_id))
        names.set(r.registry_id, (await this.meta.getRegistryById(r.registry_id))?.name ?? String(r.registry_id));
      out.push({ registry: names.get(r.registry_id)!, region: r.region, seconds: lagSeconds(r.oldest), manifests: r.manifests });
    }
    return out;
  }

  /** Reports each replica that falls further behind than `thresholdSeconds`, once, and its recovery. */
  async checkLag(thresholdSeconds: number): Promise<void> {
    if (!this.enabled || thresholdSeconds <= 0) return;
    const now = new Set<string>();
    for (const l of await this.lag()) {
      if (l.seconds < thresholdSeconds) continue;
      const k = `${l.registry}\u0000${l.region}`;
      now.add(k);
      if (this.lagging.has(k)) continue;
      this.log.warn(
        { registry: l.registry, region: l.region, lagSeconds: l.seconds, manifests: l.manifests },
        `replica ${l.region} of registry ${l.registry} is ${l.seconds} s behind (threshold ${thresholdSeconds} s)`,
      );
      await this.activity?.record({
        operation: 'Berth/registries/replications/lagAlert/action',
        registry: l.registry,
        resource: `/registries/${l.registry}/replications/${l.region}`,
        result: 'Failed',
        identity: 'replication',
        identityType: 'System',
        properties: { lagSeconds: l.seconds, pendingManifests: l.manifests, thresholdSeconds },
      });
    }
    for (const k of this.lagging) if (!now.has(k)) this.log.info({ replica: k.replace('\u0000', '/') }, 'replica caught up');
    this.lagging.clear();
    for (const k of now) this.lagging.add(k);
  }
}

function lagSeconds(oldest: string | null): number {
  return oldest ? Math.max(0, Math.round((Date.now() - Date.parse(oldest)) / 1000)) : 0;
}

async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
