import { big, type Migration } from './migration.js';

export const imageImports: Migration = {
  version: 11,
  name: 'image imports',
  async up(db) {
    // One row per import (id = its job's id): what to copy, the upstream credentials sealed with
    // the deployment key (cleared when the import ends), who asked, and progress for polling.
    await db.schema
      .createTable('imports')
      .addColumn('id', big, (c) => c.primaryKey())
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('credentials', 'text')
      .addColumn('identity', 'text')
      .addColumn('caller_ip', 'text')
      .addColumn('progress', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('imports_registry').on('imports').columns(['registry_id', 'id']).execute();
  },
};
