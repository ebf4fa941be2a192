import { sql, type Kysely, type Transaction } from 'kysely';
import { KyselyAttributeStore, type AttributeStore } from './attributes.js';
import { KyselyBlobStore, type BlobStore } from './blobs.js';
import { createContext, type Dialect, type MetaContext, type Transactor } from './context.js';
import type { Db } from './db.js';
import { KyselyEventStore, type EventStore } from './events.js';
import { KyselyJobStore, type JobStore } from './jobs.js';
import { KyselyManifestStore, type ManifestStore } from './manifests.js';
import { KyselyPullStore, type PullStore } from './pulls.js';
import { KyselyRegistryStore, type RegistryStore } from './registries.js';
import { KyselyRepositoryStore, type RepositoryStore } from './repositories.js';
import { KyselyScheduleStore, type ScheduleStore } from './schedules.js';
import type { Database } from './schema.js';
import { KyselyStatsStore, type StatsStore } from './stats.js';
import { KyselyUploadStore, type UploadStore } from './uploads.js';
import { KyselyUsageStore, type UsageStore } from './usage.js';
import { KyselyVulnDbStore, type VulnDbStore } from './vulndb.js';

// The metadata store: every query Berth runs, on one query layer for SQLite and PostgreSQL, in
// role stores (one file per role in meta/, each an interface and its Kysely implementation).
// MetaStore composes them: it answers every role's methods, so one instance is passed around,
// while each service declares only the roles it uses (`BlobStore & Transactor`, ...) and its
// test doubles implement only those.

export { isUniqueViolation, now, type Executor, type Transactor } from './context.js';
export type { RegistryRow } from './registries.js';
export type { RepositoryRecord, RepositoryWithAttributes } from './repositories.js';
export type { ManifestHead, ManifestRow, NewManifest, ReadFlags } from './manifests.js';
export { ATTR_COLUMNS, type AttrColumns, type Keyset, type ManifestAttributes, type TagAttributes, type TimeOrder } from './attributes.js';
export type { PullEvent } from './pulls.js';
export type { UploadRow } from './uploads.js';
export type { EventRow, NewEvent } from './events.js';
export type { JobRow } from './jobs.js';
export type { ScheduleRow } from './schedules.js';
export type { VulnCandidate, VulnDbStatus, VulnImportView, VulnKey, VulnSourceStatus, VulnUpsertCounts } from './vulndb.js';
export type {
  AttributeStore,
  BlobStore,
  EventStore,
  JobStore,
  ManifestStore,
  PullStore,
  RegistryStore,
  RepositoryStore,
  ScheduleStore,
  StatsStore,
  UploadStore,
  UsageStore,
  VulnDbStore,
};

/** Every role at once. */
export type Roles = RegistryStore &
  RepositoryStore &
  BlobStore &
  ManifestStore &
  AttributeStore &
  PullStore &
  UploadStore &
  EventStore &
  UsageStore &
  JobStore &
  ScheduleStore &
  StatsStore &
  VulnDbStore;

// The class answers the roles' methods through the instances it builds (see the constructor,
// which binds every role's methods and refuses two roles sharing a name); this declaration tells
// the compiler so. The merge is the point, so the lint rule against it is off for these two lines.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface MetaStore extends Roles {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class MetaStore implements Transactor {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  private readonly ctx: MetaContext;

  constructor(private readonly handle: Db) {
    this.ctx = createContext(handle.kysely, handle.dialect);
    this.db = this.ctx.db;
    this.dialect = this.ctx.dialect;
    const roles = [
      new KyselyRegistryStore(this.ctx),
      new KyselyRepositoryStore(this.ctx),
      new KyselyBlobStore(this.ctx),
      new KyselyManifestStore(this.ctx),
      new KyselyAttributeStore(this.ctx),
      new KyselyPullStore(this.ctx),
      new KyselyUploadStore(this.ctx),
      new KyselyEventStore(this.ctx),
      new KyselyUsageStore(this.ctx),
      new KyselyJobStore(this.ctx),
      new KyselyScheduleStore(this.ctx),
      new KyselyStatsStore(this.ctx),
      new KyselyVulnDbStore(this.ctx),
    ];
    for (const role of roles) expose(this, role);
  }

  /**
   * Runs fn in one transaction; the commit is durable before the promise resolves. PostgreSQL may
   * abort one of two racing writers (deadlock, serialization failure): such a transaction is run
   * again, a few times, so concurrent pushes of the same tags never surface as errors.
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.ctx.transaction(fn);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/**
 * Makes every public method of a role implementation callable on the store, bound to the role.
 * Two roles (or a role and MetaStore itself) naming the same method is a programming error,
 * reported when the store is built rather than left to shadow one another.
 */
function expose(store: object, role: object): void {
  const proto = Object.getPrototypeOf(role) as object;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const fn = (role as Record<string, unknown>)[name];
    if (typeof fn !== 'function') continue;
    if (name in store) throw new Error(`meta: two role stores both define ${name}()`);
    Object.defineProperty(store, name, { value: fn.bind(role), enumerable: false, writable: true, configurable: true });
  }
}
