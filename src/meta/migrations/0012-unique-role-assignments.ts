import { sql } from 'kysely';
import type { Migration } from './migration.js';

export const uniqueRoleAssignments: Migration = {
  version: 12,
  name: 'one role assignment per principal, role and scope',
  async up(db) {
    // Two identical assignments created at once could both be stored: keep the oldest of each
    // set (they grant the same), then let a unique index refuse the second. A whole registry
    // and the deployment are NULL columns, which unique indexes treat as all different, so the
    // index compares them as 0 (no registry has id 0) and '' (no repository pattern is empty).
    await sql`delete from role_assignments where exists (
      select 1 from role_assignments older
      where older.principal_type = role_assignments.principal_type and older.principal_id = role_assignments.principal_id
        and older.role = role_assignments.role
        and coalesce(older.registry_id, 0) = coalesce(role_assignments.registry_id, 0)
        and coalesce(older.repository, '') = coalesce(role_assignments.repository, '')
        and (older.created_at < role_assignments.created_at or (older.created_at = role_assignments.created_at and older.id < role_assignments.id)))`.execute(
      db,
    );
    await db.schema
      .createIndex('role_assignments_unique')
      .on('role_assignments')
      .unique()
      .columns(['principal_type', 'principal_id', 'role'])
      .expression(sql`coalesce(registry_id, 0)`)
      .expression(sql`coalesce(repository, '')`)
      .execute();
  },
};
