import type { AuthService } from '../../auth/service.js';
import type { ActivityLog } from '../../meta/activity.js';
import type { KyselyFederatedCredentials } from '../../meta/federated-credentials.js';
import type { Logger } from '../../observability/logger.js';
import type { RegistryService } from '../content/registries.js';
import type { AccessPolicy } from '../policy/access.js';
import { Activity } from './activity.js';
import { Audit } from './audit.js';
import { IdentityContext } from './context.js';
import { FederatedCredentials } from './federation.js';
import type { OidcOptions } from './oidc.js';
import { RegistryCredentials } from './registry-credentials.js';
import { RoleAssignments } from './role-assignments.js';
import { ScopeMaps } from './scope-maps.js';
import { ServicePrincipals } from './service-principals.js';
import { Tokens } from './tokens.js';
import { Users } from './users.js';

export * from './views.js';
export { identityTypeOf, type ActivityQuery, type ActivityView } from './activity.js';
export { normalizeActions, parseExpiry, parseSince } from './validate.js';
export { FederatedCredentials, type FederatedCredentialView } from './federation.js';

// Identity management: users, service principals, role assignments, a registry's admin user,
// anonymous pull, scope maps, repository-scoped tokens, the login audit and the activity log. Every write goes
// through here and checks the caller's management powers first (AuthService.requirePower), so
// the REST API and the CLI cannot disagree about who may do what.
//
// Secrets are shown once: when created or regenerated. The store keeps a SHA-256 of machine
// secrets (service-principal secrets, token and admin passwords) and a slow hash of user
// passwords; only admin passwords are also sealed, because ACR shows them again
// (`az acr credential show`).
//
// Each topic is its own class in this folder, sharing one IdentityContext; callers name the part
// they use (identities.users.createUser(…), identities.tokens.createToken(…)).

export class IdentityService {
  readonly users: Users;
  readonly servicePrincipals: ServicePrincipals;
  readonly roleAssignments: RoleAssignments;
  readonly registryCredentials: RegistryCredentials;
  readonly scopeMaps: ScopeMaps;
  readonly tokens: Tokens;
  readonly audit: Audit;
  /** The activity log of management operations: recorded by the /api router and background work. */
  readonly activity: Activity;
  /** Service principals' federated identity credentials, and the exchange of external OIDC tokens they trust. */
  readonly federatedCredentials: FederatedCredentials;

  constructor(
    auth: AuthService,
    registries: RegistryService,
    access: AccessPolicy,
    activityLog: ActivityLog,
    log: Logger,
    federation: { store: KyselyFederatedCredentials; options: OidcOptions },
  ) {
    const ctx = new IdentityContext(auth, registries, access);
    this.users = new Users(ctx);
    this.servicePrincipals = new ServicePrincipals(ctx);
    this.roleAssignments = new RoleAssignments(ctx);
    this.registryCredentials = new RegistryCredentials(ctx);
    this.scopeMaps = new ScopeMaps(ctx);
    this.tokens = new Tokens(ctx);
    this.audit = new Audit(ctx);
    this.activity = new Activity(ctx, activityLog, log);
    this.federatedCredentials = new FederatedCredentials(ctx, federation.store, federation.options);
  }
}
