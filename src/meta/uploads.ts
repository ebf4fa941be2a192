import type { Selectable } from 'kysely';
import { now, type Executor, type MetaContext } from './context.js';
import type { UploadsTable } from './schema.js';

export type UploadRow = Selectable<UploadsTable>;

/** Upload sessions: the acknowledged offset of each chunked upload, shared by every node. */
export interface UploadStore {
  createUpload(u: Omit<UploadRow, 'created_at' | 'updated_at' | 'offset'>): Promise<void>;
  getUpload(id: string): Promise<UploadRow | undefined>;
  /** Advances the acknowledged offset only if nobody else moved it (optimistic, safe across nodes). */
  advanceUpload(id: string, from: number, to: number): Promise<boolean>;
  deleteUpload(ex: Executor, id: string): Promise<boolean>;
  /** Sessions not touched since olderThan, oldest first. */
  listStaleUploads(olderThan: string, limit: number): Promise<UploadRow[]>;
  allUploadIds(): Promise<Set<string>>;
}

export class KyselyUploadStore implements UploadStore {
  constructor(private readonly ctx: MetaContext) {}

  async createUpload(u: Omit<UploadRow, 'created_at' | 'updated_at' | 'offset'>): Promise<void> {
    const ts = now();
    await this.ctx.db
      .insertInto('uploads')
      .values({ ...u, offset: 0, created_at: ts, updated_at: ts })
      .execute();
  }

  getUpload(id: string): Promise<UploadRow | undefined> {
    return this.ctx.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async advanceUpload(id: string, from: number, to: number): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable('uploads')
      .set({ offset: to, updated_at: now() })
      .where('id', '=', id)
      .where('offset', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async deleteUpload(ex: Executor, id: string): Promise<boolean> {
    const r = await ex.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  listStaleUploads(olderThan: string, limit: number): Promise<UploadRow[]> {
    return this.ctx.db.selectFrom('uploads').selectAll().where('updated_at', '<', olderThan).orderBy('updated_at').limit(limit).execute();
  }

  async allUploadIds(): Promise<Set<string>> {
    return new Set((await this.ctx.db.selectFrom('uploads').select('id').execute()).map((r) => r.id));
  }
}
