import type { ManagementPower } from '../../auth/model.js';
import type { AuthService, Principal } from '../../auth/service.js';
import type { RegistryRow } from '../../meta/store.js';
import type { RegistryService } from '../content/registries.js';
import type { AccessPolicy } from '../policy/access.js';
import { Audit } from './audit.js';
import { IdentityContext } from './context.js';
import { RegistryCredentials } from './registry-credentials.js';
import { RoleAssignments } from './role-assignments.js';
import { ScopeMaps } from './scope-maps.js';
import { ServicePrincipals } from './service-principals.js';
import { Tokens } from './tokens.js';
import { Users } from './users.js';

export * from './views.js';
export { normalizeActions, parseExpiry, parseSince } from './validate.js';

// Identity management: users, service principals, role assignments, a registry's admin user,
// anonymous pull, scope maps, repository-scoped tokens and the login audit. Every write goes
// through here and checks the caller's management powers first (AuthService.requirePower), so
// the REST API and the CLI cannot disagree about who may do what.
//
// Secrets are shown once: when created or regenerated. The store keeps a SHA-256 of machine
// secrets (service-principal secrets, token and admin passwords) and a slow hash of user
// passwords; only admin passwords are also sealed, because ACR shows them again
// (`az acr credential show`).
//
// Each topic is its own class in this folder, sharing one IdentityContext. IdentityService is
// all of them in one object: callers write identities.createUser(…) as before, and each part's
// methods are also reachable as identities.users.createUser(…).

/** A part's public methods (its private `ctx` stays out). */
type Api<T> = Pick<T, keyof T>;

export interface IdentityService
  extends Api<Users>, Api<ServicePrincipals>, Api<RoleAssignments>, Api<RegistryCredentials>, Api<ScopeMaps>, Api<Tokens>, Api<Audit> {}

export class IdentityService {
  readonly users: Users;
  readonly servicePrincipals: ServicePrincipals;
  readonly roleAssignments: RoleAssignments;
  readonly registryCredentials: RegistryCredentials;
  readonly scopeMaps: ScopeMaps;
  readonly tokens: Tokens;
  readonly audit: Audit;
  private readonly ctx: IdentityContext;

  constructor(auth: AuthService, registries: RegistryService, access: AccessPolicy) {
    this.ctx = new IdentityContext(auth, registries, access);
    this.users = new Users(this.ctx);
    this.servicePrincipals = new ServicePrincipals(this.ctx);
    this.roleAssignments = new RoleAssignments(this.ctx);
    this.registryCredentials = new RegistryCredentials(this.ctx);
    this.scopeMaps = new ScopeMaps(this.ctx);
    this.tokens = new Tokens(this.ctx);
    this.audit = new Audit(this.ctx);
    for (const part of [this.users, this.servicePrincipals, this.roleAssignments, this.registryCredentials, this.scopeMaps, this.tokens, this.audit]) expose(this, part);
  }

  /** A registry the caller may act on with `power`; unknown and forbidden look alike unless the caller sees the deployment. */
  registry(p: Principal, name: string, power: ManagementPower, what: string): Promise<RegistryRow> {
    return this.ctx.registry(p, name, power, what);
  }
}

/** Puts a part's methods on the facade, bound to the part; two parts may not share a method name. */
function expose(facade: object, part: object): void {
  const proto = Object.getPrototypeOf(part) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || typeof proto[name] !== 'function') continue;
    if (name in facade) throw new Error(`IdentityService: "${name}" is defined twice`);
    Object.defineProperty(facade, name, { value: (proto[name] as (...a: unknown[]) => unknown).bind(part) });
  }
}
