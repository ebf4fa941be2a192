import { id, text, bytes, big, type Migration } from './migration.js';

export const coreRegistry: Migration = {
  version: 1,
  name: 'core registry',
  async up(db, d) {
    await db.schema
      .createTable('registries')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull().unique())
      .addColumn('sku', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('repositories')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', text(d), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('repositories_registry_name', ['registry_id', 'name'])
      .execute();

    await db.schema
      .createTable('blobs')
      .addColumn('digest', 'text', (c) => c.primaryKey())
      .addColumn('size', big, (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('repository_blobs')
      .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
      .execute();
    await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

    await db.schema
      .createTable('manifests')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('media_type', 'text', (c) => c.notNull())
      .addColumn('artifact_type', 'text')
      .addColumn('subject_digest', 'text')
      .addColumn('config_digest', 'text')
      .addColumn('annotations', 'text')
      .addColumn('size', big, (c) => c.notNull())
      .addColumn('content', bytes(d), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
      .execute();
    await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();

    await db.schema
      .createTable('manifest_refs')
      .addColumn('manifest_id', big, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
      .addColumn('child_digest', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('manifest_refs_pk', ['manifest_id', 'child_digest', 'kind'])
      .execute();
    await db.schema.createIndex('manifest_refs_child').on('manifest_refs').column('child_digest').execute();

    await db.schema
      .createTable('tags')
      .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('name', text(d), (c) => c.notNull())
      .addColumn('manifest_id', big, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
      .execute();
    await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

    await db.schema
      .createTable('uploads')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('offset', big, (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('uploads_updated').on('uploads').column('updated_at').execute();

    await db.schema
      .createTable('events')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('registry_id', big, (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('digest', 'text')
      .addColumn('tag', 'text')
      .addColumn('media_type', 'text')
      .addColumn('size', big)
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
