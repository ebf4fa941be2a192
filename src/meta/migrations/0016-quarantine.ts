import type { Migration } from './migration.js';

export const quarantine: Migration = {
  version: 16,
  name: 'quarantine: registry policy and per-manifest state',
  async up(db) {
    // ACR's policies.quarantinePolicy.status, per registry (1 = enabled).
    await db.schema
      .alterTable('registries')
      .addColumn('quarantine_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    // The rules a scanner judges Passed/Failed by are the scanner's own (scan_policies, migration 17).
    // Quarantined | Passed | Failed; null = pushed while the policy was off (never quarantined).
    // Read with the manifest row itself, so a pull needs no extra query.
    for (const col of ['quarantine_state', 'quarantine_details', 'quarantine_updated_at', 'quarantine_updated_by'])
      await db.schema.alterTable('manifests').addColumn(col, 'text').execute();
  },
};
