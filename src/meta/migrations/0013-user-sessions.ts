import type { Migration } from './migration.js';

export const userSessions: Migration = {
  version: 13,
  name: "users: a time before which the user's tokens are refused (owner password reset)",
  async up(db) {
    // ISO time; tokens of the user issued before it are refused. NULL: none revoked.
    await db.schema.alterTable('users').addColumn('sessions_since', 'text').execute();
  },
};
