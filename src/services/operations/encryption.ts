import type { JobQueue, JobRow } from '../../jobs/queue.js';
import type { KyselyEncryptionState } from '../../meta/encryption.js';
import type { Logger } from '../../observability/logger.js';
import { ENCRYPTED_PREFIX, isClearKey, JOB_TEMP_PREFIX, TEMP_PREFIX, type MigratingDriver } from '../../storage/encryption/migrating.js';

// Encryption at rest of the deployment, as operators see it (berth encryption status,
// GET /api/encryption), and the job that encrypts a clear-text store in place: online (everything
// is served meanwhile, through MigratingDriver) and resumable (a cursor in the metadata; a crash or
// SIGKILL at any moment loses nothing, see storage/encryption/migrating.ts).
//
// With regions every region's store is encrypted in place by a job of its own,
// `encryption-migrate@<region>`, which only that region's nodes take (as `replicate@<region>`):
// a region's store is in general reachable, and cheap to walk, only from its own nodes. Each has
// its own state and cursor; one region's migration never waits for another's.

export const ENCRYPTION_MIGRATE_JOB = 'encryption-migrate';
/** A region's migration job: ENCRYPTION_MIGRATE_JOB@<region>. */
export const migrateJobOf = (region: string | undefined) =>
  region === undefined ? ENCRYPTION_MIGRATE_JOB : `${ENCRYPTION_MIGRATE_JOB}@${region}`;
/** A failing store is retried with backoff for a long time: the migration must finish eventually. */
const MAX_ATTEMPTS = 1000;
const PAGE = 200;
/** Progress is recorded at least this often (a resumed job redoes at most this much). */
const SAVE_EVERY = 25;
/** Temporary keys of conversions older than this were left by a crash. */
const STALE_TEMP_MS = 3600_000;
/** Sorts after every key under the encrypted prefix (keys are printable ASCII): the walk skips that subtree. */
const PAST_ENCRYPTED = `${ENCRYPTED_PREFIX}\x7f`;

export type AtRestKey = 'berth-managed' | 'key-file' | 'off';

export interface EncryptionStatus {
  atRest: AtRestKey;
  /** The key-encryption key's id (berth-managed, file:/path), when on. */
  keyProvider?: string;
  /** Why it is off, when it is. */
  reason?: string;
  /** This node's store's migration (its region's, with regions). */
  migration: MigrationView | null;
  /** With regions: each region's store, in configuration order. */
  regions?: { name: string; migration: MigrationView | null }[];
}

export interface MigrationView {
  state: 'running' | 'done' | 'failing';
  objectsDone: number;
  objectsTotal?: number;
  bytesDone: number;
  startedAt: string;
  finishedAt: string | null;
  jobId: number | null;
  lastError?: string;
}

export interface EncryptionSetup {
  atRest: AtRestKey;
  keyProvider?: string;
  reason?: string;
}

/** One blob store's encryption: the deployment's only one, or a region's. */
export interface StoreEncryption {
  /** undefined: the deployment has no regions. */
  region?: string;
  state: KyselyEncryptionState;
  /** Set while clear objects may remain. */
  migrating?: MigratingDriver;
}

export class EncryptionService {
  private readonly local: StoreEncryption;

  constructor(
    private readonly setup: EncryptionSetup,
    /** Every store: the one, or each region's in configuration order. */
    private readonly stores: StoreEncryption[],
    private readonly jobs: JobQueue,
    private readonly log: Logger,
    /** This node's region, with regions. */
    localRegion?: string,
  ) {
    this.local = stores.find((s) => s.region === localRegion) ?? stores[0]!;
    const own = migrateJobOf(this.local.region);
    jobs.handle(own, (_p, job) => this.migrate(job), { long: true });
    if (this.local.region !== undefined) {
      // Other regions' jobs are their nodes'. A job queued before the deployment declared regions
      // is superseded by the first region's own (startMigration queues it): nothing to do.
      jobs.handledElsewherePrefix(`${ENCRYPTION_MIGRATE_JOB}@`);
      jobs.handle(ENCRYPTION_MIGRATE_JOB, () => Promise.resolve());
    }
  }

  async status(): Promise<EncryptionStatus> {
    const views: { name: string; migration: MigrationView | null }[] = [];
    for (const st of this.stores) views.push({ name: st.region ?? '', migration: await this.view(st) });
    return {
      atRest: this.setup.atRest,
      ...(this.setup.keyProvider ? { keyProvider: this.setup.keyProvider } : {}),
      ...(this.setup.reason ? { reason: this.setup.reason } : {}),
      migration: views[this.stores.indexOf(this.local)]!.migration,
      ...(this.local.region !== undefined ? { regions: views } : {}),
    };
  }

  private async view(st: StoreEncryption): Promise<MigrationView | null> {
    const s = this.setup.atRest === 'off' ? undefined : await st.state.get();
    let migration: MigrationView | null = null;
    if (s) {
      const job = s.state === 'running' && s.jobId !== undefined ? await this.jobs.get(s.jobId) : undefined;
      const failing = !!job && (job.state === 'dead' || (job.attempts > 0 && !!job.last_error && job.state !== 'succeeded'));
      migration = {
        state: s.state === 'running' && failing ? 'failing' : s.state,
        objectsDone: s.objectsDone,
        ...(s.objectsTotal !== undefined ? { objectsTotal: s.objectsTotal } : {}),
        bytesDone: s.bytesDone,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt ?? null,
        jobId: s.jobId ?? null,
        ...(failing && job?.last_error ? { lastError: job.last_error } : {}),
      };
    }
    return migration;
  }

  /**
   * On a start with clear objects left in a store (any region's: the job is queued for that
   * region's nodes): the migration's state and its job, unless a live job has it already.
   */
  async startMigration(): Promise<void> {
    for (const st of this.stores) if (st.migrating) await this.startMigrationOf(st);
  }

  private async startMigrationOf(st: StoreEncryption): Promise<void> {
    const kind = migrateJobOf(st.region);
    const s = await st.state.update(async (cur, trx) => {
      if (cur?.state === 'done') return undefined;
      if (cur?.jobId !== undefined) {
        const j = await this.jobs.get(cur.jobId);
        if (j && j.kind === kind && j.state !== 'dead' && j.state !== 'succeeded') return undefined;
      }
      const jobId = await this.jobs.enqueue(trx, kind, {}, { maxAttempts: MAX_ATTEMPTS });
      return { ...(cur ?? { state: 'running', objectsDone: 0, bytesDone: 0, startedAt: new Date().toISOString() }), jobId };
    });
    if (s?.state === 'running')
      this.log.info(
        { job: s.jobId, ...(st.region !== undefined ? { region: st.region } : {}) },
        `encrypting the clear-text objects of the blob store${st.region !== undefined ? ` of region ${st.region}` : ''} (berth encryption status)`,
      );
  }

  /** The job (this node's store's): walks the clear keys in byte order from the recorded cursor, encrypting each. */
  async migrate(job?: JobRow): Promise<void> {
    const store = this.local.state;
    let state = await store.get();
    if (!state || state.state === 'done') return;
    const m = this.local.migrating;
    // A node started after the migration was recorded done never runs it; one that did not see
    // clear objects cannot either. The job waits for a node that can (any node started since).
    if (!m) throw new Error('this node did not start with the migration (restart it, or let another node run the job)');
    let lost = false;
    const beat = job
      ? setInterval(
          () =>
            void this.jobs.renewLease(job).then(
              (ok) => (lost ||= !ok),
              () => undefined,
            ),
          Math.max(200, (this.jobs.opts.leaseSeconds * 1000) / 3),
        )
      : undefined;
    const save = async () => {
      if (lost) throw new Error('the job lease passed to another node; it resumes there');
      await store.put(state!);
    };
    try {
      // Temporaries of an earlier run of this job (it runs once at a time: the lease).
      for (const k of await m.encrypted.list(JOB_TEMP_PREFIX)) await m.encrypted.delete(k);
      if (state.objectsTotal === undefined) {
        state = { ...state, objectsTotal: (await this.clearKeys(m)).length };
        await save();
      }
      let sinceSave = 0;
      for (;;) {
        const page = await this.clearKeys(m, state.cursor, PAGE);
        if (page.length === 0) {
          // The end: done when nothing clear is left anywhere (a key below the cursor may have
          // been written by a node of an earlier version during a rolling upgrade).
          if ((await this.clearKeys(m, undefined, 1)).length === 0) break;
          state = { ...state, cursor: undefined };
          await save();
          continue;
        }
        for (const key of page) {
          if (lost) throw new Error('the job lease passed to another node; it resumes there');
          const r = await m.convert(key, key, { temp: JOB_TEMP_PREFIX });
          if (r?.damaged) this.log.warn({ key }, 'a stored blob does not match its digest (damaged before encryption); encrypted as it is');
          state = {
            ...state,
            cursor: key,
            objectsDone: state.objectsDone + (r ? 1 : 0),
            bytesDone: state.bytesDone + (r?.bytes ?? 0),
          };
          if (++sinceSave >= SAVE_EVERY) {
            await save();
            sinceSave = 0;
          }
        }
        await save();
        sinceSave = 0;
      }
      await this.dropStaleTemps(m);
      state = { ...state, state: 'done', cursor: undefined, finishedAt: new Date().toISOString() };
      await save();
      this.log.info(
        { objects: state.objectsDone, bytes: state.bytesDone, ...(this.local.region !== undefined ? { region: this.local.region } : {}) },
        'every object of the blob store is encrypted; the next start uses the encrypted layout only',
      );
    } finally {
      clearInterval(beat);
    }
  }

  /** Clear keys of the physical store after `after`, in byte order (the encrypted subtree skipped). */
  private async clearKeys(m: MigratingDriver, after?: string, limit?: number): Promise<string[]> {
    if (limit === undefined) return (await m.clear.list('', { startAfter: after })).filter(isClearKey);
    const out: string[] = [];
    let from = after;
    while (out.length < limit) {
      const raw = await m.clear.list('', { startAfter: from, limit: limit - out.length });
      if (raw.length === 0) break;
      const i = raw.findIndex((k) => !isClearKey(k));
      out.push(...(i < 0 ? raw : raw.slice(0, i)));
      // Into the encrypted subtree: continue past it (no clear key sorts inside it).
      from = i < 0 ? raw[raw.length - 1] : PAST_ENCRYPTED;
    }
    return out;
  }

  /** Temporaries of conversions a crash interrupted (not the job's: those go on each run). */
  private async dropStaleTemps(m: MigratingDriver): Promise<void> {
    for (const k of await m.encrypted.list(TEMP_PREFIX)) {
      const st = await m.encrypted.stat(k);
      if (st && Date.now() - st.modifiedAt.getTime() > STALE_TEMP_MS) await m.encrypted.delete(k);
    }
  }
}
