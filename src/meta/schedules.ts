import type { Selectable } from 'kysely';
import { isUniqueViolation, type Executor, type MetaContext } from './context.js';
import type { SchedulesTable } from './schema.js';

// Rows of the periodic runner (jobs/scheduler.ts): cron schedules that enqueue jobs, and
// maintenance tasks run once across all nodes. Both are claimed with a compare-and-set on
// next_run_at, so with any number of nodes each run is claimed once.

export type ScheduleRow = Selectable<SchedulesTable>;

export interface NewSchedule {
  registry_id: number;
  kind: string;
  name: string;
  cron: string;
  /** JSON passed to the job */
  payload: string;
  status: string;
  next_run_at: string;
  at: string;
}

export interface ScheduleStore {
  /** Enabled schedules due at `now`, earliest first. */
  dueSchedules(now: string, limit: number): Promise<ScheduleRow[]>;
  disableSchedule(id: number): Promise<void>;
  /**
   * Moves a schedule from the next_run_at it was read with to `next`; true when this caller won
   * the run (its job is then enqueued in the same transaction).
   */
  claimScheduleRun(ex: Executor, id: number, seenNextRunAt: string, next: string, at: string): Promise<boolean>;
  /** The job a run enqueued (and when it ran, for runs outside the timetable). */
  setScheduleJob(ex: Executor, id: number, jobId: number, lastRunAt?: string): Promise<void>;
  /** Claims a maintenance task's run if it is due at `now` (the next is due at `next`); true when this node won it. */
  claimMaintenanceTask(name: string, now: string, next: string): Promise<boolean>;
  /** false when the name is taken (names are unique per registry and kind, in any case). */
  createSchedule(s: NewSchedule): Promise<boolean>;
  getSchedule(registryId: number, kind: string, name: string): Promise<ScheduleRow | undefined>;
  listSchedules(registryId: number, kind: string): Promise<ScheduleRow[]>;
  deleteSchedule(registryId: number, kind: string, name: string): Promise<boolean>;
}

export class KyselyScheduleStore implements ScheduleStore {
  constructor(private readonly ctx: MetaContext) {}

  dueSchedules(now: string, limit: number): Promise<ScheduleRow[]> {
    return this.ctx.db
      .selectFrom('schedules')
      .selectAll()
      .where('status', '=', 'enabled')
      .where('next_run_at', '<=', now)
      .orderBy('next_run_at')
      .limit(limit)
      .execute();
  }

  async disableSchedule(id: number): Promise<void> {
    await this.ctx.db.updateTable('schedules').set({ status: 'disabled' }).where('id', '=', id).execute();
  }

  async claimScheduleRun(ex: Executor, id: number, seenNextRunAt: string, next: string, at: string): Promise<boolean> {
    const r = await ex
      .updateTable('schedules')
      .set({ next_run_at: next, last_run_at: at, updated_at: at })
      .where('id', '=', id)
      .where('next_run_at', '=', seenNextRunAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setScheduleJob(ex: Executor, id: number, jobId: number, lastRunAt?: string): Promise<void> {
    await ex
      .updateTable('schedules')
      .set(lastRunAt === undefined ? { last_job_id: jobId } : { last_job_id: jobId, last_run_at: lastRunAt })
      .where('id', '=', id)
      .execute();
  }

  async claimMaintenanceTask(name: string, now: string, next: string): Promise<boolean> {
    await this.ctx.db
      .insertInto('maintenance_tasks')
      .values({ name, next_run_at: now, last_run_at: null })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.ctx.db.selectFrom('maintenance_tasks').select('next_run_at').where('name', '=', name).executeTakeFirstOrThrow();
    if (row.next_run_at > now) return false;
    const r = await this.ctx.db
      .updateTable('maintenance_tasks')
      .set({ next_run_at: next, last_run_at: now })
      .where('name', '=', name)
      .where('next_run_at', '=', row.next_run_at)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async createSchedule(s: NewSchedule): Promise<boolean> {
    try {
      await this.ctx.db
        .insertInto('schedules')
        .values({
          registry_id: s.registry_id,
          kind: s.kind,
          name: s.name,
          name_key: s.name.toLowerCase(),
          cron: s.cron,
          payload: s.payload,
          status: s.status,
          next_run_at: s.next_run_at,
          last_run_at: null,
          last_job_id: null,
          created_at: s.at,
          updated_at: s.at,
        })
        .execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  getSchedule(registryId: number, kind: string, name: string): Promise<ScheduleRow | undefined> {
    return this.ctx.db
      .selectFrom('schedules')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('kind', '=', kind)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  listSchedules(registryId: number, kind: string): Promise<ScheduleRow[]> {
    return this.ctx.db
      .selectFrom('schedules')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('kind', '=', kind)
      .orderBy('name_key')
      .execute();
  }

  async deleteSchedule(registryId: number, kind: string, name: string): Promise<boolean> {
    const r = await this.ctx.db
      .deleteFrom('schedules')
      .where('registry_id', '=', registryId)
      .where('kind', '=', kind)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
