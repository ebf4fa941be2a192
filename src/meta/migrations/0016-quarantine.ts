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
    // The scanner's verdict rules (max severity, ignore unfixed, allow-list...) as JSON, owned by
    // the scanner; null = none set. Kept out of the per-request registry read.
    await db.schema.alterTable('registries').addColumn('scan_policy', 'text').execute();
    // Quarantined | Passed | Failed; null = pushed while the policy was off (never quarantined).
    // Read with the manifest row itself, so a pull needs no extra query.
    for (const col of ['quarantine_state', 'quarantine_details', 'quarantine_updated_at', 'quarantine_updated_by'])
      await db.schema.alterTable('manifests').addColumn(col, 'text').execute();
  },
};
