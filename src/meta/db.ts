import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Dialect } from './context.js';
import { migrations } from './migrations/index.js';
import { SplitSqliteDialect, WalSync } from './sqlite-dialect.js';
import type { Database } from './schema.js';

export type { Dialect };

export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: Dialect;
  /** Human-readable target, with any password removed, for logs. */
  readonly target: string;
  close(): Promise<void>;
}

// PostgreSQL int8 (sizes, ids) as JS numbers; values stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface OpenOptions {
  /** '' or sqlite:PATH or postgres://... */
  url: string;
  dataDir: string;
  poolSize?: number;
}

export async function openDb(opts: OpenOptions): Promise<Db> {
  const url = opts.url.trim();
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url, opts.poolSize ?? 10);
  const file = sqliteFile(url, opts.dataDir);
  if (file !== undefined) return openSqlite(file);
  throw new Error(`unsupported metadata URL "${redact(url)}": use sqlite:PATH or postgres://USER@HOST:PORT/DB`);
}

/** The SQLite database file a metadata URL names ('' = <dataDir>/berth.db), or undefined for other URLs. */
export function sqliteFile(url: string, dataDir: string): string | undefined {
  const u = url.trim();
  if (u !== '' && !u.startsWith('sqlite:')) return undefined;
  const file = u === '' ? path.join(dataDir, 'berth.db') : u.slice('sqlite:'.length).replace(/^\/\//, '');
  return file === ':memory:' ? file : path.resolve(dataDir, file);
}

function openSqlite(file: string): Db {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const writer = new SqliteDatabase(file);
  const memory = file === ':memory:';
  // WAL lets readers run beside the writer. Every commit is durable before it is acknowledged:
  // with synchronous=NORMAL SQLite writes the commit's WAL frames and WalSync fdatasyncs the WAL
  // in the thread pool (FULL would do the same fsync on the event loop, stalling every request).
  writer.pragma('journal_mode = WAL');
  writer.pragma(memory ? 'synchronous = FULL' : 'synchronous = NORMAL');
  writer.pragma('foreign_keys = ON');
  writer.pragma('busy_timeout = 5000');
  // A second connection serves reads outside transactions (see sqlite-dialect.ts); query_only
  // makes sure it never writes.
  let reader: SqliteDatabase.Database | undefined;
  if (!memory) {
    reader = new SqliteDatabase(file);
    reader.pragma('query_only = ON');
    reader.pragma('busy_timeout = 5000');
  }
  const wal = memory ? undefined : new WalSync(`${file}-wal`);
  const kysely = new Kysely<Database>({ dialect: new SplitSqliteDialect(writer, reader, wal) });
  return {
    kysely,
    dialect: 'sqlite',
    target: `sqlite:${file}`,
    close: () => kysely.destroy(),
  };
}

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  // An optional ?schema=NAME keeps Berth's tables in their own schema (created if missing).
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name "${schema}" in metadata URL`);
  const pool = new pg.Pool({
    connectionString: u.toString(),
    max: poolSize,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  pool.on('error', () => {
    /* a broken idle connection is replaced on next use */
  });
  // A connection that breaks while checked out (PostgreSQL restarting or failing over mid
  // transaction) also emits 'error' on its client, which the pool does not handle: without a
  // listener the whole node would crash. The query in flight fails on its own (503 UNAVAILABLE).
  pool.on('connect', (client) => {
    client.on('error', () => {
      /* reported through the failing query */
    });
  });
  if (schema) {
    const c = await pool.connect();
    try {
      await c.query(`create schema if not exists ${schema}`);
    } finally {
      c.release();
    }
  }
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    kysely,
    dialect: 'postgres',
    target: redact(url),
    close: () => kysely.destroy(),
  };
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Applies pending migrations in one transaction; on PostgreSQL an advisory lock serialises nodes starting together. */
export async function migrate(db: Db): Promise<number[]> {
  const applied: number[] = [];
  await db.kysely.transaction().execute(async (trx) => {
    if (db.dialect === 'postgres') await sql`select pg_advisory_xact_lock(727274)`.execute(trx);
    await trx.schema
      .createTable('berth_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .execute();
    const done = new Set((await trx.selectFrom('berth_migrations').select('version').execute()).map((r) => Number(r.version)));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await m.up(trx, db.dialect);
      await trx.insertInto('berth_migrations').values({ version: m.version, name: m.name, applied_at: new Date().toISOString() }).execute();
      applied.push(m.version);
    }
  });
  return applied;
}

export async function pendingMigrations(db: Db): Promise<number> {
  try {
    const rows = await db.kysely.selectFrom('berth_migrations').select('version').execute();
    const done = new Set(rows.map((r) => Number(r.version)));
    return migrations.filter((m) => !done.has(m.version)).length;
  } catch {
    return migrations.length;
  }
}
