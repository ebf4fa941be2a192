import { sql, type Selectable } from 'kysely';
import type { Executor, MetaContext } from './context.js';
import type { JobsTable } from './schema.js';

// The rows of the durable job queue (jobs/queue.ts runs them). A claim takes a lease
// (lease_owner, lease_until); every later write of a claimed job names its owner, so a node whose
// lease expired and was taken over can no longer change the job.

export type JobRow = Selectable<JobsTable>;

export interface NewJob {
  kind: string;
  /** JSON */
  payload: string;
  maxAttempts: number;
  /** Not before this time; undefined = now. */
  runAfter?: string;
}

export interface JobStore {
  /** Adds a queued job in the caller's transaction; returns its id. */
  insertJob(ex: Executor, job: NewJob): Promise<number>;
  /**
   * Claims up to n runnable jobs (queued and due, or running with an expired lease), of these kinds
   * or all but these, for `node` until `leaseUntil`; returns them with attempts counted. An empty
   * `only` claims nothing; an empty `except` excludes nothing.
   */
  claimJobs(
    node: string,
    n: number,
    o: { now: string; leaseUntil: string; only?: string[]; except?: string[]; exceptPrefixes?: string[] },
  ): Promise<JobRow[]>;
  /** Puts a claimed job back in the queue at runAfter without counting the attempt (it did not run). */
  postponeJob(id: number, node: string, runAfter: string, at: string): Promise<void>;
  completeJob(id: number, node: string, at: string): Promise<void>;
  /** false when the lease is no longer this node's. */
  renewJobLease(id: number, node: string, leaseUntil: string, at: string): Promise<boolean>;
  /** Records a failure: dead for good, or queued again at runAfter. */
  failJob(id: number, node: string, o: { dead: boolean; error: string; runAfter: string; at: string }): Promise<void>;
  /** Whether a queued job is due at `now`. */
  hasDueJobs(now: string): Promise<boolean>;
  listJobs(o: { state?: string; kind?: string; limit?: number }): Promise<JobRow[]>;
  getJob(id: number): Promise<JobRow | undefined>;
  /** Puts a dead, succeeded or queued job back in the queue with a fresh set of attempts. */
  retryJob(id: number, at: string): Promise<void>;
}

export class KyselyJobStore implements JobStore {
  constructor(private readonly ctx: MetaContext) {}

  async insertJob(ex: Executor, j: NewJob): Promise<number> {
    const t = new Date().toISOString();
    const row = await ex
      .insertInto('jobs')
      .values({
        kind: j.kind,
        payload: j.payload,
        state: 'queued',
        attempts: 0,
        max_attempts: j.maxAttempts,
        run_after: j.runAfter ?? t,
        lease_owner: null,
        lease_until: null,
        last_error: null,
        created_at: t,
        updated_at: t,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async claimJobs(
    node: string,
    n: number,
    o: { now: string; leaseUntil: string; only?: string[]; except?: string[]; exceptPrefixes?: string[] },
  ): Promise<JobRow[]> {
    const { now: nowIso, leaseUntil: until, only } = o;
    if (n <= 0 || (only && only.length === 0)) return [];
    const except = o.except?.length ? o.except : undefined;
    const prefixes = (o.exceptPrefixes ?? []).map((p) => `${p.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    // On PostgreSQL several nodes claim side by side with FOR UPDATE SKIP LOCKED; on SQLite the one
    // connection serialises claims.
    if (this.ctx.dialect === 'postgres') {
      const kindFilter = only ? sql`and kind in (${sql.join(only)})` : except ? sql`and kind not in (${sql.join(except)})` : sql``;
      const prefixFilter = sql.join(
        prefixes.map((p) => sql`and kind not like ${p} escape '\\'`),
        sql` `,
      );
      const r = await sql<JobRow>`update jobs set state = 'running', lease_owner = ${node}, lease_until = ${until},
        attempts = attempts + 1, updated_at = ${nowIso}
        where id in (select id from jobs where ((state = 'queued' and run_after <= ${nowIso}) or (state = 'running' and lease_until < ${nowIso})) ${kindFilter} ${prefixFilter}
          order by run_after limit ${n} for update skip locked)
        returning *`.execute(this.ctx.db);
      return r.rows;
    }
    return this.ctx.db.transaction().execute(async (trx) => {
      let q = trx
        .selectFrom('jobs')
        .select('id')
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'queued'), eb('run_after', '<=', nowIso)]),
            eb.and([eb('state', '=', 'running'), eb('lease_until', '<', nowIso)]),
          ]),
        );
      if (only) q = q.where('kind', 'in', only);
      if (except) q = q.where('kind', 'not in', except);
      for (const p of prefixes) q = q.where(sql<boolean>`kind not like ${p} escape '\\'`);
      const ids = (await q.orderBy('run_after').limit(n).execute()).map((r) => r.id);
      if (ids.length === 0) return [];
      await trx
        .updateTable('jobs')
        .set((eb) => ({ state: 'running', lease_owner: node, lease_until: until, attempts: eb('attempts', '+', 1), updated_at: nowIso }))
        .where('id', 'in', ids)
        .execute();
      return trx.selectFrom('jobs').selectAll().where('id', 'in', ids).orderBy('run_after').execute();
    });
  }

  async completeJob(id: number, node: string, at: string): Promise<void> {
    await this.ctx.db
      .updateTable('jobs')
      .set({ state: 'succeeded', lease_owner: null, lease_until: null, last_error: null, updated_at: at })
      .where('id', '=', id)
      .where('lease_owner', '=', node)
      .execute();
  }

  async renewJobLease(id: number, node: string, leaseUntil: string, at: string): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable('jobs')
      .set({ lease_until: leaseUntil, updated_at: at })
      .where('id', '=', id)
      .where('lease_owner', '=', node)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async failJob(id: number, node: string, o: { dead: boolean; error: string; runAfter: string; at: string }): Promise<void> {
    await this.ctx.db
      .updateTable('jobs')
      .set({
        state: o.dead ? 'dead' : 'queued',
        lease_owner: null,
        lease_until: null,
        last_error: o.error,
        updated_at: o.at,
        run_after: o.runAfter,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', node)
      .execute();
  }

  async postponeJob(id: number, node: string, runAfter: string, at: string): Promise<void> {
    await this.ctx.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'queued',
        attempts: eb('attempts', '-', 1),
        lease_owner: null,
        lease_until: null,
        run_after: runAfter,
        updated_at: at,
      }))
      .where('id', '=', id)
      .where('lease_owner', '=', node)
      .execute();
  }

  async hasDueJobs(now: string): Promise<boolean> {
    const due = await this.ctx.db
      .selectFrom('jobs')
      .select('id')
      .where('state', '=', 'queued')
      .where('run_after', '<=', now)
      .limit(1)
      .execute();
    return due.length > 0;
  }

  listJobs(o: { state?: string; kind?: string; limit?: number }): Promise<JobRow[]> {
    let q = this.ctx.db.selectFrom('jobs').selectAll();
    if (o.state) q = q.where('state', '=', o.state);
    if (o.kind) q = q.where('kind', '=', o.kind);
    return q
      .orderBy('id', 'desc')
      .limit(o.limit ?? 100)
      .execute();
  }

  getJob(id: number): Promise<JobRow | undefined> {
    return this.ctx.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async retryJob(id: number, at: string): Promise<void> {
    await this.ctx.db
      .updateTable('jobs')
      .set({ state: 'queued', attempts: 0, run_after: at, lease_owner: null, lease_until: null, updated_at: at })
      .where('id', '=', id)
      .where('state', 'in', ['dead', 'succeeded', 'queued'])
      .execute();
  }
}
