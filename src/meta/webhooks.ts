import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Dialect } from './db.js';
import type { ScanBrief } from './scans.js';
import type { Database, EventsTable, WebhookDeliveriesTable, WebhooksTable } from './schema.js';
import { REGISTRY_COLUMNS } from './registries.js';
import { isUniqueViolation, type Executor, type RegistryRow } from './store.js';

// Webhooks (one row each, names unique per registry case-insensitively), the log of their
// deliveries, and the outbox side of events: which are still to dispatch, and marking them done.
// Two roles: Webhooks for managing them (services/webhooks/webhooks.ts), WebhookOutbox for turning
// events into deliveries and recording them (services/webhooks/delivery.ts).

export type WebhookRow = Selectable<WebhooksTable>;
export type NewWebhook = Omit<Insertable<WebhooksTable>, 'id'>;
export type WebhookFields = Partial<Omit<WebhookRow, 'id'>>;
export type EventRow = Selectable<EventsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type NewDelivery = Omit<Insertable<WebhookDeliveriesTable>, 'id'>;

export interface Webhooks {
  /** A registry's webhook by name, any case. */
  find(registryId: number, name: string): Promise<WebhookRow | undefined>;
  /** A registry's webhooks by name (case-insensitive order). */
  list(registryId: number): Promise<WebhookRow[]>;
  count(ex: Executor, registryId: number): Promise<number>;
  /** undefined when the registry has a webhook of that name (any case). */
  insert(ex: Executor, w: NewWebhook): Promise<WebhookRow | undefined>;
  update(id: number, fields: WebhookFields): Promise<void>;
  delete(id: number): Promise<void>;
  /** A webhook's deliveries, newest first. */
  deliveries(webhookId: number, limit: number): Promise<DeliveryRow[]>;
  /** The latest delivery of an event by a webhook (for redelivery). */
  lastDelivery(webhookId: number, eventId: string): Promise<{ action: string; request_body: string } | undefined>;
}

export interface WebhookOutbox {
  /**
   * Up to `limit` events not dispatched yet, oldest first, locked until `trx` ends. On PostgreSQL
   * rows another node is dispatching are skipped (not waited for); SQLite has one writer.
   */
  undispatched(trx: Executor, limit: number): Promise<EventRow[]>;
  markDispatched(trx: Executor, eventIds: number[]): Promise<void>;
  /** The enabled webhooks of these registries. */
  enabledWebhooks(ex: Executor, registryIds: number[]): Promise<WebhookRow[]>;
  registries(ex: Executor, ids: number[]): Promise<RegistryRow[]>;
  registryName(id: number): Promise<string | undefined>;
  /** The bytes of a live manifest, by registry, repository name and digest. */
  manifestContent(ex: Executor, registryId: number, repository: string, digest: string): Promise<Uint8Array | undefined>;
  /** The scan of a live manifest (a `scan` event's result), by registry, repository name and digest. */
  scanResult(ex: Executor, registryId: number, repository: string, digest: string): Promise<ScanBrief | undefined>;
  webhook(id: number): Promise<WebhookRow | undefined>;
  recordDelivery(d: NewDelivery): Promise<void>;
}

export class KyselyWebhooks implements Webhooks, WebhookOutbox {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  // ---------------------------------------------------------------- webhooks

  find(registryId: number, name: string): Promise<WebhookRow | undefined> {
    return this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  list(registryId: number): Promise<WebhookRow[]> {
    return this.db.selectFrom('webhooks').selectAll().where('registry_id', '=', registryId).orderBy('name_key').execute();
  }

  async count(ex: Executor, registryId: number): Promise<number> {
    const r = await ex
      .selectFrom('webhooks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('registry_id', '=', registryId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insert(ex: Executor, w: NewWebhook): Promise<WebhookRow | undefined> {
    try {
      return await ex.insertInto('webhooks').values(w).returningAll().executeTakeFirstOrThrow();
    } catch (e) {
      if (isUniqueViolation(e)) return undefined;
      throw e;
    }
  }

  async update(id: number, fields: WebhookFields): Promise<void> {
    await this.db.updateTable('webhooks').set(fields).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('webhooks').where('id', '=', id).execute();
  }

  deliveries(webhookId: number, limit: number): Promise<DeliveryRow[]> {
    return this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  lastDelivery(webhookId: number, eventId: string): Promise<{ action: string; request_body: string } | undefined> {
    return this.db
      .selectFrom('webhook_deliveries')
      .select(['action', 'request_body'])
      .where('webhook_id', '=', webhookId)
      .where('event_id', '=', eventId)
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }

  // ---------------------------------------------------------------- outbox and deliveries

  undispatched(trx: Executor, limit: number): Promise<EventRow[]> {
    let q = trx.selectFrom('events').selectAll().where('dispatched', '=', 0).orderBy('id').limit(limit);
    if (this.dialect === 'postgres') q = q.forUpdate().skipLocked();
    return q.execute();
  }

  async markDispatched(trx: Executor, eventIds: number[]): Promise<void> {
    if (eventIds.length) await trx.updateTable('events').set({ dispatched: 1 }).where('id', 'in', eventIds).execute();
  }

  enabledWebhooks(ex: Executor, registryIds: number[]): Promise<WebhookRow[]> {
    if (registryIds.length === 0) return Promise.resolve([]);
    return ex.selectFrom('webhooks').selectAll().where('registry_id', 'in', registryIds).where('status', '=', 'enabled').execute();
  }

  registries(ex: Executor, ids: number[]): Promise<RegistryRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return ex.selectFrom('registries').select(REGISTRY_COLUMNS).where('id', 'in', ids).execute();
  }

  async registryName(id: number): Promise<string | undefined> {
    return (await this.db.selectFrom('registries').select('name').where('id', '=', id).executeTakeFirst())?.name;
  }

  async manifestContent(ex: Executor, registryId: number, repository: string, digest: string): Promise<Uint8Array | undefined> {
    const m = await ex
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['manifests.content'])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository)
      .where('manifests.digest', '=', digest)
      .executeTakeFirst();
    return m?.content;
  }

  scanResult(ex: Executor, registryId: number, repository: string, digest: string): Promise<ScanBrief | undefined> {
    return ex
      .selectFrom('scans')
      .innerJoin('manifests', 'manifests.id', 'scans.manifest_id')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select(['scans.status', 'scans.scanned_at', 'scans.data_date', 'scans.summary'])
      .where('repositories.registry_id', '=', registryId)
      .where('repositories.name', '=', repository)
      .where('manifests.digest', '=', digest)
      .executeTakeFirst();
  }

  webhook(id: number): Promise<WebhookRow | undefined> {
    return this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async recordDelivery(d: NewDelivery): Promise<void> {
    await this.db.insertInto('webhook_deliveries').values(d).execute();
  }
}
