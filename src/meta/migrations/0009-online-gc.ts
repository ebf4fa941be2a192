import { id, big, type Migration } from './migration.js';

export const onlineGc: Migration = {
  version: 9,
  name: 'online garbage collection',
  async up(db, d) {
    // Mark and sweep across runs: a blob link nothing references is marked (unreferenced_since)
    // and removed only when it is still unreferenced a grace period later; a blob no repository
    // links is marked (orphaned_since) the same way before its bytes are deleted. Reading a
    // marked link clears its mark, so a client told "this blob exists" gets a full grace period
    // to push the manifest that references it.
    await db.schema.alterTable('repository_blobs').addColumn('unreferenced_since', 'text').execute();
    await db.schema.alterTable('blobs').addColumn('orphaned_since', 'text').execute();
    await db.schema.createIndex('blobs_orphaned').on('blobs').column('orphaned_since').execute();
    await db.schema.createIndex('manifests_subject_digest').on('manifests').column('subject_digest').execute();
    await db.schema
      .createTable('gc_runs')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('dry_run', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('finished_at', 'text')
      .addColumn('lease_until', 'text', (c) => c.notNull())
      .addColumn('links_marked', big, (c) => c.notNull().defaultTo(0))
      .addColumn('links_removed', big, (c) => c.notNull().defaultTo(0))
      .addColumn('blobs_marked', big, (c) => c.notNull().defaultTo(0))
      .addColumn('blobs_removed', big, (c) => c.notNull().defaultTo(0))
      .addColumn('bytes_reclaimed', big, (c) => c.notNull().defaultTo(0))
      .addColumn('referrers_removed', big, (c) => c.notNull().defaultTo(0))
      .addColumn('files_removed', big, (c) => c.notNull().defaultTo(0))
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('gc_runs_status').on('gc_runs').columns(['status', 'lease_until']).execute();
  },
};
