import { sql } from 'kysely';
import { big, type Migration } from './migration.js';

export const usageHistory: Migration = {
  version: 18,
  name: 'storage history: a registry storage sample per day',
  async up(db) {
    // The registry's storage at the end of each UTC day it changed (meta/usage.ts bump() keeps
    // today's row current); a day without a row had the bytes of the last day before it.
    await db.schema
      .createTable('registry_usage_daily')
      .addColumn('registry_id', big, (c) => c.notNull().references('registries.id').onDelete('cascade'))
      .addColumn('day', 'text', (c) => c.notNull())
      .addColumn('bytes', big, (c) => c.notNull())
      .addPrimaryKeyConstraint('registry_usage_daily_pk', ['registry_id', 'day'])
      .execute();
    // History starts today, at what each registry holds now.
    const today = new Date().toISOString().slice(0, 10);
    await db
      .insertInto('registry_usage_daily')
      .columns(['registry_id', 'day', 'bytes'])
      .expression(db.selectFrom('registry_usage').select(['registry_id', sql.lit(today).as('day'), 'bytes']))
      .execute();
  },
};
