import { big, type Migration } from './migration.js';

export const customerManagedKeys: Migration = {
  version: 26,
  name: 'customer-managed keys of registries (encryption domains)',
  async up(db) {
    // One row per registry created with a customer-managed key: its data key, wrapped by the
    // customer's key-encryption key (only the wrapped form is stored). A registry has a row from
    // its creation (in the same transaction) until it is deleted, never gained or lost later (as
    // ACR: create-time only, cannot be disabled), so "is this registry's content in its own
    // encryption domain" can be cached for the life of the registry id. The state records the
    // last key check (Accessible | Inaccessible) for show and audit; reads consult the key itself.
    await db.schema
      .createTable('registry_keys')
      .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
      .addColumn('key_uri', 'text', (c) => c.notNull())
      .addColumn('key_version', 'text', (c) => c.notNull())
      .addColumn('wrapped_dek', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('rotated_at', 'text')
      .addColumn('state', 'text', (c) => c.notNull().defaultTo('Accessible'))
      .addColumn('state_reason', 'text')
      .addColumn('state_changed_at', 'text')
      .execute();
  },
};
