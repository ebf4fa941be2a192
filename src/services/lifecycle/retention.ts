import { RegistryError } from '../../domain/errors.js';
import type { Scheduler } from '../../jobs/scheduler.js';
import type { PurgeStore, UntaggedManifest } from '../../meta/purge.js';
import { orphanedChildren, recheck } from './index-children.js';
import type { RetentionPolicies } from '../../meta/retention.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { asSystem } from '../actor.js';
import type { ManifestService } from '../content/manifests.js';

// ACR's retention policy for untagged manifests (container-registry-retention-policy.md,
// `az acr config retention update --status enabled --days N --type UntaggedManifests`): Premium;
// days 0-365 (default 7); a manifest is deleted N days after it lost its last tag
// (manifests.untagged_since), and only if it became untagged after the policy was enabled. Locked
// manifests (writeEnabled or deleteEnabled false) are kept; index children and referrers whose
// subject exists are kept as in purge, and an index deleted takes the children only it
// referenced with it (index-children.ts). Runs as the maintenance task 'retention' (hourly, once
// across nodes); deletions go through ManifestService.delete (audit operation 'retention').

export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const PAGE = 1000;

export interface RetentionPolicyView {
  status: 'enabled' | 'disabled';
  days: number;
  type: 'UntaggedManifests';
  lastUpdatedTime: string | null;
}

export interface RetentionRunResult {
  registries: number;
  deletedManifests: number;
  skipped: { registry: string; repository: string; digest: string; reason: string }[];
}

export class RetentionService {
  clock: () => Date = () => new Date();

  constructor(
    private readonly policies: RetentionPolicies,
    /** Untagged manifests are found as purge finds them (index children and referrers kept). */
    private readonly candidates: PurgeStore,
    private readonly manifests: ManifestService,
    scheduler: Scheduler,
    private readonly log: Logger,
  ) {
    scheduler.every('retention', RETENTION_INTERVAL_MS, async () => {
      await this.runAll();
    });
  }

  async show(reg: RegistryRow): Promise<RetentionPolicyView> {
    const row = await this.policies.get(reg.id);
    if (!row) return { status: 'disabled', days: 7, type: 'UntaggedManifests', lastUpdatedTime: null };
    return {
      status: row.status === 'enabled' ? 'enabled' : 'disabled',
      days: row.days,
      type: 'UntaggedManifests',
      lastUpdatedTime: row.updated_at,
    };
  }

  async update(reg: RegistryRow, input: Record<string, unknown>): Promise<RetentionPolicyView> {
    const allowed = ['status', 'days', 'type'];
    const extra = Object.keys(input).filter((k) => !allowed.includes(k));
    if (extra.length)
      throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 40))}; allowed: ${allowed.join(', ')}`);
    const current = await this.show(reg);
    const status = input.status ?? current.status;
    if (status !== 'enabled' && status !== 'disabled') throw new RegistryError('REQUEST_INVALID', '"status" must be enabled or disabled');
    const days = input.days ?? current.days;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 0 || days > 365)
      throw new RegistryError('REQUEST_INVALID', '"days" must be a whole number from 0 to 365');
    if (input.type !== undefined && input.type !== 'UntaggedManifests')
      throw new RegistryError('REQUEST_INVALID', '"type" must be UntaggedManifests (the only retention policy type)');
    if (status === 'enabled' && reg.sku !== 'Premium') {
      throw new RegistryError(
        'REQUEST_INVALID',
        `the retention policy needs the Premium tier; registry ${reg.name} is ${reg.sku} (berth update --name ${reg.name} --sku Premium)`,
      );
    }
    const ts = this.clock().toISOString();
    const enabledAt = status === 'enabled' && current.status !== 'enabled' ? ts : undefined;
    await this.policies.put({ registryId: reg.id, status, days, enabledAt, updatedAt: ts });
    return this.show(reg);
  }

  /** One retention pass over every registry with an enabled policy. */
  async runAll(): Promise<RetentionRunResult> {
    const policies = await this.policies.enabled();
    const out: RetentionRunResult = { registries: policies.length, deletedManifests: 0, skipped: [] };
    for (const p of policies) {
      const { days, enabled_at: enabledAt, ...reg } = p;
      const cutoff = new Date(this.clock().getTime() - days * 86_400_000).toISOString();
      await asSystem({ name: 'retention', method: 'DELETE', identity: 'retention policy', id: `retention-${reg.name}` }, () =>
        this.runRegistry(reg, cutoff, enabledAt ?? '', out),
      );
    }
    if (out.deletedManifests || out.skipped.length)
      this.log.info({ deleted: out.deletedManifests, skipped: out.skipped.length }, 'retention pass finished');
    return out;
  }

  private async deleteOne(reg: RegistryRow, repository: string, m: UntaggedManifest, out: RetentionRunResult): Promise<void> {
    try {
      await this.manifests.delete(reg, repository, m.digest, { operation: 'retention' });
      out.deletedManifests++;
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      if (e.code !== 'MANIFEST_UNKNOWN') out.skipped.push({ registry: reg.name, repository, digest: m.digest, reason: e.message });
    }
  }

  private async runRegistry(reg: RegistryRow, cutoff: string, enabledAt: string, out: RetentionRunResult): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const repos = await this.candidates.repositoryPage(reg.id, after, PAGE);
      for (const repo of repos) {
        if (!repo.write_enabled || !repo.delete_enabled) continue;
        let beforeId: number | undefined;
        for (;;) {
          const rows = await this.candidates.untaggedCandidates(repo.id, {
            age: 'untagged_since',
            cutoff,
            beforeId,
            untaggedSince: enabledAt,
            limit: PAGE,
          });
          const unlocked = (m: UntaggedManifest) => {
            if (m.write_enabled && m.delete_enabled) return true;
            out.skipped.push({ registry: reg.name, repository: repo.name, digest: m.digest, reason: 'manifest is locked' });
            return false;
          };
          const doomed = rows.filter(unlocked);
          // An index takes the children only it referenced with it, as purge does; they are as old
          // as the index, and were never tagged since it was pushed (else they are kept).
          const waves = await orphanedChildren(this.candidates, repo.id, doomed, unlocked);
          for (const m of doomed) await this.deleteOne(reg, repo.name, m, out);
          for (const wave of waves)
            for (const m of await recheck(this.candidates, repo.id, wave)) await this.deleteOne(reg, repo.name, m, out);
          if (rows.length < PAGE) break;
          beforeId = Number(rows[rows.length - 1]!.id);
        }
      }
      if (repos.length < PAGE) return;
      after = repos[repos.length - 1]!.name;
    }
  }
}
