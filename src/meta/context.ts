import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

// What every role store shares: the query builder, the dialect, and transactions. It imports no
// other meta module (db.ts and the migrations import it), so the stores, the usage counters and
// the migration steps never form a cycle.

export type Dialect = 'sqlite' | 'postgres';

/** The database outside any transaction, or one transaction: every write that joins a caller's transaction takes one. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** What a service needs to group role-store calls into one transaction. */
export interface Transactor {
  /** The executor outside any transaction, for methods that take one. */
  readonly db: Kysely<Database>;
  /**
   * Runs fn in one transaction; the commit is durable before the promise resolves. PostgreSQL may
   * abort one of two racing writers (deadlock, serialization failure): such a transaction is run
   * again, a few times, so concurrent pushes of the same tags never surface as errors.
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
}

/** What a role store's implementation is built from. */
export interface MetaContext extends Transactor {
  readonly dialect: Dialect;
}

export function createContext(db: Kysely<Database>, dialect: Dialect): MetaContext {
  return {
    db,
    dialect,
    async transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn);
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw e;
          await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
        }
      }
    },
  };
}

export const now = (): string => new Date().toISOString();

export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
