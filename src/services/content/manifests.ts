import { digestOf, isDigest, parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import { isMediaTypeString, MediaTypes, parseManifest, type ParsedManifest } from '../../domain/manifest.js';
import { assertTag } from '../../domain/reference.js';
import type {
  AttributeStore,
  BlobStore,
  EventStore,
  Executor,
  ManifestHead,
  ManifestRow,
  ManifestStore,
  ReadFlags,
  RegistryRow,
  RepositoryStore,
  Transactor,
} from '../../meta/store.js';
import type { ImmutabilityService } from '../policy/immutability.js';
import { assertDeletable, locked } from '../policy/attribute-locks.js';
import type { PullTracker } from './pulls.js';
import type { RecycleBinHook } from './recycle-bin-hook.js';
import { assertWithinQuota } from '../policy/tiers.js';
import { currentActor } from '../actor.js';
import {
  parseQuarantineDetails,
  parseQuarantineState,
  quarantineHides,
  type QuarantineState,
  type QuarantineViewer,
} from '../../domain/quarantine.js';

export { onceViewer, type QuarantineViewer } from '../../domain/quarantine.js';

export type Reference = { tag: string; digest?: undefined } | { digest: string; tag?: undefined };

/** A manifest reference from a URL: a digest (algorithm:hex) or a tag. */
export function parseReference(ref: string): Reference {
  if (isDigest(ref)) return { digest: parseDigest(ref).value };
  return { tag: assertTag(ref) };
}

/**
 * A reference to read by: like parseReference, but undefined for a tag no manifest can have. A
 * read of it is "not found" (distribution-spec: a manifest not found MUST be 404, and the
 * conformance suite GETs and HEADs ".INVALID_MANIFEST_NAME" expecting 404); writes still refuse
 * it with 400 TAG_INVALID. A malformed digest stays 400 DIGEST_INVALID: it is no tag either.
 */
export function readReference(ref: string): Reference | undefined {
  try {
    return parseReference(ref);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'TAG_INVALID') return undefined;
    throw e;
  }
}

export interface PutResult {
  digest: string;
  subject: string | null;
  tags: string[];
  created: boolean;
}

export interface Page<T> {
  items: T[];
  /** The value to pass as `last` for the next page, when there may be one. */
  next?: string;
}

export const PAGE_MAX = 10_000;

/** n from a query string: absent -> fallback; negative, fractional or garbage -> 400. Clamped to PAGE_MAX. */
export function parsePageSize(raw: string | null, fallback: number): number {
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,12}$/.test(raw))
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a whole number from 0 to ${PAGE_MAX}, got "${raw.slice(0, 20)}"`);
  return Math.min(Number(raw), PAGE_MAX);
}

/** Told of every manifest push inside its transaction (a scan queues itself there). */
export interface PushHook {
  pushed(
    trx: Executor,
    p: {
      reg: RegistryRow;
      repository: string;
      digest: string;
      tags: string[];
      manifestId: number;
      created: boolean;
      manifest: ParsedManifest;
    },
  ): Promise<void>;
}

/** Manifests, tags and referrers of a repository. */
export class ManifestService {
  private readonly pushHooks: PushHook[] = [];
  private readonly deleteListeners: ((repositoryId: number) => void)[] = [];
  private readonly pushListeners: ((repository: string, pushed: PutResult) => void)[] = [];
  constructor(
    private readonly meta: ManifestStore &
      Pick<RepositoryStore, 'findRepositoryId' | 'ensureRepository' | 'repositoryRow' | 'touchRepository'> &
      Pick<AttributeStore, 'tagLocks' | 'manifestLocks' | 'lockedTagsOf'> &
      Pick<BlobStore, 'missingBlobs'> &
      Pick<EventStore, 'recordEvent'> &
      Transactor,
    private readonly opts: { manifestMaxBytes: number; referrersDeleteWithSubject?: boolean },
    private readonly pulls?: PullTracker,
    /** The recycle bin: with it, deletes in registries whose soft delete policy is on are kept. */
    private readonly bin?: RecycleBinHook,
    /** Write-once tag policies, checked in the same transactions as the changes they forbid. */
    private readonly immutable?: ImmutabilityService,
  ) {}

  /** readEnabled=false on the repository, the manifest or the tag it is pulled by blocks the pull. */
  private assertReadable(repository: string, refText: string, row: ReadFlags): void {
    if (!row.repo_read) throw locked(`repository ${repository}`, 'readEnabled', 'pulled');
    if (row.tag_read === 0) throw locked(`tag ${refText}`, 'readEnabled', 'pulled');
    if (!row.manifest_read) throw locked(`manifest ${refText}`, 'readEnabled', 'pulled');
  }

  /** Adds a hook every later push calls in its transaction. */
  onPush(hook: PushHook): void {
    this.pushHooks.push(hook);
  }

  get maxBytes(): number {
    return this.opts.manifestMaxBytes;
  }

  /** Does the caller see only what quarantine lets through in this registry? (asks the viewer only when the policy is on) */
  async hidesQuarantined(reg: RegistryRow, viewer?: QuarantineViewer): Promise<boolean> {
    return Number(reg.quarantine_enabled) === 1 && !(viewer && (await viewer()));
  }

  async get(reg: RegistryRow, repository: string, refText: string, viewer?: QuarantineViewer): Promise<ManifestRow> {
    const ref = readReference(refText);
    if (!ref) throw await this.unknown(reg, repository, refText);
    const row =
      ref.tag !== undefined
        ? await this.meta.getManifestByTag(reg.id, repository, ref.tag)
        : await this.meta.getManifestByDigest(reg.id, repository, ref.digest);
    if (!row) throw await this.unknown(reg, repository, refText);
    // A quarantined manifest is, to those who may not see it, not there (ACR: "manifest unknown").
    if (quarantineHides(reg.quarantine_enabled, row.quarantine_state) && !(viewer && (await viewer())))
      throw await this.unknown(reg, repository, refText);
    this.assertReadable(repository, refText, row);
    this.pulls?.record(row.id, row.repository_id, ref.tag, {
      registryId: reg.id,
      repository,
      digest: row.digest,
      mediaType: row.media_type,
      size: row.size,
    });
    return row;
  }

  async head(reg: RegistryRow, repository: string, refText: string, viewer?: QuarantineViewer): Promise<ManifestHead> {
    const ref = readReference(refText);
    if (!ref) throw await this.unknown(reg, repository, refText);
    const row = await this.meta.headManifest(reg.id, repository, ref);
    if (!row) throw await this.unknown(reg, repository, refText);
    if (quarantineHides(reg.quarantine_enabled, row.quarantine_state) && !(viewer && (await viewer())))
      throw await this.unknown(reg, repository, refText);
    this.assertReadable(repository, refText, row);
    return row;
  }

  private async unknown(reg: RegistryRow, repository: string, ref: string): Promise<RegistryError> {
    if ((await this.meta.findRepositoryId(reg.id, repository)) === undefined) {
      return new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`, { detail: { name: repository } });
    }
    return new RegistryError('MANIFEST_UNKNOWN', `manifest ${ref.slice(0, 200)} is not known in repository ${repository}`, {
      detail: { reference: ref.slice(0, 200) },
    });
  }

  /**
   * Stores a manifest exactly as pushed (distribution-spec: "MUST store the manifest in the exact
   * byte representation provided by the client") after validating it and checking that everything
   * it references is present in this repository; then moves the tags, in one transaction that also
   * records the push event. Under the registry's quarantine policy a new manifest is stored
   * Quarantined and its event is `quarantine` (the audit still calls it a push): ACR fires the
   * quarantine webhook now and defers the push webhook until the manifest is marked Passed.
   */
  async put(
    reg: RegistryRow,
    repository: string,
    refText: string,
    bytes: Buffer,
    contentType: string,
    extraTags: string[] = [],
    /** Who may push what is decided on the parsed manifest before anything is written (a caller's rights). */
    check?: (parsed: ParsedManifest, tags: string[]) => Promise<void>,
  ): Promise<PutResult> {
    const ref = parseReference(refText);
    if (bytes.byteLength > this.opts.manifestMaxBytes) {
      throw new RegistryError(
        'MANIFEST_INVALID',
        `manifest is ${bytes.byteLength} bytes; the limit is ${this.opts.manifestMaxBytes} bytes`,
        { status: 413 },
      );
    }
    const algorithm = ref.digest !== undefined ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (ref.digest !== undefined && ref.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', `the manifest's content has digest ${digest}, not ${ref.digest} as given in the URL`, {
        detail: { digest: ref.digest },
      });
    }
    const tags = [...new Set([...(ref.tag !== undefined ? [ref.tag] : []), ...extraTags.map(assertTag)])];
    const parsed = parseManifest(bytes, contentType);
    await check?.(parsed, tags);

    const quarantined = Number(reg.quarantine_enabled) === 1;
    const out = await this.meta.transaction(async (trx) => {
      const repoId = await this.meta.ensureRepository(trx, reg.id, repository);
      const repo = await this.meta.repositoryRow(reg.id, repository, trx);
      if (repo && !repo.write_enabled) throw locked(`repository ${repository}`, 'writeEnabled', 'pushed to');
      const missingBlobs = await this.meta.missingBlobs(
        trx,
        repoId,
        parsed.blobs.map((b) => b.digest),
      );
      const missingManifests = await this.meta.missingManifests(
        trx,
        repoId,
        parsed.manifests.map((m) => m.digest),
      );
      const missing = [...missingBlobs, ...missingManifests];
      if (missing.length > 0) {
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `the manifest references ${missing.length} ${missing.length === 1 ? 'blob or manifest' : 'blobs or manifests'} not present in ${repository}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}; push ${missing.length === 1 ? 'it' : 'them'} first`,
          { detail: missing.slice(0, 50).map((d) => ({ digest: d })) },
        );
      }
      const { id, created, usage, quarantine_state } = await this.meta.putManifest(trx, {
        repository_id: repoId,
        digest,
        media_type: parsed.mediaType,
        artifact_type: parsed.artifactType,
        subject_digest: parsed.subject?.digest ?? null,
        config_digest: parsed.config?.digest ?? null,
        config_media_type: parsed.config?.mediaType ?? null,
        annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
        content: bytes,
        refs: [
          ...parsed.blobs.map((b) => ({ digest: b.digest, kind: 'blob' as const })),
          ...parsed.manifests.map((m) => ({ digest: m.digest, kind: 'manifest' as const })),
        ],
        quarantine_state: quarantined ? 'Quarantined' : null,
      });
      // A tag with writeEnabled=false may not be moved to another manifest (pushing the same one again is a no-op).
      const current = await this.meta.tagLocks(trx, repoId, tags);
      for (const t of current) {
        if (!t.write_enabled && t.manifest_id !== id) throw locked(`tag ${t.name}`, 'writeEnabled', 'overwritten');
      }
      await this.immutable?.assertTagsMutable(
        trx,
        reg,
        repository,
        current.filter((t) => t.manifest_id !== id).map((t) => t.name),
        'overwritten',
      );
      assertWithinQuota(reg, repository, usage);
      for (const tag of tags) await this.meta.setTag(trx, repoId, tag, id);
      await this.meta.touchRepository(trx, repoId);
      for (const hook of this.pushHooks)
        await hook.pushed(trx, { reg, repository, digest, tags, manifestId: id, created, manifest: parsed });
      // A push of a manifest held back (new, or pushed again while still held) is a quarantine event.
      const held = quarantineHides(reg.quarantine_enabled, quarantine_state);
      await this.meta.recordEvent(trx, currentActor(), {
        registry_id: reg.id,
        action: held ? 'quarantine' : 'push',
        repository,
        digest,
        tag: tags[0] ?? null,
        media_type: parsed.mediaType,
        size: bytes.byteLength,
        ...(held ? { operation: 'push' } : {}),
      });
      return { digest, subject: parsed.subject?.digest ?? null, tags, created };
    });
    for (const fn of this.pushListeners) fn(repository, out);
    return out;
  }

  /**
   * DELETE by digest removes the manifest and its tags; DELETE by tag only untags (spec "Deleting tags").
   * o.operation: the audit's name for it when not a plain delete (a purge: 'purge'); webhooks still see 'delete'.
   */
  async delete(
    reg: RegistryRow,
    repository: string,
    refText: string,
    o: { operation?: string } = {},
  ): Promise<{ untagged?: string; deleted?: string }> {
    const ref = parseReference(refText);
    const repoId = await this.meta.findRepositoryId(reg.id, repository);
    if (repoId === undefined)
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`, { detail: { name: repository } });
    const out = await this.deleteIn(reg, repository, repoId, ref, o);
    for (const fn of this.deleteListeners) fn(repoId);
    return out;
  }

  /** Adds a listener told, after the commit, of each manifest push (a node's caches of what it changes). */
  onPushed(fn: (repository: string, pushed: PutResult) => void): void {
    this.pushListeners.push(fn);
  }

  /** Adds a listener told, after the commit, of each delete or untag in a repository (a node's caches of it). */
  onDelete(fn: (repositoryId: number) => void): void {
    this.deleteListeners.push(fn);
  }

  private deleteIn(
    reg: RegistryRow,
    repository: string,
    repoId: number,
    ref: ReturnType<typeof parseReference>,
    o: { operation?: string },
  ): Promise<{ untagged?: string; deleted?: string }> {
    return this.meta.transaction(async (trx) => {
      const repo = await this.meta.repositoryRow(reg.id, repository, trx);
      if (repo) assertDeletable(`repository ${repository}`, repo, ref.tag !== undefined ? 'untagged in' : 'deleted from');
      if (ref.tag !== undefined) {
        const [lock] = await this.meta.tagLocks(trx, repoId, [ref.tag]);
        if (lock) assertDeletable(`tag ${ref.tag}`, lock, 'untagged');
        if (lock) await this.immutable?.assertTagsMutable(trx, reg, repository, [ref.tag], 'untagged');
        const bin = this.bin ? await this.bin.enabled(trx, reg.id) : undefined;
        if (this.bin && bin?.on) {
          const target = await this.meta.tagTarget(trx, repoId, ref.tag);
          if (target)
            await this.bin.keep(trx, reg.id, repoId, repository, target, { group: this.bin.newGroup(), days: bin.days, onlyTag: ref.tag });
        }
        const digest = await this.meta.deleteTag(trx, repoId, ref.tag);
        if (!digest)
          throw new RegistryError('MANIFEST_UNKNOWN', `tag ${ref.tag} is not known in repository ${repository}`, {
            detail: { tag: ref.tag },
          });
        await this.meta.recordEvent(trx, currentActor(), {
          registry_id: reg.id,
          action: 'untag',
          repository,
          digest,
          tag: ref.tag,
          operation: o.operation,
        });
        return { untagged: ref.tag };
      }
      const m = await this.meta.manifestLocks(trx, repoId, ref.digest);
      if (!m)
        throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${ref.digest} is not known in repository ${repository}`, {
          detail: { digest: ref.digest },
        });
      // Referrers (signatures, SBOMs...) of the manifest, and their referrers, go with it unless
      // referrers.deleteWithSubject is off; any of them locked blocks the whole delete.
      const victims = [
        ref.digest,
        ...(this.opts.referrersDeleteWithSubject === false ? [] : await this.referrersOf(trx, repoId, ref.digest)),
      ];
      for (const digest of victims) {
        const lock = digest === ref.digest ? m : await this.meta.manifestLocks(trx, repoId, digest);
        if (!lock) continue;
        const what = digest === ref.digest ? `manifest ${digest}` : `referrer ${digest} of manifest ${ref.digest}`;
        assertDeletable(what, lock);
        const lockedTags = await this.meta.lockedTagsOf(trx, lock.id);
        if (lockedTags.length > 0) throw locked(`tag ${lockedTags[0]!.name}, which points to ${what},`, 'deleteEnabled', 'deleted');
        await this.immutable?.assertManifestDeletable(trx, reg, repository, lock.id);
      }
      const bin = this.bin ? await this.bin.enabled(trx, reg.id) : undefined;
      const group = this.bin?.newGroup() ?? '';
      for (const digest of victims) {
        if (this.bin && bin?.on) await this.bin.keep(trx, reg.id, repoId, repository, digest, { group, days: bin.days });
        const gone = await this.meta.deleteManifest(trx, repoId, digest);
        if (gone)
          await this.meta.recordEvent(trx, currentActor(), {
            registry_id: reg.id,
            action: 'delete',
            repository,
            digest,
            media_type: gone.mediaType,
            size: gone.size,
            operation: o.operation,
          });
      }
      return { deleted: ref.digest };
    });
  }

  /** Every manifest in the repository whose subject chain leads to this digest (breadth first, each once). */
  private async referrersOf(trx: Executor, repositoryId: number, digest: string): Promise<string[]> {
    const out: string[] = [];
    const seen = new Set([digest]);
    let frontier = [digest];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const d of await this.meta.manifestsWithSubject(trx, repositoryId, frontier))
        if (!seen.has(d)) {
          seen.add(d);
          next.push(d);
        }
      out.push(...next);
      frontier = next;
    }
    return out;
  }

  /**
   * Sets a manifest's quarantine state (ACR's PATCH of quarantineState, and Berth's scanner), with
   * quarantineDetails (a scanner's JSON string) and who set it (`actor`; default: the caller).
   * An index's children still Quarantined follow it. Events, in the same transaction: leaving
   * quarantine as Passed records a `push` (the webhook ACR deferred at push time); any other
   * change an audit-only `quarantine_state`. Both are the audit's operation "quarantine".
   */
  async setQuarantineState(
    reg: RegistryRow,
    repository: string,
    digestText: string,
    stateText: string,
    details?: unknown,
    actor?: string,
  ): Promise<{ digest: string; state: QuarantineState; changed: string[] }> {
    const digest = parseDigest(digestText).value;
    const state = parseQuarantineState(stateText);
    const text = parseQuarantineDetails(details);
    const repoId = await this.meta.findRepositoryId(reg.id, repository);
    if (repoId === undefined)
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`, { detail: { name: repository } });
    const who = actor ?? currentActor()?.identity ?? null;
    return this.meta.transaction(async (trx) => {
      const changed = await this.meta.setQuarantineState(trx, repoId, digest, { state, details: text, by: who });
      if (changed.length === 0)
        throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${digest} is not known in repository ${repository}`, { detail: { digest } });
      for (const m of changed) {
        if (m.previous === state) continue;
        const released = state === 'Passed' && (m.previous === 'Quarantined' || m.previous === 'Failed');
        await this.meta.recordEvent(trx, currentActor(), {
          registry_id: reg.id,
          action: released ? 'push' : 'quarantine_state',
          repository,
          digest: m.digest,
          tag: m.tag,
          media_type: m.media_type,
          size: m.size,
          operation: 'quarantine',
        });
      }
      return { digest, state, changed: changed.map((m) => m.digest) };
    });
  }

  async tags(reg: RegistryRow, repository: string, n: number, last: string | undefined, viewer?: QuarantineViewer): Promise<Page<string>> {
    const repoId = await this.meta.findRepositoryId(reg.id, repository);
    if (repoId === undefined)
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist`, { detail: { name: repository } });
    if (n === 0) return { items: [] };
    // distribution-spec: `last` "MUST be a proper tag" (and a NUL would break the PostgreSQL query).
    if (last !== undefined) assertTag(last);
    const rows = await this.meta.listTags(repoId, last, n + 1, await this.hidesQuarantined(reg, viewer));
    return rows.length > n ? { items: rows.slice(0, n), next: rows[n - 1] } : { items: rows };
  }

  /** Referrers API: never 404; an unknown registry, repository or subject has no referrers. */
  async referrers(
    reg: RegistryRow | undefined,
    repository: string,
    subjectText: string,
    artifactType: string | undefined,
    n: number,
    last: string | undefined,
    viewer?: QuarantineViewer,
  ) {
    const subject = parseDigest(subjectText).value;
    // Pages are keyed on digests; an artifactType we could never have stored matches nothing.
    if (last !== undefined) parseDigest(last);
    const matchable = artifactType === undefined || isMediaTypeString(artifactType);
    const repoId = reg === undefined || !matchable ? undefined : await this.meta.findRepositoryId(reg.id, repository);
    const rows =
      repoId === undefined
        ? []
        : await this.meta.listReferrers(repoId, subject, artifactType, last, n + 1, await this.hidesQuarantined(reg!, viewer));
    const page = rows.slice(0, n);
    const manifests = page.map((r) => ({
      mediaType: r.media_type,
      digest: r.digest,
      size: r.size,
      ...(r.artifact_type ? { artifactType: r.artifact_type } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
    }));
    return {
      index: { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests },
      next: rows.length > n ? page[page.length - 1]?.digest : undefined,
    };
  }
}
