import { closeSync, fdatasync, openSync } from 'node:fs';
import type SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

// Kysely's own SQLite dialect runs every query, reads included, through one connection behind one
// lock: while any transaction is open (a push, a pull-statistics flush), every manifest GET waits
// for it, and each release wakes every waiter at once. Here:
// - reads outside a transaction go to a second, read-only connection. better-sqlite3 runs a
//   statement synchronously, so it needs no lock, and WAL gives it the last committed state,
//   never the half of an open transaction;
// - transactions and writes outside one take the writer connection in arrival order (a FIFO
//   queue, one waiter woken per release).
// An in-memory database has no second connection: everything then goes through the writer.

type Statement = SqliteDatabase.Statement;

/** A connection with its own prepared-statement cache: Kysely's query shapes are few and fixed. */
class Prepared {
  private readonly statements = new Map<string, Statement>();
  constructor(readonly db: SqliteDatabase.Database) {}

  statement(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) {
      if (this.statements.size >= 1000) this.statements.clear();
      st = this.db.prepare(text);
      this.statements.set(text, st);
    }
    return st;
  }

  run(query: CompiledQuery, st = this.statement(query.sql)): QueryResult<unknown> {
    const params = query.parameters as unknown[];
    if (st.reader) return { rows: st.all(params) };
    const { changes, lastInsertRowid } = st.run(params);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }
}

/** Hands the writer to one holder at a time, in the order they asked. */
class FifoLock {
  private held = false;
  private readonly waiters: (() => void)[] = [];

  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}

/**
 * Makes commits durable off the event loop. The writer runs with synchronous=NORMAL, so a commit
 * only writes its WAL frames; this fdatasyncs the WAL file in the thread pool before the commit is
 * acknowledged. SQLite's own FULL would fsync inside the commit call and stall every request for
 * the disk's latency. Commits that land while one fsync runs share the next one (group commit).
 */
export class WalSync {
  private fd: number | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly walFile: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.flush().finally(() => (this.running = undefined));
      return this.running;
    }
    // Frames written after the running fsync began may not be covered by it: wait for the next.
    this.next ??= this.running.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private startNext(): Promise<void> {
    this.next = undefined;
    return this.sync();
  }

  private flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      // The WAL exists once anything was written; SQLite keeps the same file while connections stay open.
      this.fd ??= openSync(this.walFile, 'r');
      fdatasync(this.fd, (e) => (e ? reject(e) : resolve()));
    });
  }
}

/** One use of the database: a single statement, or a transaction from begin to commit/rollback. */
class Lease implements DatabaseConnection {
  inTransaction = false;
  /** Whether the open transaction has written (a read-only one needs no fsync at commit). */
  wrote = false;
  constructor(private readonly driver: SplitSqliteDriver) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return (await this.driver.execute(query, this)) as QueryResult<R>;
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on SQLite here');
  }
}

export class SplitSqliteDriver implements Driver {
  private readonly writer: Prepared;
  private readonly reader: Prepared | undefined;
  private readonly lock = new FifoLock();

  constructor(
    writer: SqliteDatabase.Database,
    reader: SqliteDatabase.Database | undefined,
    private readonly wal: WalSync | undefined,
  ) {
    this.writer = new Prepared(writer);
    this.reader = reader ? new Prepared(reader) : undefined;
  }

  /** After a write: durable before the caller goes on (see WalSync). */
  private durable(): Promise<void> {
    return this.wal ? this.wal.sync() : Promise.resolve();
  }

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(new Lease(this));
  }

  async execute(query: CompiledQuery, lease: Lease): Promise<QueryResult<unknown>> {
    if (lease.inTransaction) {
      lease.wrote ||= !this.writer.statement(query.sql).readonly;
      return this.writer.run(query);
    }
    if (this.reader) {
      const st = this.reader.statement(query.sql);
      if (st.readonly) return this.reader.run(query, st);
    }
    await this.lock.acquire();
    let result: QueryResult<unknown>;
    try {
      result = this.writer.run(query);
    } finally {
      this.lock.release();
    }
    await this.durable();
    return result;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await this.lock.acquire();
    try {
      this.writer.run(CompiledQuery.raw('begin'));
    } catch (e) {
      this.lock.release();
      throw e;
    }
    (connection as Lease).inTransaction = true;
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    // A failed commit (SQLITE_BUSY, a deferred constraint) leaves the transaction open: Kysely
    // then rolls back, which ends it and releases the writer.
    try {
      this.writer.run(CompiledQuery.raw('commit'));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    // The next writer may start while this commit's frames reach the disk.
    const wrote = (connection as Lease).wrote;
    this.end(connection as Lease);
    return wrote ? this.durable() : Promise.resolve();
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      if (this.writer.db.inTransaction) this.writer.run(CompiledQuery.raw('rollback'));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.end(connection as Lease);
    }
    return Promise.resolve();
  }

  async releaseConnection(): Promise<void> {}

  destroy(): Promise<void> {
    this.reader?.db.close();
    this.writer.db.close();
    this.wal?.close();
    return Promise.resolve();
  }

  private end(lease: Lease): void {
    if (!lease.inTransaction) return;
    lease.inTransaction = false;
    lease.wrote = false;
    this.lock.release();
  }
}

export class SplitSqliteDialect implements Dialect {
  constructor(
    private readonly writer: SqliteDatabase.Database,
    private readonly reader: SqliteDatabase.Database | undefined,
    private readonly wal?: WalSync,
  ) {}

  createDriver(): Driver {
    return new SplitSqliteDriver(this.writer, this.reader, this.wal);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
