import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ActivityLogTable, Database } from './schema.js';
import { now } from './context.js';

// The activity log's rows (activity_log): written one per management operation, read newest
// first with keyset paging on id, as the login audit is. Old rows go with the other audit
// records (EventStore.pruneAudit, audit.retentionDays).

export type ActivityRow = Selectable<ActivityLogTable>;
export type NewActivity = Omit<Insertable<ActivityLogTable>, 'id' | 'time'>;

export interface ActivityFilter {
  since?: string;
  /** Exclusive. */
  until?: string;
  registryId?: number;
  identity?: string;
  /** Any of these operations. */
  operations?: readonly string[];
  result?: string;
  limit: number;
  beforeId?: number;
}

export interface ActivityLog {
  /** One record, stamped now. */
  insert(row: NewActivity): Promise<void>;
  /** Records newest first; every filter is an exact match. */
  query(filter: ActivityFilter): Promise<ActivityRow[]>;
}

export class KyselyActivityLog implements ActivityLog {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: NewActivity): Promise<void> {
    await this.db
      .insertInto('activity_log')
      .values({ ...row, time: now() })
      .execute();
  }

  query(f: ActivityFilter): Promise<ActivityRow[]> {
    let q = this.db.selectFrom('activity_log').selectAll();
    if (f.since) q = q.where('time', '>=', f.since);
    if (f.until) q = q.where('time', '<', f.until);
    if (f.registryId !== undefined) q = q.where('registry_id', '=', f.registryId);
    if (f.identity !== undefined) q = q.where('identity', '=', f.identity);
    if (f.operations) q = q.where('operation', 'in', f.operations.length ? f.operations : ['']);
    if (f.result) q = q.where('result', '=', f.result);
    if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
    return q.orderBy('id', 'desc').limit(f.limit).execute();
  }
}
