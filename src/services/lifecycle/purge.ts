import { RegexGuard } from './regex-guard.js';
import { PermanentJobError } from '../../jobs/queue.js';
import type { SoftDeleteService } from './soft-delete.js';
import { RegistryError } from '../../domain/errors.js';
import type { JobQueue, JobRow } from '../../jobs/queue.js';
import type { Executor, MetaStore, RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { requestContext } from '../../observability/request-context.js';
import { ImmutabilityService } from '../policy/immutability.js';
import type { ManifestService } from '../content/manifests.js';

// `acr purge` on the server (acr-cli semantics, FEATURES.md §7.3):
// - for each repository whose name fully matches a filter's repository regex, the tags that fully
//   match its tag regex and were last updated before now - ago are untagged, except the `keep`
//   most recent of those;
// - with `untagged`, afterwards, manifests without tags created before now - ago are deleted too,
//   except those an index in the same repository references and referrers whose subject exists
//   (signatures, SBOMs and index children are kept, as acr-cli does);
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

export interface PurgeSpec {
  /** "repository-regex:tag-regex", each regex matched against the whole name. */
  filters: string[];
  /** Age: "<N>d" and/or Go-style durations ("2d3h6m", "1h15m", "30m", "0d" = everything). */
  ago: string;
  untagged?: boolean;
  /** Only delete untagged manifests (the tag part of the filters is ignored). */
  untaggedOnly?: boolean;
  keep?: number;
  concurrency?: number;
}

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

interface Filter {
  source: string;
  repo: RegExp;
  tag: RegExp;
}

const DURATION = /(\d+(?:\.\d+)?)(d|h|ms|m|s)/gy;
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** "2d3h6m" -> milliseconds (acr-cli's --ago: days, then a Go duration). */
export function parseAgo(text: string): number {
  const s = text.trim();
  if (!s) throw new RegistryError('REQUEST_INVALID', '"ago" is required: a duration such as 1d, 2d3h6m or 0d (everything)');
  let total = 0;
  DURATION.lastIndex = 0;
  let pos = 0;
  for (let m = DURATION.exec(s); m; m = DURATION.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = DURATION.lastIndex;
  }
  if (pos !== s.length) throw new RegistryError('REQUEST_INVALID', `"ago" ${JSON.stringify(s.slice(0, 40))} is not a duration: use days and Go units, e.g. 1d, 2d3h6m, 90m, 0d`);
  if (total > 150 * 365 * 86_400_000) throw new RegistryError('REQUEST_INVALID', '"ago" may be at most 150 years');
  return total;
}

function regex(source: string, what: string, filter: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (e) {
    throw new RegistryError('REQUEST_INVALID', `filter ${JSON.stringify(filter.slice(0, 80))}: the ${what} regex is invalid: ${(e as Error).message}`);
  }
}

/** "repo-regex:tag-regex"; the separator is the first ":" that is not part of "(?:". */
export function parseFilter(text: string): Filter {
  if (typeof text !== 'string' || text.length === 0 || text.length > 512) throw new RegistryError('REQUEST_INVALID', 'a filter is "<repository regex>:<tag regex>", at most 512 characters');
  let i = -1;
  for (let k = 0; k < text.length; k++) if (text[k] === ':' && !(k >= 2 && text[k - 1] === '?' && text[k - 2] === '(')) { i = k; break; }
  if (i <= 0) throw new RegistryError('REQUEST_INVALID', `filter ${JSON.stringify(text.slice(0, 80))} needs the form "<repository regex>:<tag regex>", e.g. "hello-world:.*"`);
  return { source: text, repo: regex(text.slice(0, i), 'repository', text), tag: regex(text.slice(i + 1) || '.*', 'tag', text) };
}

export function validateSpec(raw: unknown): PurgeSpec {
  const b = (raw ?? {}) as Record<string, unknown>;
  const known = ['filters', 'ago', 'untagged', 'untaggedOnly', 'keep', 'concurrency', 'dryRun'];
  const extra = Object.keys(b).filter((k) => !known.includes(k));
  if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 40))}; allowed: ${known.join(', ')}`);
  const untaggedOnly = b.untaggedOnly === true;
  const filters = b.filters ?? (untaggedOnly ? ['.*:.*'] : undefined);
  if (!Array.isArray(filters) || filters.length === 0 || filters.some((f) => typeof f !== 'string')) {
    throw new RegistryError('REQUEST_INVALID', '"filters" must be a non-empty array of "<repository regex>:<tag regex>" strings');
  }
  for (const f of filters) parseFilter(f);
  if (typeof b.ago !== 'string') throw new RegistryError('REQUEST_INVALID', '"ago" is required: a duration such as 1d, 2d3h6m or 0d');
  parseAgo(b.ago);
  for (const k of ['untagged', 'untaggedOnly', 'dryRun']) if (b[k] !== undefined && typeof b[k] !== 'boolean') throw new RegistryError('REQUEST_INVALID', `"${k}" must be true or false`);
  const int = (k: string, min: number, max: number) => {
    const v = b[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RegistryError('REQUEST_INVALID', `"${k}" must be a whole number from ${min} to ${max}`);
    return v;
  };
  return { filters: filters as string[], ago: b.ago, untagged: b.untagged === true || untaggedOnly, untaggedOnly, keep: int('keep', 0, 1_000_000), concurrency: int('concurrency', 1, 32) };
}

export interface UntaggedQuery {
  /** Which timestamp must be older than the cutoff: created_at (purge) or untagged_since (retention). */
  age: 'created_at' | 'untagged_since';
  cutoff: string;
  /** Keyset: manifests with id below this (pages go newest first). */
  beforeId?: number;
  /** Instead of "untagged now": these manifests (a dry run's would-be-untagged ones). */
  ids?: number[];
  /** Only manifests untagged at or after this time (retention ignores what was untagged before it was enabled). */
  untaggedSince?: string;
  limit: number;
}

export class PurgeService {
  clock: () => Date = () => new Date();

  constructor(
    private readonly meta: MetaStore,
    private readonly manifests: ManifestService,
    private readonly immutability: ImmutabilityService,
    private readonly jobs: JobQueue,
    private readonly log: Logger,
    /** The recycle bin: with soft delete on, purged tags are kept there like any other untag. */
    private readonly bin?: SoftDeleteService,
  ) {
    jobs.handle('purge', (payload, job) => this.runJob(payload, job), { long: true });
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
      let q = this.meta.db.selectFrom('repositories').select('name').where('registry_id', '=', reg.id);
      if (after !== undefined) q = q.where('name', '>', after);
      const rows = await q.orderBy('name').limit(PAGE).execute();
      const hits = await guard.any(filters.map((f) => f.repo), rows.map((r) => r.name));
      rows.forEach((r, i) => { if (hits[i]) out.push(r.name); });
      if (rows.length < PAGE) return out;
      after = rows[rows.length - 1]!.name;
    }
  }

  /**
   * Untagged manifests of a repository that are garbage: no tag, not referenced by an index in the
   * same repository, not a referrer whose subject exists; older than the cutoff; newest first.
   */
  untaggedCandidates(ex: Executor, repositoryId: number, q: UntaggedQuery) {
    let s = ex.selectFrom('manifests as m')
      .select(['m.id', 'm.digest', 'm.write_enabled', 'm.delete_enabled'])
      .where('m.repository_id', '=', repositoryId)
      .where(`m.${q.age}`, '<', q.cutoff)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_refs as r').innerJoin('manifests as p', 'p.id', 'r.manifest_id').select('r.kind')
        .whereRef('r.child_digest', '=', 'm.digest').where('r.kind', '=', 'manifest').whereRef('p.repository_id', '=', 'm.repository_id'))))
      .where((eb) => eb.or([eb('m.subject_digest', 'is', null), eb.not(eb.exists(eb.selectFrom('manifests as s').select('s.id')
        .whereRef('s.repository_id', '=', 'm.repository_id').whereRef('s.digest', '=', 'm.subject_digest')))]));
    if (q.ids) s = s.where('m.id', 'in', q.ids.length ? q.ids : [-1]);
    else s = s.where('m.untagged_since', 'is not', null).where((eb) => eb.not(eb.exists(eb.selectFrom('tags').select('tags.name').whereRef('tags.manifest_id', '=', 'm.id'))));
    if (q.untaggedSince !== undefined) s = s.where('m.untagged_since', '>=', q.untaggedSince);
    if (q.beforeId !== undefined) s = s.where('m.id', '<', q.beforeId);
    return s.orderBy('m.id', 'desc').limit(q.limit).execute();
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

  private async runGuarded(reg: RegistryRow, spec: PurgeSpec, o: { dryRun?: boolean; only?: string[]; operation?: string }, guard: RegexGuard): Promise<PurgeResult> {
    const filters = spec.filters.map(parseFilter);
    const cutoff = new Date(this.clock().getTime() - parseAgo(spec.ago)).toISOString();
    const dryRun = !!o.dryRun;
    const operation = o.operation ?? 'purge';
    const res: PurgeResult = { registry: reg.name, dryRun, cutoff, repositories: [], deletedTags: 0, deletedManifests: 0, tags: [], manifests: [], truncated: false, skipped: [] };
    const listed = (arr: string[], v: string) => {
      if (arr.length < LIST_MAX) arr.push(v);
      else res.truncated = true;
    };
    let repos = await this.matchingRepositories(reg, spec, guard);
    if (o.only) {
      const allowed = new Set(o.only);
      repos = repos.filter((r) => allowed.has(r));
    }
    for (const name of repos) {
      const repo = await this.meta.repositoryRow(reg.id, name);
      if (!repo) continue;
      const out: PurgeRepositoryResult = { repository: name, deletedTags: 0, deletedManifests: 0 };
      if (!repo.write_enabled || !repo.delete_enabled) {
        res.skipped.push({ repository: name, reason: `repository is locked (${!repo.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)` });
        continue;
      }
      const tagRes = await repoTagRegexes(filters, name, guard);
      const rules = await this.immutability.rulesFor(reg.id, name);
      // manifest id -> tags of it this run untags (a dry run uses it to see what would become untagged)
      const untaggedBy = new Map<number, number>();

      if (!spec.untaggedOnly) {
        let after: { time: string; name: string } | undefined;
        let kept = 0;
        for (;;) {
          const rows = await this.tagPage(repo.id, cutoff, after);
          const doomed: typeof rows = [];
          const hits = await guard.any(tagRes, rows.map((t) => t.name));
          for (const [i, t] of rows.entries()) {
            if (!hits[i]) continue;
            if (kept < (spec.keep ?? 0)) {
              kept++;
              continue;
            }
            if (!t.write_enabled || !t.delete_enabled) {
              res.skipped.push({ repository: name, tag: t.name, reason: `tag is locked (${!t.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)` });
              continue;
            }
            const p = ImmutabilityService.match(rules, t.name);
            if (p) {
              res.skipped.push({ repository: name, tag: t.name, reason: `tag is immutable (policy "${p.name}": repository ${p.repository}, tag ${p.tag})` });
              continue;
            }
            doomed.push(t);
          }
          for (let i = 0; i < doomed.length; i += CHUNK) {
            const chunk = doomed.slice(i, i + CHUNK);
            const gone = dryRun ? chunk : await this.untagChunk(reg, repo.id, name, chunk, cutoff, operation);
            for (const t of gone) {
              out.deletedTags++;
              listed(res.tags, `${name}:${t.name}`);
              untaggedBy.set(t.manifest_id, (untaggedBy.get(t.manifest_id) ?? 0) + 1);
            }
          }
          if (rows.length > 0) this.log.info({ registry: reg.name, repository: name, scanned: rows.length, untagged: out.deletedTags, dryRun }, 'purge: tag page done');
          if (rows.length < PAGE) break;
          const last = rows[rows.length - 1]!;
          after = { time: last.updated_at, name: last.name };
        }
      }

      if (spec.untagged) {
        const doomed: { id: number; digest: string }[] = [];
        let kept = 0;
        const consider = (m: { id: number; digest: string; write_enabled: number; delete_enabled: number }) => {
          if (spec.untaggedOnly && kept < (spec.keep ?? 0)) {
            kept++;
            return;
          }
          if (!m.write_enabled || !m.delete_enabled) {
            res.skipped.push({ repository: name, digest: m.digest, reason: `manifest is locked (${!m.write_enabled ? 'writeEnabled' : 'deleteEnabled'} false)` });
            return;
          }
          doomed.push(m);
        };
        let beforeId: number | undefined;
        for (;;) {
          const rows = await this.untaggedCandidates(this.meta.db, repo.id, { age: 'created_at', cutoff, beforeId, limit: PAGE });
          rows.forEach(consider);
          if (doomed.length) await this.deleteManifests(reg, name, doomed.splice(0), out, res, listed, dryRun, operation, spec.concurrency ?? 4);
          if (rows.length < PAGE) break;
          beforeId = Number(rows[rows.length - 1]!.id);
        }
        if (dryRun && untaggedBy.size) {
          // Manifests this run's untags would leave without tags.
          const ids = [...untaggedBy.keys()];
          const remaining = new Map<number, number>();
          for (let i = 0; i < ids.length; i += 500) {
            const rows = await this.meta.db.selectFrom('tags').select(['manifest_id', (eb) => eb.fn.countAll<number>().as('n')])
              .where('manifest_id', 'in', ids.slice(i, i + 500)).groupBy('manifest_id').execute();
            for (const r of rows) remaining.set(Number(r.manifest_id), Number(r.n));
          }
          const would = ids.filter((id) => (remaining.get(id) ?? 0) <= untaggedBy.get(id)!);
          for (let i = 0; i < would.length; i += 500) {
            (await this.untaggedCandidates(this.meta.db, repo.id, { age: 'created_at', cutoff, ids: would.slice(i, i + 500), limit: 500 })).forEach(consider);
          }
          if (doomed.length) await this.deleteManifests(reg, name, doomed.splice(0), out, res, listed, dryRun, operation, 1);
        }
      }
      res.deletedTags += out.deletedTags;
      res.deletedManifests += out.deletedManifests;
      if (out.deletedTags || out.deletedManifests) res.repositories.push(out);
    }
    this.log.info({ registry: reg.name, dryRun, tags: res.deletedTags, manifests: res.deletedManifests, skipped: res.skipped.length }, 'purge finished');
    return res;
  }

  /** Tags last updated before the cutoff, newest first, one keyset page after `after`. */
  private tagPage(repositoryId: number, cutoff: string, after: { time: string; name: string } | undefined) {
    let q = this.meta.db.selectFrom('tags').innerJoin('manifests', 'manifests.id', 'tags.manifest_id')
      .select(['tags.name', 'tags.updated_at', 'tags.manifest_id', 'tags.write_enabled', 'tags.delete_enabled', 'manifests.digest'])
      .where('tags.repository_id', '=', repositoryId).where('tags.updated_at', '<', cutoff);
    if (after) q = q.where((eb) => eb.or([eb('tags.updated_at', '<', after.time), eb.and([eb('tags.updated_at', '=', after.time), eb('tags.name', '<', after.name)])]));
    return q.orderBy('tags.updated_at', 'desc').orderBy('tags.name', 'desc').limit(PAGE).execute();
  }

  /** Untags a chunk in one transaction; rows changed since they were read (moved, re-locked) are left alone. */
  private async untagChunk(reg: RegistryRow, repositoryId: number, repository: string, chunk: { name: string; manifest_id: number; digest: string }[], cutoff: string, operation: string) {
    return this.meta.transaction(async (trx) => {
      const want = new Map(chunk.map((t) => [t.name, t]));
      const current = await trx.selectFrom('tags').select(['name', 'manifest_id']).where('repository_id', '=', repositoryId)
        .where('name', 'in', [...want.keys()]).where('updated_at', '<', cutoff).where('write_enabled', '=', 1).where('delete_enabled', '=', 1).execute();
      const gone = current.filter((c) => want.get(c.name)?.manifest_id === c.manifest_id).map((c) => want.get(c.name)!);
      if (gone.length === 0) return [];
      const policy = this.bin ? await this.bin.enabled(trx, reg.id) : undefined;
      if (this.bin && policy?.on) {
        const group = this.bin.newGroup();
        for (const t of gone) await this.bin.keep(trx, reg.id, repositoryId, repository, t.digest, { group, days: policy.days, onlyTag: t.name });
      }
      await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', 'in', gone.map((t) => t.name)).execute();
      await this.meta.markUntagged(trx, [...new Set(gone.map((t) => t.manifest_id))]);
      await this.meta.recordEvents(trx, gone.map((t) => ({ registry_id: reg.id, action: 'untag', repository, digest: t.digest, tag: t.name, operation })));
      await this.meta.touchRepository(trx, repositoryId);
      return gone;
    });
  }

  private async deleteManifests(reg: RegistryRow, repository: string, doomed: { id: number; digest: string }[], out: PurgeRepositoryResult, res: PurgeResult,
    listed: (arr: string[], v: string) => void, dryRun: boolean, operation: string, concurrency: number): Promise<void> {
    const one = async (m: { digest: string }) => {
      if (!dryRun) {
        try {
          await this.manifests.delete(reg, repository, m.digest, { operation });
        } catch (e) {
          if (!(e instanceof RegistryError)) throw e;
          // Gone meanwhile: nothing to report. Locked or immutable meanwhile: skipped.
          if (e.code !== 'MANIFEST_UNKNOWN' && e.code !== 'NAME_UNKNOWN') res.skipped.push({ repository, digest: m.digest, reason: e.message });
          return;
        }
      }
      out.deletedManifests++;
      listed(res.manifests, `${repository}@${m.digest}`);
    };
    for (let i = 0; i < doomed.length; i += concurrency) await Promise.all(doomed.slice(i, i + concurrency).map(one));
  }

  // ---------------------------------------------------------------- jobs

  /** Queues a purge job; `only` fixes the repositories the requester was authorized for. */
  async enqueue(reg: RegistryRow, spec: PurgeSpec, requestedBy: string, only?: string[]): Promise<number> {
    return this.jobs.enqueue(this.meta.db, 'purge', { registryId: reg.id, spec, requestedBy, ...(only ? { only } : {}) }, { maxAttempts: 3 });
  }

  private async runJob(payload: { registryId: number; spec: PurgeSpec; requestedBy?: string; only?: string[]; schedule?: string }, job: JobRow): Promise<void> {
    const reg = await this.meta.getRegistryById(payload.registryId);
    if (!reg) {
      await this.setResult(job, { error: 'the registry no longer exists' });
      return;
    }
    const identity = payload.requestedBy ?? (payload.schedule ? `schedule ${payload.schedule}` : 'purge');
    let result: PurgeResult;
    try {
      result = await requestContext.run({ id: `job-${job.id}`, host: '', method: 'DELETE', useragent: 'berth-purge', identity },
        () => this.run(reg, validateSpec(payload.spec), { only: payload.only }));
    } catch (e) {
      // A filter that is invalid or too slow to match fails the same way on every attempt.
      if (e instanceof RegistryError && e.code === 'REQUEST_INVALID') {
        await this.setResult(job, { error: e.message });
        throw new PermanentJobError(e.message);
      }
      throw e;
    }
    await this.setResult(job, { ...result, ...(payload.schedule ? { schedule: payload.schedule } : {}) });
  }

  private async setResult(job: JobRow, result: unknown): Promise<void> {
    await this.meta.db.updateTable('jobs').set({ result: JSON.stringify(result) }).where('id', '=', job.id).execute();
  }

  /** A purge job's state and result, for whoever waits on it. */
  async job(reg: RegistryRow, id: number) {
    const j = await this.jobs.get(id);
    if (!j || j.kind !== 'purge' || Number(JSON.parse(j.payload).registryId) !== reg.id) return undefined;
    const payload = JSON.parse(j.payload) as { requestedBy?: string; schedule?: string };
    return {
      id: Number(j.id), state: j.state, attempts: j.attempts, lastError: j.last_error, createdAt: j.created_at, updatedAt: j.updated_at,
      requestedBy: payload.requestedBy ?? null, schedule: payload.schedule ?? null,
      result: j.result ? (JSON.parse(j.result) as PurgeResult) : null,
    };
  }
}

/** The tag regexes that apply to a repository (of the filters whose repository regex matches it). */
async function repoTagRegexes(filters: Filter[], repository: string, guard: RegexGuard): Promise<RegExp[]> {
  const [hits] = await guard.match(filters.map((f) => f.repo), [repository]);
  return filters.filter((_, j) => hits![j]).map((f) => f.tag);
}
