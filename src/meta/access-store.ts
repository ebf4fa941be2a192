import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database, LoginEventsTable, SecretsTable } from './schema.js';
import { isUniqueViolation, now } from './store.js';
import { prepared } from './prepared.js';

// Queries of the identity and access tables. The auth service is their only user.

export type SecretRow = Selectable<SecretsTable>;

/** What a change takes from the deployment's Owners: a principal (deleted or disabled) or one assignment. */
export type OwnerLoss = { principal_type: 'user' | 'sp'; principal_id: number } | { assignment: string };

/** The change would leave the deployment without an enabled Owner at scope "/"; nothing was changed. */
export class LastOwnerError extends Error {
  constructor() {
    super('the change would leave no enabled Owner at deployment scope ("/")');
    this.name = 'LastOwnerError';
  }
}

export class AccessStore {
  constructor(readonly db: Kysely<Database>) {}

  // ---------------------------------------------------------------- deployment settings and keys

  async setting(key: string, create: () => string): Promise<string> {
    await this.db
      .insertInto('deployment_settings')
      .values({ key, value: create() })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return (await this.db.selectFrom('deployment_settings').select('value').where('key', '=', key).executeTakeFirstOrThrow()).value;
  }

  /** A deployment setting's value, or undefined when it was never set. */
  async settingIfAny(key: string): Promise<string | undefined> {
    return (await this.db.selectFrom('deployment_settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  // ---------------------------------------------------------------- signed-out sessions

  /** Refuses a session token from now until it expires (sign-out); expired entries are pruned on the way. */
  async revokeSession(jti: string, expiresAt: string): Promise<void> {
    await this.db.deleteFrom('revoked_sessions').where('expires_at', '<', now()).execute();
    await this.db
      .insertInto('revoked_sessions')
      .values({ jti, expires_at: expiresAt })
      .onConflict((oc) => oc.column('jti').doNothing())
      .execute();
  }

  async sessionRevoked(jti: string): Promise<boolean> {
    return !!(await this.db.selectFrom('revoked_sessions').select('jti').where('jti', '=', jti).executeTakeFirst());
  }

  /** What a task run's credential rests on: its registry, status and scope (JSON RunScope). */
  runAuth(id: number): Promise<{ registry_id: number; status: string; scope: string } | undefined> {
    return this.db.selectFrom('task_runs').select(['registry_id', 'status', 'scope']).where('id', '=', id).executeTakeFirst();
  }

  /** The deployment's sealing key (32 bytes), created once by whichever node gets there first. */
  async sealKey(): Promise<Buffer> {
    return Buffer.from(await this.setting('seal_key', () => randomBytes(32).toString('base64')), 'base64');
  }

  listSigningKeys() {
    return this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
  }

  async addSigningKey(k: { kid: string; private_pem: string; public_jwk: string }): Promise<void> {
    await this.db
      .insertInto('signing_keys')
      .values({ ...k, created_at: now() })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
  }

  async pruneSigningKeys(keep: number): Promise<void> {
    const rows = await this.listSigningKeys();
    const old = rows.slice(keep).map((r) => r.kid);
    if (old.length) await this.db.deleteFrom('signing_keys').where('kid', 'in', old).execute();
  }

  // ---------------------------------------------------------------- users

  async createUser(name: string, passwordHash: string) {
    const ts = now();
    try {
      return await this.db
        .insertInto('users')
        .values({ name, name_key: name.toLowerCase(), password_hash: passwordHash, created_at: ts, updated_at: ts })
        .returning(['id', 'name', 'created_at'])
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  userByName(name: string) {
    return this.db.selectFrom('users').selectAll().where('name_key', '=', name.toLowerCase()).executeTakeFirst();
  }

  userById(id: number) {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listUsers() {
    return this.db.selectFrom('users').select(['id', 'name', 'enabled', 'created_at', 'updated_at']).orderBy('name_key').execute();
  }

  /** Disabling the last enabled Owner at "/" throws LastOwnerError. */
  async updateUser(id: number, patch: { password_hash?: string; enabled?: number }): Promise<void> {
    const update = (ex: Kysely<Database>) =>
      ex
        .updateTable('users')
        .set({ ...patch, updated_at: now() })
        .where('id', '=', id)
        .execute();
    if (patch.enabled === 0) await this.keepingAnOwner({ principal_type: 'user', principal_id: id }, update);
    else await update(this.db);
  }

  /**
   * Recovery of the owner account (berth admin reset-password), in one transaction: the user is
   * created when missing, enabled, given the new password hash and Owner at "/", and every token
   * issued to it before now is refused from then on (sessions_since).
   */
  async resetOwner(name: string, passwordHash: string): Promise<{ created: boolean; ownerAdded: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const ts = now();
      let user = await trx.selectFrom('users').select('id').where('name_key', '=', name.toLowerCase()).executeTakeFirst();
      const created = !user;
      if (user) {
        await trx
          .updateTable('users')
          .set({ password_hash: passwordHash, enabled: 1, sessions_since: ts, updated_at: ts })
          .where('id', '=', user.id)
          .execute();
      } else {
        user = await trx
          .insertInto('users')
          .values({ name, name_key: name.toLowerCase(), password_hash: passwordHash, sessions_since: ts, created_at: ts, updated_at: ts })
          .returning('id')
          .executeTakeFirstOrThrow();
      }
      const owner = await trx
        .selectFrom('role_assignments')
        .select('id')
        .where('principal_type', '=', 'user')
        .where('principal_id', '=', user.id)
        .where('role', '=', 'Owner')
        .where('registry_id', 'is', null)
        .where('repository', 'is', null)
        .executeTakeFirst();
      if (!owner)
        await trx
          .insertInto('role_assignments')
          .values({
            id: randomUUID(),
            principal_type: 'user',
            principal_id: user.id,
            role: 'Owner',
            registry_id: null,
            repository: null,
            created_at: ts,
          })
          .execute();
      return { created, ownerAdded: !owner };
    });
  }

  /** With its role assignments; deleting the last enabled Owner at "/" throws LastOwnerError. */
  async deleteUser(id: number): Promise<void> {
    await this.keepingAnOwner({ principal_type: 'user', principal_id: id }, async (trx) => {
      await trx.deleteFrom('role_assignments').where('principal_type', '=', 'user').where('principal_id', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  // ---------------------------------------------------------------- service principals

  createServicePrincipal(displayName: string) {
    return this.db
      .insertInto('service_principals')
      .values({ app_id: randomUUID(), display_name: displayName, created_at: now() })
      .returning(['id', 'app_id', 'display_name', 'created_at'])
      .executeTakeFirstOrThrow();
  }

  spByAppId(appId: string) {
    return this.db.selectFrom('service_principals').selectAll().where('app_id', '=', appId.toLowerCase()).executeTakeFirst();
  }

  spById(id: number) {
    return this.db.selectFrom('service_principals').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listServicePrincipals() {
    return this.db.selectFrom('service_principals').selectAll().orderBy('display_name').execute();
  }

  /** With its secrets, federated credentials and role assignments; deleting the last Owner at "/" throws LastOwnerError. */
  async deleteServicePrincipal(id: number): Promise<void> {
    await this.keepingAnOwner({ principal_type: 'sp', principal_id: id }, async (trx) => {
      await trx.deleteFrom('role_assignments').where('principal_type', '=', 'sp').where('principal_id', '=', id).execute();
      await trx.deleteFrom('secrets').where('owner_type', '=', 'sp').where('owner_id', '=', id).execute();
      await trx.deleteFrom('federated_credentials').where('sp_id', '=', id).execute();
      await trx.deleteFrom('service_principals').where('id', '=', id).execute();
    });
  }

  // ---------------------------------------------------------------- machine secrets

  async putSecret(s: Omit<SecretRow, 'id' | 'created_at'>): Promise<SecretRow> {
    const ts = now();
    await this.db
      .deleteFrom('secrets')
      .where('owner_type', '=', s.owner_type)
      .where('owner_id', '=', s.owner_id)
      .where('name', '=', s.name)
      .execute();
    return this.db
      .insertInto('secrets')
      .values({ ...s, created_at: ts })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  secretsOf(ownerType: string, ownerId: number) {
    return this.db
      .selectFrom('secrets')
      .selectAll()
      .where('owner_type', '=', ownerType)
      .where('owner_id', '=', ownerId)
      .orderBy('name')
      .execute();
  }

  secretsByHash(hash: string) {
    return this.db.selectFrom('secrets').selectAll().where('hash', '=', hash).execute();
  }

  async deleteSecret(ownerType: string, ownerId: number, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('secrets')
      .where('owner_type', '=', ownerType)
      .where('owner_id', '=', ownerId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteSecretsOf(ownerType: string, ownerId: number): Promise<void> {
    await this.db.deleteFrom('secrets').where('owner_type', '=', ownerType).where('owner_id', '=', ownerId).execute();
  }

  /** Removes token and admin passwords whose token or registry is gone (after a registry is deleted). */
  async deleteOrphanSecrets(): Promise<void> {
    await this.db
      .deleteFrom('secrets')
      .where((eb) =>
        eb.or([
          eb.and([eb('owner_type', '=', 'token'), eb('owner_id', 'not in', eb.selectFrom('tokens').select('id'))]),
          eb.and([eb('owner_type', '=', 'admin'), eb('owner_id', 'not in', eb.selectFrom('registries').select('id'))]),
        ]),
      )
      .execute();
  }

  // ---------------------------------------------------------------- registries' auth settings

  registryAuth(registryId: number) {
    return this.db
      .selectFrom('registries')
      .select(['id', 'name', 'sku', 'admin_enabled', 'anonymous_pull_enabled'])
      .where('id', '=', registryId)
      .executeTakeFirst();
  }

  async setRegistryFlags(registryId: number, flags: { admin_enabled?: number; anonymous_pull_enabled?: number }): Promise<void> {
    await this.db
      .updateTable('registries')
      .set({ ...flags, updated_at: now() })
      .where('id', '=', registryId)
      .execute();
  }

  anonymousRules(registryId: number) {
    return this.db
      .selectFrom('anonymous_pull_rules')
      .select(['repository', 'created_at'])
      .where('registry_id', '=', registryId)
      .orderBy('repository')
      .execute();
  }

  async addAnonymousRule(registryId: number, repository: string): Promise<void> {
    await this.db
      .insertInto('anonymous_pull_rules')
      .values({ registry_id: registryId, repository, created_at: now() })
      .onConflict((oc) => oc.columns(['registry_id', 'repository']).doNothing())
      .execute();
  }

  async removeAnonymousRule(registryId: number, repository: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('anonymous_pull_rules')
      .where('registry_id', '=', registryId)
      .where('repository', '=', repository)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ---------------------------------------------------------------- scope maps and tokens

  scopeMap(registryId: number, name: string) {
    return this.db
      .selectFrom('scope_maps')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  listScopeMaps(registryId: number) {
    return this.db.selectFrom('scope_maps').selectAll().where('registry_id', '=', registryId).orderBy('name_key').execute();
  }

  async createScopeMap(registryId: number, name: string, description: string, actions: string[]) {
    const ts = now();
    try {
      return await this.db
        .insertInto('scope_maps')
        .values({
          registry_id: registryId,
          name,
          name_key: name.toLowerCase(),
          description,
          actions: JSON.stringify(actions),
          created_at: ts,
          updated_at: ts,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  async updateScopeMap(id: number, patch: { description?: string; actions?: string[] }): Promise<void> {
    await this.db
      .updateTable('scope_maps')
      .set({
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.actions !== undefined ? { actions: JSON.stringify(patch.actions) } : {}),
        updated_at: now(),
      })
      .where('id', '=', id)
      .execute();
  }

  async deleteScopeMap(id: number): Promise<void> {
    await this.db.deleteFrom('scope_maps').where('id', '=', id).execute();
  }

  tokensUsingScopeMap(registryId: number, scopeMap: string) {
    return this.db
      .selectFrom('tokens')
      .select('name')
      .where('registry_id', '=', registryId)
      .where('scope_map', '=', scopeMap.toLowerCase())
      .execute();
  }

  token(registryId: number, name: string) {
    return this.db
      .selectFrom('tokens')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name_key', '=', name.toLowerCase())
      .executeTakeFirst();
  }

  tokenById(id: number) {
    return this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  listTokens(registryId: number) {
    return this.db.selectFrom('tokens').selectAll().where('registry_id', '=', registryId).orderBy('name_key').execute();
  }

  async createToken(registryId: number, name: string, scopeMap: string, status: string) {
    const ts = now();
    try {
      return await this.db
        .insertInto('tokens')
        .values({
          registry_id: registryId,
          name,
          name_key: name.toLowerCase(),
          scope_map: scopeMap.toLowerCase(),
          status,
          created_at: ts,
          updated_at: ts,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  async updateToken(id: number, patch: { scope_map?: string; status?: string }): Promise<void> {
    await this.db
      .updateTable('tokens')
      .set({ ...patch, ...(patch.scope_map ? { scope_map: patch.scope_map.toLowerCase() } : {}), updated_at: now() })
      .where('id', '=', id)
      .execute();
  }

  async deleteToken(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('secrets').where('owner_type', '=', 'token').where('owner_id', '=', id).execute();
      await trx.deleteFrom('tokens').where('id', '=', id).execute();
    });
  }

  // ---------------------------------------------------------------- role assignments

  /**
   * Stores the assignment unless the same one exists (a unique index on principal, role and scope
   * settles two identical requests racing): `created` tells which happened.
   */
  async addRoleAssignment(a: {
    principal_type: string;
    principal_id: number;
    role: string;
    registry_id: number | null;
    repository: string | null;
  }) {
    const inserted = await this.db
      .insertInto('role_assignments')
      .values({ id: randomUUID(), ...a, created_at: now() })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { ...inserted, created: true };
    const existing = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('principal_type', '=', a.principal_type)
      .where('principal_id', '=', a.principal_id)
      .where('role', '=', a.role)
      .where((eb) => (a.registry_id === null ? eb('registry_id', 'is', null) : eb('registry_id', '=', a.registry_id)))
      .where((eb) => (a.repository === null ? eb('repository', 'is', null) : eb('repository', '=', a.repository)))
      .executeTakeFirstOrThrow();
    return { ...existing, created: false };
  }

  private readonly assignmentsQuery = prepared((ex, principalType: string, principalId: number) =>
    ex.selectFrom('role_assignments').selectAll().where('principal_type', '=', principalType).where('principal_id', '=', principalId),
  );

  assignmentsOf(principalType: string, principalId: number) {
    return this.assignmentsQuery(this.db, principalType, principalId);
  }

  listRoleAssignments(filter: { registry_id?: number | null }) {
    let q = this.db.selectFrom('role_assignments').selectAll();
    if (filter.registry_id !== undefined)
      q = q.where((eb) => (filter.registry_id === null ? eb('registry_id', 'is', null) : eb('registry_id', '=', filter.registry_id!)));
    return q.orderBy('created_at').execute();
  }

  /** Owner assignments at deployment scope (the accounts that can always recover access). */
  deploymentOwners(ex: Kysely<Database> = this.db) {
    return ex
      .selectFrom('role_assignments')
      .selectAll()
      .where('role', '=', 'Owner')
      .where('registry_id', 'is', null)
      .where('repository', 'is', null)
      .execute();
  }

  /**
   * Runs `change` in one transaction unless it would leave no enabled Owner at "/": then throws
   * LastOwnerError and changes nothing. Check and change must be one step, or two requests that
   * each remove one of the last two Owners both see the other remaining. So every such change
   * first writes one row (the "owner_guard" setting): on PostgreSQL its row lock makes them run one
   * at a time on every node, and each reads the Owners only after the previous one committed; on
   * SQLite that write makes the transaction the database's single writer (and Kysely runs a
   * transaction alone on its one connection). A lock on one fixed row cannot deadlock, and unlike
   * SELECT ... FOR UPDATE it is written the same on both engines.
   */
  private keepingAnOwner<T>(loss: OwnerLoss, change: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('deployment_settings')
        .values({ key: 'owner_guard', value: now() })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
        .execute();
      const owners = await this.deploymentOwners(trx);
      const lost = owners.filter((a) =>
        'assignment' in loss ? a.id === loss.assignment : a.principal_type === loss.principal_type && a.principal_id === loss.principal_id,
      );
      if (
        lost.length > 0 &&
        !(await this.anyActiveOwner(
          trx,
          owners.filter((a) => !lost.includes(a)),
        ))
      )
        throw new LastOwnerError();
      return change(trx);
    });
  }

  /** Does one of these Owner assignments belong to an enabled user or an existing service principal? */
  private async anyActiveOwner(trx: Transaction<Database>, owners: { principal_type: string; principal_id: number }[]): Promise<boolean> {
    for (const a of owners) {
      if (
        a.principal_type === 'user' &&
        (await trx.selectFrom('users').select('enabled').where('id', '=', a.principal_id).executeTakeFirst())?.enabled
      )
        return true;
      if (
        a.principal_type === 'sp' &&
        (await trx.selectFrom('service_principals').select('id').where('id', '=', a.principal_id).executeTakeFirst())
      )
        return true;
    }
    return false;
  }

  roleAssignment(id: string) {
    return this.db.selectFrom('role_assignments').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** False when there is no such assignment; deleting the last Owner assignment at "/" throws LastOwnerError. */
  async deleteRoleAssignment(id: string): Promise<boolean> {
    return this.keepingAnOwner({ assignment: id }, async (trx) => {
      const r = await trx.deleteFrom('role_assignments').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  // ---------------------------------------------------------------- login events (audit)

  /** One sign-in or token issuance, stamped now. */
  async recordLogin(e: Omit<Insertable<LoginEventsTable>, 'id' | 'time'>): Promise<void> {
    await this.db
      .insertInto('login_events')
      .values({ ...e, time: now() })
      .execute();
  }

  /** Login events newest first, keyset-paged by id (`beforeId`); every filter is an exact match. */
  queryLogins(filter: {
    since?: string;
    /** Exclusive. */
    until?: string;
    registryId?: number;
    identity?: string;
    result?: string;
    /** Leaves out events whose user agent starts with this (case-sensitive on both databases, unlike LIKE). */
    excludeUserAgentPrefix?: string;
    limit: number;
    beforeId?: number;
  }) {
    let q = this.db.selectFrom('login_events').selectAll();
    if (filter.excludeUserAgentPrefix)
      q = q.where(
        sql<string>`substr(user_agent, 1, ${sql.lit(filter.excludeUserAgentPrefix.length)})`,
        '<>',
        filter.excludeUserAgentPrefix,
      );
    if (filter.since) q = q.where('time', '>=', filter.since);
    if (filter.until) q = q.where('time', '<', filter.until);
    if (filter.registryId !== undefined) q = q.where('registry_id', '=', filter.registryId);
    if (filter.identity !== undefined) q = q.where('identity', '=', filter.identity);
    if (filter.result) q = q.where('result', '=', filter.result);
    if (filter.beforeId !== undefined) q = q.where('id', '<', filter.beforeId);
    return q.orderBy('id', 'desc').limit(filter.limit).execute();
  }

  /** Repository events (the outbox) with their registry's name, newest first. */
  queryRepositoryEvents(filter: {
    since?: string;
    /** Exclusive. */
    until?: string;
    registryId?: number;
    identity?: string;
    operation?: string;
    limit: number;
    beforeId?: number;
  }) {
    let q = this.db
      .selectFrom('events')
      .innerJoin('registries', 'registries.id', 'events.registry_id')
      .select([
        'events.id',
        'events.action',
        'events.repository',
        'events.digest',
        'events.tag',
        'events.media_type',
        'events.size',
        'events.created_at',
        'events.request_id',
        'events.request_host',
        'events.request_method',
        'events.request_useragent',
        'events.identity',
        'events.caller_ip',
        'events.operation',
        'registries.name as registry',
      ]);
    if (filter.since) q = q.where('events.created_at', '>=', filter.since);
    if (filter.until) q = q.where('events.created_at', '<', filter.until);
    if (filter.registryId !== undefined) q = q.where('events.registry_id', '=', filter.registryId);
    if (filter.identity !== undefined) q = q.where('events.identity', '=', filter.identity);
    // The audit's operation: 'purge' and 'retention' deletes are recorded as action delete/untag with an operation.
    if (filter.operation === 'purge' || filter.operation === 'retention') q = q.where('events.operation', '=', filter.operation);
    // A push under quarantine is action quarantine with operation push; a quarantine state change has operation quarantine.
    else if (filter.operation === 'push' || filter.operation === 'quarantine')
      q = q.where((eb) => eb.fn.coalesce('events.operation', 'events.action'), '=', filter.operation);
    else if (filter.operation) q = q.where('events.action', '=', filter.operation).where('events.operation', 'is', null);
    if (filter.beforeId !== undefined) q = q.where('events.id', '<', filter.beforeId);
    return q.orderBy('events.id', 'desc').limit(filter.limit).execute();
  }
}
