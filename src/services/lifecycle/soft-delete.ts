import { randomUUID } from 'node:crypto';
import { RegistryError } from '../../domain/errors.js';
import { parseDigest } from '../../domain/digest.js';
import { quarantineHides } from '../../domain/quarantine.js';
import { assertRepositoryName, assertTag } from '../../domain/reference.js';
import { entryTags as tagsOf, type BinEntry, type BinQuery, type RecycleBin } from '../../meta/recycle-bin.js';
import type { Executor, MetaStore, RegistryRow } from '../../meta/store.js';
import { currentActor } from '../actor.js';
import type { RecycleBinHook } from '../content/recycle-bin-hook.js';
import { assertWritable, locked } from '../policy/attribute-locks.js';
import { assertWithinQuota } from '../policy/tiers.js';

// Soft delete (ACR's recycle bin, container-registry-soft-delete-policy.md). While a registry's
// policy is enabled, deleting a manifest (and its referrers), untagging, or deleting a repository
// copies what goes into deleted_manifests (+ deleted_manifest_refs) in the same transaction, and
// then the ordinary hard-delete code runs, so storage accounting of manifests is unchanged. Blob
// links (repository_blobs) are not touched by a manifest delete; the garbage collector keeps every
// blob a bin entry references, so a restore finds its layers. A soft-deleted repository keeps its
// row with deleted_at set (hidden everywhere, NAME_UNKNOWN on /v2) until its bin is empty.
// "The auto-purge always considers the current value of retention days": changing the days moves
// purge_after of existing entries. Disabling the policy keeps existing entries until they expire.

export const SOFT_DELETE_MIN_DAYS = 1;
export const SOFT_DELETE_MAX_DAYS = 90;
const DAY_MS = 86_400_000;
const PURGE_BATCH = 500;

export interface SoftDeletePolicy {
  status: 'enabled' | 'disabled';
  retentionDays: number;
}

export interface SoftDeleteOptions {
  /** The clock (tests move it forward). */
  now?: () => Date;
}

export function parseRetentionDays(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < SOFT_DELETE_MIN_DAYS || v > SOFT_DELETE_MAX_DAYS) {
    throw new RegistryError(
      'REQUEST_INVALID',
      `retention days must be a whole number from ${SOFT_DELETE_MIN_DAYS} to ${SOFT_DELETE_MAX_DAYS}, got ${JSON.stringify(v)?.slice(0, 20)}`,
    );
  }
  return v;
}

/** The recycle bin of every registry: policy, moving into the bin, listing, restoring, purging. */
export class SoftDeleteService implements RecycleBinHook {
  /** The clock; replaceable so tests can move time forward. */
  now: () => Date;

  constructor(
    private readonly meta: MetaStore,
    private readonly bin: RecycleBin,
    opts: SoftDeleteOptions = {},
  ) {
    this.now = opts.now ?? (() => new Date());
  }

  // ---------------------------------------------------------------- policy

  async policy(reg: RegistryRow, ex?: Executor): Promise<SoftDeletePolicy> {
    const p = await this.bin.policy(reg.id, ex);
    return { status: p.enabled ? 'enabled' : 'disabled', retentionDays: p.days };
  }

  /** az acr config soft-delete update --status --days: changing the days moves the purge time of what is already in the bin. */
  async updatePolicy(reg: RegistryRow, patch: { status?: unknown; retentionDays?: unknown }): Promise<SoftDeletePolicy> {
    const set: { soft_delete_enabled?: number; soft_delete_days?: number } = {};
    if (patch.status !== undefined) {
      if (patch.status !== 'enabled' && patch.status !== 'disabled') {
        throw new RegistryError(
          'REQUEST_INVALID',
          `status must be "enabled" or "disabled", got ${JSON.stringify(patch.status)?.slice(0, 30)}`,
        );
      }
      set.soft_delete_enabled = patch.status === 'enabled' ? 1 : 0;
    }
    if (patch.retentionDays !== undefined) set.soft_delete_days = parseRetentionDays(patch.retentionDays);
    if (Object.keys(set).length === 0)
      throw new RegistryError('REQUEST_INVALID', 'nothing to update: give "status" (enabled or disabled) and/or "retentionDays" (1-90)');
    return this.meta.transaction(async (trx) => {
      const before = await this.policy(reg, trx);
      await this.bin.setPolicy(trx, reg.id, set, this.now().toISOString());
      if (set.soft_delete_days !== undefined && set.soft_delete_days !== before.retentionDays) {
        // purge_after = deleted_at + days for every entry of the registry, in SQL (timestamps are ISO-8601 UTC text).
        await this.bin.movePurgeTimes(trx, reg.id, set.soft_delete_days);
      }
      return this.policy(reg, trx);
    });
  }

  /** Whether deletes in this registry go to the bin now; inside the deleting transaction. */
  async enabled(trx: Executor, registryId: number): Promise<{ on: boolean; days: number }> {
    const p = await this.bin.policy(registryId, trx);
    return { on: p.enabled, days: p.days };
  }

  newGroup(): string {
    return randomUUID();
  }

  // ---------------------------------------------------------------- into the bin (called by the delete paths)

  /**
   * Copies a live manifest (row, refs, and the tags it has, or only `onlyTag` for an untag) into
   * the bin. Call inside the deleting transaction, before the hard delete.
   */
  async keep(
    trx: Executor,
    registryId: number,
    repositoryId: number,
    repository: string,
    digest: string,
    o: { group: string; days: number; onlyTag?: string },
  ): Promise<void> {
    const m = await this.bin.manifest(trx, repositoryId, digest);
    if (!m) return;
    const tags = o.onlyTag !== undefined ? [o.onlyTag] : await this.bin.tagsOf(trx, m.id);
    const at = this.now();
    // The entry takes the manifest's references with it (the garbage collector keeps their blobs).
    await this.bin.add(
      trx,
      {
        registry_id: registryId,
        repository_id: repositoryId,
        repository,
        kind: o.onlyTag !== undefined ? 'tag' : 'manifest',
        group_id: o.group,
        digest: m.digest,
        media_type: m.media_type,
        artifact_type: m.artifact_type,
        subject_digest: m.subject_digest,
        config_digest: m.config_digest,
        config_media_type: m.config_media_type,
        annotations: m.annotations,
        size: m.size,
        content: m.content,
        created_at: m.created_at,
        deleted_at: at.toISOString(),
        purge_after: new Date(at.getTime() + o.days * DAY_MS).toISOString(),
        tags: JSON.stringify(tags),
        deleted_by: currentActor()?.identity ?? null,
      },
      m.id,
    );
  }

  /** Does the repository still have entries in the bin (then deleting it keeps its row)? */
  async hasEntries(trx: Executor, repositoryId: number): Promise<boolean> {
    return this.bin.hasEntries(trx, repositoryId);
  }

  // ---------------------------------------------------------------- listing

  private async anyRepositoryId(
    reg: RegistryRow,
    repository: string,
    ex?: Executor,
  ): Promise<{ id: number; deleted_at: string | null; write_enabled: number } | undefined> {
    assertRepositoryName(repository);
    return this.bin.anyRepository(reg.id, repository, ex);
  }

  private view(e: BinEntry, imageSize = Number(e.size)) {
    return {
      digest: e.digest,
      tags: tagsOf(e),
      mediaType: e.media_type,
      artifactType: e.artifact_type,
      subject: e.subject_digest,
      imageSize,
      createdTime: e.created_at,
      deletedTime: e.deleted_at,
      purgeTime: e.purge_after,
      deletedBy: e.deleted_by,
    };
  }

  /** az acr repository list-deleted: soft-deleted repositories with something still restorable. */
  async listDeletedRepositories(reg: RegistryRow) {
    const rows = await this.bin.deletedRepositories(reg.id, this.now().toISOString());
    return rows.map((r) => ({ name: r.name, deletedTime: r.deleted_at, deletedManifestCount: r.count, purgeTime: r.purge_after }));
  }

  /** Entries not past their purge time, newest deletion (highest id) first; keyset-paged on id. */
  private liveEntries(repositoryId: number, q: BinQuery, ex?: Executor): Promise<BinEntry[]> {
    return this.bin.liveEntries(repositoryId, q, this.now().toISOString(), ex);
  }

  private static last(last: string | undefined): number | undefined {
    if (last === undefined) return undefined;
    if (!/^\d{1,15}$/.test(last))
      throw new RegistryError(
        'PAGINATION_NUMBER_INVALID',
        `last must be the "last" value of a previous page (a whole number), got "${last.slice(0, 20)}"`,
      );
    return Number(last);
  }

  /** az acr manifest list-deleted: deleted manifests of a repository, newest deletion first, n per page. */
  async listDeletedManifests(reg: RegistryRow, repository: string, n = 1000, last?: string) {
    const repo = await this.anyRepositoryId(reg, repository);
    if (!repo) return { items: [] };
    const rows = await this.liveEntries(repo.id, { kind: 'manifest', beforeId: SoftDeleteService.last(last), limit: n + 1 });
    const page = rows.slice(0, n);
    const sizes = await this.bin.entryImageSizes(
      repo.id,
      page.map((e) => Number(e.id)),
    );
    return { items: page.map((e) => this.view(e, sizes.get(Number(e.id)))), next: rows.length > n ? String(rows[n - 1]!.id) : undefined };
  }

  /** az acr manifest list-deleted-tags: deleted tags (with their manifest, untagged, or moved by a forced restore), optionally one tag; paged by entry. */
  async listDeletedTags(reg: RegistryRow, repository: string, tag?: string, n = 1000, last?: string) {
    if (tag !== undefined) assertTag(tag);
    const repo = await this.anyRepositoryId(reg, repository);
    if (!repo) return { items: [] };
    const rows = await this.liveEntries(repo.id, { tag, beforeId: SoftDeleteService.last(last), limit: n + 1 });
    const items = [];
    for (const e of rows.slice(0, n)) {
      for (const t of tagsOf(e)) {
        if (tag === undefined || t === tag)
          items.push({ tag: t, digest: e.digest, deletedTime: e.deleted_at, purgeTime: e.purge_after, deletedBy: e.deleted_by });
      }
    }
    return { items, next: rows.length > n ? String(rows[n - 1]!.id) : undefined };
  }

  // ---------------------------------------------------------------- restore

  /**
   * az acr manifest restore -n repo:tag [-d digest] [-f]: the most recently deleted manifest that
   * had the tag (and the digest, when given) comes back with its tags, through the ordinary
   * putManifest (usage accounting). A tag that now points elsewhere is refused unless force (then it
   * is moved; with the policy on, the overwritten tag goes to the bin). Children of an index that
   * were deleted with it are restored first; referrers deleted with it come back with it. Records
   * a push event for each restored manifest (ACR has no restore event: the tags reappear).
   */
  async restore(reg: RegistryRow, repository: string, o: { tag?: string; digest?: string; force?: boolean }) {
    if (o.tag === undefined && o.digest === undefined)
      throw new RegistryError('REQUEST_INVALID', 'name what to restore: a tag, a digest, or both');
    if (o.tag !== undefined) assertTag(o.tag);
    const digest = o.digest !== undefined ? parseDigest(o.digest).value : undefined;
    return this.meta.transaction(async (trx) => {
      const repo = await this.anyRepositoryId(reg, repository, trx);
      const what = `${repository}${o.tag !== undefined ? `:${o.tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
      const gone = () =>
        new RegistryError(
          'MANIFEST_UNKNOWN',
          `nothing named ${what} is in the recycle bin of registry ${reg.name} (never deleted, already restored, or purged after its retention days)`,
          { detail: { repository, tag: o.tag, digest } },
        );
      if (!repo) throw gone();
      // The tag filter is checked after the query (LIKE is a superset), so no limit with a tag.
      const candidates = await this.liveEntries(repo.id, { digest, tag: o.tag, limit: o.tag === undefined ? 1 : undefined }, trx);
      // The most recent deletion wins (ACR: "restore the most recently deleted manifest" by tag).
      const entry = candidates[0];
      if (!entry) throw gone();
      if (!repo.write_enabled) throw locked(`repository ${repository}`, 'writeEnabled', 'restored into');
      if (repo.deleted_at !== null) {
        await this.bin.reviveRepository(trx, repo.id, this.now().toISOString());
      }
      const policy = await this.enabled(trx, reg.id);
      const ctx: RestoreCtx = { trx, reg, repository, repositoryId: repo.id, policy, group: this.newGroup(), restored: [] };
      const tags = await this.restoreEntry(ctx, entry, {
        force: !!o.force,
        strict: true,
        only: entry.kind === 'tag' ? tagsOf(entry) : undefined,
      });
      return { registry: reg.name, repository, digest: entry.digest, tags, restored: ctx.restored };
    });
  }

  private async restoreEntry(ctx: RestoreCtx, e: BinEntry, o: { force: boolean; strict: boolean; only?: string[] }): Promise<string[]> {
    const { trx, repositoryId, repository } = ctx;
    const refs = await this.bin.entryRefs(trx, e.id);
    // An index's children deleted with it (a repository delete) come back first, without forcing tags.
    const childDigests = refs.filter((r) => r.kind === 'manifest').map((r) => r.child_digest);
    for (const child of await this.meta.missingManifests(trx, repositoryId, childDigests)) {
      const entries = await this.liveEntries(repositoryId, { digest: child, kind: 'manifest' }, trx);
      const c = entries.find((x) => x.group_id === e.group_id) ?? entries[0];
      if (!c) {
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `cannot restore ${repository}@${e.digest}: it references manifest ${child}, which is neither in the repository nor in its recycle bin`,
          { detail: [{ digest: child }] },
        );
      }
      await this.restoreEntry(ctx, c, { force: false, strict: false });
    }
    const missing = await this.meta.missingBlobs(
      trx,
      repositoryId,
      refs.filter((r) => r.kind === 'blob').map((r) => r.child_digest),
    );
    if (missing.length > 0) {
      throw new RegistryError(
        'MANIFEST_BLOB_UNKNOWN',
        `cannot restore ${repository}@${e.digest}: ${missing.length} of its blobs are no longer in the repository (${missing.slice(0, 3).join(', ')}); push them again first`,
        { detail: missing.slice(0, 50).map((d) => ({ digest: d })) },
      );
    }
    const content = await this.bin.entryContent(trx, e.id);
    // Under the quarantine policy a restored manifest is held back like a new push (the bin keeps no state).
    const quarantined = Number(ctx.reg.quarantine_enabled) === 1;
    const put = await this.meta.putManifest(trx, {
      repository_id: repositoryId,
      digest: e.digest,
      media_type: e.media_type,
      artifact_type: e.artifact_type,
      subject_digest: e.subject_digest,
      config_digest: e.config_digest,
      config_media_type: e.config_media_type,
      annotations: e.annotations,
      content,
      refs: refs.map((r) => ({ digest: r.child_digest, kind: r.kind as 'blob' | 'manifest' })),
      quarantine_state: quarantined ? 'Quarantined' : null,
    });
    if (put.usage) assertWithinQuota(ctx.reg, repository, put.usage);
    const restoredTags: string[] = [];
    const wanted = o.only ?? tagsOf(e);
    const current = new Map((await this.meta.tagLocks(trx, repositoryId, wanted)).map((t) => [t.name, t]));
    for (const tag of wanted) {
      const now = current.get(tag);
      if (now && now.manifest_id !== put.id) {
        if (!o.force) {
          if (!o.strict) continue;
          const other = await this.bin.manifestDigest(trx, now.manifest_id);
          throw new RegistryError(
            'CONFLICT',
            `tag ${tag} in ${repository} now points to ${other ?? 'another manifest'}; restore with --force to move it back to ${e.digest}`,
            { detail: { tag, digest: other } },
          );
        }
        assertWritable(`tag ${tag}`, now, 'overwritten');
        if (ctx.policy.on) {
          const other = await this.bin.manifestDigest(trx, now.manifest_id);
          if (other === undefined) throw new Error(`manifest ${now.manifest_id} vanished while tag ${tag} pointed at it`);
          await this.keep(trx, ctx.reg.id, repositoryId, repository, other, { group: ctx.group, days: ctx.policy.days, onlyTag: tag });
        }
      }
      await this.meta.setTag(trx, repositoryId, tag, put.id);
      restoredTags.push(tag);
    }
    await this.bin.deleteEntry(trx, e.id);
    await this.meta.touchRepository(trx, repositoryId);
    const held = quarantineHides(ctx.reg.quarantine_enabled, put.quarantine_state);
    await this.meta.recordEvent(trx, currentActor(), {
      registry_id: ctx.reg.id,
      action: held ? 'quarantine' : 'push',
      repository,
      digest: e.digest,
      tag: restoredTags[0] ?? null,
      media_type: e.media_type,
      size: Number(e.size),
      ...(held ? { operation: 'push' } : {}),
    });
    ctx.restored.push({ digest: e.digest, tags: restoredTags });
    // Referrers deleted together with this subject come back with it.
    if (e.kind === 'manifest') {
      const referrers = await this.liveEntries(repositoryId, { kind: 'manifest', group: e.group_id, subject: e.digest }, trx);
      for (const r of referrers) {
        if ((await this.meta.missingManifests(trx, repositoryId, [r.digest])).length === 0) continue;
        await this.restoreEntry(ctx, r, { force: false, strict: false });
      }
    }
    return restoredTags;
  }

  // ---------------------------------------------------------------- purge

  /**
   * Deletes bin entries past their purge time (in batches, so a huge bin never holds one long
   * transaction), then soft-deleted repositories left with nothing live and nothing in the bin
   * (through deleteRepository, which releases their storage accounting).
   */
  async purgeExpiredSoftDeleted(now: Date = this.now()): Promise<{ manifests: number; repositories: number }> {
    const cutoff = now.toISOString();
    let manifests = 0;
    for (;;) {
      const n = await this.meta.transaction((trx) => this.bin.deleteExpired(trx, cutoff, PURGE_BATCH));
      manifests += n;
      if (n < PURGE_BATCH) break;
      await new Promise((r) => setImmediate(r));
    }
    let repositories = 0;
    let after = 0;
    for (;;) {
      const ids = await this.bin.softDeletedRepositories(after, PURGE_BATCH);
      if (ids.length === 0) break;
      after = ids[ids.length - 1]!;
      for (const id of ids) {
        const gone = await this.meta.transaction(async (trx) => {
          // Locked (FOR UPDATE) and checked again here: a push may have revived it, or a delete refilled its bin.
          if (!(await this.bin.lockSoftDeletedRepository(trx, id))) return false;
          if (await this.bin.repositoryBusy(trx, id)) return false;
          await this.meta.deleteRepository(trx, id);
          return true;
        });
        if (gone) repositories++;
      }
      if (ids.length < PURGE_BATCH) break;
    }
    return { manifests, repositories };
  }
}

interface RestoreCtx {
  trx: Executor;
  reg: RegistryRow;
  repository: string;
  repositoryId: number;
  policy: { on: boolean; days: number };
  group: string;
  restored: { digest: string; tags: string[] }[];
}
