import { randomUUID } from 'node:crypto';
import { newSecret, seal, secretHash, unseal } from '../../auth/crypto.js';
import {
  assertRepositoryPattern, findRole, formatScopeRule, parseScopeRule, ROLES, SCOPE_MAP_ACTIONS, SYSTEM_SCOPE_MAPS,
  type ManagementPower, type RoleDefinition,
} from '../../auth/model.js';
import { describePrincipal, TOKEN_USERNAME, type AuthService, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { SecretRow } from '../../meta/access-store.js';
import type { RegistryRow } from '../../meta/store.js';
import { parseSku, type RegistryService, type Sku } from '../content/registries.js';
import { TIERS } from '../policy/tiers.js';

// Identity management: users, service principals, role assignments, a registry's admin user,
// anonymous pull, scope maps, repository-scoped tokens and the login audit. Every write goes
// through here and checks the caller's management powers first (AuthService.requirePower), so
// the REST API and the CLI cannot disagree about who may do what.
//
// Secrets are shown once: when created or regenerated. The store keeps a SHA-256 of machine
// secrets (service-principal secrets, token and admin passwords) and a slow hash of user
// passwords; only admin passwords are also sealed, because ACR shows them again
// (`az acr credential show`).

const USER_NAME = /^[A-Za-z0-9._@-]{3,64}$/;
const ACR_NAME = /^[a-zA-Z0-9_-]{5,50}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;
const MAX_DESCRIPTION = 256;
const MAX_SCOPE_MAP_ACTIONS = 500;
const TENANT = 'berth';

/** ACR's fixed limits (FEATURES.md §1.1): tokens and scope maps per registry by tier. */
const TOKEN_LIMIT = Object.fromEntries(Object.entries(TIERS).map(([k, t]) => [k, t.tokens])) as Record<Sku, number>;
const SCOPE_MAP_LIMIT = Object.fromEntries(Object.entries(TIERS).map(([k, t]) => [k, t.scopeMaps])) as Record<Sku, number>;

export type TokenPasswordName = 'password1' | 'password2';
export type AdminPasswordName = 'password' | 'password2';

export interface UserView {
  name: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface PasswordCredentialView {
  keyId: string;
  hint: string;
  startDateTime: string;
  endDateTime: string | null;
}

export interface ServicePrincipalView {
  appId: string;
  displayName: string;
  createdDateTime: string;
  passwordCredentials: PasswordCredentialView[];
}

export interface RoleAssignmentView {
  id: string;
  name: string;
  principalName: string;
  principalType: 'User' | 'ServicePrincipal';
  roleDefinitionName: string;
  scope: string;
  createdOn: string;
}

export interface TokenPasswordView {
  name: string;
  creationTime: string;
  expiry: string | null;
  value?: string;
}

export interface TokenView {
  name: string;
  id: string;
  registry: string;
  creationDate: string;
  lastUpdated: string;
  status: 'enabled' | 'disabled';
  scopeMapName: string;
  scopeMapId: string;
  credentials: { username: string; passwords: TokenPasswordView[]; certificates: [] };
  provisioningState: 'Succeeded';
  type: 'tokens';
}

export interface ScopeMapView {
  name: string;
  id: string;
  registry: string;
  type: 'SystemDefined' | 'UserDefined';
  description: string;
  actions: string[];
  creationDate: string;
  provisioningState: 'Succeeded';
}

export interface AdminCredentialsView {
  username: string;
  passwords: { name: AdminPasswordName; value: string }[];
}

export interface AnonymousPullView {
  registry: string;
  /** Registry-wide switch (ACR's anonymousPullEnabled; Standard and Premium only). */
  anonymousPullEnabled: boolean;
  /** Repositories and "prefix/*" patterns open to anonymous pull on any tier (beyond ACR). */
  repositories: { repository: string; createdAt: string }[];
}

export interface LoginEventView {
  id: number;
  time: string;
  category: 'ContainerRegistryLoginEvents';
  registry: string | null;
  identity: string;
  identityType: string;
  jwtId: string | null;
  callerIpAddress: string;
  userAgent: string;
  operation: string;
  resultType: string;
  resultDescription: string;
  status: number;
  durationMs: number;
}

/** ACR's ContainerRegistryRepositoryEvents record (FEATURES.md §9.7), from the events outbox. */
export interface RepositoryEventView {
  id: number;
  time: string;
  category: 'ContainerRegistryRepositoryEvents';
  registry: string;
  operationName: string;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
  identity: string | null;
  callerIpAddress: string | null;
  userAgent: string | null;
  correlationId: string | null;
  loginServer: string | null;
  requestMethod: string | null;
  resultType: 'Succeeded';
}

export interface RepositoryEventQuery {
  registry?: string;
  since?: string;
  identity?: string;
  operation?: string;
  top?: number;
  before?: number;
}

export interface LoginQuery {
  registry?: string;
  since?: string;
  identity?: string;
  result?: string;
  top?: number;
  before?: number;
}

/** A parsed role-assignment scope. */
interface Scope {
  registry: RegistryRow | null;
  repository: string | null;
}

const invalid = (message: string) => new RegistryError('REQUEST_INVALID', message);
const unknown = (message: string) => new RegistryError('RESOURCE_UNKNOWN', message);
const conflict = (message: string) => new RegistryError('CONFLICT', message);

const IDENTITY_TYPES: Record<string, string> = { user: 'User', sp: 'ServicePrincipal', admin: 'AdminUser', token: 'Token', anonymous: 'Anonymous' };

/** "2h", "3d", "30m", "45s" or an ISO-8601 time, as an ISO-8601 UTC string. */
export function parseSince(raw: string, now = Date.now()): string {
  const rel = /^(\d{1,7})([smhd])$/.exec(raw.trim());
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(rel[1]) * unit).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(t)) throw invalid(`"since" must be an ISO-8601 time (2026-01-05T10:00:00Z) or a span such as 30m, 2h, 3d; got "${raw.slice(0, 60)}"`);
  return new Date(t).toISOString();
}

/** Expiry of a new secret: `expirationInDays` or an absolute `expiration`, or none (ACR: never). */
export function parseExpiry(o: { expirationInDays?: number; expiration?: string }, now = Date.now()): string | null {
  if (o.expirationInDays !== undefined && o.expiration !== undefined) throw invalid('give either expirationInDays or expiration, not both');
  if (o.expirationInDays !== undefined) {
    const d = o.expirationInDays;
    if (!Number.isInteger(d) || d < 1 || d > 36_500) throw invalid(`expirationInDays must be a whole number of days from 1 to 36500, got ${JSON.stringify(d)}`);
    return new Date(now + d * 86_400_000).toISOString();
  }
  if (o.expiration !== undefined) {
    const t = /^\d{4}-\d{2}-\d{2}/.test(o.expiration) ? Date.parse(o.expiration) : NaN;
    if (Number.isNaN(t)) throw invalid(`expiration must be an ISO-8601 date or time such as 2027-01-01T00:00:00Z, got "${String(o.expiration).slice(0, 60)}"`);
    if (t <= now) throw invalid(`expiration ${o.expiration} is in the past`);
    return new Date(t).toISOString();
  }
  return null;
}

function canonicalScope(reg: { name: string } | null, repository: string | null): string {
  if (!reg) return '/';
  return repository === null ? `/registries/${reg.name}` : `/registries/${reg.name}/repositories/${repository}`;
}

function assertUserName(name: unknown): string {
  if (typeof name !== 'string' || !USER_NAME.test(name)) {
    throw invalid(`a user name is 3-64 characters: letters, digits, ".", "_", "@" and "-"; got ${JSON.stringify(typeof name === 'string' ? name.slice(0, 80) : name)}`);
  }
  if (UUID.test(name) || name === TOKEN_USERNAME) throw invalid(`"${name}" looks like an app id: user names cannot be UUIDs (those name service principals)`);
  return name;
}

function assertPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD) throw invalid(`a password needs at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw invalid(`a password has at most ${MAX_PASSWORD} characters`);
  if (/[\u0000-\u001f\u007f]/.test(password)) throw invalid('a password cannot contain control characters');
  return password;
}

function assertAcrName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !ACR_NAME.test(name)) {
    throw invalid(`a ${what} name is 5-50 characters: letters, digits, "-" and "_"; got ${JSON.stringify(typeof name === 'string' ? name.slice(0, 80) : name)}`);
  }
  return name;
}

/** Validates and normalizes scope-map actions ("repositories/<repo>/<action>"), deduplicated, in order. */
export function normalizeActions(actions: unknown, what = 'actions'): string[] {
  if (!Array.isArray(actions)) throw invalid(`"${what}" must be an array of strings such as "repositories/hello/content/read"`);
  const out: string[] = [];
  for (const a of actions) {
    if (typeof a !== 'string') throw invalid(`"${what}" must be an array of strings`);
    const f = formatScopeRule(parseScopeRule(a));
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

export class IdentityService {
  constructor(
    private readonly auth: AuthService,
    private readonly registries: RegistryService,
  ) {}

  private get store() {
    return this.auth.store;
  }

  // ---------------------------------------------------------------- helpers

  private notAnonymous(p: Principal): void {
    if (p.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'authentication required');
  }

  /** A registry the caller may act on with `power`; unknown and forbidden look alike unless the caller sees the deployment. */
  async registry(p: Principal, name: string, power: ManagementPower, what: string): Promise<RegistryRow> {
    this.notAnonymous(p);
    const reg = typeof name === 'string' ? await this.registries.find(name) : undefined;
    if (!reg) {
      if ((await this.auth.powers(p, null)).has('read')) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${String(name).slice(0, 80)}" does not exist`);
      throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} registry "${String(name).slice(0, 80)}"`);
    }
    await this.auth.requirePower(p, reg.id, power, `${what} registry ${reg.name}`);
    return reg;
  }

  private async has(p: Principal, registryId: number | null, power: ManagementPower): Promise<boolean> {
    return (await this.auth.powers(p, registryId)).has(power);
  }

  /**
   * Refuses a change that would leave the deployment without an enabled Owner at deployment
   * scope: nobody could assign roles or manage users again.
   */
  private async assertOwnersRemain(without: { kind: 'user' | 'sp'; id: number } | { assignment: string }, action: string): Promise<void> {
    const owners = await this.store.deploymentOwners();
    const affected = owners.filter((a) => ('assignment' in without ? a.id === without.assignment : a.principal_type === without.kind && a.principal_id === without.id));
    if (affected.length === 0) return;
    for (const a of owners) {
      if (affected.includes(a)) continue;
      if (a.principal_type === 'user' && (await this.store.userById(a.principal_id))?.enabled) return;
      if (a.principal_type === 'sp' && (await this.store.spById(a.principal_id))) return;
    }
    throw conflict(`cannot ${action}: it is the last Owner at deployment scope ("/"); assign Owner at scope "/" to another user first`);
  }

  // ---------------------------------------------------------------- users

  private userView(u: { name: string; enabled: number; created_at: string; updated_at: string }): UserView {
    return { name: u.name, enabled: !!u.enabled, createdAt: u.created_at, updatedAt: u.updated_at };
  }

  private async user(name: string) {
    const u = typeof name === 'string' && name.length <= 64 ? await this.store.userByName(name) : undefined;
    if (!u) throw unknown(`user "${String(name).slice(0, 80)}" does not exist`);
    return u;
  }

  async createUser(p: Principal, input: { name?: unknown; password?: unknown }): Promise<UserView & { password?: string }> {
    this.notAnonymous(p);
    await this.auth.requirePower(p, null, 'manage_users', 'create users');
    const name = assertUserName(input.name);
    const generated = input.password === undefined ? newSecret() : undefined;
    const password = generated ?? assertPassword(input.password);
    const row = await this.store.createUser(name, await this.auth.hashPassword(password));
    if (!row) throw conflict(`user "${name}" already exists (user names are unique regardless of case)`);
    const u = (await this.store.userById(row.id))!;
    return { ...this.userView(u), ...(generated ? { password: generated } : {}) };
  }

  async listUsers(p: Principal): Promise<UserView[]> {
    this.notAnonymous(p);
    await this.auth.requirePower(p, null, 'read', 'list users');
    return (await this.store.listUsers()).map((u) => this.userView(u));
  }

  async showUser(p: Principal, name: string): Promise<UserView> {
    this.notAnonymous(p);
    const self = p.kind === 'user' && typeof name === 'string' && name.toLowerCase() === p.name.toLowerCase();
    if (!self) await this.auth.requirePower(p, null, 'read', 'show users');
    return this.userView(await this.user(name));
  }

  /** Sets a password (own password: anyone; others: manage_users) and/or enables or disables the user. */
  async updateUser(p: Principal, name: string, patch: { password?: unknown; enabled?: unknown }): Promise<UserView> {
    this.notAnonymous(p);
    if (patch.password === undefined && patch.enabled === undefined) throw invalid('nothing to update: give "password" and/or "enabled"');
    if (patch.enabled !== undefined && typeof patch.enabled !== 'boolean') throw invalid('"enabled" must be true or false');
    const self = p.kind === 'user' && typeof name === 'string' && name.toLowerCase() === p.name.toLowerCase();
    if (!(self && patch.enabled === undefined)) await this.auth.requirePower(p, null, 'manage_users', 'update users');
    const u = await this.user(name);
    const password = patch.password === undefined ? undefined : assertPassword(patch.password);
    if (patch.enabled === false && u.enabled) await this.assertOwnersRemain({ kind: 'user', id: u.id }, `disable user "${u.name}"`);
    await this.store.updateUser(u.id, {
      ...(password !== undefined ? { password_hash: await this.auth.hashPassword(password) } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
    });
    this.auth.forget();
    return this.userView((await this.store.userById(u.id))!);
  }

  async deleteUser(p: Principal, name: string): Promise<void> {
    this.notAnonymous(p);
    await this.auth.requirePower(p, null, 'manage_users', 'delete users');
    const u = await this.user(name);
    await this.assertOwnersRemain({ kind: 'user', id: u.id }, `delete user "${u.name}"`);
    await this.store.deleteUser(u.id);
    this.auth.forget();
  }

  // ---------------------------------------------------------------- service principals

  private async spView(sp: { id: number; app_id: string; display_name: string; created_at: string }): Promise<ServicePrincipalView> {
    const secrets = await this.store.secretsOf('sp', sp.id);
    return {
      appId: sp.app_id, displayName: sp.display_name, createdDateTime: sp.created_at,
      passwordCredentials: secrets.map((s) => ({ keyId: s.name, hint: s.hint, startDateTime: s.created_at, endDateTime: s.expires_at })),
    };
  }

  private async sp(appId: string) {
    const sp = typeof appId === 'string' && UUID.test(appId) ? await this.store.spByAppId(appId) : undefined;
    if (!sp) throw unknown(`no service principal with app id "${String(appId).slice(0, 80)}"`);
    return sp;
  }

  /**
   * May the caller manage (or, with 'read', see) this service principal? Deployment-wide
   * manage_users (read) always; otherwise when every role the SP holds is inside registries
   * where the caller can assign roles (for 'read': at least one registry the caller can read).
   */
  private async mayManageSp(p: Principal, spId: number, power: 'assign_roles' | 'read'): Promise<boolean> {
    if (await this.has(p, null, power === 'read' ? 'read' : 'manage_users')) return true;
    const assignments = await this.store.assignmentsOf('sp', spId);
    if (assignments.length === 0) return false;
    if (power === 'read') {
      for (const a of assignments) if (a.registry_id !== null && (await this.has(p, a.registry_id, 'read'))) return true;
      return false;
    }
    for (const a of assignments) if (a.registry_id === null || !(await this.has(p, a.registry_id, 'assign_roles'))) return false;
    return true;
  }

  private async requireSp(p: Principal, appId: string, power: 'assign_roles' | 'read', what: string) {
    this.notAnonymous(p);
    const sp = typeof appId === 'string' && UUID.test(appId) ? await this.store.spByAppId(appId) : undefined;
    if (!sp || !(await this.mayManageSp(p, sp.id, power))) {
      if (!sp && (await this.has(p, null, 'read'))) throw unknown(`no service principal with app id "${String(appId).slice(0, 80)}"`);
      if (!sp) throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} service principal "${String(appId).slice(0, 80)}"`);
      throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} service principal ${sp.app_id}: that needs manage_users (Owner at "/") or Owner of every registry it has a role in`);
    }
    return sp;
  }

  private spSecretExpiry(years: unknown): string {
    const y = years === undefined ? 1 : years;
    if (typeof y !== 'number' || !Number.isInteger(y) || y < 1 || y > 10) throw invalid(`"years" must be a whole number from 1 to 10, got ${JSON.stringify(years)}`);
    const d = new Date();
    d.setUTCFullYear(d.getUTCFullYear() + y);
    return d.toISOString();
  }

  private async addSpSecret(spId: number, years: unknown): Promise<string> {
    const expires = this.spSecretExpiry(years);
    const password = newSecret();
    await this.store.putSecret({ owner_type: 'sp', owner_id: spId, name: randomUUID(), hash: secretHash(password), sealed: null, hint: password.slice(-4), expires_at: expires });
    return password;
  }

  /** Like `az ad sp create-for-rbac --name N --role R --scopes S`: the SP, one secret (shown once), and the role at the scope. */
  async createServicePrincipal(p: Principal, input: { displayName?: unknown; role?: unknown; scopes?: unknown; years?: unknown }): Promise<{ appId: string; displayName: string; password: string; tenant: string; roleAssignment?: RoleAssignmentView }> {
    this.notAnonymous(p);
    const displayName = input.displayName;
    if (typeof displayName !== 'string' || displayName.trim().length === 0 || displayName.length > 120 || /[\u0000-\u001f\u007f]/.test(displayName)) {
      throw invalid('a service principal needs a "displayName" of 1-120 printable characters');
    }
    this.spSecretExpiry(input.years);
    let role: RoleDefinition | undefined;
    let scope: Scope | undefined;
    if (input.role !== undefined || input.scopes !== undefined) {
      if (typeof input.role !== 'string' || typeof input.scopes !== 'string') throw invalid('give both "role" and "scopes" (strings), or neither');
      role = findRole(input.role);
      scope = await this.parseScope(p, input.scopes, 'assign_roles', 'assign roles in');
      this.assertRoleFitsScope(role, scope);
      await this.auth.requirePower(p, scope.registry?.id ?? null, 'assign_roles', `assign roles at ${canonicalScope(scope.registry, scope.repository)}`);
    } else {
      await this.auth.requirePower(p, null, 'manage_users', 'create service principals without a role');
    }
    const sp = await this.store.createServicePrincipal(displayName);
    const password = await this.addSpSecret(sp.id, input.years);
    let assignment: RoleAssignmentView | undefined;
    if (role && scope) {
      const a = await this.store.addRoleAssignment({ principal_type: 'sp', principal_id: sp.id, role: role.name, registry_id: scope.registry?.id ?? null, repository: scope.repository });
      assignment = this.assignmentView(a, sp.app_id, scope.registry?.name);
    }
    return { appId: sp.app_id, displayName: sp.display_name, password, tenant: TENANT, ...(assignment ? { roleAssignment: assignment } : {}) };
  }

  /** `az ad sp credential reset --id APPID [--append] [--years N]`: a new secret, shown once; without append the old ones stop working. */
  async resetServicePrincipalCredential(p: Principal, appId: string, input: { append?: unknown; years?: unknown }): Promise<{ appId: string; password: string; tenant: string }> {
    if (input.append !== undefined && typeof input.append !== 'boolean') throw invalid('"append" must be true or false');
    this.spSecretExpiry(input.years);
    const sp = await this.requireSp(p, appId, 'assign_roles', 'reset the credentials of');
    if (!input.append) await this.store.deleteSecretsOf('sp', sp.id);
    const password = await this.addSpSecret(sp.id, input.years);
    this.auth.forget();
    return { appId: sp.app_id, password, tenant: TENANT };
  }

  async listServicePrincipals(p: Principal): Promise<ServicePrincipalView[]> {
    this.notAnonymous(p);
    const out: ServicePrincipalView[] = [];
    for (const sp of await this.store.listServicePrincipals()) if (await this.mayManageSp(p, sp.id, 'read')) out.push(await this.spView(sp));
    if (out.length === 0 && !(await this.canSeeAnything(p))) throw new RegistryError('DENIED', `${describePrincipal(p)} may not list service principals: that needs Reader or above`);
    return out;
  }

  async showServicePrincipal(p: Principal, appId: string): Promise<ServicePrincipalView> {
    return this.spView(await this.requireSp(p, appId, 'read', 'show'));
  }

  async deleteServicePrincipal(p: Principal, appId: string): Promise<void> {
    const sp = await this.requireSp(p, appId, 'assign_roles', 'delete');
    await this.assertOwnersRemain({ kind: 'sp', id: sp.id }, `delete service principal ${sp.app_id}`);
    await this.store.deleteServicePrincipal(sp.id);
    this.auth.forget();
  }

  /** Does the caller hold any management role anywhere (deployment or some registry)? */
  private async canSeeAnything(p: Principal): Promise<boolean> {
    if (p.kind !== 'user' && p.kind !== 'sp') return false;
    return (await this.store.assignmentsOf(p.kind, p.id)).some((a) => a.repository === null && (ROLES.find((r) => r.name === a.role)?.management.length ?? 0) > 0);
  }

  // ---------------------------------------------------------------- role assignments

  /**
   * Parses a scope: "/" (the deployment), "/registries/<name>", "/registries/<name>/repositories/<repo or prefix/*>",
   * or the short forms "<name>" and "<name>/<repo or prefix/*>" (as `--scopes` of create-for-rbac).
   */
  private async parseScope(p: Principal, raw: unknown, power: ManagementPower, what: string): Promise<Scope> {
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 400) throw invalid('"scope" must be "/", "/registries/<registry>" or "/registries/<registry>/repositories/<repository or prefix/*>"');
    if (raw === '/') return { registry: null, repository: null };
    let registryName: string;
    let repository: string | null = null;
    const long = /^\/registries\/([^/]+)(?:\/repositories\/(.+))?$/.exec(raw.replace(/\/+$/, ''));
    if (long) {
      registryName = long[1]!;
      repository = long[2] ?? null;
    } else if (!raw.startsWith('/')) {
      const slash = raw.indexOf('/');
      registryName = slash < 0 ? raw : raw.slice(0, slash);
      repository = slash < 0 ? null : raw.slice(slash + 1);
    } else {
      throw invalid(`scope "${raw.slice(0, 120)}" is not "/", "/registries/<registry>" or "/registries/<registry>/repositories/<repository or prefix/*>"`);
    }
    if (repository !== null) {
      if (repository === '*' || repository === '') repository = null;
      else assertRepositoryPattern(repository);
    }
    const registry = await this.registry(p, registryName, power === 'assign_roles' ? 'read' : power, what);
    return { registry, repository };
  }

  private assertRoleFitsScope(role: RoleDefinition, scope: Scope): void {
    if (scope.repository === null) return;
    if (role.registryWideOnly) throw invalid(`${role.name} applies to a whole registry or the deployment; it cannot be scoped to repositories`);
    if (role.management.length > 0) {
      throw invalid(`${role.name} grants management powers, which apply only to a whole registry or the deployment; for repository access use AcrPull, AcrPush, AcrDelete or a Container Registry Repository role`);
    }
  }

  private assignmentView(a: { id: string; principal_type: string; role: string; repository: string | null; created_at: string }, principalName: string, registryName: string | undefined): RoleAssignmentView {
    return {
      id: a.id, name: a.id, principalName,
      principalType: a.principal_type === 'sp' ? 'ServicePrincipal' : 'User',
      roleDefinitionName: a.role,
      scope: canonicalScope(registryName === undefined ? null : { name: registryName }, a.repository),
      createdOn: a.created_at,
    };
  }

  private async resolveAssignee(raw: unknown): Promise<{ type: 'user' | 'sp'; id: number; name: string }> {
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > 64) throw invalid('"assignee" must be a user name or a service principal app id');
    if (UUID.test(raw)) {
      const sp = await this.store.spByAppId(raw);
      if (!sp) throw unknown(`no service principal with app id "${raw}"`);
      return { type: 'sp', id: sp.id, name: sp.app_id };
    }
    const u = await this.store.userByName(raw);
    if (!u) throw unknown(`no user "${raw}" (give a user name or a service principal app id)`);
    return { type: 'user', id: u.id, name: u.name };
  }

  async createRoleAssignment(p: Principal, input: { assignee?: unknown; role?: unknown; scope?: unknown }): Promise<{ created: boolean; assignment: RoleAssignmentView }> {
    this.notAnonymous(p);
    if (typeof input.role !== 'string') throw invalid('"role" must be a built-in role name, e.g. AcrPull');
    const role = findRole(input.role);
    const scope = await this.parseScope(p, input.scope ?? '/', 'assign_roles', 'assign roles in');
    await this.auth.requirePower(p, scope.registry?.id ?? null, 'assign_roles', `assign roles at ${canonicalScope(scope.registry, scope.repository)}`);
    this.assertRoleFitsScope(role, scope);
    const who = await this.resolveAssignee(input.assignee);
    const before = (await this.store.assignmentsOf(who.type, who.id)).length;
    const a = await this.store.addRoleAssignment({ principal_type: who.type, principal_id: who.id, role: role.name, registry_id: scope.registry?.id ?? null, repository: scope.repository });
    const created = (await this.store.assignmentsOf(who.type, who.id)).length > before;
    this.auth.forget();
    return { created, assignment: this.assignmentView(a, who.name, scope.registry?.name) };
  }

  /** Assignments the caller may see: all with Reader at "/", else those in registries it can read, and always its own. */
  async listRoleAssignments(p: Principal, filter: { assignee?: string; scope?: string; role?: string } = {}): Promise<RoleAssignmentView[]> {
    this.notAnonymous(p);
    if (p.kind !== 'user' && p.kind !== 'sp') throw new RegistryError('DENIED', `${describePrincipal(p)} (${p.kind}) may not list role assignments: only users and service principals hold roles`);
    const deploymentRead = await this.has(p, null, 'read');
    const role = filter.role !== undefined ? findRole(filter.role).name : undefined;
    let scopeKey: string | undefined;
    if (filter.scope !== undefined) {
      const s = await this.parseScope(p, filter.scope, 'read', 'list role assignments of');
      scopeKey = canonicalScope(s.registry, s.repository);
    }
    const users = new Map((await this.store.listUsers()).map((u) => [u.id, u.name]));
    const sps = new Map((await this.store.listServicePrincipals()).map((s) => [s.id, s.app_id]));
    const regs = new Map((await this.registries.list()).map((r) => [r.id, r.name]));
    const readable = new Map<number, boolean>();
    const out: RoleAssignmentView[] = [];
    for (const a of await this.store.listRoleAssignments({})) {
      const own = (p.kind === 'user' || p.kind === 'sp') && a.principal_type === p.kind && a.principal_id === p.id;
      if (!deploymentRead && !own) {
        if (a.registry_id === null) continue;
        if (!readable.has(a.registry_id)) readable.set(a.registry_id, await this.has(p, a.registry_id, 'read'));
        if (!readable.get(a.registry_id)) continue;
      }
      const name = a.principal_type === 'sp' ? sps.get(a.principal_id) : users.get(a.principal_id);
      if (name === undefined) continue;
      const regName = a.registry_id === null ? undefined : regs.get(a.registry_id);
      if (a.registry_id !== null && regName === undefined) continue;
      const v = this.assignmentView(a, name, regName);
      if (filter.assignee !== undefined && v.principalName.toLowerCase() !== filter.assignee.toLowerCase()) continue;
      if (role !== undefined && v.roleDefinitionName !== role) continue;
      if (scopeKey !== undefined && v.scope.toLowerCase() !== scopeKey.toLowerCase()) continue;
      out.push(v);
    }
    return out;
  }

  /** Deletes assignments by id (the uuid, or any path ending in it). Returns what was deleted. */
  async deleteRoleAssignments(p: Principal, ids: unknown): Promise<RoleAssignmentView[]> {
    this.notAnonymous(p);
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 100 || ids.some((i) => typeof i !== 'string')) throw invalid('"ids" must be a list of 1-100 role assignment ids');
    const views: RoleAssignmentView[] = [];
    const found = [];
    for (const raw of ids as string[]) {
      const id = raw.slice(raw.lastIndexOf('/') + 1);
      const a = UUID.test(id) ? await this.store.roleAssignment(id.toLowerCase()) : undefined;
      const scopeReg = a?.registry_id ?? null;
      if (!a) {
        if (await this.has(p, null, 'read')) throw unknown(`no role assignment "${raw.slice(0, 120)}"`);
        throw new RegistryError('DENIED', `${describePrincipal(p)} may not delete role assignment "${raw.slice(0, 120)}"`);
      }
      await this.auth.requirePower(p, scopeReg, 'assign_roles', 'delete role assignments here');
      found.push(a);
    }
    for (const a of found) {
      await this.assertOwnersRemain({ assignment: a.id }, `delete the Owner assignment ${a.id}`);
      const name = a.principal_type === 'sp' ? (await this.store.spById(a.principal_id))?.app_id : (await this.store.userById(a.principal_id))?.name;
      const reg = a.registry_id === null ? undefined : (await this.store.registryAuth(a.registry_id))?.name;
      if (await this.store.deleteRoleAssignment(a.id)) views.push(this.assignmentView(a, name ?? '', reg));
    }
    this.auth.forget();
    return views;
  }

  // ---------------------------------------------------------------- registry settings: admin user, anonymous pull

  /** After a registry is deleted: its tokens, scope maps and role assignments went with it (foreign keys); drop their passwords too. */
  async registryDeleted(): Promise<void> {
    await this.store.deleteOrphanSecrets();
    this.auth.forget();
  }

  /**
   * `az acr update`: sku, adminUserEnabled, anonymousPullEnabled, validated together before any
   * change. Anonymous pull is a Standard and Premium feature (ACR); enabling the admin user
   * creates its two passwords when missing.
   */
  async updateRegistry(p: Principal, name: string, patch: { sku?: unknown; adminUserEnabled?: unknown; anonymousPullEnabled?: unknown }): Promise<RegistryRow> {
    const reg = await this.registry(p, name, 'write', 'update');
    const sku = patch.sku === undefined ? undefined : parseSku(patch.sku);
    for (const k of ['adminUserEnabled', 'anonymousPullEnabled'] as const) {
      if (patch[k] !== undefined && typeof patch[k] !== 'boolean') throw invalid(`"${k}" must be true or false`);
    }
    const admin = patch.adminUserEnabled as boolean | undefined;
    const anon = patch.anonymousPullEnabled as boolean | undefined;
    const finalSku = sku ?? (reg.sku as Sku);
    const finalAnon = anon ?? !!reg.anonymous_pull_enabled;
    if (finalAnon && finalSku === 'Basic') {
      if (anon) throw invalid(`anonymous pull access is available on the Standard and Premium tiers; registry ${reg.name} is ${finalSku}: upgrade with --sku Standard, or open single repositories with berth repository update --anonymous-pull-enabled true`);
      throw invalid(`registry ${reg.name} has anonymous pull enabled, which the Basic tier does not offer: disable it first (--anonymous-pull-enabled false)`);
    }
    if (sku !== undefined && sku !== reg.sku) await this.registries.update(reg.name, { sku });
    const flags: { admin_enabled?: number; anonymous_pull_enabled?: number } = {};
    if (admin !== undefined) flags.admin_enabled = admin ? 1 : 0;
    if (anon !== undefined) flags.anonymous_pull_enabled = anon ? 1 : 0;
    if (admin) await this.ensureAdminPasswords(reg.id);
    if (Object.keys(flags).length) await this.store.setRegistryFlags(reg.id, flags);
    if (admin === false || anon === false) this.auth.forget();
    return this.registries.get(reg.name);
  }

  private async putAdminPassword(registryId: number, name: AdminPasswordName): Promise<void> {
    const value = newSecret();
    await this.store.putSecret({ owner_type: 'admin', owner_id: registryId, name, hash: secretHash(value), sealed: seal(value, await this.store.sealKey()), hint: value.slice(-4), expires_at: null });
  }

  private async ensureAdminPasswords(registryId: number): Promise<void> {
    const have = new Set((await this.store.secretsOf('admin', registryId)).map((s) => s.name));
    for (const n of ['password', 'password2'] as const) if (!have.has(n)) await this.putAdminPassword(registryId, n);
  }

  /** `az acr credential show`: needs Contributor (ACR's listCredentials is not a Reader action). */
  async showAdminCredentials(p: Principal, name: string): Promise<AdminCredentialsView> {
    const reg = await this.registry(p, name, 'write', 'show the admin credentials of');
    return this.adminCredentials(reg);
  }

  private async adminCredentials(reg: RegistryRow): Promise<AdminCredentialsView> {
    if (!reg.admin_enabled) throw invalid(`the admin user of registry ${reg.name} is disabled; enable it with: berth update -n ${reg.name} --admin-enabled true`);
    const key = await this.store.sealKey();
    const secrets = await this.store.secretsOf('admin', reg.id);
    const passwords: AdminCredentialsView['passwords'] = [];
    for (const n of ['password', 'password2'] as const) {
      const s = secrets.find((x) => x.name === n);
      if (s?.sealed) passwords.push({ name: n, value: unseal(s.sealed, key) });
    }
    return { username: reg.name, passwords };
  }

  /** `az acr credential renew --password-name password|password2`: the old value stops working at once. */
  async renewAdminCredential(p: Principal, name: string, passwordName: unknown): Promise<AdminCredentialsView> {
    const reg = await this.registry(p, name, 'write', 'renew the admin credentials of');
    if (passwordName !== 'password' && passwordName !== 'password2') throw invalid('"name" must be "password" or "password2"');
    if (!reg.admin_enabled) throw invalid(`the admin user of registry ${reg.name} is disabled; enable it with: berth update -n ${reg.name} --admin-enabled true`);
    await this.putAdminPassword(reg.id, passwordName);
    this.auth.forget();
    return this.adminCredentials(reg);
  }

  async anonymousPull(p: Principal, name: string): Promise<AnonymousPullView> {
    const reg = await this.registry(p, name, 'read', 'read');
    return this.anonymousView(reg);
  }

  private async anonymousView(reg: RegistryRow): Promise<AnonymousPullView> {
    const rules = await this.store.anonymousRules(reg.id);
    return { registry: reg.name, anonymousPullEnabled: !!reg.anonymous_pull_enabled, repositories: rules.map((r) => ({ repository: r.repository, createdAt: r.created_at })) };
  }

  /** Opens (or closes) one repository or "prefix/*" to anonymous pull: beyond ACR, on every tier. */
  async setRepositoryAnonymousPull(p: Principal, name: string, repository: unknown, enabled: boolean): Promise<AnonymousPullView> {
    const reg = await this.registry(p, name, 'write', 'change anonymous pull of');
    if (typeof repository !== 'string' || repository.length === 0) throw invalid('name a repository or a "prefix/*" pattern');
    if (repository === '*') throw invalid('to open the whole registry use --anonymous-pull-enabled on the registry (berth update, Standard and Premium); per-repository rules name a repository or "prefix/*"');
    assertRepositoryPattern(repository);
    if (enabled) await this.store.addAnonymousRule(reg.id, repository);
    else await this.store.removeAnonymousRule(reg.id, repository);
    if (!enabled) this.auth.forget();
    return this.anonymousView(reg);
  }

  // ---------------------------------------------------------------- scope maps

  private systemScopeMapView(reg: RegistryRow, name: string): ScopeMapView {
    const s = SYSTEM_SCOPE_MAPS[name]!;
    return {
      name, id: `/registries/${reg.name}/scopeMaps/${name}`, registry: reg.name, type: 'SystemDefined', description: s.description,
      actions: s.actions.map((action) => formatScopeRule({ repository: '*', action })), creationDate: reg.created_at, provisioningState: 'Succeeded',
    };
  }

  private scopeMapView(reg: RegistryRow, m: { name: string; description: string; actions: string; created_at: string }): ScopeMapView {
    return {
      name: m.name, id: `/registries/${reg.name}/scopeMaps/${m.name}`, registry: reg.name, type: 'UserDefined', description: m.description,
      actions: JSON.parse(m.actions) as string[], creationDate: m.created_at, provisioningState: 'Succeeded',
    };
  }

  private isSystemScopeMap(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(SYSTEM_SCOPE_MAPS, name.toLowerCase());
  }

  async listScopeMaps(p: Principal, registry: string): Promise<ScopeMapView[]> {
    const reg = await this.registry(p, registry, 'read', 'read');
    return [
      ...Object.keys(SYSTEM_SCOPE_MAPS).sort().map((n) => this.systemScopeMapView(reg, n)),
      ...(await this.store.listScopeMaps(reg.id)).map((m) => this.scopeMapView(reg, m)),
    ];
  }

  async showScopeMap(p: Principal, registry: string, name: string): Promise<ScopeMapView> {
    const reg = await this.registry(p, registry, 'read', 'read');
    if (typeof name === 'string' && this.isSystemScopeMap(name)) return this.systemScopeMapView(reg, name.toLowerCase());
    return this.scopeMapView(reg, await this.userScopeMap(reg, name));
  }

  private async userScopeMap(reg: RegistryRow, name: string) {
    const m = typeof name === 'string' && name.length <= 64 ? await this.store.scopeMap(reg.id, name) : undefined;
    if (!m) throw unknown(`registry ${reg.name} has no scope map "${String(name).slice(0, 80)}"`);
    return m;
  }

  private checkDescription(d: unknown): string | undefined {
    if (d === undefined) return undefined;
    if (typeof d !== 'string' || d.length > MAX_DESCRIPTION || /[\u0000-\u001f\u007f]/.test(d)) throw invalid(`"description" must be a string of at most ${MAX_DESCRIPTION} printable characters`);
    return d;
  }

  private checkActionCount(actions: string[]): void {
    if (actions.length === 0) throw invalid(`a scope map needs at least one action, e.g. "repositories/hello/content/read" (actions: ${SCOPE_MAP_ACTIONS.join(', ')})`);
    if (actions.length > MAX_SCOPE_MAP_ACTIONS) throw invalid(`a scope map has at most ${MAX_SCOPE_MAP_ACTIONS} actions, got ${actions.length}`);
  }

  private async createScopeMapRow(reg: RegistryRow, name: string, description: string, actions: string[]) {
    const sku = reg.sku as Sku;
    if ((await this.store.listScopeMaps(reg.id)).length >= SCOPE_MAP_LIMIT[sku]) {
      throw invalid(`registry ${reg.name} already has ${SCOPE_MAP_LIMIT[sku]} scope maps, the ${sku} tier's limit`);
    }
    const row = await this.store.createScopeMap(reg.id, name, description, actions);
    if (!row) throw conflict(`registry ${reg.name} already has a scope map "${name}" (names are unique regardless of case)`);
    return row;
  }

  async createScopeMap(p: Principal, registry: string, input: { name?: unknown; description?: unknown; actions?: unknown }): Promise<ScopeMapView> {
    const reg = await this.registry(p, registry, 'write', 'create scope maps in');
    const name = assertAcrName(input.name, 'scope map');
    if (name.startsWith('_')) throw invalid(`scope map names starting with "_" are reserved for the system scope maps (${Object.keys(SYSTEM_SCOPE_MAPS).join(', ')})`);
    const actions = normalizeActions(input.actions);
    this.checkActionCount(actions);
    const row = await this.createScopeMapRow(reg, name, this.checkDescription(input.description) ?? '', actions);
    return this.scopeMapView(reg, row);
  }

  /** Replaces the actions, or adds and removes some; a system scope map cannot change. */
  async updateScopeMap(p: Principal, registry: string, name: string, input: { description?: unknown; actions?: unknown; addActions?: unknown; removeActions?: unknown }): Promise<ScopeMapView> {
    const reg = await this.registry(p, registry, 'write', 'update scope maps in');
    if (typeof name === 'string' && this.isSystemScopeMap(name)) throw invalid(`${name.toLowerCase()} is a system scope map and cannot be changed; create your own with berth scope-map create`);
    const m = await this.userScopeMap(reg, name);
    const description = this.checkDescription(input.description);
    if (input.actions !== undefined && (input.addActions !== undefined || input.removeActions !== undefined)) throw invalid('give "actions" (replace all) or "addActions"/"removeActions", not both');
    let actions: string[] | undefined;
    if (input.actions !== undefined) actions = normalizeActions(input.actions);
    if (input.addActions !== undefined || input.removeActions !== undefined) {
      actions = JSON.parse(m.actions) as string[];
      const remove = input.removeActions === undefined ? [] : normalizeActions(input.removeActions, 'removeActions');
      const missing = remove.filter((a) => !actions!.includes(a));
      if (missing.length) throw invalid(`scope map ${m.name} does not have ${missing.join(', ')}`);
      actions = actions.filter((a) => !remove.includes(a));
      for (const a of input.addActions === undefined ? [] : normalizeActions(input.addActions, 'addActions')) if (!actions.includes(a)) actions.push(a);
    }
    if (actions === undefined && description === undefined) throw invalid('nothing to update: give "description", "actions", "addActions" or "removeActions"');
    if (actions !== undefined) this.checkActionCount(actions);
    await this.store.updateScopeMap(m.id, { description, actions });
    this.auth.forget();
    return this.scopeMapView(reg, (await this.store.scopeMap(reg.id, m.name))!);
  }

  async deleteScopeMap(p: Principal, registry: string, name: string): Promise<void> {
    const reg = await this.registry(p, registry, 'write', 'delete scope maps in');
    if (typeof name === 'string' && this.isSystemScopeMap(name)) throw invalid(`${name.toLowerCase()} is a system scope map and cannot be deleted`);
    const m = await this.userScopeMap(reg, name);
    const users = await this.store.tokensUsingScopeMap(reg.id, m.name);
    if (users.length) {
      throw conflict(`scope map ${m.name} is used by token${users.length > 1 ? 's' : ''} ${users.map((t) => t.name).join(', ')}; delete ${users.length > 1 ? 'them' : 'it'} or give ${users.length > 1 ? 'them' : 'it'} another scope map first`);
    }
    await this.store.deleteScopeMap(m.id);
  }

  // ---------------------------------------------------------------- tokens

  private async scopeMapDisplayName(reg: RegistryRow, key: string): Promise<string> {
    if (this.isSystemScopeMap(key)) return key;
    return (await this.store.scopeMap(reg.id, key))?.name ?? key;
  }

  private passwordsView(secrets: SecretRow[]): TokenPasswordView[] {
    return secrets.filter((s) => s.name === 'password1' || s.name === 'password2')
      .map((s) => ({ name: s.name, creationTime: s.created_at, expiry: s.expires_at }));
  }

  private async tokenView(reg: RegistryRow, t: { id: number; name: string; scope_map: string; status: string; created_at: string; updated_at: string }, fresh: TokenPasswordView[] = []): Promise<TokenView> {
    const scopeMapName = await this.scopeMapDisplayName(reg, t.scope_map);
    const stored = this.passwordsView(await this.store.secretsOf('token', t.id));
    const passwords = stored.map((s) => fresh.find((f) => f.name === s.name) ?? s);
    return {
      name: t.name, id: `/registries/${reg.name}/tokens/${t.name}`, registry: reg.name, creationDate: t.created_at, lastUpdated: t.updated_at,
      status: t.status === 'disabled' ? 'disabled' : 'enabled',
      scopeMapName, scopeMapId: `/registries/${reg.name}/scopeMaps/${scopeMapName}`,
      credentials: { username: t.name, passwords, certificates: [] },
      provisioningState: 'Succeeded', type: 'tokens',
    };
  }

  private async token(reg: RegistryRow, name: string) {
    const t = typeof name === 'string' && name.length <= 64 ? await this.store.token(reg.id, name) : undefined;
    if (!t) throw unknown(`registry ${reg.name} has no token "${String(name).slice(0, 80)}"`);
    return t;
  }

  private parseStatus(s: unknown): 'enabled' | 'disabled' {
    if (s !== 'enabled' && s !== 'disabled') throw invalid('"status" must be "enabled" or "disabled"');
    return s;
  }

  /** A scope map by name (system or user-defined) that exists in this registry; returns the stored key. */
  private async scopeMapRef(reg: RegistryRow, name: unknown): Promise<string> {
    if (typeof name !== 'string' || name.length === 0) throw invalid('"scopeMap" must be a scope map name');
    if (this.isSystemScopeMap(name)) return name.toLowerCase();
    return (await this.userScopeMap(reg, name)).name;
  }

  private async generatePasswords(tokenId: number, names: TokenPasswordName[], expiry: string | null): Promise<TokenPasswordView[]> {
    const out: TokenPasswordView[] = [];
    for (const name of names) {
      const value = newSecret();
      const row = await this.store.putSecret({ owner_type: 'token', owner_id: tokenId, name, hash: secretHash(value), sealed: null, hint: value.slice(-4), expires_at: expiry });
      out.push({ name, creationTime: row.created_at, expiry, value });
    }
    return out;
  }

  /**
   * `az acr token create`: with an existing scope map, or with actions (then a scope map
   * "<token>-scope-map" is created). Both passwords are generated unless noPasswords, and shown
   * only in this response.
   */
  async createToken(p: Principal, registry: string, input: { name?: unknown; scopeMap?: unknown; actions?: unknown; status?: unknown; expirationInDays?: unknown; expiration?: unknown; noPasswords?: unknown }): Promise<TokenView> {
    const reg = await this.registry(p, registry, 'write', 'create tokens in');
    const name = assertAcrName(input.name, 'token');
    const status = input.status === undefined ? 'enabled' : this.parseStatus(input.status);
    if (input.noPasswords !== undefined && typeof input.noPasswords !== 'boolean') throw invalid('"noPasswords" must be true or false');
    if (input.expirationInDays !== undefined && typeof input.expirationInDays !== 'number') throw invalid('"expirationInDays" must be a number');
    if (input.expiration !== undefined && typeof input.expiration !== 'string') throw invalid('"expiration" must be an ISO-8601 date or time');
    const expiry = parseExpiry({ expirationInDays: input.expirationInDays as number | undefined, expiration: input.expiration as string | undefined });
    if ((input.scopeMap === undefined) === (input.actions === undefined)) throw invalid('give either "scopeMap" (an existing scope map) or "actions" (a new scope map is created), not both');
    if (await this.store.token(reg.id, name)) throw conflict(`registry ${reg.name} already has a token "${name}" (names are unique regardless of case)`);
    const sku = reg.sku as Sku;
    if ((await this.store.listTokens(reg.id)).length >= TOKEN_LIMIT[sku]) throw invalid(`registry ${reg.name} already has ${TOKEN_LIMIT[sku]} tokens, the ${sku} tier's limit`);
    let scopeMap: string;
    let createdMap: number | undefined;
    if (input.actions !== undefined) {
      const actions = normalizeActions(input.actions);
      this.checkActionCount(actions);
      const row = await this.createScopeMapRow(reg, `${name}-scope-map`, `Scope map for token ${name}`, actions);
      scopeMap = row.name;
      createdMap = row.id;
    } else {
      scopeMap = await this.scopeMapRef(reg, input.scopeMap);
    }
    const t = await this.store.createToken(reg.id, name, scopeMap, status);
    if (!t) {
      if (createdMap !== undefined) await this.store.deleteScopeMap(createdMap);
      throw conflict(`registry ${reg.name} already has a token "${name}" (names are unique regardless of case)`);
    }
    const fresh = input.noPasswords ? [] : await this.generatePasswords(t.id, ['password1', 'password2'], expiry);
    return this.tokenView(reg, t, fresh);
  }

  async listTokens(p: Principal, registry: string): Promise<TokenView[]> {
    const reg = await this.registry(p, registry, 'read', 'read');
    const out: TokenView[] = [];
    for (const t of await this.store.listTokens(reg.id)) out.push(await this.tokenView(reg, t));
    return out;
  }

  async showToken(p: Principal, registry: string, name: string): Promise<TokenView> {
    const reg = await this.registry(p, registry, 'read', 'read');
    return this.tokenView(reg, await this.token(reg, name));
  }

  async updateToken(p: Principal, registry: string, name: string, input: { status?: unknown; scopeMap?: unknown }): Promise<TokenView> {
    const reg = await this.registry(p, registry, 'write', 'update tokens in');
    const t = await this.token(reg, name);
    if (input.status === undefined && input.scopeMap === undefined) throw invalid('nothing to update: give "status" and/or "scopeMap"');
    const patch: { status?: string; scope_map?: string } = {};
    if (input.status !== undefined) patch.status = this.parseStatus(input.status);
    if (input.scopeMap !== undefined) patch.scope_map = await this.scopeMapRef(reg, input.scopeMap);
    await this.store.updateToken(t.id, patch);
    this.auth.forget();
    return this.tokenView(reg, (await this.store.tokenById(t.id))!);
  }

  async deleteToken(p: Principal, registry: string, name: string): Promise<void> {
    const reg = await this.registry(p, registry, 'write', 'delete tokens in');
    const t = await this.token(reg, name);
    await this.store.deleteToken(t.id);
    this.auth.forget();
  }

  /** `az acr token credential generate`: new values (shown once) for password1 and/or password2 (both when neither is named). */
  async generateTokenPasswords(p: Principal, registry: string, name: string, input: { password1?: unknown; password2?: unknown; expirationInDays?: unknown; expiration?: unknown }): Promise<{ username: string; passwords: TokenPasswordView[] }> {
    const reg = await this.registry(p, registry, 'write', 'generate token passwords in');
    const t = await this.token(reg, name);
    for (const k of ['password1', 'password2'] as const) if (input[k] !== undefined && typeof input[k] !== 'boolean') throw invalid(`"${k}" must be true or false`);
    if (input.expirationInDays !== undefined && typeof input.expirationInDays !== 'number') throw invalid('"expirationInDays" must be a number');
    if (input.expiration !== undefined && typeof input.expiration !== 'string') throw invalid('"expiration" must be an ISO-8601 date or time');
    const expiry = parseExpiry({ expirationInDays: input.expirationInDays as number | undefined, expiration: input.expiration as string | undefined });
    let names: TokenPasswordName[] = [];
    if (input.password1) names.push('password1');
    if (input.password2) names.push('password2');
    if (names.length === 0) names = ['password1', 'password2'];
    const passwords = await this.generatePasswords(t.id, names, expiry);
    this.auth.forget();
    return { username: t.name, passwords };
  }

  async deleteTokenPassword(p: Principal, registry: string, name: string, password: unknown): Promise<void> {
    const reg = await this.registry(p, registry, 'write', 'delete token passwords in');
    const t = await this.token(reg, name);
    if (password !== 'password1' && password !== 'password2') throw invalid('name the password: password1 or password2');
    await this.store.deleteSecret('token', t.id, password);
    this.auth.forget();
  }

  // ---------------------------------------------------------------- audit (ContainerRegistryLoginEvents)

  /** Login events, newest first. `before` pages on (the id of the last event seen). */
  async loginEvents(p: Principal, q: LoginQuery): Promise<{ value: LoginEventView[]; next?: number }> {
    const { registryId, top } = await this.auditScope(p, q);
    if (q.result !== undefined && q.result !== 'Granted' && q.result !== 'Denied') throw invalid('"result" must be Granted or Denied');
    const rows = await this.store.queryLogins({
      since: q.since === undefined ? undefined : parseSince(q.since), registryId, identity: q.identity, result: q.result, limit: top + 1, beforeId: q.before,
    });
    const page = rows.slice(0, top);
    return {
      value: page.map((r) => ({
        id: r.id, time: r.time, category: 'ContainerRegistryLoginEvents', registry: r.registry, identity: r.identity, identityType: IDENTITY_TYPES[r.identity_type] ?? 'Unknown', jwtId: r.jwt_id,
        callerIpAddress: r.caller_ip, userAgent: r.user_agent, operation: r.operation, resultType: r.result,
        resultDescription: r.reason ?? (r.result === 'Granted' ? 'OK' : 'denied'), status: r.status, durationMs: r.duration_ms,
      })),
      ...(rows.length > top ? { next: page[page.length - 1]!.id } : {}),
    };
  }

  /** Who may read which audit log, and the paging fields both audit queries share. */
  private async auditScope(p: Principal, q: { registry?: string; top?: number; before?: number; identity?: string }): Promise<{ registryId: number | undefined; top: number }> {
    this.notAnonymous(p);
    let registryId: number | undefined;
    if (q.registry !== undefined) registryId = (await this.registry(p, q.registry, 'read', 'read the audit log of')).id;
    else await this.auth.requirePower(p, null, 'read', 'read the deployment audit log (give a registry to read one registry\'s)');
    const top = q.top ?? 100;
    if (!Number.isInteger(top) || top < 1 || top > 10_000) throw invalid(`"top" must be a whole number from 1 to 10000, got ${JSON.stringify(q.top)}`);
    if (q.before !== undefined && (!Number.isInteger(q.before) || q.before < 1)) throw invalid('"before" must be an event id');
    if (q.identity !== undefined && q.identity.length > 256) throw invalid('"identity" is at most 256 characters');
    return { registryId, top };
  }

  /** Repository events (push, pull, delete, untag), newest first: committed changes only (the outbox is written in their transaction). */
  async repositoryEvents(p: Principal, q: RepositoryEventQuery): Promise<{ value: RepositoryEventView[]; next?: number }> {
    const { registryId, top } = await this.auditScope(p, q);
    if (q.operation !== undefined && !['push', 'pull', 'delete', 'untag', 'purge', 'retention'].includes(q.operation)) throw invalid('"operation" must be push, pull, delete, untag, purge or retention');
    const rows = await this.store.queryRepositoryEvents({
      since: q.since === undefined ? undefined : parseSince(q.since), registryId, identity: q.identity, operation: q.operation, limit: top + 1, beforeId: q.before,
    });
    const page = rows.slice(0, top);
    return {
      value: page.map((r) => ({
        id: Number(r.id), time: r.created_at, category: 'ContainerRegistryRepositoryEvents', registry: r.registry, operationName: r.operation ?? r.action,
        repository: r.repository, tag: r.tag, digest: r.digest, mediaType: r.media_type, size: r.size === null ? null : Number(r.size),
        identity: r.identity, callerIpAddress: r.caller_ip, userAgent: r.request_useragent, correlationId: r.request_id, loginServer: r.request_host,
        requestMethod: r.request_method, resultType: 'Succeeded',
      })),
      ...(rows.length > top ? { next: Number(page[page.length - 1]!.id) } : {}),
    };
  }
}
