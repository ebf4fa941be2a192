import { big, id, type Migration } from './migration.js';

export const activityLog: Migration = {
  version: 14,
  name: 'activity log of management operations',
  async up(db, d) {
    // One row per management operation (services/identity/activity.ts). registry_id has no
    // foreign key: a deleted registry's history, its deletion included, stays readable.
    // AUTOINCREMENT on SQLite: ids are never reused after pruning, so paging by id stays sound.
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    await db.schema
      .createTable('activity_log')
      .addColumn('id', id(d), pk)
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('operation', 'text', (c) => c.notNull())
      .addColumn('registry', 'text')
      .addColumn('registry_id', big)
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('status', 'integer')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('identity', 'text', (c) => c.notNull())
      .addColumn('identity_type', 'text', (c) => c.notNull())
      .addColumn('caller_ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('correlation_id', 'text')
      .addColumn('method', 'text')
      .addColumn('duration_ms', 'integer')
      .addColumn('properties', 'text')
      .execute();
    await db.schema.createIndex('activity_log_registry').on('activity_log').columns(['registry_id', 'id']).execute();
    await db.schema.createIndex('activity_log_time').on('activity_log').column('time').execute();
  },
};
