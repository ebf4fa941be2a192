import type { MetaContext } from './context.js';

// What the metrics scrape reads from the metadata: one cheap query each, no table scans.

/** Queued and running jobs of one kind and state, with the creation time (ms) of the oldest. */
export interface QueueDepth {
  kind: string;
  state: string;
  count: number;
  oldestMs: number | null;
}

export interface StatsStore {
  /** Bytes used per registry name (the storage counter show-usage reports as Size). */
  storageUsedByRegistry(): Promise<Map<string, number>>;
  /** Job queue depth and oldest creation time by kind and state (queued and running only). */
  jobQueueDepth(): Promise<QueueDepth[]>;
}

export class KyselyStatsStore implements StatsStore {
  constructor(private readonly ctx: MetaContext) {}

  async storageUsedByRegistry(): Promise<Map<string, number>> {
    // One row per registry, no scan of blobs or manifests.
    const rows = await this.ctx.db
      .selectFrom('registries as r')
      .leftJoin('registry_usage as u', 'u.registry_id', 'r.id')
      .select((eb) => ['r.name as name', eb.fn.coalesce('u.bytes', eb.lit(0)).as('used')])
      .execute();
    return new Map(rows.map((r) => [r.name, Number(r.used ?? 0)]));
  }

  async jobQueueDepth(): Promise<QueueDepth[]> {
    // Grouped over the (state, run_after) index.
    const rows = await this.ctx.db
      .selectFrom('jobs')
      .select((eb) => ['kind', 'state', eb.fn.countAll<number | string>().as('n'), eb.fn.min('created_at').as('oldest')])
      .where('state', 'in', ['queued', 'running'])
      .groupBy(['kind', 'state'])
      .execute();
    return rows.map((r) => ({ kind: r.kind, state: r.state, count: Number(r.n), oldestMs: r.oldest ? Date.parse(r.oldest) : null }));
  }
}
