import { sql } from 'kysely';
import { id, text, big, type Migration } from './migration.js';

export const immutabilityRetentionSchedules: Migration = {
  version: 7,
  name: 'immutability, untagged retention, purge schedules and the periodic runner',
  async up(db, d) {
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    // Write-once tags: a rule is a repository glob and a tag glob (see services/immutability.ts).
    await db.schema
      .createTable('immutability_policies')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull())
      .addColumn('repository_pattern', 'text', (c) => c.notNull())
      .addColumn('tag_pattern', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('immutability_policies_registry_name', ['registry_id', 'name_key'])
      .execute();
    // When a manifest lost its last tag (null while tagged): the retention policy counts days from here.
    await db.schema.alterTable('manifests').addColumn('untagged_since', 'text').execute();
    await sql`update manifests set untagged_since = created_at where not exists (select 1 from tags where tags.manifest_id = manifests.id)`.execute(
      db,
    );
    await db.schema.createIndex('manifests_untagged').on('manifests').columns(['repository_id', 'untagged_since']).execute();
    // ACR's policies.retentionPolicy (one per registry).
    await db.schema
      .createTable('retention_policies')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('days', 'integer', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('enabled_at', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    // Cron schedules that enqueue a job of `kind` with `payload` (purge schedules are kind 'purge').
    await db.schema
      .createTable('schedules')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull())
      .addColumn('cron', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('next_run_at', 'text', (c) => c.notNull())
      .addColumn('last_run_at', 'text')
      .addColumn('last_job_id', big)
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('schedules_registry_kind_name', ['registry_id', 'kind', 'name_key'])
      .execute();
    await db.schema.createIndex('schedules_due').on('schedules').columns(['status', 'next_run_at']).execute();
    // System tasks run at fixed intervals, once across all nodes (retention, online GC).
    await db.schema
      .createTable('maintenance_tasks')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('next_run_at', 'text', (c) => c.notNull())
      .addColumn('last_run_at', 'text')
      .execute();
    // The audit's operation when it differs from the webhook action (a purge deletes: action
    // 'delete' for webhooks, operation 'purge' for ContainerRegistryRepositoryEvents).
    await db.schema.alterTable('events').addColumn('operation', 'text').execute();
    // What a job produced (a purge's counts), for whoever waits on it.
    await db.schema.alterTable('jobs').addColumn('result', 'text').execute();
  },
};
