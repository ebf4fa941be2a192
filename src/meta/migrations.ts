import { sql, type Kysely } from 'kysely';
import type { Dialect } from './db.js';
import { usageMigration } from './usage.js';

// One migration history for both engines. Each step uses Kysely's schema builder; the few
// differences (identity columns, byte columns, collation) are spelled out per dialect.
// Never edit a released step: add a new one.

export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

const id = (d: Dialect) => (d === 'postgres' ? 'bigserial' : 'integer');
// Byte-order collation: tags and catalog must sort "ASCIIbetically" (distribution-spec), and
// keyset paging compares with the same collation the index uses.
const text = (d: Dialect) => (d === 'postgres' ? sql`text collate "C"` : sql`text`);
const bytes = (d: Dialect) => (d === 'postgres' ? 'bytea' : 'blob');
const big = 'bigint';

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'core registry',
    async up(db, d) {
      await db.schema.createTable('registries')
        .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', text(d), (c) => c.notNull().unique())
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema.createTable('repositories')
        .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', text(d), (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('repositories_registry_name', ['registry_id', 'name'])
        .execute();

      await db.schema.createTable('blobs')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema.createTable('repository_blobs')
        .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

      await db.schema.createTable('manifests')
        .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('config_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('content', bytes(d), (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();

      await db.schema.createTable('manifest_refs')
        .addColumn('manifest_id', big, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_refs_pk', ['manifest_id', 'child_digest', 'kind'])
        .execute();
      await db.schema.createIndex('manifest_refs_child').on('manifest_refs').column('child_digest').execute();

      await db.schema.createTable('tags')
        .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', text(d), (c) => c.notNull())
        .addColumn('manifest_id', big, (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

      await db.schema.createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('algorithm', 'text', (c) => c.notNull())
        .addColumn('offset', big, (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('uploads_updated').on('uploads').column('updated_at').execute();

      await db.schema.createTable('events')
        .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('registry_id', big, (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('tag', 'text')
        .addColumn('media_type', 'text')
        .addColumn('size', big)
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  {
    version: 2,
    name: 'identity and access',
    async up(db, d) {
      const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
      await db.schema.alterTable('registries').addColumn('admin_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('registries').addColumn('anonymous_pull_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      await db.schema.createTable('users')
        .addColumn('id', id(d), pk)
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', text(d), (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema.createTable('service_principals')
        .addColumn('id', id(d), pk)
        .addColumn('app_id', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      // Machine secrets (service-principal secrets, admin and token passwords) are long random
      // strings: a SHA-256 of them is as good as a slow KDF and keeps Basic auth cheap.
      await db.schema.createTable('secrets')
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

      await db.schema.createTable('scope_maps')
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

      await db.schema.createTable('tokens')
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

      await db.schema.createTable('role_assignments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('principal_type', 'text', (c) => c.notNull())
        .addColumn('principal_id', big, (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('registry_id', big, (c) => c.references('registries.id').onDelete('cascade'))
        .addColumn('repository', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('role_assignments_principal').on('role_assignments').columns(['principal_type', 'principal_id']).execute();

      await db.schema.createTable('anonymous_pull_rules')
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('repository', text(d), (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('anonymous_pull_rules_pk', ['registry_id', 'repository'])
        .execute();

      await db.schema.createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('private_pem', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema.createTable('deployment_settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema.createTable('login_events')
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
  },
  {
    version: 3,
    name: 'changeable attributes and pull statistics',
    async up(db) {
      // ACR's changeableAttributes (deleteEnabled, writeEnabled, listEnabled, readEnabled) on
      // repositories, tags and manifests; pull statistics on tags and manifests; what the
      // /acr/v1 manifest listing shows (architecture, os, configMediaType), cached when first read.
      const flags = ['delete_enabled', 'write_enabled', 'list_enabled', 'read_enabled'];
      for (const table of ['repositories', 'tags', 'manifests']) {
        for (const f of flags) await db.schema.alterTable(table).addColumn(f, 'integer', (c) => c.notNull().defaultTo(1)).execute();
      }
      for (const table of ['tags', 'manifests']) {
        await db.schema.alterTable(table).addColumn('last_pulled_at', 'text').execute();
        await db.schema.alterTable(table).addColumn('pull_count', big, (c) => c.notNull().defaultTo(0)).execute();
      }
      await db.schema.alterTable('manifests').addColumn('config_media_type', 'text').execute();
      // null = not read yet; '' = read, none (not an image, or no platform in its config).
      await db.schema.alterTable('manifests').addColumn('architecture', 'text').execute();
      await db.schema.alterTable('manifests').addColumn('os', 'text').execute();
      // Keyset paging of /acr/v1 listings ordered by time: (time, name).
      await db.schema.createIndex('tags_repository_time').on('tags').columns(['repository_id', 'updated_at', 'name']).execute();
      await db.schema.createIndex('manifests_repository_time').on('manifests').columns(['repository_id', 'created_at', 'digest']).execute();
    },
  },
  usageMigration,
  {
    version: 5,
    name: 'durable jobs and webhooks',
    async up(db, d) {
      const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
      // The outbox: the request that caused an event (ACR's payload "request"), and whether the
      // dispatcher has turned the event into jobs yet (set in the transaction that enqueues them).
      for (const col of ['request_id', 'request_host', 'request_method', 'request_useragent']) {
        await db.schema.alterTable('events').addColumn(col, 'text').execute();
      }
      await db.schema.alterTable('events').addColumn('dispatched', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('events_dispatched').on('events').columns(['dispatched', 'id']).execute();

      await db.schema.createTable('jobs')
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

      await db.schema.createTable('webhooks')
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

      await db.schema.createTable('webhook_deliveries')
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
  },
  {
    version: 6,
    name: 'repository audit: who caused each event',
    async up(db) {
      // ContainerRegistryRepositoryEvents' identity and callerIpAddress, recorded with the event in
      // the same transaction; audit queries read a registry's events newest first.
      await db.schema.alterTable('events').addColumn('identity', 'text').execute();
      await db.schema.alterTable('events').addColumn('caller_ip', 'text').execute();
      await db.schema.createIndex('events_registry_id').on('events').columns(['registry_id', 'id']).execute();
    },
  },
  {
    version: 7,
    name: 'immutability, untagged retention, purge schedules and the periodic runner',
    async up(db, d) {
      const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
      // Write-once tags: a rule is a repository glob and a tag glob (see services/immutability.ts).
      await db.schema.createTable('immutability_policies')
        .addColumn('id', id(d), pk)
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', text(d), (c) => c.notNull())
        .addColumn('repository_pattern', 'text', (c) => c.notNull())
        .addColumn('tag_pattern', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('immutability_policies_registry_name', ['registry_id', 'name_key'])
        .execute();
      // When a manifest lost its last tag (null while tagged): the retention policy counts days from here.
      await db.schema.alterTable('manifests').addColumn('untagged_since', 'text').execute();
      await sql`update manifests set untagged_since = created_at where not exists (select 1 from tags where tags.manifest_id = manifests.id)`.execute(db);
      await db.schema.createIndex('manifests_untagged').on('manifests').columns(['repository_id', 'untagged_since']).execute();
      // ACR's policies.retentionPolicy (one per registry).
      await db.schema.createTable('retention_policies')
        .addColumn('registry_id', big, (c) => c.primaryKey().references('registries.id').onDelete('cascade'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('days', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('enabled_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      // Cron schedules that enqueue a job of `kind` with `payload` (purge schedules are kind 'purge').
      await db.schema.createTable('schedules')
        .addColumn('id', id(d), pk)
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', text(d), (c) => c.notNull())
        .addColumn('cron', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('next_run_at', 'text', (c) => c.notNull())
        .addColumn('last_run_at', 'text')
        .addColumn('last_job_id', big)
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('schedules_registry_kind_name', ['registry_id', 'kind', 'name_key'])
        .execute();
      await db.schema.createIndex('schedules_due').on('schedules').columns(['status', 'next_run_at']).execute();
      // System tasks run at fixed intervals, once across all nodes (retention, online GC).
      await db.schema.createTable('maintenance_tasks')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('next_run_at', 'text', (c) => c.notNull())
        .addColumn('last_run_at', 'text')
        .execute();
      // The audit's operation when it differs from the webhook action (a purge deletes: action
      // 'delete' for webhooks, operation 'purge' for ContainerRegistryRepositoryEvents).
      await db.schema.alterTable('events').addColumn('operation', 'text').execute();
      // What a job produced (a purge's counts), for whoever waits on it.
      await db.schema.alterTable('jobs').addColumn('result', 'text').execute();
    },
  },
  {
    version: 8,
    name: 'soft delete: registry policy and the recycle bin',
    async up(db, d) {
      const pk = (c: any) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
      // ACR's softDeletePolicy {status, retentionDays 1-90 (7)}, per registry.
      await db.schema.alterTable('registries').addColumn('soft_delete_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('registries').addColumn('soft_delete_days', 'integer', (c) => c.notNull().defaultTo(7)).execute();
      // A soft-deleted repository keeps its row (and so its blob links) until the bin is empty.
      await db.schema.alterTable('repositories').addColumn('deleted_at', 'text').execute();

      // A deleted manifest as it was, with the tags it had; kind 'tag' = only a tag was removed
      // (untag), the manifest itself stayed. group_id ties together what one delete removed
      // (a subject with its referrers, a whole repository), so restoring brings them back together.
      await db.schema.createTable('deleted_manifests')
        .addColumn('id', id(d), pk)
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('repository_id', big, (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('repository', text(d), (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('config_digest', 'text')
        .addColumn('config_media_type', 'text')
        .addColumn('annotations', 'text')
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('content', bytes(d), (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addColumn('purge_after', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('deleted_by', 'text')
        .execute();
      await db.schema.createIndex('deleted_manifests_repository_digest').on('deleted_manifests').columns(['repository_id', 'digest']).execute();
      await db.schema.createIndex('deleted_manifests_purge_after').on('deleted_manifests').column('purge_after').execute();
      await db.schema.createIndex('deleted_manifests_registry').on('deleted_manifests').columns(['registry_id', 'id']).execute();

      await db.schema.createTable('deleted_manifest_refs')
        .addColumn('deleted_manifest_id', big, (c) => c.notNull().references('deleted_manifests.id').onDelete('cascade'))
        .addColumn('child_digest', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deleted_manifest_refs_pk', ['deleted_manifest_id', 'child_digest', 'kind'])
        .execute();
      await db.schema.createIndex('deleted_manifest_refs_child').on('deleted_manifest_refs').column('child_digest').execute();
    },
  },
  {
    version: 9,
    name: 'online garbage collection',
    async up(db, d) {
      // Mark and sweep across runs: a blob link nothing references is marked (unreferenced_since)
      // and removed only when it is still unreferenced a grace period later; a blob no repository
      // links is marked (orphaned_since) the same way before its bytes are deleted. Reading a
      // marked link clears its mark, so a client told "this blob exists" gets a full grace period
      // to push the manifest that references it.
      await db.schema.alterTable('repository_blobs').addColumn('unreferenced_since', 'text').execute();
      await db.schema.alterTable('blobs').addColumn('orphaned_since', 'text').execute();
      await db.schema.createIndex('blobs_orphaned').on('blobs').column('orphaned_since').execute();
      await db.schema.createIndex('manifests_subject_digest').on('manifests').column('subject_digest').execute();
      await db.schema.createTable('gc_runs')
        .addColumn('id', id(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('node', 'text', (c) => c.notNull())
        .addColumn('dry_run', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('lease_until', 'text', (c) => c.notNull())
        .addColumn('links_marked', big, (c) => c.notNull().defaultTo(0))
        .addColumn('links_removed', big, (c) => c.notNull().defaultTo(0))
        .addColumn('blobs_marked', big, (c) => c.notNull().defaultTo(0))
        .addColumn('blobs_removed', big, (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_reclaimed', big, (c) => c.notNull().defaultTo(0))
        .addColumn('referrers_removed', big, (c) => c.notNull().defaultTo(0))
        .addColumn('files_removed', big, (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('gc_runs_status').on('gc_runs').columns(['status', 'lease_until']).execute();
    },
  },
  {
    version: 11,
    name: 'image imports',
    async up(db) {
      // One row per import (id = its job's id): what to copy, the upstream credentials sealed with
      // the deployment key (cleared when the import ends), who asked, and progress for polling.
      await db.schema.createTable('imports')
        .addColumn('id', big, (c) => c.primaryKey())
        .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('credentials', 'text')
        .addColumn('identity', 'text')
        .addColumn('caller_ip', 'text')
        .addColumn('progress', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('imports_registry').on('imports').columns(['registry_id', 'id']).execute();
    },
  },
  {
    version: 12,
    name: 'one role assignment per principal, role and scope',
    async up(db) {
      // Two identical assignments created at once could both be stored: keep the oldest of each
      // set (they grant the same), then let a unique index refuse the second. A whole registry
      // and the deployment are NULL columns, which unique indexes treat as all different, so the
      // index compares them as 0 (no registry has id 0) and '' (no repository pattern is empty).
      await sql`delete from role_assignments where exists (
        select 1 from role_assignments older
        where older.principal_type = role_assignments.principal_type and older.principal_id = role_assignments.principal_id
          and older.role = role_assignments.role
          and coalesce(older.registry_id, 0) = coalesce(role_assignments.registry_id, 0)
          and coalesce(older.repository, '') = coalesce(role_assignments.repository, '')
          and (older.created_at < role_assignments.created_at or (older.created_at = role_assignments.created_at and older.id < role_assignments.id)))`.execute(db);
      await db.schema.createIndex('role_assignments_unique').on('role_assignments').unique()
        .columns(['principal_type', 'principal_id', 'role'])
        .expression(sql`coalesce(registry_id, 0)`)
        .expression(sql`coalesce(repository, '')`)
        .execute();
    },
  },
];
