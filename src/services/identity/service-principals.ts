import { randomUUID } from 'node:crypto';
import { newSecret, secretHash } from '../../auth/crypto.js';
import { findRole, ROLES, type RoleDefinition } from '../../auth/model.js';
import { describePrincipal, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { IdentityContext } from './context.js';
import { assignmentView, parseScope, type Scope } from './role-assignments.js';
import type { RoleAssignmentView, ServicePrincipalView } from './views.js';
import { assertRoleFitsScope, canonicalScope, invalid, unknown, UUID } from './validate.js';

// Service principals: app ids with secrets, for automation (`az ad sp`). The store keeps a
// SHA-256 of each secret; the value is shown once, when created or reset.

const TENANT = 'berth';

async function spView(
  ctx: IdentityContext,
  sp: { id: number; app_id: string; display_name: string; created_at: string },
): Promise<ServicePrincipalView> {
  const secrets = await ctx.store.secretsOf('sp', sp.id);
  return {
    appId: sp.app_id,
    displayName: sp.display_name,
    createdDateTime: sp.created_at,
    passwordCredentials: secrets.map((s) => ({ keyId: s.name, hint: s.hint, startDateTime: s.created_at, endDateTime: s.expires_at })),
  };
}

/**
 * May the caller manage (or, with 'read', see) this service principal? Deployment-wide
 * manage_users (read) always; otherwise when every role the SP holds is inside registries
 * where the caller can assign roles (for 'read': at least one registry the caller can read).
 */
async function mayManageSp(ctx: IdentityContext, p: Principal, spId: number, power: 'assign_roles' | 'read'): Promise<boolean> {
  if (await ctx.has(p, null, power === 'read' ? 'read' : 'manage_users')) return true;
  const assignments = await ctx.store.assignmentsOf('sp', spId);
  if (assignments.length === 0) return false;
  if (power === 'read') {
    for (const a of assignments) if (a.registry_id !== null && (await ctx.has(p, a.registry_id, 'read'))) return true;
    return false;
  }
  for (const a of assignments) if (a.registry_id === null || !(await ctx.has(p, a.registry_id, 'assign_roles'))) return false;
  return true;
}

/** The service principal with this app id, if the caller may act on it with `power` (404 or 403 otherwise). */
export async function requireSp(ctx: IdentityContext, p: Principal, appId: string, power: 'assign_roles' | 'read', what: string) {
  ctx.notAnonymous(p);
  const sp = typeof appId === 'string' && UUID.test(appId) ? await ctx.store.spByAppId(appId) : undefined;
  if (!sp || !(await mayManageSp(ctx, p, sp.id, power))) {
    if (!sp && (await ctx.has(p, null, 'read'))) throw unknown(`no service principal with app id "${String(appId).slice(0, 80)}"`);
    if (!sp) throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} service principal "${String(appId).slice(0, 80)}"`);
    throw new RegistryError(
      'DENIED',
      `${describePrincipal(p)} may not ${what} service principal ${sp.app_id}: that needs manage_users (Owner at "/") or Owner of every registry it has a role in`,
    );
  }
  return sp;
}

function spSecretExpiry(years: unknown): string {
  const y = years === undefined ? 1 : years;
  if (typeof y !== 'number' || !Number.isInteger(y) || y < 1 || y > 10)
    throw invalid(`"years" must be a whole number from 1 to 10, got ${JSON.stringify(years)}`);
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() + y);
  return d.toISOString();
}

async function addSpSecret(ctx: IdentityContext, spId: number, years: unknown): Promise<string> {
  const expires = spSecretExpiry(years);
  const password = newSecret();
  await ctx.store.putSecret({
    owner_type: 'sp',
    owner_id: spId,
    name: randomUUID(),
    hash: secretHash(password),
    sealed: null,
    hint: password.slice(-4),
    expires_at: expires,
  });
  return password;
}

/** Does the caller hold any management role anywhere (deployment or some registry)? */
async function canSeeAnything(ctx: IdentityContext, p: Principal): Promise<boolean> {
  if (p.kind !== 'user' && p.kind !== 'sp') return false;
  return (await ctx.store.assignmentsOf(p.kind, p.id)).some(
    (a) => a.repository === null && (ROLES.find((r) => r.name === a.role)?.management.length ?? 0) > 0,
  );
}

export class ServicePrincipals {
  constructor(private readonly ctx: IdentityContext) {}

  /** Like `az ad sp create-for-rbac --name N --role R --scopes S`: the SP, one secret (shown once), and the role at the scope. */
  async createServicePrincipal(
    p: Principal,
    input: { displayName?: unknown; role?: unknown; scopes?: unknown; years?: unknown },
  ): Promise<{ appId: string; displayName: string; password: string; tenant: string; roleAssignment?: RoleAssignmentView }> {
    this.ctx.notAnonymous(p);
    let role: RoleDefinition | undefined;
    let scope: Scope | undefined;
    if (input.role !== undefined || input.scopes !== undefined) {
      if (typeof input.role !== 'string' || typeof input.scopes !== 'string')
        throw invalid('give both "role" and "scopes" (strings), or neither');
      role = findRole(input.role);
      scope = await parseScope(this.ctx, p, input.scopes, 'assign_roles', 'assign roles in');
      assertRoleFitsScope(role, scope);
      await this.ctx.auth.requirePower(
        p,
        scope.registry?.id ?? null,
        'assign_roles',
        `assign roles at ${canonicalScope(scope.registry, scope.repository)}`,
      );
    } else {
      await this.ctx.auth.requirePower(p, null, 'manage_users', 'create service principals without a role');
    }
    // The rest is checked once the caller may create at all: a refusal says nothing about the input.
    const displayName = input.displayName;
    if (typeof displayName !== 'string' || displayName.trim().length === 0 || displayName.length > 120 || /\p{Cc}/u.test(displayName)) {
      throw invalid('a service principal needs a "displayName" of 1-120 printable characters');
    }
    spSecretExpiry(input.years);
    const sp = await this.ctx.store.createServicePrincipal(displayName);
    const password = await addSpSecret(this.ctx, sp.id, input.years);
    let assignment: RoleAssignmentView | undefined;
    if (role && scope) {
      const a = await this.ctx.store.addRoleAssignment({
        principal_type: 'sp',
        principal_id: sp.id,
        role: role.name,
        registry_id: scope.registry?.id ?? null,
        repository: scope.repository,
      });
      assignment = assignmentView(a, sp.app_id, scope.registry?.name);
    }
    return {
      appId: sp.app_id,
      displayName: sp.display_name,
      password,
      tenant: TENANT,
      ...(assignment ? { roleAssignment: assignment } : {}),
    };
  }

  /** `az ad sp credential reset --id APPID [--append] [--years N]`: a new secret, shown once; without append the old ones stop working. */
  async resetServicePrincipalCredential(
    p: Principal,
    appId: string,
    input: { append?: unknown; years?: unknown },
  ): Promise<{ appId: string; password: string; tenant: string }> {
    if (input.append !== undefined && typeof input.append !== 'boolean') throw invalid('"append" must be true or false');
    spSecretExpiry(input.years);
    const sp = await requireSp(this.ctx, p, appId, 'assign_roles', 'reset the credentials of');
    if (!input.append) await this.ctx.store.deleteSecretsOf('sp', sp.id);
    const password = await addSpSecret(this.ctx, sp.id, input.years);
    this.ctx.auth.forget();
    return { appId: sp.app_id, password, tenant: TENANT };
  }

  async listServicePrincipals(p: Principal): Promise<ServicePrincipalView[]> {
    this.ctx.notAnonymous(p);
    const out: ServicePrincipalView[] = [];
    for (const sp of await this.ctx.store.listServicePrincipals())
      if (await mayManageSp(this.ctx, p, sp.id, 'read')) out.push(await spView(this.ctx, sp));
    if (out.length === 0 && !(await canSeeAnything(this.ctx, p)))
      throw new RegistryError('DENIED', `${describePrincipal(p)} may not list service principals: that needs Reader or above`);
    return out;
  }

  async showServicePrincipal(p: Principal, appId: string): Promise<ServicePrincipalView> {
    return spView(this.ctx, await requireSp(this.ctx, p, appId, 'read', 'show'));
  }

  async deleteServicePrincipal(p: Principal, appId: string): Promise<void> {
    const sp = await requireSp(this.ctx, p, appId, 'assign_roles', 'delete');
    await this.ctx.keepingAnOwner(`delete service principal ${sp.app_id}`, () => this.ctx.store.deleteServicePrincipal(sp.id));
    this.ctx.auth.forget();
  }
}
