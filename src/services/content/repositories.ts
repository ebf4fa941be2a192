import { RegistryError } from '../../domain/errors.js';
import { parseDigest } from '../../domain/digest.js';
import { assertRepositoryName, assertTag } from '../../domain/reference.js';
import { scanAttribute } from '../../domain/scan/findings.js';
import type { ScanBrief, Scans } from '../../meta/scans.js';
import type { AttributeStore, EventStore, ManifestStore, RegistryRow, RepositoryStore, TimeOrder, Transactor } from '../../meta/store.js';
import type { Page } from './manifests.js';
import type { ImmutabilityService } from '../policy/immutability.js';
import { assertDeletable, locked } from '../policy/attribute-locks.js';
import type { RecycleBinHook } from './recycle-bin-hook.js';
import { currentActor } from '../actor.js';

/** Catalog and repository-level management (listing, attributes, deletion). */
export class RepositoryService {
  /**
   * bin: the recycle bin; with it, repository deletes in registries whose soft delete policy is on are kept.
   * immutable: write-once tag policies; a repository holding an immutable tag cannot be deleted.
   */
  constructor(
    private readonly meta: RepositoryStore &
      Pick<ManifestStore, 'listTagDetails' | 'listManifestDetails' | 'manifestDigestsOf' | 'tagNamesOf' | 'deleteManifest'> &
      Pick<AttributeStore, 'firstLockedInRepository'> &
      Pick<EventStore, 'recordEvent'> &
      Transactor,
    private readonly bin?: RecycleBinHook,
    private readonly immutable?: ImmutabilityService,
    /** Berth's scan results, shown with each manifest of a listing (one query per page). */
    private readonly scans?: Pick<Scans, 'summaries'>,
  ) {}

  /**
   * One registry's repositories, keyset-paged: in byte order, or by last update time (ACR's
   * orderby timeasc|timedesc, az acr repository list --orderby) with ties in name order.
   */
  /** `prefix`: only names that start with it (the portal's filter); a name order page is an index range. */
  async catalog(reg: RegistryRow, n: number, last: string | undefined, order: TimeOrder = 'none', prefix?: string): Promise<Page<string>> {
    if (n === 0) return { items: [] };
    if (last !== undefined) assertRepositoryName(last);
    if (prefix && !/^[a-z0-9._/-]{1,256}$/.test(prefix))
      throw new RegistryError(
        'REQUEST_INVALID',
        `prefix "${prefix.slice(0, 40)}" cannot start a repository name (lowercase letters, digits, "._-/")`,
      );
    if (order === 'none') {
      const rows = await this.meta.listRepositories(reg.id, last, n + 1, prefix || undefined);
      return rows.length > n ? { items: rows.slice(0, n), next: rows[n - 1] } : { items: rows };
    }
    let after: { name: string; time: string } | undefined;
    if (last !== undefined) {
      const row = await this.meta.getRepository(reg.id, last);
      if (!row) throw new RegistryError('REQUEST_INVALID', `repository ${last} (given as last) no longer exists; start the listing again`);
      after = { name: last, time: row.updated_at };
    }
    const rows = (await this.meta.listRepositoriesByTime(reg.id, { order, after, limit: n + 1, prefix: prefix || undefined })).map(
      (r) => r.name,
    );
    return rows.length > n ? { items: rows.slice(0, n), next: rows[n - 1] } : { items: rows };
  }

  /**
   * Every registry's repositories as "<registry>/<repository>" (path-style names), keyset-paged.
   * registryIds limits the listing to registries the caller may list (undefined = all).
   */
  async catalogAll(n: number, last: string | undefined, registryIds?: number[]): Promise<Page<string>> {
    if (n === 0) return { items: [] };
    // `last` is a name from a previous page: anything else (a NUL breaks PostgreSQL) is refused.
    if (last !== undefined) assertRepositoryName(last);
    let after: { key: string; name: string } | undefined;
    if (last !== undefined) {
      const slash = last.indexOf('/');
      after =
        slash < 0 ? { key: last.toLowerCase(), name: '\uffff' } : { key: last.slice(0, slash).toLowerCase(), name: last.slice(slash + 1) };
    }
    const rows = (await this.meta.listAllRepositories(after, n + 1, registryIds)).map((r) => `${r.registry}/${r.name}`);
    return rows.length > n ? { items: rows.slice(0, n), next: rows[n - 1] } : { items: rows };
  }

  private async repoId(reg: RegistryRow, repository: string): Promise<number> {
    const id = await this.meta.findRepositoryId(reg.id, repository);
    if (id === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}`);
    return id;
  }

  async show(reg: RegistryRow, repository: string) {
    const row = await this.meta.getRepository(reg.id, repository);
    if (!row) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}`);
    const stats = await this.meta.repositoryStats(row.id);
    return {
      registry: reg.name,
      imageName: repository,
      createdTime: row.created_at,
      lastUpdateTime: row.updated_at,
      manifestCount: stats.manifests,
      tagCount: stats.tags,
    };
  }

  /** `hideQuarantined`: the caller may not see quarantined manifests (ManifestService.hidesQuarantined). */
  async tagDetails(reg: RegistryRow, repository: string, n: number, last: string | undefined, hideQuarantined = false) {
    if (last !== undefined) assertTag(last);
    const rows = await this.meta.listTagDetails(await this.repoId(reg, repository), last, n + 1, hideQuarantined);
    const items = rows
      .slice(0, n)
      .map((t) => ({ name: t.name, digest: t.digest, createdTime: t.created_at, lastUpdateTime: t.updated_at }));
    return { items, next: rows.length > n ? items[items.length - 1]?.name : undefined };
  }

  async manifestDetails(reg: RegistryRow, repository: string, n: number, last: string | undefined, hideQuarantined = false) {
    if (last !== undefined) parseDigest(last);
    const rows = await this.meta.listManifestDetails(await this.repoId(reg, repository), last, n + 1, hideQuarantined);
    const page = rows.slice(0, n);
    const scans = this.scans ? await this.scans.summaries(page.map((m) => m.id)) : new Map<number, ScanBrief>();
    const items = page.map((m) => ({
      digest: m.digest,
      mediaType: m.media_type,
      artifactType: m.artifact_type,
      subject: m.subject_digest,
      imageSize: m.image_size,
      createdTime: m.created_at,
      tags: m.tags,
      ...(m.quarantine_state ? { quarantineState: m.quarantine_state } : {}),
      ...(scans.has(m.id) ? { scan: scanAttribute(scans.get(m.id)!) } : {}),
    }));
    return { items, next: rows.length > n ? items[items.length - 1]?.digest : undefined };
  }

  /** Deletes a repository with all its manifests and tags (ACR returns the counts). */
  async delete(reg: RegistryRow, repository: string): Promise<{ manifestsDeleted: number; tagsDeleted: number }> {
    const out = await this.deleteListing(reg, repository);
    return { manifestsDeleted: out.manifestsDeleted.length, tagsDeleted: out.tagsDeleted.length };
  }

  /**
   * Deletes a repository and says what went (ACR's DELETE /acr/v1/{repo}). Refused while the
   * repository, or any tag or manifest in it, is locked against deletion.
   */
  async deleteListing(reg: RegistryRow, repository: string): Promise<{ manifestsDeleted: string[]; tagsDeleted: string[] }> {
    await this.repoId(reg, repository);
    return this.meta.transaction(async (trx) => {
      const repo = await this.meta.repositoryRow(reg.id, repository, trx);
      if (!repo) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}`);
      assertDeletable(`repository ${repository}`, repo);
      const inside = await this.meta.firstLockedInRepository(trx, repo.id);
      if (inside)
        throw locked(
          `${inside.kind} ${inside.name} in repository ${repository}`,
          'deleteEnabled',
          'deleted, and neither can its repository',
        );
      await this.immutable?.assertRepositoryDeletable(trx, reg, repo.id, repository);
      const manifestsDeleted = await this.meta.manifestDigestsOf(trx, repo.id);
      const tagsDeleted = await this.meta.tagNamesOf(trx, repo.id);
      const bin = this.bin ? await this.bin.enabled(trx, reg.id) : undefined;
      if (this.bin && (bin?.on || (await this.bin.hasEntries(trx, repo.id)))) {
        // Soft delete: every manifest goes to the bin (one group, restored together), the ordinary
        // manifest delete releases its accounting, and the row stays (hidden) with its blob links.
        // A repository whose bin still holds entries from before keeps its row too, so they survive.
        const group = this.bin.newGroup();
        for (const digest of manifestsDeleted) {
          if (bin?.on) await this.bin.keep(trx, reg.id, repo.id, repository, digest, { group, days: bin.days });
          await this.meta.deleteManifest(trx, repo.id, digest);
        }
        await this.meta.markRepositoryDeleted(trx, repo.id, this.bin.now().toISOString());
      } else {
        await this.meta.deleteRepository(trx, repo.id);
      }
      await this.meta.recordEvent(trx, currentActor(), { registry_id: reg.id, action: 'delete', repository });
      return { manifestsDeleted, tagsDeleted };
    });
  }
}
