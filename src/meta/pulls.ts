import type { MetaContext } from './context.js';
import { prepared } from './prepared.js';

/** One pull, as the audit records it (an events row with action "pull"). */
export interface PullEvent {
  registry_id: number;
  repository: string;
  digest: string;
  tag: string | null;
  media_type: string;
  size: number;
  created_at: string;
  request_id: string | null;
  request_host: string | null;
  request_method: string | null;
  request_useragent: string | null;
  identity: string | null;
  caller_ip: string | null;
}

/** Pull statistics (lastPulledTime, pullCount) and pull audit records, written in batches. */
export interface PullStore {
  /** Adds pulls counted in memory: one UPDATE per manifest and per tag pulled since the last flush. */
  addPulls(
    manifests: { id: number; count: number; at: string }[],
    tags: { repositoryId: number; name: string; count: number; at: string }[],
    audit?: PullEvent[],
  ): Promise<void>;
}

const AUDIT_ROWS_PER_INSERT = 100;
const AUDIT_COLUMNS = [
  'registry_id',
  'repository',
  'digest',
  'tag',
  'media_type',
  'size',
  'created_at',
  'request_id',
  'request_host',
  'request_method',
  'request_useragent',
  'identity',
  'caller_ip',
] as const satisfies readonly (keyof PullEvent)[];

/** Lets requests run between the statements of a long flush (SQLite statements block the event loop). */
const yieldToRequests = () => new Promise<void>((resolve) => setImmediate(resolve));

export class KyselyPullStore implements PullStore {
  constructor(private readonly ctx: MetaContext) {}

  /** A full batch of pull records: one statement compiled once (Kysely would rebuild 1,300 values each time). */
  private readonly insertBatch = prepared((ex, ...values: (string | number)[]) =>
    ex.insertInto('events').values(
      Array.from({ length: AUDIT_ROWS_PER_INSERT }, (_, r) => ({
        ...Object.fromEntries(AUDIT_COLUMNS.map((c, i) => [c, values[r * AUDIT_COLUMNS.length + i]])),
        action: 'pull',
        dispatched: 1,
      })) as never,
    ),
  );

  async addPulls(
    manifests: { id: number; count: number; at: string }[],
    tags: { repositoryId: number; name: string; count: number; at: string }[],
    audit: PullEvent[] = [],
  ): Promise<void> {
    // A few large transactions (one commit, so one fsync, each), yielding to requests between
    // statements: on SQLite reads do not wait for the open transaction (sqlite-dialect.ts), so a
    // flush costs pulls only the statements' own time, in small pieces.
    const slices = Math.max(Math.ceil(manifests.length / 1000), Math.ceil(tags.length / 1000), Math.ceil(audit.length / 5000), 1);
    for (let k = 0; k < slices; k++) {
      await this.ctx.transaction(async (trx) => {
        // Pull records are audit only: born dispatched, so the webhook outbox never looks at them.
        const rows = audit.slice(k * 5000, (k + 1) * 5000);
        for (let j = 0; j < rows.length; j += AUDIT_ROWS_PER_INSERT) {
          const batch = rows.slice(j, j + AUDIT_ROWS_PER_INSERT);
          if (batch.length === AUDIT_ROWS_PER_INSERT) {
            await this.insertBatch(trx, ...batch.flatMap((e) => AUDIT_COLUMNS.map((c) => e[c] as string | number)));
          } else {
            await trx
              .insertInto('events')
              .values(batch.map((e) => ({ ...e, action: 'pull', dispatched: 1 })))
              .execute();
          }
          await yieldToRequests();
        }
        for (const m of manifests.slice(k * 1000, (k + 1) * 1000)) {
          await trx
            .updateTable('manifests')
            .set((eb) => ({ pull_count: eb('pull_count', '+', m.count), last_pulled_at: m.at }))
            .where('id', '=', m.id)
            .execute();
        }
        await yieldToRequests();
        for (const t of tags.slice(k * 1000, (k + 1) * 1000)) {
          await trx
            .updateTable('tags')
            .set((eb) => ({ pull_count: eb('pull_count', '+', t.count), last_pulled_at: t.at }))
            .where('repository_id', '=', t.repositoryId)
            .where('name', '=', t.name)
            .execute();
        }
      });
      await yieldToRequests();
    }
  }
}
