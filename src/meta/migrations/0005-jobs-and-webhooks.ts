import { id, text, big, type Migration } from './migration.js';

export const jobsAndWebhooks: Migration = {
  version: 5,
  name: 'durable jobs and webhooks',
  async up(db, d) {
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    // The outbox: the request that caused an event (ACR's payload "request"), and whether the
    // dispatcher has turned the event into jobs yet (set in the transaction that enqueues them).
    for (const col of ['request_id', 'request_host', 'request_method', 'request_useragent']) {
      await db.schema.alterTable('events').addColumn(col, 'text').execute();
    }
    await db.schema
      .alterTable('events')
      .addColumn('dispatched', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('events_dispatched').on('events').columns(['dispatched', 'id']).execute();

    await db.schema
      .createTable('jobs')
      .addColumn('id', id(d), pk)
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('max_attempts', 'integer', (c) => c.notNull())
      .addColumn('run_after', 'text', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('jobs_state_run_after').on('jobs').columns(['state', 'run_after']).execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull())
      .addColumn('uri', 'text', (c) => c.notNull())
      .addColumn('actions', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('headers', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('webhooks_registry_name', ['registry_id', 'name_key'])
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', id(d), pk)
      .addColumn('webhook_id', big, (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('request_uri', 'text', (c) => c.notNull())
      .addColumn('request_headers', 'text', (c) => c.notNull())
      .addColumn('request_body', 'text', (c) => c.notNull())
      .addColumn('response_status', 'integer')
      .addColumn('response_headers', 'text')
      .addColumn('response_body', 'text')
      .addColumn('error', 'text')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook_id', 'id']).execute();
    await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').column('event_id').execute();
  },
};
