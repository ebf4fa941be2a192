import { type Migration } from './migration.js';

export const repositoryAudit: Migration = {
  version: 6,
  name: 'repository audit: who caused each event',
  async up(db) {
    // ContainerRegistryRepositoryEvents' identity and callerIpAddress, recorded with the event in
    // the same transaction; audit queries read a registry's events newest first.
    await db.schema.alterTable('events').addColumn('identity', 'text').execute();
    await db.schema.alterTable('events').addColumn('caller_ip', 'text').execute();
    await db.schema.createIndex('events_registry_id').on('events').columns(['registry_id', 'id']).execute();
  },
};
