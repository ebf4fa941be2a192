import type { Migration } from './migration.js';

export const privateEndpointListeners: Migration = {
  version: 28,
  name: 'private endpoints scoped to a region; every node reports its private listeners',
  async up(db) {
    // ACR's private endpoint location: only the nodes of that region bind the listener and serve
    // the connection there. NULL: every region (connections made before this step).
    await db.schema.alterTable('private_endpoint_connections').addColumn('location', 'text').execute();
    // What each node did with each listen address it was asked to bind, so `show` reports the
    // whole deployment, not only the node that answered. A node writes only its own rows: on a
    // change of state, and last_seen on every poll (a heartbeat); it deletes them when it stops.
    // expires_at is last_seen plus a few of the writer's own polls: a row past it belongs to a node
    // that died (whatever the reader's poll interval); readers skip such rows and pollers delete them.
    await db.schema
      .createTable('private_endpoint_listeners')
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('listen', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('since', 'text', (c) => c.notNull())
      .addColumn('last_seen', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('private_endpoint_listeners_pk', ['node', 'listen'])
      .execute();
    await db.schema.createIndex('private_endpoint_listeners_listen').on('private_endpoint_listeners').column('listen').execute();
  },
};
