import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../context.js';

// One migration history for both engines. Each step uses Kysely's schema builder; the few
// differences (identity columns, byte columns, collation) are spelled out per dialect.
// Never edit a released step: add a new one.

export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

export const id = (d: Dialect) => (d === 'postgres' ? 'bigserial' : 'integer');
// Byte-order collation: tags and catalog must sort "ASCIIbetically" (distribution-spec), and
// keyset paging compares with the same collation the index uses.
export const text = (d: Dialect) => (d === 'postgres' ? sql`text collate "C"` : sql`text`);
export const bytes = (d: Dialect) => (d === 'postgres' ? 'bytea' : 'blob');
export const big = 'bigint';
