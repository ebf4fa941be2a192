import { RegexGuard } from './regex-guard.js';
import { PermanentJobError } from '../../jobs/queue.js';
import type { SoftDeleteService } from './soft-delete.js';
import { RegistryError } from '../../domain/errors.js';
import type { JobQueue, JobRow } from '../../jobs/queue.js';
import type { PurgeStore, PurgeTag, UntaggedManifest } from '../../meta/purge.js';
import { orphanedChildren, recheck } from './index-children.js';
import type { MetaStore, RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { activityError, type ActivityRecorder } from '../../domain/activity.js';
import { asSystem, currentActor } from '../actor.js';
import { ImmutabilityService } from '../policy/immutability.js';
import type { ManifestService } from '../content/manifests.js';
import { parseAgo, parseFilter, validateSpec, type Filter, type PurgeSpec } from './purge-spec.js';

// The spec's parsing lives in purge-spec.ts; callers that know purge by this module still find it here.

// `acr purge` on the server (acr-cli semantics, FEATURES.md §7.3):
// - for each repository whose name fully matches a filter's repository regex, the tags that fully
//   match its tag regex and were last updated before now - ago are untagged, except the `keep`
//   most recent of those;
// - with `untagged`, afterwards, manifests without tags created before now - ago are deleted too,
//   except those an index in the same repository references and referrers whose subject exists
//   (signatures, SBOMs and index children are kept, as acr-cli does); an untagged index deleted so
//   takes the children only it referenced with it, in the same run (index-children.ts);
// - locked tags, manifests and repositories (writeEnabled or deleteEnabled false) and tags under an
//   immutability policy are skipped and reported, never unlocked.
// Everything is read in keyset pages (PAGE rows a query) and deleted in small transactions, so a
// repository of 100,000 tags never holds one long transaction; progress is logged per page.
// Tag deletions are untags (audit operation 'purge', no webhook, as ACR); manifest deletions go
// through ManifestService.delete (locks, soft delete, and a 'delete' webhook, audit 'purge').

const PAGE = 1000;
const CHUNK = 200;
/** Names listed in a result, at most (the counts are always complete). */
const LIST_MAX = 10_000;

export interface SkippedItem {
  repository: string;
  tag?: string;
  digest?: string;
  reason: string;
}

export interface PurgeRepositoryResult {
  repository: string;
  deletedTags: number;
  deletedManifests: number;
}

export interface PurgeResult {
  registry: string;
  dryRun: boolean;
  cutoff: string;
  repositories: PurgeRepositoryResult[];
  deletedTags: number;
  deletedManifests: number;
  /** What was (or, in a dry run, would be) deleted: "repo:tag" and "repo@digest", up to LIST_MAX. */
  tags: string[];
  manifests: string[];
  truncated: boolean;
  skipped: SkippedItem[];
}

/** One purge of one registry, as it goes: what it was asked, and what it did so far. */
interface PurgeRun {
  reg: RegistryRow;
  spec: PurgeSpec;
  filters: Filter[];
  guard: RegexGuard;
  cutoff: string;
  dryRun: boolean;
  operation: string;
  res: PurgeResult;
}

/** A purge job's payload: what to purge where, and who or which schedule asked. */
interface PurgeJob {
  registryId: number;
  spec: PurgeSpec;
  requestedBy?: string;
  only?: string[];
  schedule?: string;
}

export class PurgeService {
  clock: () => Date = () => new Date();
  /** Where each purge job's outcome is recorded (the activity log). */
  activity?: ActivityRecorder;

  constructor(
    private readonly meta: MetaStore,
    private readonly store: PurgeStore,
    private readonly manifests: ManifestService,
    private readonly immutability: ImmutabilityService,
    private readonly jobs: JobQueue,
    private readonly log: Logger,
    /** The recycle bin: with soft delete on, purged tags are kept there like any other untag. */
    private readonly bin?: SoftDeleteService,
  ) {
    jobs.handle<PurgeJob>('purge', (payload, job) => this.runJob(payload, job), { long: true });
  }

  /** Repositories of a registry whose name fully matches one of the filters' repository regexes. */
  async matchingRepositories(reg: RegistryRow, spec: PurgeSpec, guard?: RegexGuard): Promise<string[]> {
    const own = guard ? undefined : new RegexGuard();
    const g = guard ?? own!;
    try {
      return await this.matchRepositories(reg, spec, g);
    } finally {
      await own?.close();
    }
  }

  private async matchRepositories(reg: RegistryRow, spec: PurgeSpec, guard: RegexGuard): Promise<string[]> {
    const filters = spec.filters.map(parseFilter);
    const out: string[] = [];
    let after: string | undefined;
    for (;;) {
      const rows = await this.store.repositoryPage(reg.id, after, PAGE);
      const hits = await guard.any(
        filters.map((f) => f.repo),
        rows.map((r) => r.name),
      );
      rows.forEach((r, i) => {
        if (hits[i]) out.push(r.name);
      });
      if (rows.length < PAGE) return out;
      after = rows[rows.length - 1]!.name;
    }
  }

  /** Runs (or with dryRun, plans) a purge of one registry. `only` limits it to these repositories. */
  async run(reg: RegistryRow, spec: PurgeSpec, o: { dryRun?: boolean; only?: string[]; operation?: string } = {}): Promise<PurgeResult> {
    const guard = new RegexGuard();
    try {
      return await this.runGuarded(reg, spec, o, guard);
    } finally {
      await guard.close();
    }
  }

  private async runGuarded(
    reg: RegistryRow,
    spec: PurgeSpec,
    o: { dryRun?: boolean; only?: string[]; operation?: string },
    guard: RegexGuard,
  ): Promise<PurgeResult> {
    const dryRun = !!o.dryRun;
    const cutoff = new Date(this.clock().getTime() - parseAgo(spec.ago)).toISOString();
    const res: PurgeResult = {
      registry: reg.name,
      dryRun,
      cutoff,
      repositories: [],
      deletedTags: 0,
      deletedManifests: 0,
      tags: [],
      manifests: [],
      truncated: false,
      skipped: [],
    };
    const run: PurgeRun = {
      reg,
      spec,
      filters: spec.filters.map(parseFilter),
      guard,
      cutoff,
      dryRun,
      operation: o.operation ?? 'purge',
      res,
    };
    let repos = await this.matchingRepositories(reg, spec, guard);
    if (o.only) {
      const allowed = new Set(o.only);
      repos = repos.filter((r) => allowed.has(r));
    }
    for (const name of repos) {
      const repo = await this.meta.repositoryRow(reg.id, name);
      if (!repo) continue;
      if (!repo.write_enabled || !repo.delete_enabled) {
        res.skipped.push({
          repository: name,
          reason: `repository is locked (${!repo.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)`,
        });
        continue;
      }
      const out: PurgeRepositoryResult = { repository: name, deletedTags: 0, deletedManifests: 0 };
      // manifest id -> tags of it this run untags (a dry run uses it to see what would become untagged)
      const untaggedBy = spec.untaggedOnly ? new Map<number, number>() : await this.purgeTags(run, repo.id, out);
      if (spec.untagged) await this.purgeUntagged(run, repo.id, out, untaggedBy);
      res.deletedTags += out.deletedTags;
      res.deletedManifests += out.deletedManifests;
      if (out.deletedTags || out.deletedManifests) res.repositories.push(out);
    }
    this.log.info(
      { registry: reg.name, dryRun, tags: res.deletedTags, manifests: res.deletedManifests, skipped: res.skipped.length },
      'purge finished',
    );
    return res;
  }

  /** Names what was (or would be) deleted, up to LIST_MAX; beyond that the result says it is truncated. */
  private static listed(res: PurgeResult, arr: string[], v: string): void {
    if (arr.length < LIST_MAX) arr.push(v);
    else res.truncated = true;
  }

  /** Untags a repository's matching tags older than the cutoff (but the `keep` newest); returns manifest id -> tags of it untagged. */
  private async purgeTags(run: PurgeRun, repositoryId: number, out: PurgeRepositoryResult): Promise<Map<number, number>> {
    const { reg, spec, res } = run;
    const name = out.repository;
    const tagRes = await repoTagRegexes(run.filters, name, run.guard);
    const rules = await this.immutability.rulesFor(reg.id, name);
    const untaggedBy = new Map<number, number>();
    let after: { time: string; name: string } | undefined;
    let kept = 0;
    for (;;) {
      const rows = await this.store.tagPage(repositoryId, run.cutoff, after, PAGE);
      const doomed: PurgeTag[] = [];
      const hits = await run.guard.any(
        tagRes,
        rows.map((t) => t.name),
      );
      for (const [i, t] of rows.entries()) {
        if (!hits[i]) continue;
        if (kept < (spec.keep ?? 0)) {
          kept++;
          continue;
        }
        if (!t.write_enabled || !t.delete_enabled) {
          res.skipped.push({
            repository: name,
            tag: t.name,
            reason: `tag is locked (${!t.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)`,
          });
          continue;
        }
        const p = ImmutabilityService.match(rules, t.name);
        if (p) {
          res.skipped.push({
            repository: name,
            tag: t.name,
            reason: `tag is immutable (policy "${p.name}": repository ${p.repository}, tag ${p.tag})`,
          });
          continue;
        }
        doomed.push(t);
      }
      for (let i = 0; i < doomed.length; i += CHUNK) {
        const chunk = doomed.slice(i, i + CHUNK);
        const gone = run.dryRun ? chunk : await this.untagChunk(reg, repositoryId, name, chunk, run.cutoff, run.operation);
        for (const t of gone) {
          out.deletedTags++;
          PurgeService.listed(res, res.tags, `${name}:${t.name}`);
          untaggedBy.set(t.manifest_id, (untaggedBy.get(t.manifest_id) ?? 0) + 1);
        }
      }
      if (rows.length > 0)
        this.log.info(
          { registry: reg.name, repository: name, scanned: rows.length, untagged: out.deletedTags, dryRun: run.dryRun },
          'purge: tag page done',
        );
      if (rows.length < PAGE) return untaggedBy;
      const last = rows[rows.length - 1]!;
      after = { time: last.updated_at, name: last.name };
    }
  }

  /** Deletes a repository's untagged manifests older than the cutoff (a dry run: also those its untags would leave untagged). */
  private async purgeUntagged(
    run: PurgeRun,
    repositoryId: number,
    out: PurgeRepositoryResult,
    untaggedBy: Map<number, number>,
  ): Promise<void> {
    const { spec, res } = run;
    const name = out.repository;
    const doomed: UntaggedManifest[] = [];
    const gone = new Set<number>();
    let kept = 0;
    const consider = (m: UntaggedManifest) => {
      if (spec.untaggedOnly && kept < (spec.keep ?? 0)) {
        kept++;
        return;
      }
      if (PurgeService.unlocked(res, name, m)) doomed.push(m);
    };
    let beforeId: number | undefined;
    for (;;) {
      const rows = await this.store.untaggedCandidates(repositoryId, { age: 'created_at', cutoff: run.cutoff, beforeId, limit: PAGE });
      rows.forEach(consider);
      if (doomed.length)
        await this.deleteWithChildren(run, repositoryId, name, doomed.splice(0), out, spec.concurrency ?? 4, untaggedBy, gone);
      if (rows.length < PAGE) break;
      beforeId = Number(rows[rows.length - 1]!.id);
    }
    if (run.dryRun && untaggedBy.size) {
      // Manifests this run's untags would leave without tags.
      const ids = [...untaggedBy.keys()];
      const remaining = await this.store.tagCounts(ids);
      const would = ids.filter((id) => (remaining.get(id) ?? 0) <= untaggedBy.get(id)!);
      for (let i = 0; i < would.length; i += 500) {
        (
          await this.store.untaggedCandidates(repositoryId, {
            age: 'created_at',
            cutoff: run.cutoff,
            ids: would.slice(i, i + 500),
            limit: 500,
          })
        ).forEach(consider);
      }
      if (doomed.length) await this.deleteWithChildren(run, repositoryId, name, doomed.splice(0), out, 1, untaggedBy, gone);
    }
  }

  /** false (and the manifest reported as skipped) when it is locked. */
  private static unlocked(res: PurgeResult, repository: string, m: UntaggedManifest): boolean {
    if (m.write_enabled && m.delete_enabled) return true;
    res.skipped.push({
      repository,
      digest: m.digest,
      reason: `manifest is locked (${!m.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)`,
    });
    return false;
  }

  /**
   * Deletes (a dry run: lists) these untagged manifests, then, wave by wave, the index children
   * only they referenced (index-children.ts). A real run looks at each wave again once the one
   * before is gone: a child whose index could not be deleted (locked meanwhile) is still
   * referenced, and stays. A dry run, which changes nothing, simulates: `tagsRemoved` are the tags
   * its tag pass would have removed, `gone` the manifests it would have deleted in the repository.
   */
  private async deleteWithChildren(
    run: PurgeRun,
    repositoryId: number,
    repository: string,
    doomed: UntaggedManifest[],
    out: PurgeRepositoryResult,
    concurrency: number,
    tagsRemoved: Map<number, number>,
    gone: Set<number>,
  ): Promise<void> {
    const waves = await orphanedChildren(
      this.store,
      repositoryId,
      doomed,
      (m) => PurgeService.unlocked(run.res, repository, m),
      run.dryRun ? { tagsRemoved, gone } : {},
    );
    await this.deleteManifests(run, repository, doomed, out, concurrency);
    for (const wave of waves) {
      const still = run.dryRun ? wave : await recheck(this.store, repositoryId, wave);
      if (still.length) await this.deleteManifests(run, repository, still, out, concurrency);
    }
  }

  /** Untags a chunk in one transaction; rows changed since they were read (moved, re-locked) are left alone. */
  private async untagChunk(
    reg: RegistryRow,
    repositoryId: number,
    repository: string,
    chunk: { name: string; manifest_id: number; digest: string }[],
    cutoff: string,
    operation: string,
  ) {
    return this.meta.transaction(async (trx) => {
      const want = new Map(chunk.map((t) => [t.name, t]));
      const current = await this.store.deletableTags(trx, repositoryId, [...want.keys()], cutoff);
      const gone = current.filter((c) => want.get(c.name)?.manifest_id === c.manifest_id).map((c) => want.get(c.name)!);
      if (gone.length === 0) return [];
      const policy = this.bin ? await this.bin.enabled(trx, reg.id) : undefined;
      if (this.bin && policy?.on) {
        const group = this.bin.newGroup();
        for (const t of gone)
          await this.bin.keep(trx, reg.id, repositoryId, repository, t.digest, { group, days: policy.days, onlyTag: t.name });
      }
      await this.store.deleteTags(
        trx,
        repositoryId,
        gone.map((t) => t.name),
      );
      await this.meta.markUntagged(trx, [...new Set(gone.map((t) => t.manifest_id))]);
      await this.meta.recordEvents(
        trx,
        currentActor(),
        gone.map((t) => ({ registry_id: reg.id, action: 'untag', repository, digest: t.digest, tag: t.name, operation })),
      );
      await this.meta.touchRepository(trx, repositoryId);
      return gone;
    });
  }

  private async deleteManifests(
    run: PurgeRun,
    repository: string,
    doomed: { id: number; digest: string }[],
    out: PurgeRepositoryResult,
    concurrency: number,
  ): Promise<void> {
    const { res } = run;
    const one = async (m: { digest: string }) => {
      if (!run.dryRun) {
        try {
          await this.manifests.delete(run.reg, repository, m.digest, { operation: run.operation });
        } catch (e) {
          if (!(e instanceof RegistryError)) throw e;
          // Gone meanwhile: nothing to report. Locked or immutable meanwhile: skipped.
          if (e.code !== 'MANIFEST_UNKNOWN' && e.code !== 'NAME_UNKNOWN')
            res.skipped.push({ repository, digest: m.digest, reason: e.message });
          return;
        }
      }
      out.deletedManifests++;
      PurgeService.listed(res, res.manifests, `${repository}@${m.digest}`);
    };
    for (let i = 0; i < doomed.length; i += concurrency) await Promise.all(doomed.slice(i, i + concurrency).map(one));
  }

  // ---------------------------------------------------------------- jobs

  /** Queues a purge job; `only` fixes the repositories the requester was authorized for. */
  async enqueue(reg: RegistryRow, spec: PurgeSpec, requestedBy: string, only?: string[]): Promise<number> {
    return this.meta.transaction((trx) =>
      this.jobs.enqueue(trx, 'purge', { registryId: reg.id, spec, requestedBy, ...(only ? { only } : {}) }, { maxAttempts: 3 }),
    );
  }

  private async runJob(payload: PurgeJob, job: JobRow): Promise<void> {
    const reg = await this.meta.getRegistryById(payload.registryId);
    if (!reg) {
      await this.setResult(job, { error: 'the registry no longer exists' });
      return;
    }
    const identity = payload.requestedBy ?? (payload.schedule ? `schedule ${payload.schedule}` : 'purge');
    const started = Date.now();
    let result: PurgeResult;
    try {
      result = await asSystem({ name: 'purge', method: 'DELETE', identity, id: `job-${job.id}` }, () =>
        this.run(reg, validateSpec(payload.spec), { only: payload.only }),
      );
    } catch (e) {
      // A filter that is invalid or too slow to match fails the same way on every attempt.
      const permanent = e instanceof RegistryError && e.code === 'REQUEST_INVALID';
      if (permanent || job.attempts >= job.max_attempts) await this.recordJob(reg, job, identity, started, undefined, e);
      if (permanent) {
        await this.setResult(job, { error: e.message });
        throw new PermanentJobError(e.message);
      }
      throw e;
    }
    await this.setResult(job, { ...result, ...(payload.schedule ? { schedule: payload.schedule } : {}) });
    await this.recordJob(reg, job, identity, started, result);
  }

  /** A purge job's outcome in the activity log (its last attempt's, when it fails). */
  private async recordJob(reg: RegistryRow, job: JobRow, requestedBy: string, started: number, result?: PurgeResult, error?: unknown) {
    await this.activity?.record({
      operation: 'Microsoft.ContainerRegistry/registries/purge/action',
      registry: reg.name,
      registryId: reg.id,
      resource: `/registries/${reg.name}/purge/runs/${job.id}`,
      result: error === undefined ? 'Succeeded' : 'Failed',
      ...(error === undefined ? {} : { error: activityError(error) }),
      identity: 'purge',
      identityType: 'System',
      correlationId: `job-${job.id}`,
      durationMs: Date.now() - started,
      properties: {
        requestedBy,
        jobId: Number(job.id),
        ...(result ? { deletedTags: result.deletedTags, deletedManifests: result.deletedManifests, skipped: result.skipped.length } : {}),
      },
    });
  }

  private async setResult(job: JobRow, result: unknown): Promise<void> {
    await this.store.setJobResult(Number(job.id), JSON.stringify(result));
  }

  /** A purge job's state and result, for whoever waits on it. */
  async job(reg: RegistryRow, id: number) {
    const j = await this.jobs.get(id);
    if (!j || j.kind !== 'purge') return undefined;
    const payload = JSON.parse(j.payload) as PurgeJob;
    if (Number(payload.registryId) !== reg.id) return undefined;
    return {
      id: Number(j.id),
      state: j.state,
      attempts: j.attempts,
      lastError: j.last_error,
      createdAt: j.created_at,
      updatedAt: j.updated_at,
      requestedBy: payload.requestedBy ?? null,
      schedule: payload.schedule ?? null,
      result: j.result ? (JSON.parse(j.result) as PurgeResult) : null,
    };
  }
}

/** The tag regexes that apply to a repository (of the filters whose repository regex matches it). */
async function repoTagRegexes(filters: Filter[], repository: string, guard: RegexGuard): Promise<RegExp[]> {
  const [hits] = await guard.match(
    filters.map((f) => f.repo),
    [repository],
  );
  return filters.filter((_, j) => hits![j]).map((f) => f.tag);
}
