import { id, big, type Migration } from './migration.js';

export const tasks: Migration = {
  version: 20,
  name: 'tasks: builds, runs, their logs, base-image dependencies and source deliveries',
  async up(db, d) {
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    // A task (az acr task): its step and settings as JSON, its secrets sealed apart (never in
    // a view), its triggers, and the last commit a polled source trigger saw.
    await db.schema
      .createTable('tasks')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('secrets', 'text')
      .addColumn('triggers', 'text', (c) => c.notNull())
      .addColumn('source_head', 'text')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tasks_name').unique().on('tasks').columns(['registry_id', 'name_key']).execute();

    // Runs outlive their task (ACR keeps them): task_id is cleared, task_name stays.
    await db.schema
      .createTable('task_runs')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('task_id', big, (c) => c.references('tasks.id').onDelete('set null'))
      .addColumn('task_name', 'text')
      .addColumn('run_type', 'text', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('secrets', 'text')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('output_images', 'text')
      .addColumn('base_images', 'text')
      .addColumn('source', 'text')
      .addColumn('error', 'text')
      .addColumn('log_key', 'text')
      .addColumn('log_bytes', big, (c) => c.notNull().defaultTo(0))
      .addColumn('job_id', big)
      .addColumn('node', 'text')
      .addColumn('agent_pool', 'text')
      .addColumn('archive', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_by', 'text')
      .addColumn('create_time', 'text', (c) => c.notNull())
      .addColumn('start_time', 'text')
      .addColumn('finish_time', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('task_runs_run_id').unique().on('task_runs').columns(['registry_id', 'run_id']).execute();
    await db.schema.createIndex('task_runs_task').on('task_runs').columns(['task_id', 'id']).execute();
    await db.schema.createIndex('task_runs_status').on('task_runs').columns(['status', 'id']).execute();

    // Each registry numbers its runs (ca1, ca2, …).
    await db.schema
      .createTable('task_run_counters')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('next', big, (c) => c.notNull())
      .execute();

    // A live run's log in chunks (every node can stream it); folded into one stored object when the run ends.
    await db.schema
      .createTable('task_run_log_chunks')
      .addColumn('run_row_id', big, (c) => c.notNull().references('task_runs.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('task_run_log_chunks_pk', ['run_row_id', 'seq'])
      .execute();

    // The base images a task's last successful build used: a push that moves one of these tags
    // in a registry of this deployment runs the task (registry_id set); others are polled.
    await db.schema
      .createTable('task_base_images')
      .addColumn('task_id', big, (c) => c.notNull().references('tasks.id').onDelete('cascade'))
      .addColumn('image', 'text', (c) => c.notNull())
      .addColumn('registry_id', big, (c) => c.references('registries.id').onDelete('cascade'))
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('tag', 'text', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('runtime', 'integer', (c) => c.notNull())
      .addColumn('checked_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('task_base_images_pk', ['task_id', 'image'])
      .execute();
    await db.schema.createIndex('task_base_images_local').on('task_base_images').columns(['registry_id', 'repository', 'tag']).execute();

    // Source-trigger deliveries already acted on: a replayed delivery runs nothing.
    await db.schema
      .createTable('task_source_deliveries')
      .addColumn('task_id', big, (c) => c.notNull().references('tasks.id').onDelete('cascade'))
      .addColumn('delivery', 'text', (c) => c.notNull())
      .addColumn('received_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('task_source_deliveries_pk', ['task_id', 'delivery'])
      .execute();
  },
};
