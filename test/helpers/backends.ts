import { randomBytes } from 'node:crypto';
import pg from 'pg';

// Which metadata backends a test run covers. SQLite always; PostgreSQL when reachable. Under
// CI=true a missing PostgreSQL is a failure, never a silent skip.

export type Backend = 'sqlite' | 'postgres';

export const PG_URL = process.env.BERTH_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

let pgProbe: Promise<string | null> | undefined;

/** null when PostgreSQL answers, else the reason it cannot be used. */
export function postgresUnavailable(): Promise<string | null> {
  pgProbe ??= (async () => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 20000 });
    try {
      await c.connect();
      await c.query('select 1');
      return null;
    } catch (e) {
      return `PostgreSQL at ${PG_URL} is not reachable: ${(e as Error).message}`;
    } finally {
      await c.end().catch(() => {});
    }
  })();
  return pgProbe;
}

/**
 * Options for node:test's describe/test: { skip: reason } when the backend cannot run here.
 * Under CI the reason is thrown instead, so the run fails loudly.
 */
export async function backendGate(backend: Backend): Promise<{ skip?: string }> {
  if (backend === 'sqlite') return {};
  const reason = await postgresUnavailable();
  if (reason === null) return {};
  if (IN_CI) throw new Error(`CI=true requires PostgreSQL: ${reason}`);
  return { skip: reason };
}

/** A fresh metadata URL: its own PostgreSQL schema (dropped by the returned cleanup), or '' for SQLite in the data dir. */
export function freshMetadataUrl(backend: Backend): Promise<{ url: string; drop: () => Promise<void> }> {
  if (backend === 'sqlite') return Promise.resolve({ url: '', drop: async () => {} });
  const schema = `berth_t_${randomBytes(6).toString('hex')}`;
  const sep = PG_URL.includes('?') ? '&' : '?';
  return Promise.resolve({
    url: `${PG_URL}${sep}schema=${schema}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  });
}

export const BACKENDS: Backend[] = ['sqlite', 'postgres'];
