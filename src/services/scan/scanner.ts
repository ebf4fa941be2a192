import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import { MediaTypes, parseManifest, type Descriptor, type ParsedManifest } from '../../domain/manifest.js';
import { summarize, type Finding, type ScanSummary } from '../../domain/scan/findings.js';
import { cycloneDx, spdx, type SbomSubject } from '../../domain/scan/sbom/index.js';
import {
  jsonBytes,
  OCI_EMPTY_BLOB,
  OCI_EMPTY_DESCRIPTOR,
  SBOM_ARTIFACT_TYPES,
  sbomReferrerManifest,
  type SbomFormat,
} from '../../domain/scan/sbom/referrer.js';
import { decide, DEFAULT_SCAN_POLICY, parseAllowList, type AllowEntry, type FailOn, type ScanPolicy } from '../../domain/scan/policy.js';
import type { ImageInventory } from '../../domain/scan/types.js';
import type { JobQueue, JobRow } from '../../jobs/queue.js';
import {
  IMAGE_CONFIG_TYPES,
  type ScanListRow,
  type ScanResultPatch,
  type ScanRow,
  type Scans,
  type ScanSubject,
} from '../../meta/scans.js';
import { now, type EventStore, type Executor, type RegistryRow, type Transactor } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { isTransient } from '../../domain/errors.js';
import type { StorageDriver } from '../../storage/driver.js';
import { blobKey, type Domain, NO_DOMAINS, type DomainLookup } from '../../storage/paths.js';
import { readWhole } from '../../storage/read-whole.js';
import { asSystem, currentActor } from '../actor.js';
import type { ManifestService, PushHook, QuarantineViewer } from '../content/manifests.js';
import type { UploadService } from '../content/uploads.js';

// Scanning as durable jobs (issue 15): a manifest push queues a scan in its own transaction; the
// job reads the image's layers once to inventory what is installed, pushes the inventory as SBOM
// referrers (CycloneDX and SPDX), matches it against the imported vulnerability data and records
// the findings. New vulnerability data is matched again from the stored inventories, without
// reading layers. Scans never run inside a push request.

export const SCAN_JOB = 'scan';
export const REMATCH_JOB = 'scan-rematch';
/**
 * Who the scanner's changes are attributed to (audit, quarantine state). No user, token or service
 * principal can bear this name (none may hold a ':'), so a state it set is known to be the scanner's.
 */
export const SCANNER = 'berth:scanner';
const AS_SCANNER = { name: 'scanner', method: 'SCAN', identity: SCANNER };

/** Matches an inventory against the vulnerability data the operator imported. */
export interface Matcher {
  match(inventory: ImageInventory): Promise<{ findings: Finding[]; dataDate: string | null }>;
}

/** One layer of an image, in order, as the inventory reads it. */
export interface InventoryLayer {
  digest: string;
  mediaType: string;
  size: number;
  open(): Promise<NodeJS.ReadableStream>;
}

/** Reads an image's layers into its inventory; warnings name what was skipped (an unreadable jar...). */
export type Inventorier = (layers: Iterable<InventoryLayer>, signal: AbortSignal) => Promise<ImageInventory & { warnings?: string[] }>;

export interface ScanOptions {
  /** auto: scan once vulnerability data exists; always; off. */
  mode: 'auto' | 'always' | 'off';
  /** SBOM formats pushed as referrers of each scanned image. */
  sbomFormats: readonly SbomFormat[];
  /** A scan that runs longer fails with a message. */
  timeoutSeconds: number;
  /** Job attempts before a scan fails for good (a storage outage is retried). */
  maxAttempts: number;
  /** The login server of a registry, as SBOMs name the image (e.g. 127.0.0.1:5000/myreg). */
  loginServer(registry: string): string;
}

export interface ScanObserver {
  /** A scan ended: succeeded, failed or unsupported, after seconds, with its summary. */
  scanned(outcome: string, seconds: number, summary?: ScanSummary): void;
}

/** A scan as the API and CLI show it. */
export interface ScanView {
  repository: string;
  digest: string;
  mediaType: string;
  status: string;
  message?: string;
  requestedAt: string;
  scannedAt?: string;
  matchedAt?: string;
  dataDate?: string;
  sbom: { cyclonedx?: string; spdx?: string };
  summary?: ScanSummary;
  os?: ImageInventory['os'];
  packages?: number;
  findings?: Finding[];
  /** For an index: each platform's image and its scan status. */
  platforms?: { digest: string; platform: string; status: string }[];
}

/** The largest SBOM document read whole (the scanner's own stay far below: 16 Mi characters of names and paths at most). */
const MAX_SBOM_BYTES = 64 * 1024 * 1024;

interface ScanJob {
  manifestId: number;
}

const IMAGE_CONFIGS = new Set<string>(IMAGE_CONFIG_TYPES);

/** Whether a manifest is a container image (not an artifact such as a signature or an SBOM). */
export function isContainerImage(m: ParsedManifest): boolean {
  if (m.kind !== 'manifest') return false;
  return m.config !== null && IMAGE_CONFIGS.has(m.config.mediaType) && (m.artifactType === null || IMAGE_CONFIGS.has(m.artifactType));
}

/** Whether the scanner decides an image's quarantine state: still Quarantined, or last set by the scanner itself. */
export function scannerDecides(s: Pick<ScanSubject, 'quarantine_state' | 'quarantine_updated_by'>): boolean {
  return s.quarantine_state === 'Quarantined' || (s.quarantine_state !== null && s.quarantine_updated_by === SCANNER);
}

function platformText(d: Descriptor): string {
  const p = d.platform;
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/') || 'unknown';
}

export class ScanService implements PushHook {
  /** Registries with a customer-managed key keep their blobs in their own encryption domain. */
  domains: DomainLookup = NO_DOMAINS;

  /** Where each finished scan is reported (metrics). */
  observer?: ScanObserver;

  constructor(
    private readonly scans: Scans,
    private readonly registries: { getRegistryById(id: number): Promise<RegistryRow | undefined> },
    private readonly meta: Transactor & Pick<EventStore, 'recordEvent'>,
    private readonly storage: StorageDriver,
    private readonly jobs: JobQueue,
    private readonly uploads: UploadService,
    private readonly manifests: ManifestService,
    private readonly inventory: Inventorier,
    private readonly matcher: Matcher,
    private readonly opts: ScanOptions,
    private readonly log: Logger,
    private readonly version: string,
  ) {
    // On its last attempt a scan that meets a storage outage fails with the reason instead of staying 'running'.
    jobs.handle<ScanJob>(SCAN_JOB, (p, job) => this.holdingLease(job, () => this.run(p.manifestId, job.attempts < job.max_attempts)), {
      long: true,
    });
    jobs.handle(
      REMATCH_JOB,
      (_p, job) =>
        this.holdingLease(job, async () => {
          await this.rematchAll();
          if (this.opts.mode !== 'off') await this.backfill();
        }),
      { long: true },
    );
  }

  /**
   * A scan may outlive the job lease (jobs.leaseSeconds is 60 s, scan.timeoutSeconds 600 s): without
   * renewing it, this node or another claims the job again mid-scan and runs the same scan twice,
   * then three times, until the long-job slots hold nothing but copies of one slow image.
   */
  private async holdingLease(job: JobRow, fn: () => Promise<void>): Promise<void> {
    const beat = setInterval(
      () => void this.jobs.renewLease(job).catch(() => undefined),
      Math.max(200, (this.jobs.opts.leaseSeconds * 1000) / 3),
    );
    try {
      await fn();
    } finally {
      clearInterval(beat);
    }
  }

  /** In a push's transaction: images and indexes are queued for a scan, artifacts are not. */
  async pushed(trx: Executor, p: { reg: RegistryRow; manifestId: number; created: boolean; manifest: ParsedManifest }): Promise<void> {
    if (this.opts.mode === 'off' || !p.created) return;
    if (p.manifest.kind !== 'index' && !isContainerImage(p.manifest)) return;
    if (this.opts.mode === 'auto' && !(await this.hasData(trx))) return;
    await this.enqueue(trx, p.manifestId, p.reg.id);
  }

  /**
   * scan.mode auto: whether vulnerability data exists yet. Without it a scan could only report
   * "nothing found" and would fill repositories with SBOM referrers nobody asked for. Once true
   * it stays true (data is not removed), so only deployments without data ask on every push.
   */
  private async hasData(ex: Executor): Promise<boolean> {
    if (!this.dataSeen) this.dataSeen = await this.scans.hasVulnData(ex);
    return this.dataSeen;
  }
  private dataSeen = false;

  private async enqueue(ex: Executor, manifestId: number, registryId: number): Promise<void> {
    await this.scans.request(ex, manifestId, registryId, now());
    await this.jobs.enqueue(ex, SCAN_JOB, { manifestId } satisfies ScanJob, { maxAttempts: this.opts.maxAttempts });
  }

  /** berth scan run: scans a manifest again (layers included). */
  async rescan(reg: RegistryRow, repository: string, digest: string, viewer?: QuarantineViewer): Promise<void> {
    const { manifestId, manifest } = await this.resolve(reg, repository, digest, viewer);
    if (manifest.kind !== 'index' && !isContainerImage(manifest))
      throw new RegistryError('REQUEST_INVALID', `${repository}@${digest} is not a container image or an index; only images are scanned`);
    await this.meta.transaction((trx) => this.enqueue(trx, manifestId, reg.id));
  }

  /**
   * After a vulnerability data import: queues a match of every stored inventory against the data,
   * and (unless scan.mode is off) a scan of every image stored before scanning began.
   */
  async requestRematch(): Promise<void> {
    this.dataSeen = true;
    await this.meta.transaction((trx) => this.jobs.enqueue(trx, REMATCH_JOB, {}, { maxAttempts: 3 }));
  }

  private async resolve(
    reg: RegistryRow,
    repository: string,
    digest: string,
    viewer?: QuarantineViewer,
  ): Promise<{ manifestId: number; manifest: ParsedManifest; row: ScanSubject }> {
    // A quarantined image is found only by those who may see it (quarantine read).
    const m = await this.manifests.get(reg, repository, digest, viewer);
    const subject = await this.scans.subject(Number(m.id));
    if (!subject) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not known in repository ${repository}`);
    return { manifestId: subject.manifest_id, manifest: parseManifest(subject.content, subject.media_type), row: subject };
  }

  // ---------------------------------------------------------------- the job

  /** Scans one manifest; with `retryable`, a storage outage is thrown for the queue to retry. */
  async run(manifestId: number, retryable = false): Promise<void> {
    const subject = await this.scans.subject(manifestId);
    if (!subject) return; // deleted since it was queued
    const reg = await this.registries.getRegistryById(subject.registry_id);
    if (!reg) return;
    const started = performance.now();
    await this.scans.update(manifestId, { status: 'running', message: null });
    let manifest: ParsedManifest;
    try {
      manifest = parseManifest(subject.content, subject.media_type);
    } catch (e) {
      return this.finishFailed(reg, subject, `the manifest cannot be read: ${(e as Error).message}`, started);
    }
    if (manifest.kind === 'index') return this.scanIndex(reg, subject, manifest, started, retryable);
    if (!isContainerImage(manifest)) {
      await this.scans.update(manifestId, { status: 'unsupported', message: 'not a container image: artifacts are not scanned' });
      this.observer?.scanned('unsupported', (performance.now() - started) / 1000);
      return;
    }
    let inventory: ImageInventory;
    let warnings: string[];
    try {
      const read = await this.readLayers(subject, manifest, await this.domains.domainOf(reg.id));
      inventory = { ...(read.os ? { os: read.os } : {}), packages: read.packages };
      warnings = read.warnings ?? [];
    } catch (e) {
      // A storage outage is retried by the queue; anything else is this image's problem.
      if (isTransient(e) && retryable) throw e;
      return this.finishFailed(reg, subject, (e as Error).message, started);
    }
    let sboms: Partial<Record<SbomFormat, string>> = {};
    try {
      sboms = await this.pushSboms(reg, subject, manifest, inventory);
    } catch (e) {
      // The repository may refuse them (quota, a write lock, an immutability policy): the scan
      // still reports its findings, and says why the SBOM is missing.
      if (isTransient(e) && retryable) throw e;
      if (!isTransient(e) && !(e instanceof RegistryError)) throw e;
      warnings = [...warnings, `SBOM referrers not stored: ${(e as Error).message}`];
    }
    const { findings, dataDate } = await this.matcher.match(inventory);
    const summary = summarize(findings);
    const at = now();
    // Quarantine is decided first: once a scan reads as finished, the image's state is the one it
    // decided (berth scan run --wait relies on that).
    await this.decideQuarantine(reg, subject, findings, dataDate);
    await this.finish(reg, subject, {
      status: 'succeeded',
      message: warnings.length ? `${warnings.slice(0, 5).join('; ')}${warnings.length > 5 ? '; …' : ''}` : null,
      inventory: JSON.stringify(inventory),
      sbom_cyclonedx: sboms.cyclonedx ?? null,
      sbom_spdx: sboms.spdx ?? null,
      summary: JSON.stringify(summary),
      findings: JSON.stringify(findings),
      data_date: dataDate,
      scanned_at: at,
      matched_at: at,
    });
    this.observer?.scanned('succeeded', (performance.now() - started) / 1000, summary);
    this.log.info(
      {
        registry: reg.name,
        repository: subject.repository,
        digest: subject.digest,
        packages: inventory.packages.length,
        findings: findings.length,
      },
      'scan finished',
    );
  }

  /** A scan's result and its `scan` event (webhooks, audit) are recorded together, in one transaction. */
  private finish(reg: RegistryRow, subject: ScanSubject, result: ScanResultPatch): Promise<void> {
    return asSystem(AS_SCANNER, () =>
      this.meta.transaction(async (trx) => {
        await this.scans.update(subject.manifest_id, result, trx);
        await this.meta.recordEvent(trx, currentActor(), {
          registry_id: reg.id,
          action: 'scan',
          repository: subject.repository,
          digest: subject.digest,
          tag: subject.tag,
          media_type: subject.media_type,
          size: subject.content.byteLength,
        });
      }),
    );
  }

  private async finishFailed(reg: RegistryRow, subject: ScanSubject, message: string, started: number): Promise<void> {
    await this.holdBack(reg, subject, `the scan failed: ${message}`);
    await this.finish(reg, subject, { status: 'failed', message, scanned_at: now() });
    this.observer?.scanned('failed', (performance.now() - started) / 1000);
  }

  /**
   * Quarantine (ACR): an image held back on push is released (Passed) or kept out (Failed) by the
   * registry's scan policy. The scanner owns the states it set: a rescan decides such an image
   * again (under a changed policy or new findings). A state someone else set (a person, an
   * external scanner through the PATCH) stays until it is set back to Quarantined.
   */
  private async decideQuarantine(
    reg: RegistryRow,
    subject: ScanSubject,
    findings: readonly Finding[],
    dataDate: string | null,
  ): Promise<void> {
    if (!reg.quarantine_enabled) return;
    // No vulnerability data, no verdict: "nothing found" against nothing would release every image.
    if (dataDate === null) return;
    // Read again: the state may have been set by someone else while the layers were read.
    const current = await this.scans.subject(subject.manifest_id);
    if (!current || !scannerDecides(current)) return;
    const verdict = decide(findings, await this.policy(reg), new Date());
    await this.setQuarantine(reg, subject, verdict.passed ? 'Passed' : 'Failed', verdict.details);
  }

  /** An image that could not be scanned stays out of sight: Failed, with the reason. */
  private async holdBack(reg: RegistryRow, subject: ScanSubject, why: string): Promise<void> {
    if (!reg.quarantine_enabled || subject.quarantine_state !== 'Quarantined') return;
    await this.setQuarantine(reg, subject, 'Failed', why);
  }

  private setQuarantine(reg: RegistryRow, subject: ScanSubject, state: 'Passed' | 'Failed', details: string): Promise<unknown> {
    return asSystem(AS_SCANNER, () =>
      this.manifests.setQuarantineState(reg, subject.repository, subject.digest, state, `berth scanner: ${details}`, SCANNER),
    );
  }

  /** Streams the layers, in order, into the inventory, within the scan's time budget. */
  private async readLayers(
    subject: ScanSubject,
    manifest: ParsedManifest,
    domain: Domain,
  ): Promise<ImageInventory & { warnings?: string[] }> {
    const storage = this.storage;
    const layers = manifest.blobs.filter((b) => b !== manifest.config && b.digest !== manifest.config?.digest);
    function* iterate(): Generator<InventoryLayer> {
      for (const l of layers) {
        yield { digest: l.digest, mediaType: l.mediaType, size: l.size, open: () => storage.read(blobKey(parseDigest(l.digest), domain)) };
      }
    }
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new Error(`the scan of ${subject.repository}@${subject.digest} took longer than ${this.opts.timeoutSeconds} s and was stopped`),
        ),
      this.opts.timeoutSeconds * 1000,
    );
    try {
      return await this.inventory(iterate(), controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Pushes the inventory as SBOM referrers of the image; their digests. Deterministic: a second scan pushes the same bytes. */
  private async pushSboms(
    reg: RegistryRow,
    subject: ScanSubject,
    manifest: ParsedManifest,
    inventory: ImageInventory,
  ): Promise<Partial<Record<SbomFormat, string>>> {
    const out: Partial<Record<SbomFormat, string>> = {};
    if (this.opts.sbomFormats.length === 0) return out;
    const sbomSubject: SbomSubject = {
      registry: this.opts.loginServer(reg.name),
      repository: subject.repository,
      digest: subject.digest,
      mediaType: subject.media_type,
      created: new Date(subject.created_at),
      tool: { name: 'berth', version: this.version },
    };
    void manifest;
    return asSystem(AS_SCANNER, async () => {
      await this.uploads.ingest(
        reg,
        subject.repository,
        OCI_EMPTY_DESCRIPTOR.digest,
        OCI_EMPTY_BLOB.byteLength,
        bufferStream(OCI_EMPTY_BLOB),
      );
      for (const format of this.opts.sbomFormats) {
        const doc = format === 'cyclonedx' ? cycloneDx(inventory, sbomSubject) : spdx(inventory, sbomSubject);
        const bytes = jsonBytes(doc);
        const blobDigest = `sha256:${sha256Hex(bytes)}`;
        await this.uploads.ingest(reg, subject.repository, blobDigest, bytes.byteLength, bufferStream(bytes));
        const referrer = sbomReferrerManifest(
          { digest: subject.digest, mediaType: subject.media_type, size: subject.content.byteLength },
          { digest: blobDigest, size: bytes.byteLength },
          format,
          { created: sbomSubject.created, generator: `berth ${this.version}` },
        );
        const referrerBytes = Buffer.from(jsonBytes(referrer));
        const put = await this.manifests.put(
          reg,
          subject.repository,
          `sha256:${sha256Hex(referrerBytes)}`,
          referrerBytes,
          MediaTypes.ociManifest,
        );
        // Under the quarantine policy every new manifest is held back, the scanner's own SBOMs too:
        // they describe the image and are released at once (the image itself is decided below).
        if (reg.quarantine_enabled)
          await this.manifests.setQuarantineState(
            reg,
            subject.repository,
            put.digest,
            'Passed',
            'berth scanner: SBOM made by the scanner',
            SCANNER,
          );
        out[format] = put.digest;
      }
      return out;
    });
  }

  /** An index: each platform's image is scanned (or its scan reused); the index reports them together. */
  private async scanIndex(
    reg: RegistryRow,
    subject: ScanSubject,
    index: ParsedManifest,
    started: number,
    retryable: boolean,
  ): Promise<void> {
    const findings: Finding[] = [];
    let dataDate: string | null = null;
    const platforms: { digest: string; platform: string; status: string }[] = [];
    for (const child of index.manifests) {
      const childId = await this.scans.manifestId(subject.repository_id, child.digest);
      if (childId === undefined) continue;
      let row = await this.scans.get(childId);
      if (!row || row.status === 'queued' || row.status === 'running') {
        const childSubject = await this.scans.subject(childId);
        if (!childSubject) continue;
        const parsed = parseManifest(childSubject.content, childSubject.media_type);
        if (!isContainerImage(parsed)) continue; // attestations and other artifacts in an index
        if (!row) await this.meta.transaction((trx) => this.scans.request(trx, childId, reg.id, now()));
        await this.run(childId, retryable);
        row = await this.scans.get(childId);
      }
      if (!row || row.status === 'unsupported') continue;
      platforms.push({ digest: child.digest, platform: platformText(child), status: row.status });
      if (row.findings) findings.push(...(JSON.parse(row.findings) as Finding[]));
      if (row.data_date && (!dataDate || row.data_date < dataDate)) dataDate = row.data_date;
    }
    const failed = platforms.filter((p) => p.status === 'failed');
    const summary = summarize(findings);
    const at = now();
    if (failed.length) await this.holdBack(reg, subject, `the scan of ${failed.map((p) => p.platform).join(', ')} failed`);
    else await this.decideQuarantine(reg, subject, findings, dataDate);
    await this.finish(reg, subject, {
      status: failed.length ? 'failed' : 'succeeded',
      message: failed.length ? `the scan of ${failed.map((p) => p.platform).join(', ')} failed` : null,
      inventory: null,
      summary: JSON.stringify(summary),
      findings: JSON.stringify(findings),
      data_date: dataDate,
      scanned_at: at,
      matched_at: at,
    });
    this.observer?.scanned(failed.length ? 'failed' : 'succeeded', (performance.now() - started) / 1000, summary);
  }

  // ---------------------------------------------------------------- re-matching

  /** Matches every stored inventory again (after new vulnerability data); how many were matched. */
  async rematchAll(batch = 200): Promise<number> {
    let after = 0;
    let n = 0;
    for (;;) {
      const rows = await this.scans.withInventory(after, batch);
      if (rows.length === 0) break;
      for (const r of rows) {
        after = r.manifest_id;
        const inventory = JSON.parse(r.inventory!) as ImageInventory;
        const { findings, dataDate } = await this.matcher.match(inventory);
        await this.scans.update(r.manifest_id, {
          status: 'succeeded',
          summary: JSON.stringify(summarize(findings)),
          findings: JSON.stringify(findings),
          data_date: dataDate,
          matched_at: now(),
        });
        n++;
      }
    }
    this.log.info({ matched: n }, 'scans matched against new vulnerability data');
    return n;
  }

  // ---------------------------------------------------------------- the registry's scan policy

  async policy(reg: RegistryRow): Promise<ScanPolicy> {
    const row = await this.scans.policy(reg.id);
    if (!row) return { ...DEFAULT_SCAN_POLICY };
    return { failOn: row.fail_on as FailOn, ignoreUnfixed: row.ignore_unfixed === 1, allow: JSON.parse(row.allow) as AllowEntry[] };
  }

  async setPolicy(reg: RegistryRow, patch: { failOn?: FailOn; ignoreUnfixed?: boolean; allow?: unknown }): Promise<ScanPolicy> {
    const current = await this.policy(reg);
    let allow = current.allow;
    if (patch.allow !== undefined) {
      try {
        allow = parseAllowList(patch.allow);
      } catch (e) {
        throw new RegistryError('REQUEST_INVALID', (e as Error).message);
      }
    }
    const next: ScanPolicy = { failOn: patch.failOn ?? current.failOn, ignoreUnfixed: patch.ignoreUnfixed ?? current.ignoreUnfixed, allow };
    await this.scans.setPolicy({
      registry_id: reg.id,
      fail_on: next.failOn,
      ignore_unfixed: next.ignoreUnfixed ? 1 : 0,
      allow: JSON.stringify(next.allow),
      updated_at: now(),
    });
    return next;
  }

  /** Queues a scan of every image and index that has none (the images stored before scanning began). */
  async backfill(batch = 500): Promise<number> {
    let after = 0;
    let n = 0;
    for (;;) {
      const rows = await this.scans.unscanned(after, batch);
      if (rows.length === 0) break;
      await this.meta.transaction(async (trx) => {
        for (const r of rows) await this.enqueue(trx, r.manifest_id, r.registry_id);
      });
      after = rows[rows.length - 1]!.manifest_id;
      n += rows.length;
    }
    if (n) this.log.info({ queued: n }, 'scans queued for images stored before scanning began');
    return n;
  }

  // ---------------------------------------------------------------- reading results

  async show(reg: RegistryRow, repository: string, reference: string, viewer?: QuarantineViewer): Promise<ScanView> {
    const { manifestId, row } = await this.resolve(reg, repository, reference, viewer);
    const scan = await this.scans.get(manifestId);
    if (!scan) {
      return { repository, digest: row.digest, mediaType: row.media_type, status: 'not scanned', requestedAt: row.created_at, sbom: {} };
    }
    return view(scan, { repository, digest: row.digest, media_type: row.media_type }, true);
  }

  /**
   * The SBOM document the scanner attached to an image as a referrer, in `format`, parsed. Read
   * through the referrer the scan recorded, as a client would pull it; RESOURCE_UNKNOWN when the
   * image has none in that format (not scanned yet, or the format is not configured).
   */
  async sbom(reg: RegistryRow, repository: string, reference: string, format: SbomFormat, viewer?: QuarantineViewer): Promise<unknown> {
    const { manifestId, row } = await this.resolve(reg, repository, reference, viewer);
    const scan = await this.scans.get(manifestId);
    const referrer = format === 'cyclonedx' ? scan?.sbom_cyclonedx : scan?.sbom_spdx;
    if (!referrer) throw new RegistryError('RESOURCE_UNKNOWN', `${repository}@${row.digest} has no ${format} SBOM`);
    const m = await this.manifests.get(reg, repository, referrer, viewer);
    const layer = parseManifest(m.content, m.media_type).blobs.find((b) => b.mediaType === SBOM_ARTIFACT_TYPES[format]);
    if (!layer) throw new RegistryError('RESOURCE_UNKNOWN', `the ${format} SBOM referrer ${referrer} holds no SBOM document`);
    if (layer.size > MAX_SBOM_BYTES)
      throw new RegistryError('REQUEST_INVALID', `the ${format} SBOM is ${layer.size} bytes, more than ${MAX_SBOM_BYTES} shown at once`);
    const key = blobKey(parseDigest(layer.digest), await this.domains.domainOf(reg.id));
    return JSON.parse((await readWhole(this.storage, key, MAX_SBOM_BYTES)).toString('utf8')) as unknown;
  }

  async list(
    reg: RegistryRow,
    o: { minSeverity?: (s: ScanSummary) => boolean; before?: number; limit: number },
  ): Promise<{ items: ScanView[]; next?: number }> {
    const items: ScanView[] = [];
    let before = o.before;
    // Filtered pages are refilled from further rows, a bounded number of times.
    for (let round = 0; round < 20 && items.length < o.limit; round++) {
      const rows: ScanListRow[] = await this.scans.list(reg.id, before, o.limit);
      if (rows.length === 0) return { items };
      for (const r of rows) {
        before = r.manifest_id;
        const v = view(r, r, false);
        if (o.minSeverity && (!v.summary || !o.minSeverity(v.summary))) continue;
        items.push(v);
        if (items.length === o.limit) return { items, next: before };
      }
      if (rows.length < o.limit) return { items };
    }
    return { items, next: before };
  }
}

function view(scan: ScanRow, m: { repository: string; digest: string; media_type: string }, details: boolean): ScanView {
  const v: ScanView = {
    repository: m.repository,
    digest: m.digest,
    mediaType: m.media_type,
    status: scan.status,
    requestedAt: scan.requested_at,
    sbom: {
      ...(scan.sbom_cyclonedx ? { cyclonedx: scan.sbom_cyclonedx } : {}),
      ...(scan.sbom_spdx ? { spdx: scan.sbom_spdx } : {}),
    },
  };
  if (scan.message) v.message = scan.message;
  if (scan.scanned_at) v.scannedAt = scan.scanned_at;
  if (scan.matched_at) v.matchedAt = scan.matched_at;
  if (scan.data_date) v.dataDate = scan.data_date;
  if (scan.summary) v.summary = JSON.parse(scan.summary) as ScanSummary;
  if (details) {
    if (scan.inventory) {
      const inv = JSON.parse(scan.inventory) as ImageInventory;
      if (inv.os) v.os = inv.os;
      v.packages = inv.packages.length;
    }
    v.findings = scan.findings ? (JSON.parse(scan.findings) as Finding[]) : [];
  }
  return v;
}

function bufferStream(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes)]);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
