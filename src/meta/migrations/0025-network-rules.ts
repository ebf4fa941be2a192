import type { Migration } from './migration.js';

export const networkRules: Migration = {
  version: 25,
  name: 'network rules of registries (publicNetworkAccess, networkRuleSet)',
  async up(db) {
    // On the registry row, so the data plane's one registry lookup per request carries them.
    // ip rules: a JSON array of canonical ranges (at most 200, ACR's limit), read whole.
    await db.schema
      .alterTable('registries')
      .addColumn('public_network_access', 'text', (c) => c.notNull().defaultTo('Enabled'))
      .execute();
    await db.schema
      .alterTable('registries')
      .addColumn('network_default_action', 'text', (c) => c.notNull().defaultTo('Allow'))
      .execute();
    await db.schema
      .alterTable('registries')
      .addColumn('network_ip_rules', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema
      .alterTable('registries')
      .addColumn('network_bypass', 'text', (c) => c.notNull().defaultTo('AzureServices'))
      .execute();
  },
};
