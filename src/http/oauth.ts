import { parseScope, type RequestedScope } from '../auth/model.js';
import { ANONYMOUS, type Principal } from '../auth/service.js';
import { RegistryError } from '../domain/errors.js';
import { FederatedCredentials } from '../services/identity/identities.js';
import type { Services } from '../services/index.js';
import { authenticate, caller, serviceName, type AuthHttpOptions } from './auth.js';
import { readBody, sendJson, type Ctx } from './context.js';
import { hostRegistry } from './oci/target.js';

// The token service: Docker token auth (auth-token.md: GET with Basic), OAuth2 (auth-oauth.md:
// POST grant_type=password|refresh_token) and ACR's /oauth2/exchange.

export interface OAuthOptions extends AuthHttpOptions {
  domain: string;
}

function scopesFrom(values: string[]): RequestedScope[] {
  const out: RequestedScope[] = [];
  for (const v of values)
    for (const part of v.split(' ')) {
      if (!part) continue;
      const s = parseScope(part);
      if (s) out.push(s);
    }
  return out;
}

async function form(ctx: Ctx): Promise<URLSearchParams> {
  const body = await readBody(ctx, 64 * 1024, () => new RegistryError('UNAUTHORIZED', 'token request body too large', { status: 413 }));
  return new URLSearchParams(body.toString('utf8'));
}

export async function handleOAuth(ctx: Ctx, svc: Services, rawPath: string, opts: OAuthOptions): Promise<void> {
  ctx.route = 'oauth';
  const method = ctx.req.method ?? 'GET';
  const started = Date.now();
  const who = caller(ctx);
  const q = ctx.url.searchParams;

  if (rawPath === '/oauth2/token' && method === 'GET') {
    const service = q.get('service') ?? (ctx.req.headers.host ?? '').toLowerCase();
    let principal: Principal;
    try {
      principal = (await authenticate(ctx, svc.auth, service)).principal;
    } catch (e) {
      throw tokenError(e);
    }
    return issue(ctx, svc, principal, service, scopesFrom(q.getAll('scope')), q.get('offline_token') === 'true', started, opts, 'token');
  }

  if (rawPath === '/oauth2/token' && method === 'POST') {
    const f = await form(ctx);
    const service = f.get('service') ?? (ctx.req.headers.host ?? '').toLowerCase();
    const grant = f.get('grant_type');
    let principal: Principal;
    let offline = f.get('access_type') === 'offline';
    if (grant === 'password') {
      principal = await svc.auth.authenticateBasic(f.get('username') ?? '', f.get('password') ?? '', who, service).catch((e) => {
        throw tokenError(e);
      });
    } else if (grant === 'refresh_token') {
      // A CLI session may be refreshed into access tokens (the credential helper, check-health).
      const v = await svc.auth.verifyBearer(f.get('refresh_token') ?? '', service, true, true).catch((e) => {
        throw tokenError(e);
      });
      principal = v.principal;
      offline = false;
    } else {
      throw new RegistryError('UNAUTHORIZED', `unsupported grant_type "${(grant ?? '').slice(0, 40)}": use password or refresh_token`, {
        status: 400,
      });
    }
    return issue(ctx, svc, principal, service, scopesFrom(f.getAll('scope')), offline, started, opts, 'token');
  }

  if (rawPath === '/oauth2/exchange' && method === 'POST') {
    // ACR exchanges an Entra token for a registry refresh token; Berth exchanges its own
    // credentials: grant_type=password (username, password) or access_token (a Berth token, or
    // an external OIDC token a service principal's federated credential trusts).
    const f = await form(ctx);
    const service = f.get('service') ?? (ctx.req.headers.host ?? '').toLowerCase();
    const grant = f.get('grant_type');
    const presented = f.get('access_token') ?? f.get('refresh_token') ?? '';
    // Workload identity federation: a token that is not Berth's own is an external OIDC ID token,
    // exchanged for a refresh token of the service principal whose federated credential trusts it.
    if (grant === 'access_token' && FederatedCredentials.isExternal(presented)) {
      if (f.get('session') !== null)
        throw new RegistryError('UNAUTHORIZED', 'a CLI session (session=cli) starts from grant_type=password', { status: 400 });
      const r = await svc.identities.federatedCredentials.exchange(presented, service, who, f.get('client_id') ?? undefined);
      return sendJson(ctx, 200, { refresh_token: r.token, expires_in: r.expiresIn }, { 'Cache-Control': 'no-store' });
    }
    let principal: Principal;
    if (grant === 'password')
      principal = await svc.auth.authenticateBasic(f.get('username') ?? '', f.get('password') ?? '', who, service).catch((e) => {
        throw tokenError(e);
      });
    else if (grant === 'access_token' || grant === 'refresh_token') principal = await exchangeable(ctx, svc, presented, service, opts);
    else throw new RegistryError('UNAUTHORIZED', 'grant_type must be password or access_token', { status: 400 });
    if (principal.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'credentials required');
    // session=cli: `berth account login` asks for a CLI session (auth.cliSessionDays) instead of
    // a registry refresh token (auth.refreshTokenSeconds); only a password starts one.
    const session = f.get('session');
    if (session !== null && session !== 'cli')
      throw new RegistryError('UNAUTHORIZED', `unsupported session "${session.slice(0, 40)}": the only one is session=cli`, {
        status: 400,
      });
    if (session === 'cli' && grant !== 'password')
      throw new RegistryError('UNAUTHORIZED', 'a CLI session (session=cli) starts from grant_type=password', { status: 400 });
    const r = session === 'cli' ? svc.auth.issueCliSession(principal, service) : svc.auth.issueRefreshToken(principal, service);
    await svc.auth.audit({ principal, caller: who, operation: 'exchange', result: 'Granted', status: 200, started, jti: r.jti });
    return sendJson(ctx, 200, { refresh_token: r.token, expires_in: r.expiresIn });
  }

  if (rawPath === '/oauth2/jwks' && method === 'GET') return sendJson(ctx, 200, await svc.auth.jwks());
  throw new RegistryError('NOT_FOUND', `no token endpoint at ${method} ${rawPath.slice(0, 80)}`);
}

/**
 * The token presented to /oauth2/exchange: one for the service asked for, or one for the login
 * server this request was sent to. Exchanging across login servers of one deployment (same
 * signing keys, same principal, access decided live) is what the exchange is for: `berth login`
 * turns the sign-in it holds for the server into a token for a registry's host-style login server.
 */
async function exchangeable(ctx: Ctx, svc: Services, token: string, service: string, opts: OAuthOptions): Promise<Principal> {
  try {
    return (await svc.auth.verifyBearer(token, service, true, true)).principal;
  } catch (e) {
    const own = serviceName(ctx, opts);
    if (own === service) throw tokenError(e);
    try {
      return (await svc.auth.verifyBearer(token, own, true, true)).principal;
    } catch {
      throw tokenError(e);
    }
  }
}

/** Bad credentials at the token endpoint: 401 UNAUTHORIZED (429 passes through). */
function tokenError(e: unknown): unknown {
  return e;
}

async function issue(
  ctx: Ctx,
  svc: Services,
  principal: Principal,
  service: string,
  scopes: RequestedScope[],
  offline: boolean,
  started: number,
  opts: OAuthOptions,
  operation: string,
): Promise<void> {
  const fromHost = hostRegistry(service, opts.domain, svc.replication.regions);
  const t = await svc.auth.issueAccessToken(principal, service, scopes, fromHost);
  const refresh = offline && principal.kind !== 'anonymous' ? svc.auth.issueRefreshToken(principal, service) : undefined;
  const granted = t.access.some((a) => a.actions.length > 0) || scopes.length === 0;
  // A token request about one registry is that registry's event (audit list --registry).
  const rids = new Set(t.access.flatMap((a) => a.rid));
  const registry = rids.size === 1 ? ((await svc.auth.store.registryAuth([...rids][0]!)) ?? null) : undefined;
  await svc.auth.audit({
    principal: principal === ANONYMOUS ? undefined : principal,
    identity: 'anonymous',
    registry,
    caller: caller(ctx),
    operation,
    result: granted ? 'Granted' : 'Denied',
    status: 200,
    started,
    jti: t.jti,
    reason:
      scopes
        .map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`)
        .join(' ')
        .slice(0, 500) || undefined,
  });
  sendJson(
    ctx,
    200,
    {
      token: t.token,
      access_token: t.token,
      expires_in: t.expiresIn,
      issued_at: t.issuedAt,
      ...(refresh ? { refresh_token: refresh.token } : {}),
    },
    { 'Cache-Control': 'no-store' },
  );
}
