import { assertRepositoryPattern, findRole, type ManagementPower } from '../../auth/model.js';
import { describePrincipal, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { RegistryRow } from '../../meta/store.js';
import type { IdentityContext } from './context.js';
import type { RoleAssignmentView } from './views.js';
import { assertRoleFitsScope, canonicalScope, invalid, unknown, UUID } from './validate.js';

// Role assignments: a built-in role for a user or service principal at a scope (the deployment,
// a registry, or repositories in it), as `az role assignment`.

/** A parsed role-assignment scope. */
export interface Scope {
  registry: RegistryRow | null;
  repository: string | null;
}

/**
 * Parses a scope: "/" (the deployment), "/registries/<name>", "/registries/<name>/repositories/<repo or prefix/*>",
 * or the short forms "<name>" and "<name>/<repo or prefix/*>" (as `--scopes` of create-for-rbac).
 */
export async function parseScope(ctx: IdentityContext, p: Principal, raw: unknown, power: ManagementPower, what: string): Promise<Scope> {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 400)
    throw invalid('"scope" must be "/", "/registries/<registry>" or "/registries/<registry>/repositories/<repository or prefix/*>"');
  if (raw === '/') return { registry: null, repository: null };
  let registryName: string;
  let repository: string | null;
  const long = /^\/registries\/([^/]+)(?:\/repositories\/(.+))?$/.exec(raw.replace(/\/+$/, ''));
  if (long) {
    registryName = long[1]!;
    repository = long[2] ?? null;
  } else if (!raw.startsWith('/')) {
    const slash = raw.indexOf('/');
    registryName = slash < 0 ? raw : raw.slice(0, slash);
    repository = slash < 0 ? null : raw.slice(slash + 1);
  } else {
    throw invalid(
      `scope "${raw.slice(0, 120)}" is not "/", "/registries/<registry>" or "/registries/<registry>/repositories/<repository or prefix/*>"`,
    );
  }
  if (repository !== null) {
    if (repository === '*' || repository === '') repository = null;
    else assertRepositoryPattern(repository);
  }
  const registry = await ctx.registry(p, registryName, power === 'assign_roles' ? 'read' : power, what);
  return { registry, repository };
}

export function assignmentView(
  a: { id: string; principal_type: string; role: string; repository: string | null; created_at: string },
  principalName: string,
  registryName: string | undefined,
): RoleAssignmentView {
  return {
    id: a.id,
    name: a.id,
    principalName,
    principalType: a.principal_type === 'sp' ? 'ServicePrincipal' : 'User',
    roleDefinitionName: a.role,
    scope: canonicalScope(registryName === undefined ? null : { name: registryName }, a.repository),
    createdOn: a.created_at,
  };
}

async function resolveAssignee(ctx: IdentityContext, raw: unknown): Promise<{ type: 'user' | 'sp'; id: number; name: string }> {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 64)
    throw invalid('"assignee" must be a user name or a service principal app id');
  if (UUID.test(raw)) {
    const sp = await ctx.store.spByAppId(raw);
    if (!sp) throw unknown(`no service principal with app id "${raw}"`);
    return { type: 'sp', id: sp.id, name: sp.app_id };
  }
  const u = await ctx.store.userByName(raw);
  if (!u) throw unknown(`no user "${raw}" (give a user name or a service principal app id)`);
  return { type: 'user', id: u.id, name: u.name };
}

export class RoleAssignments {
  constructor(private readonly ctx: IdentityContext) {}

  async createRoleAssignment(
    p: Principal,
    input: { assignee?: unknown; role?: unknown; scope?: unknown },
  ): Promise<{ created: boolean; assignment: RoleAssignmentView }> {
    this.ctx.notAnonymous(p);
    if (typeof input.role !== 'string') throw invalid('"role" must be a built-in role name, e.g. AcrPull');
    const role = findRole(input.role);
    const scope = await parseScope(this.ctx, p, input.scope ?? '/', 'assign_roles', 'assign roles in');
    await this.ctx.auth.requirePower(
      p,
      scope.registry?.id ?? null,
      'assign_roles',
      `assign roles at ${canonicalScope(scope.registry, scope.repository)}`,
    );
    assertRoleFitsScope(role, scope);
    const who = await resolveAssignee(this.ctx, input.assignee);
    const a = await this.ctx.store.addRoleAssignment({
      principal_type: who.type,
      principal_id: who.id,
      role: role.name,
      registry_id: scope.registry?.id ?? null,
      repository: scope.repository,
    });
    this.ctx.auth.forget();
    return { created: a.created, assignment: assignmentView(a, who.name, scope.registry?.name) };
  }

  /** Assignments the caller may see: all with Reader at "/", else those in registries it can read, and always its own. */
  async listRoleAssignments(
    p: Principal,
    filter: { assignee?: string; scope?: string; role?: string } = {},
  ): Promise<RoleAssignmentView[]> {
    this.ctx.notAnonymous(p);
    if (p.kind !== 'user' && p.kind !== 'sp')
      throw new RegistryError(
        'DENIED',
        `${describePrincipal(p)} (${p.kind}) may not list role assignments: only users and service principals hold roles`,
      );
    const deploymentRead = await this.ctx.has(p, null, 'read');
    const role = filter.role !== undefined ? findRole(filter.role).name : undefined;
    let scopeKey: string | undefined;
    if (filter.scope !== undefined) {
      const s = await parseScope(this.ctx, p, filter.scope, 'read', 'list role assignments of');
      scopeKey = canonicalScope(s.registry, s.repository);
    }
    const users = new Map((await this.ctx.store.listUsers()).map((u) => [u.id, u.name]));
    const sps = new Map((await this.ctx.store.listServicePrincipals()).map((s) => [s.id, s.app_id]));
    const regs = new Map((await this.ctx.registries.list()).map((r) => [r.id, r.name]));
    const readable = new Map<number, boolean>();
    const out: RoleAssignmentView[] = [];
    for (const a of await this.ctx.store.listRoleAssignments({})) {
      const own = (p.kind === 'user' || p.kind === 'sp') && a.principal_type === p.kind && a.principal_id === p.id;
      if (!deploymentRead && !own) {
        if (a.registry_id === null) continue;
        if (!readable.has(a.registry_id)) readable.set(a.registry_id, await this.ctx.has(p, a.registry_id, 'read'));
        if (!readable.get(a.registry_id)) continue;
      }
      const name = a.principal_type === 'sp' ? sps.get(a.principal_id) : users.get(a.principal_id);
      if (name === undefined) continue;
      const regName = a.registry_id === null ? undefined : regs.get(a.registry_id);
      if (a.registry_id !== null && regName === undefined) continue;
      const v = assignmentView(a, name, regName);
      if (filter.assignee !== undefined && v.principalName.toLowerCase() !== filter.assignee.toLowerCase()) continue;
      if (role !== undefined && v.roleDefinitionName !== role) continue;
      if (scopeKey !== undefined && v.scope.toLowerCase() !== scopeKey.toLowerCase()) continue;
      out.push(v);
    }
    return out;
  }

  /** Deletes assignments by id (the uuid, or any path ending in it). Returns what was deleted. */
  async deleteRoleAssignments(p: Principal, ids: unknown): Promise<RoleAssignmentView[]> {
    this.ctx.notAnonymous(p);
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > 100 || ids.some((i) => typeof i !== 'string'))
      throw invalid('"ids" must be a list of 1-100 role assignment ids');
    const views: RoleAssignmentView[] = [];
    const found = [];
    for (const raw of ids as string[]) {
      const id = raw.slice(raw.lastIndexOf('/') + 1);
      const a = UUID.test(id) ? await this.ctx.store.roleAssignment(id.toLowerCase()) : undefined;
      const scopeReg = a?.registry_id ?? null;
      if (!a) {
        if (await this.ctx.has(p, null, 'read')) throw unknown(`no role assignment "${raw.slice(0, 120)}"`);
        throw new RegistryError('DENIED', `${describePrincipal(p)} may not delete role assignment "${raw.slice(0, 120)}"`);
      }
      await this.ctx.auth.requirePower(p, scopeReg, 'assign_roles', 'delete role assignments here');
      found.push(a);
    }
    for (const a of found) {
      const name =
        a.principal_type === 'sp'
          ? (await this.ctx.store.spById(a.principal_id))?.app_id
          : (await this.ctx.store.userById(a.principal_id))?.name;
      const reg = a.registry_id === null ? undefined : (await this.ctx.store.registryAuth(a.registry_id))?.name;
      if (await this.ctx.keepingAnOwner(`delete the Owner assignment ${a.id}`, () => this.ctx.store.deleteRoleAssignment(a.id)))
        views.push(assignmentView(a, name ?? '', reg));
    }
    this.ctx.auth.forget();
    return views;
  }
}
