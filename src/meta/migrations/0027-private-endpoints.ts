import { big, id, type Migration } from './migration.js';

export const privateEndpoints: Migration = {
  version: 27,
  name: 'private endpoint connections and dedicated data endpoints',
  async up(db, d) {
    // One row per (registry, private endpoint): the endpoint's listener ("listen", canonical
    // ADDRESS:PORT or unix:/path) may be shared by several registries, each with its own
    // connection state. Every node binds the distinct listen values; the data plane asks
    // (listen, registry, Approved) per request on a private listener.
    await db.schema
      .createTable('private_endpoint_connections')
      .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('listen', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('request_message', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_by', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('private_endpoint_connections_name')
      .on('private_endpoint_connections')
      .columns(['registry_id', 'name'])
      .unique()
      .execute();
    // One connection per registry and listener: a second would change nothing but confuse states.
    await db.schema
      .createIndex('private_endpoint_connections_listen')
      .on('private_endpoint_connections')
      .columns(['listen', 'registry_id'])
      .unique()
      .execute();
    // ACR's dataEndpointEnabled, on the registry row the data plane reads anyway.
    await db.schema
      .alterTable('registries')
      .addColumn('data_endpoint_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
