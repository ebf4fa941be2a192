import type { Migration } from './migration.js';

export const revokedSessions: Migration = {
  version: 19,
  name: 'portal sign-outs: revoked session token ids until they expire',
  async up(db) {
    // A signed-out portal session's token id (jti), kept until the token would have expired
    // anyway, so a copy of the cookie is refused on every node. Rows past expires_at are pruned.
    await db.schema
      .createTable('revoked_sessions')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('revoked_sessions_expiry').on('revoked_sessions').column('expires_at').execute();
  },
};
