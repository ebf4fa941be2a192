import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, ImportsTable } from './schema.js';
import type { Executor } from './store.js';

// Image imports (imports: one row per import job, sharing its id): the request, the sealed
// upstream credentials until the import ends, progress and result. The copy itself is in
// services/import/import.ts.

export type ImportRow = Selectable<ImportsTable>;
export type NewImport = Insertable<ImportsTable>;
export type ImportPatch = Partial<Pick<ImportRow, 'progress' | 'credentials' | 'result' | 'updated_at'>>;

export interface Imports {
  /** Records an import; inside the transaction that queues its job. */
  insert(ex: Executor, row: NewImport): Promise<void>;
  /** An import by its (job) id; only within a registry when registryId is given. */
  get(id: number, registryId?: number): Promise<ImportRow | undefined>;
  /** Ids of a registry's imports, newest first. */
  ids(registryId: number, limit: number): Promise<number[]>;
  update(id: number, patch: ImportPatch): Promise<void>;
}

export class KyselyImports implements Imports {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(ex: Executor, row: NewImport): Promise<void> {
    await ex.insertInto('imports').values(row).execute();
  }

  get(id: number, registryId?: number): Promise<ImportRow | undefined> {
    let q = this.db.selectFrom('imports').selectAll().where('id', '=', id);
    if (registryId !== undefined) q = q.where('registry_id', '=', registryId);
    return q.executeTakeFirst();
  }

  async ids(registryId: number, limit: number): Promise<number[]> {
    return (
      await this.db.selectFrom('imports').select('id').where('registry_id', '=', registryId).orderBy('id', 'desc').limit(limit).execute()
    ).map((r) => Number(r.id));
  }

  async update(id: number, patch: ImportPatch): Promise<void> {
    await this.db.updateTable('imports').set(patch).where('id', '=', id).execute();
  }
}
