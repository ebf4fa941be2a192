import { recompute } from '../usage.js';
import { big, text, type Migration } from './migration.js';

// The counters of meta/usage.ts, filled from what the database already holds.
export const storageAccounting: Migration = {
  version: 4,
  name: 'storage accounting and quotas',
  async up(db, d) {
    await db.schema
      .createTable('registry_content')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('digest', text(d), (c) => c.notNull())
      .addColumn('size', big, (c) => c.notNull())
      .addColumn('refs', big, (c) => c.notNull())
      .addPrimaryKeyConstraint('registry_content_pk', ['registry_id', 'kind', 'digest'])
      .execute();
    await db.schema
      .createTable('registry_usage')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
      .addColumn('quota_bytes', big)
      .execute();
    await db.schema
      .createTable('repository_usage')
      .addColumn('repository_id', big, (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
      .addColumn('registry_id', big, (c) => c.notNull())
      .addColumn('bytes', big, (c) => c.notNull().defaultTo(0))
      .addColumn('quota_bytes', big)
      .execute();
    await db.schema.createIndex('repository_usage_registry').on('repository_usage').column('registry_id').execute();
    await recompute(db);
  },
};
