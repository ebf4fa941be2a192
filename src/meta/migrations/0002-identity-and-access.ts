import { id, text, big, type Migration } from './migration.js';

export const identityAndAccess: Migration = {
  version: 2,
  name: 'identity and access',
  async up(db, d) {
    const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
    await db.schema
      .alterTable('registries')
      .addColumn('admin_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('registries')
      .addColumn('anonymous_pull_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('id', id(d), pk)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('service_principals')
      .addColumn('id', id(d), pk)
      .addColumn('app_id', 'text', (c) => c.notNull().unique())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    // Machine secrets (service-principal secrets, admin and token passwords) are long random
    // strings: a SHA-256 of them is as good as a slow KDF and keeps Basic auth cheap.
    await db.schema
      .createTable('secrets')
      .addColumn('id', id(d), pk)
      .addColumn('owner_type', 'text', (c) => c.notNull())
      .addColumn('owner_id', big, (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('sealed', 'text')
      .addColumn('hint', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addUniqueConstraint('secrets_owner_name', ['owner_type', 'owner_id', 'name'])
      .execute();
    await db.schema.createIndex('secrets_hash').on('secrets').column('hash').execute();

    await db.schema
      .createTable('scope_maps')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('actions', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('scope_maps_registry_name', ['registry_id', 'name_key'])
      .execute();

    await db.schema
      .createTable('tokens')
      .addColumn('id', id(d), pk)
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', text(d), (c) => c.notNull())
      .addColumn('scope_map', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('tokens_registry_name', ['registry_id', 'name_key'])
      .execute();

    await db.schema
      .createTable('role_assignments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('principal_type', 'text', (c) => c.notNull())
      .addColumn('principal_id', big, (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('registry_id', big, (c) => c.references('registries.id').onDelete('cascade'))
      .addColumn('repository', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('role_assignments_principal').on('role_assignments').columns(['principal_type', 'principal_id']).execute();

    await db.schema
      .createTable('anonymous_pull_rules')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('repository', text(d), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('anonymous_pull_rules_pk', ['registry_id', 'repository'])
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('private_pem', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('deployment_settings')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('login_events')
      .addColumn('id', id(d), pk)
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('registry', 'text')
      .addColumn('registry_id', big)
      .addColumn('identity', 'text', (c) => c.notNull())
      .addColumn('identity_type', 'text', (c) => c.notNull())
      .addColumn('jwt_id', 'text')
      .addColumn('caller_ip', 'text', (c) => c.notNull())
      .addColumn('user_agent', 'text', (c) => c.notNull())
      .addColumn('operation', 'text', (c) => c.notNull())
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('reason', 'text')
      .execute();
    await db.schema.createIndex('login_events_time').on('login_events').column('time').execute();
  },
};
