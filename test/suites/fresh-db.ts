import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDb, type Db } from '../../src/meta/db.js';
import { freshMetadataUrl, type Backend } from '../helpers/backends.js';

// A fresh metadata database for one test of the shared metadata suites: a temp directory for
// SQLite, a throwaway schema for PostgreSQL, so results never depend on what another test left.

export interface FreshDb {
  db: Db;
  /** A second handle on the same database, as a second node would have (a closure: tests destructure it). */
  openAnother(this: void): Promise<Db>;
  close(): Promise<void>;
}

export async function freshDb(backend: Backend, doMigrate = true): Promise<FreshDb> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-meta-'));
  const meta = await freshMetadataUrl(backend);
  const others: Db[] = [];
  const open = () => openDb({ url: meta.url, dataDir, poolSize: 10 });
  const db = await open();
  if (doMigrate) await migrate(db);
  return {
    db,
    async openAnother() {
      const o = await open();
      others.push(o);
      return o;
    },
    async close() {
      for (const o of others) await o.close();
      await db.close();
      await meta.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
