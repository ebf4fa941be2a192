import { big, type Migration } from './migration.js';

export const changeableAttributes: Migration = {
  version: 3,
  name: 'changeable attributes and pull statistics',
  async up(db) {
    // ACR's changeableAttributes (deleteEnabled, writeEnabled, listEnabled, readEnabled) on
    // repositories, tags and manifests; pull statistics on tags and manifests; what the
    // /acr/v1 manifest listing shows (architecture, os, configMediaType), cached when first read.
    const flags = ['delete_enabled', 'write_enabled', 'list_enabled', 'read_enabled'];
    for (const table of ['repositories', 'tags', 'manifests']) {
      for (const f of flags)
        await db.schema
          .alterTable(table)
          .addColumn(f, 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
    }
    for (const table of ['tags', 'manifests']) {
      await db.schema.alterTable(table).addColumn('last_pulled_at', 'text').execute();
      await db.schema
        .alterTable(table)
        .addColumn('pull_count', big, (c) => c.notNull().defaultTo(0))
        .execute();
    }
    await db.schema.alterTable('manifests').addColumn('config_media_type', 'text').execute();
    // null = not read yet; '' = read, none (not an image, or no platform in its config).
    await db.schema.alterTable('manifests').addColumn('architecture', 'text').execute();
    await db.schema.alterTable('manifests').addColumn('os', 'text').execute();
    // Keyset paging of /acr/v1 listings ordered by time: (time, name).
    await db.schema.createIndex('tags_repository_time').on('tags').columns(['repository_id', 'updated_at', 'name']).execute();
    await db.schema.createIndex('manifests_repository_time').on('manifests').columns(['repository_id', 'created_at', 'digest']).execute();
  },
};
