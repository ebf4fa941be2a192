import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { AgentPoolsTable, Database, TaskBaseImagesTable, TaskRunsTable, TasksTable } from './schema.js';
import type { Executor } from './store.js';

// Tasks, their runs, live log chunks, base-image dependencies and source deliveries (migration
// 20). What a run does is in services/tasks; this is only what is stored.

export type TaskRow = Selectable<TasksTable>;
export type TaskRunRow = Selectable<TaskRunsTable>;
export type NewTask = Insertable<TasksTable>;
export type NewTaskRun = Insertable<TaskRunsTable>;
export type TaskPatch = Updateable<TasksTable>;
export type TaskRunPatch = Updateable<TaskRunsTable>;
export type BaseImageRow = Selectable<TaskBaseImagesTable>;
export type AgentPoolRow = Selectable<AgentPoolsTable>;

export interface RunFilter {
  taskId?: number;
  status?: string;
  /** Runs with a smaller row id (paging, newest first). */
  before?: number;
  limit: number;
}

export class KyselyTasks {
  constructor(private readonly db: Kysely<Database>) {}

  // ------------------------------------------------------------------ tasks

  /** undefined when the name is taken. */
  async insertTask(row: NewTask): Promise<TaskRow | undefined> {
    const r = await this.db
      .insertInto('tasks')
      .values(row)
      .onConflict((oc) => oc.columns(['registry_id', 'name_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return r;
  }

  getTask(registryId: number, name: string): Promise<TaskRow | undefined> {
    return this.db
      .selectFrom('tasks')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  taskById(id: number, ex: Executor = this.db): Promise<TaskRow | undefined> {
    return ex.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listTasks(registryId: number): Promise<TaskRow[]> {
    return this.db.selectFrom('tasks').selectAll().where('registry_id', '=', registryId).orderBy('name_key').limit(1000).execute();
  }

  /** Every task with an enabled trigger of some kind, across registries (polling). */
  tasksWithTriggers(limit: number): Promise<TaskRow[]> {
    return this.db.selectFrom('tasks').selectAll().where('status', '=', 'Enabled').orderBy('id').limit(limit).execute();
  }

  async updateTask(id: number, patch: TaskPatch, ex: Executor = this.db): Promise<void> {
    await ex.updateTable('tasks').set(patch).where('id', '=', id).execute();
  }

  /** Records a polled branch head; false when another node changed it since `was` was read. */
  async moveSourceHead(id: number, was: string | null, next: string): Promise<boolean> {
    let q = this.db.updateTable('tasks').set({ source_head: next }).where('id', '=', id);
    q = was === null ? q.where('source_head', 'is', null) : q.where('source_head', '=', was);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteTask(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('tasks').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ------------------------------------------------------------------ runs

  /** The registry's next run number, taken in the caller's transaction. */
  async nextRunNumber(ex: Executor, registryId: number): Promise<number> {
    const r = await ex
      .insertInto('task_run_counters')
      .values({ registry_id: registryId, next: 1 })
      .onConflict((oc) => oc.column('registry_id').doUpdateSet({ next: sql`task_run_counters.next + 1` }))
      .returning('next')
      .executeTakeFirstOrThrow();
    return Number(r.next);
  }

  async insertRun(ex: Executor, row: NewTaskRun): Promise<number> {
    const r = await ex.insertInto('task_runs').values(row).returning('id').executeTakeFirstOrThrow();
    return Number(r.id);
  }

  getRun(registryId: number, runId: string): Promise<TaskRunRow | undefined> {
    return this.db
      .selectFrom('task_runs')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('run_id', '=', runId.toLowerCase())
      .executeTakeFirst();
  }

  runById(id: number): Promise<TaskRunRow | undefined> {
    return this.db.selectFrom('task_runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listRuns(registryId: number, f: RunFilter): Promise<TaskRunRow[]> {
    let q = this.db.selectFrom('task_runs').selectAll().where('registry_id', '=', registryId);
    if (f.taskId !== undefined) q = q.where('task_id', '=', f.taskId);
    if (f.status) q = q.where('status', '=', f.status);
    if (f.before !== undefined) q = q.where('id', '<', f.before);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  }

  async updateRun(id: number, patch: TaskRunPatch, ex: Executor = this.db): Promise<void> {
    await ex.updateTable('task_runs').set(patch).where('id', '=', id).execute();
  }

  /** Changes a run only while its status is one of `from`; false when it was not (another node or a cancel got there first). */
  async moveRun(id: number, from: readonly string[], patch: TaskRunPatch): Promise<boolean> {
    const r = await this.db
      .updateTable('task_runs')
      .set(patch)
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteRun(id: number): Promise<void> {
    await this.db.deleteFrom('task_runs').where('id', '=', id).execute();
  }

  /** Finished runs older than `before` whose logs are kept (log retention). */
  expiredLogs(before: string, limit: number): Promise<{ id: number; log_key: string | null }[]> {
    return this.db
      .selectFrom('task_runs')
      .select(['id', 'log_key'])
      .where('finish_time', '<', before)
      .where('archive', '=', 0)
      .where('log_key', 'is not', null)
      .limit(limit)
      .execute();
  }

  // ------------------------------------------------------------------ agent pools

  /** undefined when the name is taken. */
  async insertPool(row: Insertable<AgentPoolsTable>): Promise<AgentPoolRow | undefined> {
    return this.db
      .insertInto('agent_pools')
      .values(row)
      .onConflict((oc) => oc.columns(['registry_id', 'name_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  getPool(registryId: number, name: string): Promise<AgentPoolRow | undefined> {
    return this.db
      .selectFrom('agent_pools')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  listPools(registryId: number): Promise<AgentPoolRow[]> {
    return this.db.selectFrom('agent_pools').selectAll().where('registry_id', '=', registryId).orderBy('name_key').execute();
  }

  async updatePool(registryId: number, name: string, patch: Updateable<AgentPoolsTable>): Promise<void> {
    await this.db
      .updateTable('agent_pools')
      .set(patch)
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .execute();
  }

  async deletePool(registryId: number, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('agent_pools')
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async poolRuns(registryId: number, pool: string, status: string, ex: Executor = this.db): Promise<number> {
    const r = await ex
      .selectFrom('task_runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('registry_id', '=', registryId)
      .where('agent_pool', '=', pool)
      .where('status', '=', status)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * Starts a queued run of a pool only while the pool has room: in one transaction that first
   * locks the pool's row (PostgreSQL; SQLite runs one writer at a time), so nodes starting runs of
   * one pool at once never exceed its count. 'full' when it has no room; false when the run was
   * no longer queued.
   */
  async startPooledRun(
    id: number,
    registryId: number,
    pool: string,
    patch: TaskRunPatch,
    dialect: 'postgres' | 'sqlite',
  ): Promise<boolean | 'full'> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('agent_pools').select('count').where('registry_id', '=', registryId).where('name_key', '=', pool);
      if (dialect === 'postgres') q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (!row) return 'full';
      if ((await this.poolRuns(registryId, pool, 'Running', trx)) >= Number(row.count)) return 'full';
      const r = await trx.updateTable('task_runs').set(patch).where('id', '=', id).where('status', '=', 'Queued').executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    });
  }

  // ------------------------------------------------------------------ logs

  async appendLog(runRowId: number, seq: number, text: string): Promise<void> {
    await this.db.insertInto('task_run_log_chunks').values({ run_row_id: runRowId, seq, text }).execute();
  }

  logChunks(runRowId: number, afterSeq: number, limit: number): Promise<{ seq: number; text: string }[]> {
    return this.db
      .selectFrom('task_run_log_chunks')
      .select(['seq', 'text'])
      .where('run_row_id', '=', runRowId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  async deleteLogChunks(runRowId: number): Promise<void> {
    await this.db.deleteFrom('task_run_log_chunks').where('run_row_id', '=', runRowId).execute();
  }

  // ------------------------------------------------------------------ base images

  /** Replaces what a task's build was based on. */
  async setBaseImages(taskId: number, rows: Omit<BaseImageRow, 'task_id'>[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('task_base_images').where('task_id', '=', taskId).execute();
      if (rows.length)
        await trx
          .insertInto('task_base_images')
          .values(rows.map((r) => ({ ...r, task_id: taskId })))
          .execute();
    });
  }

  baseImagesOf(taskId: number): Promise<BaseImageRow[]> {
    return this.db.selectFrom('task_base_images').selectAll().where('task_id', '=', taskId).orderBy('image').execute();
  }

  /** Tasks built on one of these tags of a repository of this deployment, with what digest they last saw. */
  dependents(ex: Executor, registryId: number, repository: string, tags: string[]): Promise<BaseImageRow[]> {
    if (tags.length === 0) return Promise.resolve([]);
    return ex
      .selectFrom('task_base_images')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .where('tag', 'in', tags)
      .execute();
  }

  /** Base images outside this deployment, least recently checked first. */
  externalBaseImages(checkedBefore: string, limit: number): Promise<BaseImageRow[]> {
    return this.db
      .selectFrom('task_base_images')
      .selectAll()
      .where('registry_id', 'is', null)
      .where('checked_at', '<', checkedBefore)
      .orderBy('checked_at')
      .limit(limit)
      .execute();
  }

  /** Records a base's new digest; false when it already was that digest (another notice got there first). */
  async moveBaseDigest(taskId: number, image: string, digest: string, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('task_base_images')
      .set({ digest, checked_at: at })
      .where('task_id', '=', taskId)
      .where('image', '=', image)
      .where('digest', '!=', digest)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async markBaseChecked(taskId: number, image: string, at: string, digest?: string, ex: Executor = this.db): Promise<void> {
    await ex
      .updateTable('task_base_images')
      .set({ checked_at: at, ...(digest ? { digest } : {}) })
      .where('task_id', '=', taskId)
      .where('image', '=', image)
      .execute();
  }

  // ------------------------------------------------------------------ source deliveries

  /** false when this delivery was already received (a replay). */
  async recordDelivery(ex: Executor, taskId: number, delivery: string, at: string): Promise<boolean> {
    // RETURNING tells an insert from a conflict on both engines (SQLite counts an ignored row as a change).
    const r = await ex
      .insertInto('task_source_deliveries')
      .values({ task_id: taskId, delivery, received_at: at })
      .onConflict((oc) => oc.columns(['task_id', 'delivery']).doNothing())
      .returning('task_id')
      .executeTakeFirst();
    return r !== undefined;
  }

  async pruneDeliveries(before: string): Promise<void> {
    await this.db.deleteFrom('task_source_deliveries').where('received_at', '<', before).execute();
  }
}
