import {
  ANONYMOUS,
  describePrincipal,
  type AccessEntry,
  type AuthService,
  type CatalogReach,
  type CallerInfo,
  type Principal,
  type RegistryAuthView,
} from '../auth/service.js';
import type { Action } from '../auth/model.js';
import { RegistryError } from '../domain/errors.js';
import { normalizeAddress } from '../domain/network.js';
import type { Ctx } from './context.js';
import { identify } from '../services/actor.js';

// Who is calling, and whether they may do what a request needs. Denials are decided before any
// lookup of the thing asked for, so they never reveal whether it exists.

export interface AuthContext {
  principal: Principal;
  /** Set for Bearer requests: the access the token carries. */
  access?: AccessEntry[];
}

export interface AuthHttpOptions {
  /** Realm base, e.g. https://registry.example.com; empty = from the request. */
  publicUrl: string;
  tls: boolean;
}

/** Who is calling from where: the client address decided once per request (server.ts). */
export function caller(ctx: Ctx): CallerInfo {
  const ua = ctx.req.headers['user-agent'];
  return {
    ip: ctx.clientIp ?? (normalizeAddress(ctx.req.socket.remoteAddress ?? '') || 'unknown'),
    userAgent: typeof ua === 'string' ? ua : '',
  };
}

/** The caller as the network rules see it (access.locate): address, agent, request id. */
export function networkClient(ctx: Ctx): { ip: string; userAgent: string; correlationId: string; method: string } {
  const c = caller(ctx);
  return { ...c, correlationId: ctx.requestId, method: ctx.req.method ?? '' };
}

/** The token service's name for this request: the login server the client talks to. */
export function serviceName(ctx: Ctx, opts: AuthHttpOptions): string {
  if (opts.publicUrl) return new URL(opts.publicUrl).host;
  return (ctx.req.headers.host ?? 'localhost').toLowerCase();
}

export function realm(ctx: Ctx, opts: AuthHttpOptions): string {
  if (opts.publicUrl) return `${opts.publicUrl.replace(/\/+$/, '')}/oauth2/token`;
  return `${opts.tls ? 'https' : 'http'}://${ctx.req.headers.host ?? 'localhost'}/oauth2/token`;
}

/**
 * Parses the Authorization header into a principal. No header = anonymous. A `berth account
 * login` session counts only where the berth CLI sends it (accept.cliSession: /api, /acr/v1).
 */
export async function authenticate(
  ctx: Ctx,
  auth: AuthService,
  service: string,
  accept: { cliSession?: boolean } = {},
): Promise<AuthContext> {
  const a = await authenticateHeader(ctx, auth, service, accept);
  // The repository audit records who caused each event.
  if (a.principal.kind !== 'anonymous') identify(describePrincipal(a.principal));
  return a;
}

async function authenticateHeader(ctx: Ctx, auth: AuthService, service: string, accept: { cliSession?: boolean }): Promise<AuthContext> {
  const header = ctx.req.headers.authorization;
  if (!header) return { principal: ANONYMOUS };
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    let decoded: string;
    try {
      decoded = Buffer.from(value, 'base64').toString('utf8');
    } catch {
      decoded = '';
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new RegistryError('UNAUTHORIZED', 'malformed Basic credentials');
    return { principal: await auth.authenticateBasic(decoded.slice(0, colon), decoded.slice(colon + 1), caller(ctx), service, accept) };
  }
  if (scheme === 'bearer') {
    const v = await auth.verifyBearer(value, service, false, accept.cliSession);
    return { principal: v.principal, access: v.access };
  }
  throw new RegistryError('UNAUTHORIZED', `unsupported authorization scheme "${scheme.slice(0, 20)}": use Basic or Bearer`);
}

export function challenge(
  ctx: Ctx,
  opts: AuthHttpOptions,
  service: string,
  scope: string | undefined,
  error?: string,
): Record<string, string> {
  const parts = [`realm="${realm(ctx, opts)}"`, `service="${service}"`];
  if (scope) parts.push(`scope="${scope}"`);
  if (error) parts.push(`error="${error}"`);
  return { 'WWW-Authenticate': `Bearer ${parts.join(',')}` };
}

/** Actions as a person reads them in a denial. */
const ACTION_WORDS: Record<Action, string> = {
  pull: 'pull from',
  push: 'push to',
  delete: 'delete from',
  metadata_read: 'list the tags of',
  metadata_write: 'change tags or locks in',
  quarantine_read: 'read quarantined images of',
  quarantine_write: 'change the quarantine state of images in',
  sign: 'push signatures to',
};

export interface Need {
  registry: RegistryAuthView | undefined;
  /** Repository within the registry ('' for registry-level checks). */
  repository: string;
  /** The name as in URLs and scopes. */
  urlName: string;
  /** Any one of these suffices. */
  anyOf: Action[];
  /** The scope a client should ask for. */
  scope: string;
}

export function tokenAllows(access: AccessEntry[], need: Need): boolean {
  if (!need.registry) return false;
  return access.some(
    (e) =>
      e.type === 'repository' &&
      e.name === need.urlName &&
      e.rid.includes(need.registry!.id) &&
      (e.actions.includes('*') || need.anyOf.some((a) => e.actions.includes(a))),
  );
}

/**
 * Lets the request through or throws: 401 with a challenge when the caller is anonymous (or holds
 * a token that lacks a scope they could get), 403 DENIED when an identified caller is not allowed.
 */
export async function authorize(
  ctx: Ctx,
  auth: AuthService,
  a: AuthContext,
  need: Need,
  opts: AuthHttpOptions,
  service: string,
): Promise<void> {
  if (a.access && tokenAllows(a.access, need)) return;
  const live = need.registry ? await auth.grant(a.principal, need.registry, need.repository) : undefined;
  const permitted = !!live && need.anyOf.some((x) => live.actions.has(x));
  if (permitted && !a.access) return;
  if (a.principal.kind === 'anonymous') {
    throw new RegistryError('UNAUTHORIZED', 'authentication required', {
      headers: challenge(ctx, opts, service, need.scope),
      detail: [{ Type: 'repository', Name: need.urlName, Action: need.anyOf[0] }],
    });
  }
  if (permitted) {
    // Bearer token without this scope, but the caller may have it: ask for a new token.
    throw new RegistryError('UNAUTHORIZED', 'the token does not grant this access; request a token with the scope below', {
      headers: challenge(ctx, opts, service, need.scope, 'insufficient_scope'),
    });
  }
  throw new RegistryError(
    'DENIED',
    `${describePrincipal(a.principal)} is not allowed to ${need.anyOf.map((x) => ACTION_WORDS[x]).join(' or ')} ${need.urlName}`,
  );
}

/** Registry-level catalog check (path-style root catalogs filter instead). */
export async function authorizeCatalog(
  ctx: Ctx,
  auth: AuthService,
  a: AuthContext,
  reg: RegistryAuthView | undefined,
  opts: AuthHttpOptions,
  service: string,
): Promise<void> {
  if (
    a.access &&
    reg &&
    a.access.some(
      (e) => e.type === 'registry' && e.name === 'catalog' && (e.all === true || e.rid.includes(reg.id)) && e.actions.length > 0,
    )
  )
    return;
  const live = reg ? (await auth.grant(a.principal, reg, '')).catalog : false;
  if (live && !a.access) return;
  if (a.principal.kind === 'anonymous')
    throw new RegistryError('UNAUTHORIZED', 'authentication required', { headers: challenge(ctx, opts, service, 'registry:catalog:*') });
  if (live)
    throw new RegistryError('UNAUTHORIZED', 'the token does not grant catalog access', {
      headers: challenge(ctx, opts, service, 'registry:catalog:*', 'insufficient_scope'),
    });
  throw new RegistryError('DENIED', `${describePrincipal(a.principal)} is not allowed to list the catalog`);
}

/** The registries whose catalog this caller may list (root catalog, path-style): from the token's grant, else live. */
export async function catalogScope(auth: AuthService, a: AuthContext): Promise<CatalogReach> {
  if (a.access) {
    const ids = new Set<number>();
    for (const e of a.access) {
      if (e.type !== 'registry' || e.name !== 'catalog' || e.actions.length === 0) continue;
      if (e.all === true) return 'all';
      for (const id of e.rid) ids.add(id);
    }
    return [...ids];
  }
  return auth.catalogReach(a.principal);
}
