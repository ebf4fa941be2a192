import { big, type Migration } from './migration.js';

export const agentPools: Migration = {
  version: 21,
  name: 'agent pools: named groups of task nodes, each capping its concurrent runs',
  async up(db) {
    // A registry's agent pool (az acr agentpool): runs that name it go only to nodes serving it
    // (tasks.agentPools), at most `count` at once across them.
    await db.schema
      .createTable('agent_pools')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('tier', 'text', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('agent_pools_pk', ['registry_id', 'name_key'])
      .execute();
    await db.schema.createIndex('task_runs_pool').on('task_runs').columns(['registry_id', 'agent_pool', 'status']).execute();
  },
};
