import { big, type Migration } from './migration.js';

export const scans: Migration = {
  version: 17,
  name: 'vulnerability scans',
  async up(db) {
    // One row per scanned manifest (it goes with the manifest): the job's state, the inventory it
    // read from the layers (kept so new vulnerability data is matched again without re-reading
    // layers), the SBOM referrers it pushed, and the findings of the last match.
    await db.schema
      .createTable('scans')
      .addColumn('manifest_id', big, (c) => c.primaryKey().references('manifests.id').onDelete('cascade'))
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('message', 'text')
      .addColumn('inventory', 'text')
      .addColumn('sbom_cyclonedx', 'text')
      .addColumn('sbom_spdx', 'text')
      .addColumn('summary', 'text')
      .addColumn('findings', 'text')
      .addColumn('data_date', 'text')
      .addColumn('requested_at', 'text', (c) => c.notNull())
      .addColumn('scanned_at', 'text')
      .addColumn('matched_at', 'text')
      .execute();
    await db.schema.createIndex('scans_registry').on('scans').columns(['registry_id', 'manifest_id']).execute();
    // What a registry's scans decide for quarantined images (Passed or Failed).
    await db.schema
      .createTable('scan_policies')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('fail_on', 'text', (c) => c.notNull())
      .addColumn('ignore_unfixed', 'integer', (c) => c.notNull())
      .addColumn('allow', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
};
