import type { MetaContext } from './context.js';

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

export class KyselyPullStore implements PullStore {
  constructor(private readonly ctx: MetaContext) {}

  async addPulls(
    manifests: { id: number; count: number; at: string }[],
    tags: { repositoryId: number; name: string; count: number; at: string }[],
    audit: PullEvent[] = [],
  ): Promise<void> {
    // One transaction (one commit, one fsync) per flush, in slices so a huge flush never holds it
    // long: each slice updates up to 200 manifests and 200 tags and inserts up to 1000 pull records.
    const slices = Math.max(Math.ceil(manifests.length / 200), Math.ceil(tags.length / 200), Math.ceil(audit.length / 1000));
    for (let k = 0; k < slices; k++) {
      const i = k * 200;
      await this.ctx.transaction(async (trx) => {
        // Pull records are audit only: born dispatched, so the webhook outbox never looks at them.
        const rows = audit.slice(k * 1000, (k + 1) * 1000);
        for (let j = 0; j < rows.length; j += 100) {
          await trx
            .insertInto('events')
            .values(rows.slice(j, j + 100).map((e) => ({ ...e, action: 'pull', dispatched: 1 })))
            .execute();
        }
        for (const m of manifests.slice(i, i + 200)) {
          await trx
            .updateTable('manifests')
            .set((eb) => ({ pull_count: eb('pull_count', '+', m.count), last_pulled_at: m.at }))
            .where('id', '=', m.id)
            .execute();
        }
        for (const t of tags.slice(i, i + 200)) {
          await trx
            .updateTable('tags')
            .set((eb) => ({ pull_count: eb('pull_count', '+', t.count), last_pulled_at: t.at }))
            .where('repository_id', '=', t.repositoryId)
            .where('name', '=', t.name)
            .execute();
        }
      });
      await new Promise((r) => setImmediate(r));
    }
  }
}
