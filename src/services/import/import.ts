import { seal, unseal } from '../../auth/crypto.js';
import type { ActivityRecorder } from '../../domain/activity.js';
import { RegistryError } from '../../domain/errors.js';
import { parseManifest, type ParsedManifest } from '../../domain/manifest.js';
import { isLoopbackHost } from '../../config/config.js';
import { PermanentJobError, type JobQueue, type JobRow } from '../../jobs/queue.js';
import type { AccessStore } from '../../meta/access-store.js';
import type { Imports } from '../../meta/imports.js';
import { now, type MetaStore, type RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { asSystem } from '../actor.js';
import type { BlobService } from '../content/blobs.js';
import { locked } from '../policy/attribute-locks.js';
import type { ManifestService } from '../content/manifests.js';
import type { UploadService } from '../content/uploads.js';
import { resolveSafe, EgressRefused } from '../../net/egress.js';
import { isThisDeployment, sourceText, type ImportTarget, type ParsedImport } from './request.js';
import { refusedMessage, Upstream, UpstreamError } from './upstream.js';
import { streamBlob } from './blob-copy.js';

// Image import (az acr import): a durable job that copies an image from an upstream registry into
// a registry of this deployment: blobs first (streamed through UploadService.ingest, verified),
// then child manifests, then the index or image with the target tags (through ManifestService.put,
// so locks, quotas and the audit apply), then the referrers. A job that dies (node killed) runs
// again when its lease expires; blobs already linked in the target repository are skipped.

export interface ImportOptions {
  allowPrivate: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxRedirects: number;
  manifestMaxBytes: number;
  maxManifests: number;
  insecureRegistries: readonly string[];
  trustedRealms?: readonly string[];
  maxAttempts: number;
  /** How this deployment is addressed (listen, publicUrl, domain): a source there may be given Berth credentials. */
  self: { listen: string; publicUrl: string; domain: string };
}

/** Tells whether credentials get into this deployment (AuthService.ownCredential), without signing in. */
export interface OwnCredentials {
  ownCredential(username: string, password: string, source: string): Promise<boolean>;
}

export interface ImportProgress {
  phase: 'queued' | 'resolving' | 'copying blobs' | 'pushing manifests' | 'done' | 'failed';
  manifests: { done: number; total: number };
  blobs: { done: number; total: number; skipped: number };
  bytes: { done: number; total: number };
}

interface StoredRequest {
  host: string;
  repository: string;
  reference: string;
  targets: ImportTarget[];
  force: boolean;
}

interface PlannedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  parsed: ParsedManifest;
}

const emptyProgress = (): ImportProgress => ({
  phase: 'queued',
  manifests: { done: 0, total: 0 },
  blobs: { done: 0, total: 0, skipped: 0 },
  bytes: { done: 0, total: 0 },
});

export class ImportService {
  /** Where each import's outcome is recorded (the activity log). */
  activity?: ActivityRecorder;

  constructor(
    private readonly meta: MetaStore,
    private readonly store: Imports,
    private readonly access: AccessStore,
    private readonly jobs: JobQueue,
    private readonly uploads: UploadService,
    private readonly blobs: BlobService,
    private readonly manifests: ManifestService,
    private readonly opts: ImportOptions,
    private readonly own: OwnCredentials,
    private readonly log: Logger,
  ) {
    jobs.handle('import', (_payload, job) => this.run(job), { long: true });
  }

  /** True when the host may be reached over plain HTTP (and HTTPS without certificate checks). */
  insecure(host: string): boolean {
    const bare = host.replace(/:\d+$/, '');
    return (
      isLoopbackHost(bare) ||
      this.opts.insecureRegistries.some((h) => h.toLowerCase() === host.toLowerCase() || h.toLowerCase() === bare.toLowerCase())
    );
  }

  /**
   * Checks what can be checked at once (target tags in NoForce mode, the upstream address), then
   * queues the import. The caller's authorization on every target is checked by the HTTP layer.
   */
  async start(reg: RegistryRow, req: ParsedImport, caller: { identity?: string; ip?: string; host?: string }): Promise<number> {
    await this.assertNotOurCredentials(req, caller);
    if (!req.force) await this.assertTagsFree(reg, req.targets);
    try {
      await resolveSafe(req.host.replace(/:\d+$/, ''), this.opts.allowPrivate);
    } catch (e) {
      if (e instanceof EgressRefused) throw new RegistryError('REQUEST_INVALID', refusedMessage(e));
      // A name that does not resolve now may later: the job reports it.
    }
    const stored: StoredRequest = {
      host: req.host,
      repository: req.repository,
      reference: req.reference,
      targets: req.targets,
      force: req.force,
    };
    const sealed = req.credentials ? seal(JSON.stringify(req.credentials), await this.access.sealKey()) : null;
    return this.meta.transaction(async (trx) => {
      // The payload names the work for operators (berth job list); credentials stay in imports.
      const id = await this.jobs.enqueue(
        trx,
        'import',
        { registry: reg.name, source: sourceText(req) },
        { maxAttempts: this.opts.maxAttempts },
      );
      const t = now();
      await this.store.insert(trx, {
        id,
        registry_id: reg.id,
        request: JSON.stringify(stored),
        credentials: sealed,
        identity: caller.identity ?? null,
        caller_ip: caller.ip ?? null,
        progress: JSON.stringify(emptyProgress()),
        result: null,
        created_at: t,
        updated_at: t,
      });
      return id;
    });
  }

  /**
   * Source credentials that get into this deployment (a user's password, an admin user's or a
   * token's secret, a Berth token) are refused unless the source is this deployment: an az script
   * passes the source's credentials as -u/-p while Berth habit reads them as Berth's own, and either
   * mistake must not hand a Berth password to another registry.
   */
  private async assertNotOurCredentials(req: ParsedImport, caller: { ip?: string; host?: string }): Promise<void> {
    const c = req.credentials;
    if (!c || isThisDeployment(req.host, this.opts.self, caller.host)) return;
    if (!(await this.own.ownCredential(c.username, c.password, caller.ip ?? 'unknown'))) return;
    throw new RegistryError(
      'REQUEST_INVALID',
      `the source credentials are credentials of this Berth deployment, and Berth credentials must not be sent upstream (to ${req.host}). ` +
        "Give the source registry's own credentials (berth import --source-username/--source-password, or -u/-p as in az acr import), " +
        'or none for a public image; Berth itself is signed in to with BERTH_USERNAME/BERTH_PASSWORD or `berth account login`',
    );
  }

  /** An import as the API shows it (never its credentials); undefined when not in this registry. */
  async view(reg: RegistryRow, id: number) {
    const row = await this.store.get(id, reg.id);
    if (!row) return undefined;
    const job = await this.jobs.get(id);
    const req = JSON.parse(row.request) as StoredRequest;
    const result = row.result
      ? (JSON.parse(row.result) as { digest?: string; mediaType?: string; error?: { code: string; message: string } })
      : {};
    const state = job?.state ?? 'dead';
    const status =
      state === 'succeeded'
        ? 'Succeeded'
        : state === 'dead'
          ? 'Failed'
          : state === 'running'
            ? 'Running'
            : (job?.attempts ?? 0) > 0
              ? 'Retrying'
              : 'Queued';
    return {
      id,
      registry: reg.name,
      status,
      source: sourceText(req),
      targetTags: req.targets.filter((t) => t.tag !== undefined).map((t) => `${t.repository}:${t.tag}`),
      untaggedTargetRepositories: req.targets.filter((t) => t.tag === undefined).map((t) => t.repository),
      mode: req.force ? 'Force' : 'NoForce',
      progress: JSON.parse(row.progress) as ImportProgress,
      ...(result.digest ? { digest: result.digest, mediaType: result.mediaType } : {}),
      error: result.error ?? (state !== 'succeeded' && job?.last_error ? { code: 'UNAVAILABLE', message: job.last_error } : null),
      attempts: job?.attempts ?? 0,
      identity: row.identity,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** The targets of an import (for authorization of the reader). */
  async targets(reg: RegistryRow, id: number): Promise<ImportTarget[] | undefined> {
    const row = await this.store.get(id, reg.id);
    return row ? (JSON.parse(row.request) as StoredRequest).targets : undefined;
  }

  async list(reg: RegistryRow, limit: number) {
    const out = [];
    for (const id of await this.store.ids(reg.id, limit)) out.push((await this.view(reg, id))!);
    return out;
  }

  /**
   * Before anything is copied: a target repository or tag locked against writes fails the import
   * (whatever the mode), as the manifest push would after the copy.
   */
  private async assertWritable(reg: RegistryRow, targets: ImportTarget[], digest: string): Promise<void> {
    for (const repo of new Set(targets.map((t) => t.repository))) {
      const row = await this.meta.repositoryRow(reg.id, repo);
      if (row && !row.write_enabled) throw locked(`repository ${repo}`, 'writeEnabled', 'pushed to');
      const repoId = await this.meta.findRepositoryId(reg.id, repo);
      const tags = targets.filter((t) => t.repository === repo && t.tag !== undefined).map((t) => t.tag!);
      if (repoId === undefined || tags.length === 0) continue;
      for (const lock of await this.meta.transaction((trx) => this.meta.tagLocks(trx, repoId, tags))) {
        if (lock.write_enabled) continue;
        const m = await this.meta.getManifestByTag(reg.id, repo, lock.name);
        if (m?.digest !== digest) throw locked(`tag ${lock.name}`, 'writeEnabled', 'overwritten');
      }
    }
  }

  private async assertTagsFree(reg: RegistryRow, targets: ImportTarget[], digest?: string): Promise<void> {
    for (const t of targets) {
      if (t.tag === undefined) continue;
      const m = await this.meta.getManifestByTag(reg.id, t.repository, t.tag);
      // The same manifest already there is no conflict (a resumed import may have tagged it).
      if (m && m.digest !== digest) {
        throw new RegistryError(
          'CONFLICT',
          `tag ${t.repository}:${t.tag} already exists in registry ${reg.name} (it points to ${m.digest}); import with --force (mode "Force") to overwrite it`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- the job

  private async run(job: JobRow): Promise<void> {
    const row = await this.store.get(Number(job.id));
    if (!row) throw new PermanentJobError(`import ${job.id} has no record (its registry was deleted?)`);
    const reg = await this.meta.getRegistryById(Number(row.registry_id));
    if (!reg) throw new PermanentJobError(`the registry of import ${job.id} no longer exists`);
    const req = JSON.parse(row.request) as StoredRequest;
    const credentials = row.credentials
      ? (JSON.parse(unseal(row.credentials, await this.access.sealKey())) as { username: string; password: string })
      : undefined;
    const progress = { ...emptyProgress(), phase: 'resolving' as ImportProgress['phase'] };
    const state = { lost: false, lastSave: 0 };
    const save = async (force = false) => {
      if (!force && Date.now() - state.lastSave < 500) return;
      state.lastSave = Date.now();
      await this.store.update(row.id, { progress: JSON.stringify(progress), updated_at: now() });
    };
    // Keep the lease while copying (a large import outlives it); stop when another node took over.
    const beat = setInterval(
      () => {
        this.jobs.renewLease(job).then(
          (ok) => {
            if (!ok) state.lost = true;
          },
          () => {},
        );
      },
      Math.max(200, (this.jobs.opts.leaseSeconds * 1000) / 3),
    );
    try {
      const out = await asSystem(
        { name: 'import', method: 'IMPORT', identity: row.identity ?? undefined, ip: row.caller_ip ?? undefined, id: `import-${job.id}` },
        () => this.copy(reg, req, credentials, progress, save, state),
      );
      progress.phase = 'done';
      await this.store.update(row.id, {
        progress: JSON.stringify(progress),
        credentials: null,
        result: JSON.stringify(out),
        updated_at: now(),
      });
      this.log.info({ import: row.id, registry: reg.name, source: sourceText(req), digest: out.digest }, 'image imported');
      await this.recordOutcome(reg, row, { digest: out.digest, tags: out.tags });
    } catch (e) {
      const err = describe(e, req);
      const final = err.permanent || job.attempts >= job.max_attempts || state.lost;
      if (final) progress.phase = 'failed';
      await this.store
        .update(row.id, {
          progress: JSON.stringify(progress),
          updated_at: now(),
          ...(final ? { credentials: null, result: JSON.stringify({ error: { code: err.code, message: err.message } }) } : {}),
        })
        .catch(() => {});
      if (final) await this.recordOutcome(reg, row, undefined, { code: err.code, message: err.message });
      if (err.permanent) throw new PermanentJobError(err.message);
      throw new Error(err.message, { cause: e });
    } finally {
      clearInterval(beat);
    }
  }

  /** An import's outcome in the activity log (its last attempt's, when it fails); the request's entry has the same resource. */
  private async recordOutcome(
    reg: RegistryRow,
    row: { id: number; identity: string | null; created_at: string },
    done?: { digest: string; tags: string[] },
    error?: { code: string; message: string },
  ): Promise<void> {
    await this.activity?.record({
      operation: 'Microsoft.ContainerRegistry/registries/importImage/action',
      registry: reg.name,
      registryId: reg.id,
      resource: `/registries/${reg.name}/imports/${row.id}`,
      result: error ? 'Failed' : 'Succeeded',
      ...(error ? { error } : {}),
      identity: 'import',
      identityType: 'System',
      correlationId: `import-${row.id}`,
      durationMs: Date.now() - Date.parse(row.created_at),
      properties: { importId: Number(row.id), ...(row.identity ? { requestedBy: row.identity } : {}), ...(done ?? {}) },
    });
  }

  private async copy(
    reg: RegistryRow,
    req: StoredRequest,
    credentials: { username: string; password: string } | undefined,
    progress: ImportProgress,
    save: (force?: boolean) => Promise<void>,
    state: { lost: boolean },
  ): Promise<{ digest: string; mediaType: string; tags: string[] }> {
    const up = new Upstream({
      host: req.host,
      repository: req.repository,
      credentials,
      insecure: this.insecure(req.host),
      allowPrivate: this.opts.allowPrivate,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      maxRedirects: this.opts.maxRedirects,
      manifestMaxBytes: this.opts.manifestMaxBytes,
      trustedRealms: this.opts.trustedRealms,
    });
    const check = () => {
      if (state.lost) throw new Error('the import job lost its lease to another node; that node continues it');
    };

    // 1. Resolve everything first: nothing is copied until the whole image is known and allowed.
    const top = await this.fetch(up, req.reference);
    if (!req.force) await this.assertTagsFree(reg, req.targets, top.digest);
    await this.assertWritable(reg, req.targets, top.digest);
    const ordered: PlannedManifest[] = [];
    const seen = new Set<string>([top.digest]);
    let children = 0;
    const visit = async (m: PlannedManifest) => {
      for (const d of m.parsed.manifests) {
        if (seen.has(d.digest)) continue;
        seen.add(d.digest);
        if (++children > this.opts.maxManifests) {
          throw new RegistryError(
            'MANIFEST_INVALID',
            `${sourceText(req)} is an index of more than ${this.opts.maxManifests} manifests, the import limit (import.maxManifests)`,
          );
        }
        const child = await this.fetch(up, d.digest);
        await visit(child);
        ordered.push(child);
      }
    };
    await visit(top);
    // Referrers (signatures, SBOMs) of the image and of each platform image, when the upstream has the API.
    const referrers: PlannedManifest[] = [];
    for (const subject of [top, ...ordered]) {
      for (const d of await up.referrers(subject.digest)) {
        if (seen.has(d.digest) || referrers.length >= this.opts.maxManifests) continue;
        seen.add(d.digest);
        const r = await this.fetch(up, d.digest);
        const before = referrers.length;
        const nested: PlannedManifest[] = [];
        for (const c of r.parsed.manifests) {
          if (seen.has(c.digest) || before + nested.length >= this.opts.maxManifests) continue;
          seen.add(c.digest);
          nested.push(await this.fetch(up, c.digest));
        }
        referrers.push(...nested, r);
      }
    }
    const all = [...ordered, top, ...referrers];
    const blobs = new Map<string, number>();
    for (const m of all) for (const b of m.parsed.blobs) blobs.set(b.digest, b.size);
    const repos = [...new Set(req.targets.map((t) => t.repository))];
    progress.phase = 'copying blobs';
    progress.manifests.total = all.length;
    progress.blobs.total = blobs.size;
    progress.bytes.total = [...blobs.values()].reduce((a, b) => a + b, 0);
    await save(true);

    // 2. Blobs: skipped when already linked in the target repository (a resumed import), mounted
    // from the first target repository into the others, else streamed from the upstream.
    for (const [digest, size] of blobs) {
      check();
      let skipped = true;
      for (const [i, repo] of repos.entries()) {
        const repoId = await this.meta.findRepositoryId(reg.id, repo);
        if (repoId !== undefined && (await this.meta.transaction((trx) => this.meta.missingBlobs(trx, repoId, [digest]))).length === 0)
          continue;
        skipped = false;
        // The first target repository holds it by now (verified): the others link the same bytes.
        if (i > 0 && (await this.blobs.mount(reg, repo, digest, repos[0], () => Promise.resolve(true)))) continue;
        await streamBlob({ up, uploads: this.uploads, log: this.log }, reg, repo, digest, size, progress, save);
      }
      if (skipped) {
        progress.blobs.skipped++;
        progress.bytes.done += size;
      }
      progress.blobs.done++;
      await save();
    }

    // 3. Manifests: children, then the image or index with its tags, then the referrers.
    progress.phase = 'pushing manifests';
    await save(true);
    for (const m of all) {
      check();
      for (const repo of repos) {
        if (m === top) {
          const tags = req.targets.filter((t) => t.repository === repo && t.tag !== undefined).map((t) => t.tag!);
          await this.manifests.put(reg, repo, tags[0] ?? m.digest, m.bytes, m.mediaType, tags.slice(1));
        } else {
          await this.manifests.put(reg, repo, m.digest, m.bytes, m.mediaType);
        }
      }
      progress.manifests.done++;
      await save();
    }
    return {
      digest: top.digest,
      mediaType: top.mediaType,
      tags: req.targets.filter((t) => t.tag !== undefined).map((t) => `${t.repository}:${t.tag}`),
    };
  }

  private async fetch(up: Upstream, ref: string): Promise<PlannedManifest> {
    const m = await up.manifest(ref);
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(m.bytes, m.mediaType);
    } catch (e) {
      throw new RegistryError('MANIFEST_INVALID', `manifest ${ref} of ${up.name} cannot be imported: ${(e as Error).message}`);
    }
    return { digest: m.digest, mediaType: parsed.mediaType, bytes: m.bytes, parsed };
  }
}

/** An error's code, message (naming the source) and whether retrying could help. */
function describe(e: unknown, req: StoredRequest): { code: string; message: string; permanent: boolean } {
  const src = sourceText(req);
  if (e instanceof UpstreamError) {
    const code =
      e.kind === 'auth'
        ? 'DENIED'
        : e.kind === 'notfound'
          ? 'MANIFEST_UNKNOWN'
          : e.kind === 'digest'
            ? 'DIGEST_INVALID'
            : e.kind === 'refused'
              ? 'REQUEST_INVALID'
              : e.kind === 'invalid'
                ? 'MANIFEST_INVALID'
                : 'UNAVAILABLE';
    return { code, message: `import of ${src}: ${e.message}`, permanent: e.kind !== 'transient' };
  }
  if (e instanceof RegistryError) {
    return { code: e.code, message: `import of ${src}: ${e.message}`, permanent: e.code !== 'UNAVAILABLE' && e.code !== 'INTERNAL_ERROR' };
  }
  const err = e as NodeJS.ErrnoException;
  return {
    code: 'UNAVAILABLE',
    message: `import of ${src}: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? String(e)} (will retry)`,
    permanent: false,
  };
}
