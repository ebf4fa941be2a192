import type { MetaContext, Executor } from './context.js';

// The state of the deployment's encryption-at-rest migration (clear-text objects encrypted in
// place by a job), one JSON deployment setting per blob store: written by the one job that holds
// the lease, read by `berth encryption status` and by every start (to know whether clear objects
// may remain). With regions, each region's store has its own (the first region's is the
// deployment's original one: its store is the one the deployment had before it declared regions).

export const MIGRATION_SETTING = 'storage_encryption_migration';

/**
 * The name of a per-store deployment setting: `key` itself for the deployment's one store, or the
 * first region's (its store is the one the deployment had before regions); `key@<region>` for
 * the other regions' stores.
 */
export function storeSetting(key: string, region: { name: string; first: boolean } | undefined): string {
  return !region || region.first ? key : `${key}@${region.name}`;
}
/** The wrapped data key's setting (app.ts WRAPPED_DEK_SETTING). */
const DEK_SETTING = 'storage_encryption_dek';

export interface MigrationState {
  state: 'running' | 'done';
  /** The job doing it (re-enqueued on a start when it is gone or dead). */
  jobId?: number;
  /** Every clear key up to this one (byte order) is encrypted; undefined = from the start. */
  cursor?: string;
  objectsDone: number;
  /** Counted on the job's first run; absent until then. */
  objectsTotal?: number;
  bytesDone: number;
  startedAt: string;
  finishedAt?: string;
}

export class KyselyEncryptionState {
  constructor(
    private readonly ctx: MetaContext,
    /** The store's setting (storeSetting(MIGRATION_SETTING, region)). */
    private readonly key: string = MIGRATION_SETTING,
  ) {}

  async get(ex: Executor = this.ctx.db): Promise<MigrationState | undefined> {
    let q = ex.selectFrom('deployment_settings').select('value').where('key', '=', this.key);
    // Read-modify-write under the row lock on PostgreSQL (SQLite has one writer).
    if (this.ctx.dialect === 'postgres' && ex !== this.ctx.db) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return row ? (JSON.parse(row.value) as MigrationState) : undefined;
  }

  async put(s: MigrationState, ex: Executor = this.ctx.db): Promise<void> {
    const value = JSON.stringify(s);
    await ex
      .insertInto('deployment_settings')
      .values({ key: this.key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  /** Changes the state in one transaction (its row locked): fn gets the current one, returns the next or undefined to leave it. */
  update(fn: (cur: MigrationState | undefined, trx: Executor) => Promise<MigrationState | undefined>): Promise<MigrationState | undefined> {
    return this.ctx.transaction(async (trx) => {
      // The data key's row is the mutex: it exists before any migration state does, so two nodes
      // starting at once cannot both see no state and each enqueue a job.
      if (this.ctx.dialect === 'postgres')
        await trx.selectFrom('deployment_settings').select('key').where('key', '=', DEK_SETTING).forUpdate().execute();
      const cur = await this.get(trx);
      const next = await fn(cur, trx);
      if (next) await this.put(next, trx);
      return next ?? cur;
    });
  }

  /** Replaces a deployment setting's value (a re-wrapped data key). */
  async replaceSetting(key: string, value: string): Promise<void> {
    await this.ctx.db
      .insertInto('deployment_settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
}
