import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ActivityIdentityType } from '../domain/activity.js';
import { RegistryError } from '../domain/errors.js';
import { isValidRegistryName } from '../domain/reference.js';
import type { AccessStore } from '../meta/access-store.js';
import type { RegistryStore } from '../meta/store.js';
import type { Logger } from '../observability/logger.js';
import {
  generateSigningKey,
  JwtError,
  loadSigningKey,
  newSecret,
  sameHash,
  secretHash,
  signJwt,
  verifyJwt,
  verifyPassword,
  hashPassword,
  PASSWORD_HASH_COST,
  type SigningKey,
} from './crypto.js';
import {
  ACTIONS,
  CONTENT_ACTIONS,
  actionsFromScopeRules,
  findRole,
  matchesRepository,
  ROLES,
  scopeRulesFor,
  type Action,
  type Grant,
  type ManagementPower,
  type RequestedScope,
} from './model.js';
import type { Throttle } from './throttle.js';

type RoleAssignmentRow = Awaited<ReturnType<AccessStore['assignmentsOf']>>[number];

// Authentication (who is calling), authorization (what they may do, evaluated live from the
// database), and the token service (signed JWTs carrying granted access).

export type Principal =
  | { kind: 'user'; id: number; name: string }
  | { kind: 'sp'; id: number; name: string }
  | { kind: 'admin'; id: number; name: string }
  | { kind: 'token'; id: number; name: string; registryId: number }
  /** A task run's own credential: pull in its registry, push where its task pushes, while it runs. */
  | { kind: 'run'; id: number; name: string; registryId: number }
  | { kind: 'anonymous'; id: 0; name: '' };

export const ANONYMOUS: Principal = { kind: 'anonymous', id: 0, name: '' };

/** The username that means "the password is a Berth token" (ACR's convention for --expose-token). */
export const TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

export const ISSUER = 'berth';

/** The audience and grant type of portal session tokens (see issuePortalSession). */
export const PORTAL_AUDIENCE = 'berth-portal';
const PORTAL_SESSION = 'portal_session';

/** The owner account made on the first start (and recovered by berth admin reset-password). */
export const OWNER_NAME = 'admin';
/** How long ownCredential remembers a pair that is not ours (a password changed on another node shows after this). */
const PROBE_MISS_MS = 5 * 60_000;

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
  /** Registry ids the entry is bound to: a deleted and re-created registry never matches. */
  rid: number[];
  /** A catalog entry of a deployment-wide role: every registry, so the token stays small however many there are. */
  all?: true;
}

/** The registries whose catalog a principal may list: all of them, or these ids. */
export type CatalogReach = 'all' | number[];

export interface AuthOptions {
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  /** Lifetime of a `berth account login` session (a refresh token only the berth CLI's routes accept). */
  cliSessionSeconds: number;
  keyRotationDays: number;
  /** Seconds a verified Basic credential or a principal's liveness is remembered per node. */
  cacheSeconds: number;
  /** scrypt cost (log2 N) for new password hashes; default PASSWORD_HASH_COST.default. */
  passwordHashCost?: number;
}

export interface CallerInfo {
  ip: string;
  userAgent: string;
}

export function principalSubject(p: Principal): string {
  return p.kind === 'anonymous' ? 'anonymous' : `${p.kind}:${p.id}`;
}

export function describePrincipal(p: Principal): string {
  return p.kind === 'anonymous' ? 'anonymous' : p.name;
}

/** A caller's identity type, as the login audit and the activity log name it (tokens and task runs: Token). */
export function identityTypeOf(p: Principal): ActivityIdentityType {
  if (p.kind === 'anonymous') return 'System';
  return p.kind === 'user' ? 'User' : p.kind === 'sp' ? 'ServicePrincipal' : p.kind === 'admin' ? 'AdminUser' : 'Token';
}

/** A registry as the access checks need it. */
export interface RegistryAuthView {
  id: number;
  name: string;
  sku: string;
  admin_enabled: number;
  anonymous_pull_enabled: number;
}

export class AuthService {
  private keys: SigningKey[] = [];
  private keysLoadedAt = 0;
  private readonly basicCache = new Map<string, { principal: Principal; until: number }>();
  /** Role assignments by principal (see assignmentsOf), and a counter forget() bumps so checks begun before it are not cached. */
  private readonly assignmentsCache = new Map<string, { rows: RoleAssignmentRow[]; until: number }>();
  private epoch = 0;
  /** Basic credentials being checked now -> the check: concurrent requests with them wait for it. */
  private readonly basicInFlight = new Map<string, Promise<Principal>>();
  /** Principal -> until when it is known alive, and (users) since when its tokens count (ms; 0 = all). */
  private readonly aliveCache = new Map<string, { until: number; sessionsSince: number }>();
  /** Verified token -> claims: clients send the same token for many requests; a signature check is the costliest step of a pull. */
  private readonly verifiedTokens = new Map<string, { claims: Record<string, unknown>; until: number }>();
  /** Checks of credentials about to leave the deployment (ownCredential): their own failure counts, never a sign-in's. */
  private readonly probes: Throttle;
  /** Credential pairs ownCredential found not to be ours, until when: a batch of imports with one upstream password costs one check. */
  private readonly probeMisses = new Map<string, number>();

  constructor(
    private readonly meta: Pick<RegistryStore, 'getRegistry'>,
    readonly store: AccessStore,
    private readonly opts: AuthOptions,
    private readonly throttle: Throttle,
    private readonly log: Logger,
  ) {
    this.probes = throttle.separate();
  }

  /** The sign-in throttle: other ways of signing in (a federated token exchange) count on it too. */
  get signInThrottle(): Throttle {
    return this.throttle;
  }

  get accessTokenSeconds(): number {
    return this.opts.accessTokenSeconds;
  }

  /** A user password's hash at the configured cost (auth.passwordHashCost). */
  hashPassword(password: string): Promise<string> {
    return hashPassword(password, this.opts.passwordHashCost ?? PASSWORD_HASH_COST.default);
  }

  // ---------------------------------------------------------------- start-up

  /** Loads the signing keys, and makes a new one when the newest is older than keyRotationDays. */
  async init(): Promise<void> {
    await this.loadKeys(true);
    const newest = this.keys[0];
    if (!newest || Date.now() - newest.createdAt.getTime() > this.opts.keyRotationDays * 86400_000) {
      const k = generateSigningKey();
      await this.store.addSigningKey({ kid: k.kid, private_pem: k.privatePem, public_jwk: k.publicJwk });
      // Old keys stay for verification until every token they signed has expired.
      await this.store.pruneSigningKeys(3);
      await this.loadKeys(true);
    }
  }

  /**
   * Creates the owner account "admin" (Owner at "/") on a deployment that has none: with the
   * given password, else a generated one (returned, to be shown once). When the owner exists, a
   * given password that is not the owner's is reported as ignored: it only applies to the first start.
   */
  async bootstrapOwner(adminPassword: string | undefined): Promise<{ generatedPassword?: string; passwordIgnored?: boolean }> {
    const given = adminPassword && adminPassword.length > 0 ? adminPassword : undefined;
    let existing = await this.store.userByName(OWNER_NAME);
    if (!existing) {
      const password = given ?? newSecret();
      const user = await this.store.createUser(OWNER_NAME, await this.hashPassword(password));
      if (user) {
        await this.store.addRoleAssignment({
          principal_type: 'user',
          principal_id: user.id,
          role: 'Owner',
          registry_id: null,
          repository: null,
        });
        this.log.info({ user: OWNER_NAME }, `created the owner account "${OWNER_NAME}"`);
        return given ? {} : { generatedPassword: password };
      }
      existing = await this.store.userByName(OWNER_NAME); // another node bootstrapped first
    }
    if (given && existing && !(await verifyPassword(given, existing.password_hash))) return { passwordIgnored: true };
    return {};
  }

  /**
   * Sets the owner's password offline (berth admin reset-password): re-creates, enables and makes
   * Owner the "admin" account as needed, and refuses every token issued to it before now.
   */
  async resetOwnerPassword(password: string): Promise<{ created: boolean; ownerAdded: boolean }> {
    const r = await this.store.resetOwner(OWNER_NAME, await this.hashPassword(password));
    this.forget();
    return r;
  }

  private async loadKeys(force = false): Promise<void> {
    if (!force && Date.now() - this.keysLoadedAt < 10_000) return;
    this.keysLoadedAt = Date.now();
    this.keys = (await this.store.listSigningKeys()).map((r) => loadSigningKey(r.kid, r.private_pem, r.created_at));
  }

  /** Public keys as a JWKS (for operators and external verifiers). */
  async jwks(): Promise<{ keys: unknown[] }> {
    return { keys: (await this.store.listSigningKeys()).map((r) => JSON.parse(r.public_jwk) as unknown) };
  }

  // ---------------------------------------------------------------- authentication

  /**
   * Checks Basic credentials: a user, a service principal (app id), a registry's admin user
   * (username = registry name), a repository-scoped token (username = token name), or a Berth
   * token presented as the password with the all-zero username. Throws UNAUTHORIZED.
   */
  async authenticateBasic(
    username: string,
    password: string,
    caller: CallerInfo,
    service: string,
    accept: { cliSession?: boolean } = {},
  ): Promise<Principal> {
    if (username === TOKEN_USERNAME) {
      return (await this.verifyBearer(password, service, true, accept.cliSession)).principal;
    }
    this.throttle.check(caller.ip, username);
    const cacheKey = createHash('sha256').update(`${username}\u0000${password}`).digest('hex');
    const hit = this.basicCache.get(cacheKey);
    const now = Date.now();
    if (hit && hit.until > now && (await this.alive(hit.principal))) {
      // Re-verify before the entry lapses, in the background: under steady use the cache never
      // runs dry, so requests never queue behind a password hash.
      if (hit.until - now < (this.opts.cacheSeconds * 1000) / 3 && !this.basicInFlight.has(cacheKey)) {
        this.verifyBasic(cacheKey, username, password, caller).catch(() => this.basicCache.delete(cacheKey));
      }
      return hit.principal;
    }
    return this.verifyBasic(cacheKey, username, password, caller);
  }

  /**
   * One check of a user name and password, shared by every request that presents them meanwhile:
   * clients open many connections at once with the same credentials, and a scrypt hash each
   * would fill the thread pool and stall them all.
   */
  private verifyBasic(cacheKey: string, username: string, password: string, caller: CallerInfo): Promise<Principal> {
    const known = this.basicInFlight.get(cacheKey);
    if (known) return known;
    const pending: Promise<Principal> = this.checkBasic(cacheKey, username, password, caller).finally(() => {
      if (this.basicInFlight.get(cacheKey) === pending) this.basicInFlight.delete(cacheKey);
    });
    this.basicInFlight.set(cacheKey, pending);
    return pending;
  }

  private async checkBasic(cacheKey: string, username: string, password: string, caller: CallerInfo): Promise<Principal> {
    const started = Date.now();
    const epoch = this.epoch;
    const principal = await this.checkCredentials(username, password);
    if (!principal) {
      this.throttle.failure(caller.ip, username);
      await this.audit({
        principal: undefined,
        identity: username,
        caller,
        operation: 'login',
        result: 'Denied',
        status: 401,
        started,
        reason: 'wrong user name or password',
      });
      throw new RegistryError('UNAUTHORIZED', 'wrong user name or password');
    }
    this.throttle.success(caller.ip, username);
    // A verified sign-in is recorded once per cache period, not on every request it authorizes.
    await this.audit({ principal, caller, operation: 'login', result: 'Granted', status: 200, started });
    // A check that began before forget() (a password change, a disabled user) is not remembered.
    if (epoch === this.epoch) {
      this.basicCache.set(cacheKey, { principal, until: Date.now() + this.opts.cacheSeconds * 1000 });
      if (this.basicCache.size > 10_000) this.basicCache.clear();
    }
    return principal;
  }

  private async checkCredentials(username: string, password: string): Promise<Principal | null> {
    if (!username || !password || username.length > 256 || password.length > 1024) return null;
    const hash = secretHash(password);
    const now = new Date().toISOString();
    // Machine secrets first: found by hash, then matched to the name.
    for (const s of await this.store.secretsByHash(hash)) {
      if (!sameHash(s.hash, hash) || (s.expires_at && s.expires_at < now)) continue;
      if (s.owner_type === 'token') {
        const t = await this.store.tokenById(s.owner_id);
        if (t && t.name_key === username.toLowerCase() && t.status === 'enabled')
          return { kind: 'token', id: t.id, name: t.name, registryId: t.registry_id };
      } else if (s.owner_type === 'admin') {
        const r = await this.store.registryAuth(s.owner_id);
        if (r && r.name.toLowerCase() === username.toLowerCase() && r.admin_enabled) return { kind: 'admin', id: r.id, name: r.name };
      } else if (s.owner_type === 'sp') {
        const sp = await this.store.spById(s.owner_id);
        if (sp && sp.app_id === username.toLowerCase()) return { kind: 'sp', id: sp.id, name: sp.app_id };
      }
    }
    const user = await this.store.userByName(username);
    if (user && user.enabled && (await verifyPassword(password, user.password_hash))) return { kind: 'user', id: user.id, name: user.name };
    return null;
  }

  /**
   * Would these credentials get into this deployment: a user's password, a service principal's,
   * a registry admin's or a token's secret, or a Berth-issued token as the password (whatever the
   * user name)? For credentials about to be sent elsewhere (an import's source credentials), so
   * not a sign-in: nothing is audited, cached as verified or counted against the sign-in throttle.
   * Wrong passwords for a user of this deployment count on a throttle of their own (same limits),
   * so this is no faster a way to guess passwords than signing in; TOOMANYREQUESTS when exceeded.
   */
  async ownCredential(username: string, password: string, source: string): Promise<boolean> {
    if (!password) return false;
    try {
      await this.loadKeys();
      verifyJwt(password, (kid) => this.keys.find((k) => k.kid === kid), { iss: ISSUER });
      return true;
    } catch {
      // Not a live token of ours: check it as a user name and password.
    }
    const key = createHash('sha256').update(`${username}\u0000${password}`).digest('hex');
    const hit = this.basicCache.get(key);
    if (hit && hit.until > Date.now()) return true;
    if ((this.probeMisses.get(key) ?? 0) > Date.now()) return false;
    try {
      this.probes.check(source, username);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      throw new RegistryError(
        'TOOMANYREQUESTS',
        `too many different source credentials naming user "${username}" of this deployment were checked from ${source}; ${e.message.replace(/^.*; /, '')}`,
        { headers: e.headers },
      );
    }
    if (await this.checkCredentials(username, password)) return true;
    if (this.probeMisses.size >= 10_000) this.probeMisses.clear();
    this.probeMisses.set(key, Date.now() + PROBE_MISS_MS);
    // Only a user's password can be guessed; machine secrets are random and found by their hash.
    if (await this.store.userByName(username)) this.probes.failure(source, username);
    return false;
  }

  /** Is the principal still there and enabled? Remembered briefly so the hot path stays cheap. */
  async alive(p: Principal): Promise<boolean> {
    return (await this.liveness(p)).ok;
  }

  private async liveness(p: Principal): Promise<{ ok: boolean; sessionsSince: number }> {
    if (p.kind === 'anonymous') return { ok: true, sessionsSince: 0 };
    const key = principalSubject(p);
    const known = this.aliveCache.get(key);
    if (known !== undefined && known.until > Date.now()) return { ok: true, sessionsSince: known.sessionsSince };
    let ok = false;
    let sessionsSince = 0;
    if (p.kind === 'user') {
      const u = await this.store.userById(p.id);
      ok = !!u?.enabled;
      sessionsSince = u?.sessions_since ? Date.parse(u.sessions_since) : 0;
    } else if (p.kind === 'sp') ok = !!(await this.store.spById(p.id));
    else if (p.kind === 'admin') ok = !!(await this.store.registryAuth(p.id))?.admin_enabled;
    else if (p.kind === 'token') {
      const t = await this.store.tokenById(p.id);
      ok = !!t && t.status === 'enabled' && t.registry_id === p.registryId;
    } else if (p.kind === 'run') {
      const r = await this.store.runAuth(p.id);
      ok = !!r && r.status === 'Running' && r.registry_id === p.registryId;
    }
    if (ok) {
      this.aliveCache.set(key, { until: Date.now() + this.opts.cacheSeconds * 1000, sessionsSince });
      if (this.aliveCache.size > 10_000) this.aliveCache.clear();
    }
    return { ok, sessionsSince };
  }

  /**
   * The principal's role assignments, remembered for auth.cacheSeconds like its liveness: every
   * request is authorized from them, and on PostgreSQL that was a round trip per request. This
   * node forgets them on every role change; other nodes see a change within cacheSeconds.
   */
  private async assignmentsOf(kind: 'user' | 'sp', id: number): Promise<RoleAssignmentRow[]> {
    if (this.opts.cacheSeconds <= 0) return this.store.assignmentsOf(kind, id);
    const key = `${kind}:${id}`;
    const known = this.assignmentsCache.get(key);
    if (known && known.until > Date.now()) return known.rows;
    const epoch = this.epoch;
    const rows = await this.store.assignmentsOf(kind, id);
    // A role change on this node while the query ran must not be undone by caching its answer.
    if (epoch === this.epoch) {
      if (this.assignmentsCache.size >= 10_000) this.assignmentsCache.clear();
      this.assignmentsCache.set(key, { rows, until: Date.now() + this.opts.cacheSeconds * 1000 });
    }
    return rows;
  }

  /** Forget cached liveness and roles (after a change to an identity or its roles on this node). */
  forget(): void {
    this.epoch++;
    this.assignmentsCache.clear();
    this.basicInFlight.clear();
    this.aliveCache.clear();
    this.basicCache.clear();
    this.probeMisses.clear();
  }

  /**
   * Verifies a Berth JWT for this service; refresh tokens are accepted only where asked, and
   * `berth account login` sessions only where the berth CLI sends them (allowCliSession).
   */
  async verifyBearer(
    token: string,
    service: string,
    allowRefresh = false,
    allowCliSession = false,
  ): Promise<{ principal: Principal; access: AccessEntry[]; jti: string; refresh: boolean }> {
    const claims = await this.verifyClaims(token, service);
    // A portal session is a cookie of the portal's, never a bearer token (its audience is not a login server either).
    if (claims.grant_type === PORTAL_SESSION) throw new RegistryError('UNAUTHORIZED', 'a portal session is not a bearer token');
    const refresh = claims.grant_type === 'refresh_token';
    if (refresh && !allowRefresh)
      throw new RegistryError('UNAUTHORIZED', 'a refresh token cannot be used as an access token: exchange it at /oauth2/token');
    // A CLI session lasts days (auth.cliSessionDays): registry clients never hold one, they get
    // tokens of registry lifetimes minted from it (berth login, the credential helper).
    if (claims.cli === true && !allowCliSession)
      throw new RegistryError(
        'UNAUTHORIZED',
        'a berth account login session is for the berth CLI only: registry clients sign in with `berth login -n REGISTRY` (or --expose-token)',
      );
    const principal = await this.livePrincipal(claims);
    const access = Array.isArray(claims.access) ? (claims.access as AccessEntry[]).filter(isAccessEntry) : [];
    return { principal, access, jti: typeof claims.jti === 'string' ? claims.jti : '', refresh };
  }

  /** A signed, unexpired token of ours for this audience (cached briefly); UNAUTHORIZED otherwise. */
  private async verifyClaims(token: string, service: string): Promise<Record<string, unknown>> {
    const known = this.verifiedTokens.get(token);
    try {
      if (known && known.until > Date.now() && known.claims.aud === service) return known.claims;
      const claims = verifyJwt(token, (kid) => this.keys.find((k) => k.kid === kid), { iss: ISSUER, aud: service });
      if (this.verifiedTokens.size >= 10_000) this.verifiedTokens.clear();
      this.verifiedTokens.set(token, { claims, until: Math.min((claims.exp as number) * 1000, Date.now() + 60_000) });
      return claims;
    } catch (e) {
      if (e instanceof JwtError && e.message === 'token signed by an unknown key' && Date.now() - this.keysLoadedAt > 10_000) {
        await this.loadKeys(); // another node may have rotated
        return this.verifyClaims(token, service);
      }
      throw new RegistryError('UNAUTHORIZED', `invalid token: ${(e as Error).message}`);
    }
  }

  /** The principal a verified token names, if it still exists, is enabled and its sign-ins were not revoked since. */
  private async livePrincipal(claims: Record<string, unknown>): Promise<Principal> {
    const principal = parseSubject(claims);
    const live = principal ? await this.liveness(principal) : undefined;
    if (!principal || !live?.ok)
      throw new RegistryError('UNAUTHORIZED', 'the identity this token was issued to no longer exists or is disabled');
    // Whole seconds, as iat is: a token from the second of the reset itself still counts.
    if (live.sessionsSince && typeof claims.iat === 'number' && claims.iat < Math.floor(live.sessionsSince / 1000))
      throw new RegistryError('UNAUTHORIZED', 'this sign-in was revoked when the password was reset: sign in again');
    return principal;
  }

  /**
   * A portal session: a token signed like every other (same keys, same rotation) for the portal's
   * own audience, carrying a random CSRF secret its forms must echo. A new one on every sign-in.
   */
  issuePortalSession(p: Principal, seconds: number): { token: string; csrf: string; expiresIn: number; jti: string } {
    const csrf = randomBytes(24).toString('base64url');
    const s = this.sign(p, PORTAL_AUDIENCE, PORTAL_SESSION, seconds, [], { csrf });
    return { token: s.token, csrf, expiresIn: s.expiresIn, jti: s.jti };
  }

  /** The live principal and CSRF secret of a portal session cookie; UNAUTHORIZED when it is not one (or no longer valid). */
  async verifyPortalSession(token: string): Promise<{ principal: Principal; csrf: string; jti: string }> {
    const claims = await this.verifyClaims(token, PORTAL_AUDIENCE);
    if (claims.grant_type !== PORTAL_SESSION || typeof claims.csrf !== 'string')
      throw new RegistryError('UNAUTHORIZED', 'not a portal session');
    const jti = typeof claims.jti === 'string' ? claims.jti : '';
    // Checked on every request (one key lookup), so a sign-out holds on every node at once.
    if (!jti || (await this.store.sessionRevoked(jti))) throw new RegistryError('UNAUTHORIZED', 'this session was signed out');
    const principal = await this.livePrincipal(claims);
    return { principal, csrf: claims.csrf, jti };
  }

  /**
   * Signs a portal session out for good: its token id is refused until the token would have
   * expired, so a copy of the cookie taken before sign-out stops working too. A token that is
   * not a valid session needs nothing.
   */
  async revokePortalSession(token: string): Promise<void> {
    let claims: Record<string, unknown>;
    try {
      claims = await this.verifyClaims(token, PORTAL_AUDIENCE);
    } catch {
      return;
    }
    if (claims.grant_type !== PORTAL_SESSION || typeof claims.jti !== 'string' || typeof claims.exp !== 'number') return;
    await this.store.revokeSession(claims.jti, new Date(claims.exp * 1000).toISOString());
  }

  // ---------------------------------------------------------------- authorization (live)

  /** What the principal may do in one repository of a registry, from roles, tokens, admin and anonymous rules. */
  async grant(p: Principal, reg: RegistryAuthView, repository: string): Promise<Grant> {
    const actions = new Set<Action>();
    let catalog = false;
    if (p.kind === 'user' || p.kind === 'sp') {
      for (const a of await this.assignmentsOf(p.kind, p.id)) {
        if (a.registry_id !== null && a.registry_id !== reg.id) continue;
        const role = ROLES.find((r) => r.name === a.role);
        if (!role) continue;
        if (a.repository === null) catalog ||= role.catalog;
        if (a.repository !== null && !matchesRepository(a.repository, repository)) continue;
        for (const x of role.data) actions.add(x);
      }
    } else if (p.kind === 'admin') {
      if (p.id === reg.id && reg.admin_enabled) {
        for (const x of CONTENT_ACTIONS) actions.add(x);
        catalog = true;
      }
    } else if (p.kind === 'run') {
      // Never cached: the run's status ends its credential the moment the run ends.
      const r = p.registryId === reg.id ? await this.store.runAuth(p.id) : undefined;
      if (r && r.status === 'Running' && repository !== '') {
        actions.add('pull');
        actions.add('metadata_read');
        const push = (JSON.parse(r.scope) as { push: string[] }).push;
        if (push.includes('*') || push.includes(repository)) actions.add('push');
      }
    } else if (p.kind === 'token') {
      if (p.registryId === reg.id) {
        const t = await this.store.tokenById(p.id);
        if (t && t.status === 'enabled') {
          const sm = t.scope_map.startsWith('_') ? undefined : await this.store.scopeMap(reg.id, t.scope_map);
          for (const x of actionsFromScopeRules(scopeRulesFor(sm?.actions, t.scope_map), repository)) actions.add(x);
        }
      }
    }
    // Anonymous pull applies to everyone (ACR: registry-wide, also for authenticated callers).
    if (repository !== '' && !(actions.has('pull') && actions.has('metadata_read')) && (await this.anonymousAllowed(reg, repository))) {
      actions.add('pull');
      actions.add('metadata_read');
    }
    return { actions, catalog };
  }

  async anonymousAllowed(reg: RegistryAuthView, repository: string): Promise<boolean> {
    if (reg.anonymous_pull_enabled && reg.sku !== 'Basic') return true;
    const rules = await this.store.anonymousRules(reg.id);
    return rules.some((r) => matchesRepository(r.repository, repository));
  }

  /** Management powers over a registry (or the deployment, registryId null). */
  async powers(p: Principal, registryId: number | null): Promise<Set<ManagementPower>> {
    const out = new Set<ManagementPower>();
    if (p.kind !== 'user' && p.kind !== 'sp') return out;
    for (const a of await this.assignmentsOf(p.kind, p.id)) {
      if (a.repository !== null) continue;
      if (a.registry_id !== null && a.registry_id !== registryId) continue;
      const role = ROLES.find((r) => r.name === a.role);
      for (const x of role?.management ?? []) out.add(x);
    }
    return out;
  }

  async requirePower(p: Principal, registryId: number | null, power: ManagementPower, what: string): Promise<void> {
    if (p.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'authentication required');
    if (!(await this.powers(p, registryId)).has(power)) {
      throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what}: that needs ${powerRoles(power)}`);
    }
  }

  /**
   * The registries whose catalog the principal may list, from its own grants rather than a walk
   * over every registry (the root catalog must stay cheap with thousands of registries). Catalog
   * rights come only from role assignments without a repository (deployment-wide: all) and a
   * registry's enabled admin user; tokens and anonymous callers never list a catalog (grant()).
   */
  async catalogReach(p: Principal): Promise<CatalogReach> {
    if (p.kind === 'admin') return (await this.store.registryAuth(p.id))?.admin_enabled ? [p.id] : [];
    if (p.kind !== 'user' && p.kind !== 'sp') return [];
    const ids = new Set<number>();
    for (const a of await this.assignmentsOf(p.kind, p.id)) {
      if (a.repository !== null || !ROLES.find((r) => r.name === a.role)?.catalog) continue;
      if (a.registry_id === null) return 'all';
      ids.add(a.registry_id);
    }
    return [...ids];
  }

  // ---------------------------------------------------------------- token issuance

  /**
   * Issues an access token for the scopes asked, each granted only as far as the caller is
   * permitted (auth-token.md: the intersection; no error for partly denied scopes). Registry and
   * repository are resolved from each scope's name the way /v2 resolves URLs.
   */
  async issueAccessToken(
    p: Principal,
    service: string,
    scopes: RequestedScope[],
    hostRegistry: string | undefined,
  ): Promise<{ token: string; expiresIn: number; issuedAt: string; jti: string; access: AccessEntry[] }> {
    const access: AccessEntry[] = [];
    for (const s of scopes.slice(0, 50)) {
      if (s.type === 'registry') {
        if (s.name !== 'catalog') continue;
        let reach = await this.catalogReach(p);
        if (hostRegistry !== undefined) {
          // Host-style: the one registry the host names, if the caller may list it.
          const host = await this.meta.getRegistry(hostRegistry);
          reach = host && (reach === 'all' || reach.includes(host.id)) ? [host.id] : [];
        }
        if (reach === 'all') access.push({ type: 'registry', name: 'catalog', actions: ['*'], rid: [], all: true });
        else access.push({ type: 'registry', name: 'catalog', actions: reach.length ? ['*'] : [], rid: reach });
        continue;
      }
      const target = splitScopeName(s.name, hostRegistry);
      const reg = target ? await this.meta.getRegistry(target.registry) : undefined;
      const view = reg ? await this.store.registryAuth(reg.id) : undefined;
      let granted: string[] = [];
      if (view && target) {
        const g = await this.grant(p, view, target.repository);
        const asked = s.actions.includes('*') ? [...ACTIONS] : s.actions;
        granted = asked.filter((a): a is Action => (ACTIONS as readonly string[]).includes(a) && g.actions.has(a as Action));
        // Clients ask for push to push a signature: a signer gets its signing right in the token instead.
        if (s.actions.includes('push') && g.actions.has('sign') && !granted.includes('sign')) granted.push('sign');
        // '*' in a token means every action, quarantine included: only a caller holding them all gets it.
        if (s.actions.includes('*') && granted.length === ACTIONS.length) granted = ['*', ...granted];
      }
      access.push({ type: 'repository', name: s.name, actions: [...new Set(granted)], rid: view ? [view.id] : [] });
    }
    return this.sign(p, service, 'access_token', this.opts.accessTokenSeconds, access);
  }

  issueRefreshToken(
    p: Principal,
    service: string,
    seconds = this.opts.refreshTokenSeconds,
  ): { token: string; expiresIn: number; issuedAt: string; jti: string } {
    return this.sign(p, service, 'refresh_token', seconds, []);
  }

  /**
   * A `berth account login` session: a refresh token that lasts auth.cliSessionDays (like az
   * login's), accepted only by the routes the berth CLI uses (management API, /acr/v1, and the
   * token service to mint registry tokens of the usual lifetimes), never by /v2 itself.
   */
  issueCliSession(p: Principal, service: string): { token: string; expiresIn: number; issuedAt: string; jti: string } {
    return this.sign(p, service, 'refresh_token', this.opts.cliSessionSeconds, [], { cli: true });
  }

  private sign(
    p: Principal,
    service: string,
    grantType: string,
    seconds: number,
    access: AccessEntry[],
    extra: Record<string, unknown> = {},
  ) {
    const key = this.keys[0];
    if (!key) throw new Error('no signing key loaded');
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const token = signJwt(
      {
        jti,
        sub: principalSubject(p),
        name: describePrincipal(p),
        nbf: now - 5,
        iat: now,
        exp: now + seconds,
        iss: ISSUER,
        aud: service,
        version: '1.0',
        grant_type: grantType,
        ...(p.kind === 'token' || p.kind === 'run' ? { rid: p.registryId } : {}),
        ...extra,
        access,
      },
      key,
    );
    return { token, expiresIn: seconds, issuedAt: new Date(now * 1000).toISOString(), jti, access };
  }

  // ---------------------------------------------------------------- audit

  async audit(e: {
    principal?: Principal;
    identity?: string;
    registry?: RegistryAuthView | null;
    caller: CallerInfo;
    operation: string;
    result: 'Granted' | 'Denied';
    status: number;
    started: number;
    jti?: string;
    reason?: string;
  }): Promise<void> {
    try {
      // Tokens and admin users belong to one registry: their events are that registry's.
      let registry = e.registry;
      if (registry === undefined && (e.principal?.kind === 'token' || e.principal?.kind === 'admin')) {
        registry = (await this.store.registryAuth(e.principal.kind === 'token' ? e.principal.registryId : e.principal.id)) ?? null;
      }
      await this.store.recordLogin({
        registry: registry?.name.toLowerCase() ?? null,
        registry_id: registry?.id ?? null,
        identity: e.principal ? describePrincipal(e.principal) || 'anonymous' : (e.identity ?? '').slice(0, 256),
        identity_type: e.principal?.kind ?? 'unknown',
        jwt_id: e.jti ?? null,
        caller_ip: e.caller.ip,
        user_agent: e.caller.userAgent.slice(0, 512),
        operation: e.operation,
        result: e.result,
        status: e.status,
        duration_ms: Date.now() - e.started,
        reason: e.reason ?? null,
      });
    } catch (err) {
      this.log.warn({ err }, 'could not record login event');
    }
  }
}

function powerRoles(power: ManagementPower): string {
  return ROLES.filter((r) => r.management.includes(power))
    .map((r) => r.name)
    .join(' or ');
}

function isAccessEntry(e: unknown): e is AccessEntry {
  const a = e as AccessEntry;
  return !!a && typeof a === 'object' && typeof a.name === 'string' && Array.isArray(a.actions) && Array.isArray(a.rid);
}

function parseSubject(claims: Record<string, unknown>): Principal | null {
  const sub = claims.sub;
  if (sub === 'anonymous') return ANONYMOUS;
  if (typeof sub !== 'string') return null;
  const m = /^(user|sp|admin|token|run):(\d{1,15})$/.exec(sub);
  if (!m) return null;
  const id = Number(m[2]);
  const name = typeof claims.name === 'string' ? claims.name : '';
  if (m[1] === 'token' || m[1] === 'run') return typeof claims.rid === 'number' ? { kind: m[1], id, name, registryId: claims.rid } : null;
  return { kind: m[1] as 'user' | 'sp' | 'admin', id, name };
}

/** Splits a scope name into registry and repository, as /v2 URLs are split. */
export function splitScopeName(name: string, hostRegistry: string | undefined): { registry: string; repository: string } | null {
  if (hostRegistry !== undefined) return { registry: hostRegistry, repository: name };
  const slash = name.indexOf('/');
  if (slash <= 0) return null;
  const registry = name.slice(0, slash);
  return isValidRegistryName(registry) ? { registry, repository: name.slice(slash + 1) } : null;
}

export { findRole };
