import { id, text, bytes, big, type Migration } from './migration.js';

export const softDelete: Migration = {
  version: 8,
  name: 'soft delete: registry policy and the recycle bin',
  async up(db, d) {
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    // ACR's softDeletePolicy {status, retentionDays 1-90 (7)}, per registry.
    await db.schema
      .alterTable('registries')
      .addColumn('soft_delete_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('registries')
      .addColumn('soft_delete_days', 'integer', (c) => c.notNull().defaultTo(7))
      .execute();
    // A soft-deleted repository keeps its row (and so its blob links) until the bin is empty.
    await db.schema.alterTable('repositories').addColumn('deleted_at', 'text').execute();

    // A deleted manifest as it was, with the tags it had; kind 'tag' = only a tag was removed
    // (untag), the manifest itself stayed. group_id ties together what one delete removed
    // (a subject with its referrers, a whole repository), so restoring brings them back together.
    await db.schema
      .createTable('deleted_manifests')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('repository', text(d), (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('group_id', 'text', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('media_type', 'text', (c) => c.notNull())
      .addColumn('artifact_type', 'text')
      .addColumn('subject_digest', 'text')
      .addColumn('config_digest', 'text')
      .addColumn('config_media_type', 'text')
      .addColumn('annotations', 'text')
      .addColumn('size', big, (c) => c.notNull())
      .addColumn('content', bytes(d), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text', (c) => c.notNull())
      .addColumn('purge_after', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('deleted_by', 'text')
      .execute();
    await db.schema
      .createIndex('deleted_manifests_repository_digest')
      .on('deleted_manifests')
      .columns(['repository_id', 'digest'])
      .execute();
    await db.schema.createIndex('deleted_manifests_purge_after').on('deleted_manifests').column('purge_after').execute();
    await db.schema.createIndex('deleted_manifests_registry').on('deleted_manifests').columns(['registry_id', 'id']).execute();

    await db.schema
      .createTable('deleted_manifest_refs')
      .addColumn('deleted_manifest_id', big, (c) => c.notNull().references('deleted_manifests.id').onDelete('cascade'))
      .addColumn('child_digest', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('deleted_manifest_refs_pk', ['deleted_manifest_id', 'child_digest', 'kind'])
      .execute();
    await db.schema.createIndex('deleted_manifest_refs_child').on('deleted_manifest_refs').column('child_digest').execute();
  },
};
