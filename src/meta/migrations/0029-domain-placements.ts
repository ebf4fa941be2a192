import { big, type Migration } from './migration.js';

export const domainPlacements: Migration = {
  version: 29,
  name: 'geo-replication of customer-managed-key registries: which regions hold a domain copy of a blob',
  async up(db) {
    // A registry with a customer-managed key keeps its own copy of each blob (domains/<id>/…,
    // sealed with its key), apart from the deployment's copy blob_placements records: a region
    // may hold one and not the other. Written like blob_placements (commit, verified copy); the
    // foreign key on the blob row makes a copy that raced garbage collection fail to record.
    await db.schema
      .createTable('domain_placements')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('domain_placements_pk', ['registry_id', 'digest', 'region'])
      .execute();
    await db.schema.createIndex('domain_placements_digest').on('domain_placements').columns(['digest']).execute();
  },
};
