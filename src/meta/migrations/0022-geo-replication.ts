import { big, type Migration } from './migration.js';

export const geoReplication: Migration = {
  version: 22,
  name: 'geo-replication: home regions, replicas, blob placements per region, replication backlog',
  async up(db) {
    // The registry's home region; null = the deployment's first region (registries made before regions existed).
    await db.schema.alterTable('registries').addColumn('location', 'text').execute();
    // A Premium registry's replicas besides its home region (az acr replication).
    await db.schema
      .createTable('replications')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('location', 'text', (c) => c.notNull())
      .addColumn('region_endpoint_enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('zone_redundancy', 'text', (c) => c.notNull().defaultTo('Disabled'))
      .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
      // Set once the backfill has queued everything the registry held when the replica was made.
      .addColumn('backfilled_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('replications_pk', ['registry_id', 'location'])
      .execute();
    // Which regions' blob stores hold a blob's bytes. Written in the transaction that commits the
    // bytes (push) or after a verified copy (replication, read repair); the foreign key makes a
    // copy that races garbage collection fail to record, and its bytes are then removed.
    await db.schema
      .createTable('blob_placements')
      .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('blob_placements_pk', ['digest', 'region'])
      .execute();
    await db.schema.createIndex('blob_placements_region').on('blob_placements').columns(['region', 'digest']).execute();
    // Manifests not yet complete in a replica region: the replication backlog, from which lag,
    // pending blobs and per-manifest status are read. A row goes when its job has placed every blob.
    await db.schema
      .createTable('replication_pending')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('repository_id', big, (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('tag', 'text')
      .addColumn('enqueued_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('replication_pending_pk', ['registry_id', 'region', 'repository_id', 'digest'])
      .execute();
    await db.schema
      .createIndex('replication_pending_age')
      .on('replication_pending')
      .columns(['registry_id', 'region', 'enqueued_at'])
      .execute();
    // Per-replica webhooks (az acr webhook create --location): null = fire where the push happened.
    await db.schema.alterTable('webhooks').addColumn('location', 'text').execute();
    // An event about one region (an image now complete there); null = about the change itself.
    await db.schema.alterTable('events').addColumn('region', 'text').execute();
  },
};
