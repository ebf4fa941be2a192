import type { Selectable } from 'kysely';
import type { Actor } from '../domain/actor.js';
import { now, type Executor, type MetaContext } from './context.js';
import type { EventsTable } from './schema.js';

export interface NewEvent {
  registry_id: number;
  action: string;
  repository: string;
  digest?: string | null;
  tag?: string | null;
  media_type?: string | null;
  size?: number | null;
  /** The audit's operation when it is not the action (a purge's deletes: 'purge'). */
  operation?: string | null;
  /** The region an event is about (an image now complete there: per-replica webhooks). */
  region?: string | null;
}

export type EventRow = Selectable<EventsTable>;

/** The outbox and repository audit: events written in the transaction of the change that causes them. */
export interface EventStore {
  /** `actor`: who caused it (services pass currentActor()); none leaves the request columns empty. */
  recordEvent(ex: Executor, actor: Actor | undefined, e: NewEvent): Promise<void>;
  /** Many events in one statement per slice (a purge untags thousands of tags). */
  recordEvents(ex: Executor, actor: Actor | undefined, events: NewEvent[]): Promise<void>;
  listEvents(registryId: number, afterId: number, limit: number): Promise<EventRow[]>;
  /** Prunes dispatched events and login events older than `before`; returns how many went. */
  pruneAudit(before: string, batch?: number): Promise<number>;
}

/** The audit columns of an actor, shared by events and the pull audit. */
export function actorColumns(a: Actor | undefined) {
  return {
    request_id: a?.request.id ?? null,
    request_host: a?.request.host ?? null,
    request_method: a?.request.method ?? null,
    request_useragent: a?.request.useragent ?? null,
    identity: a?.identity ?? null,
    caller_ip: a?.ip || null,
  };
}

export class KyselyEventStore implements EventStore {
  constructor(private readonly ctx: MetaContext) {}

  recordEvent(ex: Executor, actor: Actor | undefined, e: NewEvent): Promise<void> {
    return this.recordEvents(ex, actor, [e]);
  }

  /**
   * Prunes audit records older than `before`, a batch per transaction: events the outbox has
   * dispatched (an undispatched one still owes its webhooks), login events and the activity log.
   */
  async pruneAudit(before: string, batch = 5000): Promise<number> {
    const db = this.ctx.db;
    const events = await inBatches(
      batch,
      async () =>
        (
          await db
            .selectFrom('events')
            .select('id')
            .where('created_at', '<', before)
            .where('dispatched', '=', 1)
            .orderBy('id')
            .limit(batch)
            .execute()
        ).map((r) => r.id),
      (ids) => db.deleteFrom('events').where('id', 'in', ids).execute(),
    );
    const logins = await inBatches(
      batch,
      async () =>
        (await db.selectFrom('login_events').select('id').where('time', '<', before).orderBy('id').limit(batch).execute()).map((r) => r.id),
      (ids) => db.deleteFrom('login_events').where('id', 'in', ids).execute(),
    );
    const activity = await inBatches(
      batch,
      async () =>
        (await db.selectFrom('activity_log').select('id').where('time', '<', before).orderBy('id').limit(batch).execute()).map((r) => r.id),
      (ids) => db.deleteFrom('activity_log').where('id', 'in', ids).execute(),
    );
    return events + logins + activity;
  }

  async recordEvents(ex: Executor, actor: Actor | undefined, events: NewEvent[]): Promise<void> {
    const ts = now();
    const req = actorColumns(actor);
    for (let i = 0; i < events.length; i += 200) {
      await ex
        .insertInto('events')
        .values(
          events.slice(i, i + 200).map((e) => ({
            registry_id: e.registry_id,
            action: e.action,
            repository: e.repository,
            digest: e.digest ?? null,
            tag: e.tag ?? null,
            media_type: e.media_type ?? null,
            size: e.size ?? null,
            created_at: ts,
            ...req,
            operation: e.operation ?? null,
            region: e.region ?? null,
          })),
        )
        .execute();
    }
  }

  listEvents(registryId: number, afterId: number, limit: number): Promise<EventRow[]> {
    return this.ctx.db
      .selectFrom('events')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }
}

/** Deletes what `page` finds, a batch per statement, until a batch comes back short; returns how many. */
async function inBatches(batch: number, page: () => Promise<number[]>, remove: (ids: number[]) => Promise<unknown>): Promise<number> {
  let total = 0;
  for (;;) {
    const ids = await page();
    if (ids.length > 0) await remove(ids);
    total += ids.length;
    if (ids.length < batch) return total;
  }
}
