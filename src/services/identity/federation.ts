import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { ISSUER, type CallerInfo, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { FederatedCredentialRow, KyselyFederatedCredentials } from '../../meta/federated-credentials.js';
import type { IdentityContext } from './context.js';
import { badToken, IssuerUnavailable, MAX_TOKEN_BYTES, OIDC_ALGORITHMS, OidcVerifier, type OidcOptions } from './oidc.js';
import { requireSp } from './service-principals.js';
import { conflict, invalid, unknown } from './validate.js';

// Workload identity federation, as Entra ID has it: a service principal's federated identity
// credentials each trust one external OIDC issuer's tokens for one subject and audience, and
// /oauth2/exchange turns such a token into a Berth refresh token for that service principal (its
// role assignments then decide access, as for a secret). No secret is stored or shipped: a CI job
// or a Kubernetes pod proves who it is with a token its platform signs.

/** Entra's federatedIdentityCredential, plus createdTime. */
export interface FederatedCredentialView {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
  description: string;
  createdTime: string;
}

/** Entra's recommended audience for federated credentials, used when none is given. */
export const DEFAULT_AUDIENCE = 'api://AzureADTokenExchange';
export const MAX_CREDENTIALS_PER_SP = 20;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$/;
const MAX_CLAIM = 600;

function view(r: FederatedCredentialRow): FederatedCredentialView {
  return {
    id: r.uid,
    name: r.name,
    issuer: r.issuer,
    subject: r.subject,
    audiences: JSON.parse(r.audiences) as string[],
    description: r.description,
    createdTime: r.created_at,
  };
}

const isLoopback = (host: string) => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
};

function checkIssuer(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0)
    throw invalid('"issuer" is required: the https URL of the OIDC issuer, exactly as its tokens\' iss claim');
  if (v.length > MAX_CLAIM) throw invalid(`"issuer" is ${v.length} characters; at most ${MAX_CLAIM}`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw invalid(`"issuer" must be an https URL, got "${v.slice(0, 80)}"`);
  }
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    throw invalid(
      `"issuer" must be an https URL (http only for loopback addresses such as http://127.0.0.1:8080), got "${v.slice(0, 80)}"`,
    );
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw invalid(`"issuer" must be an https URL, got "${v.slice(0, 80)}"`);
  if (u.username || u.password || u.search || u.hash) throw invalid('"issuer" must not carry credentials, a query or a fragment');
  return v;
}

function checkText(field: string, v: unknown, required: boolean): string {
  if (v === undefined || v === null) {
    if (required) throw invalid(`"${field}" is required`);
    return '';
  }
  if (typeof v !== 'string') throw invalid(`"${field}" must be a string`);
  if (required && v.length === 0) throw invalid(`"${field}" must not be empty`);
  if (v.length > MAX_CLAIM) throw invalid(`"${field}" is ${v.length} characters; at most ${MAX_CLAIM}`);
  if (/\p{Cc}/u.test(v)) throw invalid(`"${field}" must not contain control characters`);
  return v;
}

function checkAudiences(v: unknown): string[] {
  if (v === undefined || v === null) return [DEFAULT_AUDIENCE];
  if (!Array.isArray(v) || v.some((a) => typeof a !== 'string')) throw invalid('"audiences" must be an array of strings');
  if (v.length !== 1)
    throw invalid(`"audiences" must hold exactly one audience (as in Entra ID), got ${v.length}; ${DEFAULT_AUDIENCE} is the usual one`);
  return [checkText('audiences[0]', v[0], true)];
}

/** A name for a credential created without one: stable for its issuer and subject (unique on one SP, as they are). */
export function derivedName(issuer: string, subject: string): string {
  return `fc-${createHash('sha256').update(`${issuer}\u0000${subject}`).digest('hex').slice(0, 20)}`;
}

const shown = (s: unknown) => JSON.stringify(typeof s === 'string' ? s.slice(0, 200) : s);

export class FederatedCredentials {
  private readonly verifier: OidcVerifier;

  constructor(
    private readonly ctx: IdentityContext,
    private readonly store: KyselyFederatedCredentials,
    opts: OidcOptions,
  ) {
    this.verifier = new OidcVerifier(opts);
  }

  // ---------------------------------------------------------------- management

  async list(p: Principal, appId: string): Promise<FederatedCredentialView[]> {
    const sp = await requireSp(this.ctx, p, appId, 'read', 'list the federated credentials of');
    return (await this.store.list(sp.id)).map(view);
  }

  async show(p: Principal, appId: string, name: string): Promise<FederatedCredentialView> {
    const sp = await requireSp(this.ctx, p, appId, 'read', 'show the federated credentials of');
    const row = await this.store.byName(sp.id, name);
    if (!row) throw unknown(`service principal ${sp.app_id} has no federated credential "${name.slice(0, 120)}"`);
    return view(row);
  }

  async create(
    p: Principal,
    appId: string,
    input: { name?: unknown; issuer?: unknown; subject?: unknown; audiences?: unknown; description?: unknown },
  ): Promise<FederatedCredentialView> {
    const sp = await requireSp(this.ctx, p, appId, 'assign_roles', 'add a federated credential to');
    const issuer = checkIssuer(input.issuer);
    const subject = checkText('subject', input.subject, true);
    const audiences = checkAudiences(input.audiences);
    const description = checkText('description', input.description, false);
    let name: string;
    if (input.name === undefined || input.name === null) name = derivedName(issuer, subject);
    else if (typeof input.name !== 'string' || !NAME.test(input.name))
      throw invalid(
        `"name" must be 1-120 letters, digits, hyphens and underscores, starting with a letter or digit; got ${shown(input.name)}`,
      );
    else name = input.name;
    if ((await this.store.count(sp.id)) >= MAX_CREDENTIALS_PER_SP)
      throw invalid(
        `service principal ${sp.app_id} has ${MAX_CREDENTIALS_PER_SP} federated credentials, the most it may have: delete one first`,
      );
    const r = await this.store.create({ sp_id: sp.id, name, issuer, subject, audiences: JSON.stringify(audiences), description });
    if (r === 'name') throw conflict(`service principal ${sp.app_id} already has a federated credential named "${name}"`);
    if (r === 'subject')
      throw conflict(
        `service principal ${sp.app_id} already has a federated credential for issuer ${issuer} and subject ${shown(subject)}`,
      );
    return view(r);
  }

  async delete(p: Principal, appId: string, name: string): Promise<void> {
    const sp = await requireSp(this.ctx, p, appId, 'assign_roles', 'delete a federated credential of');
    if (!(await this.store.delete(sp.id, name)))
      throw unknown(`service principal ${sp.app_id} has no federated credential "${name.slice(0, 120)}"`);
  }

  // ---------------------------------------------------------------- the token exchange

  /** Is this not one of Berth's own tokens (decided from its claims, before any verification)? */
  static isExternal(token: string): boolean {
    try {
      return decodeJwt(token).iss !== ISSUER;
    } catch {
      // Not a JWT at all: let the federation path say so plainly.
      return true;
    }
  }

  /**
   * An external OIDC token exchanged for a refresh token of the service principal one of whose
   * federated credentials trusts it (issuer, subject and audience exactly). clientId (an app id)
   * chooses among service principals that trust the same token. Throttled like password sign-ins
   * (per caller address and issuer + subject) and audited as "exchange" either way.
   */
  async exchange(
    token: string,
    service: string,
    caller: CallerInfo,
    clientId: string | undefined,
  ): Promise<{ token: string; expiresIn: number; principal: Principal; credential: string }> {
    const started = Date.now();
    const throttle = this.ctx.auth.signInThrottle;
    let identity = 'federated token';
    let principal: Principal | undefined;
    let counted = false;
    try {
      const { iss, sub, alg } = this.peek(token);
      identity = `${iss} ${sub}`.slice(0, 256);
      throttle.check(caller.ip, identity);
      counted = true;
      const candidates = await this.store.byIssuer(iss);
      if (candidates.length === 0) throw badToken(`no federated credential trusts issuer ${iss}`);
      const claims = await this.verifier.verify(token, iss, alg);
      if (claims.iss !== iss) throw badToken(`token issuer ${shown(claims.iss)} is not ${iss}`);
      const match = await this.match(candidates, claims, clientId);
      principal = match.principal;
      throttle.success(caller.ip, identity);
      const r = this.ctx.auth.issueRefreshToken(match.principal, service);
      await this.ctx.auth.audit({
        principal: match.principal,
        caller,
        operation: 'exchange',
        result: 'Granted',
        status: 200,
        started,
        jti: r.jti,
        reason: `federated credential ${match.row.name} (issuer ${iss}, subject ${match.row.subject})`.slice(0, 500),
      });
      return { token: r.token, expiresIn: r.expiresIn, principal: match.principal, credential: match.row.name };
    } catch (e) {
      const err =
        e instanceof RegistryError ? e : new RegistryError('UNAUTHORIZED', `the token cannot be verified: ${(e as Error).message}`);
      // The issuer being unreachable says nothing about the caller: not counted as a failed sign-in.
      if (counted && err.code === 'UNAUTHORIZED') throttle.failure(caller.ip, identity);
      await this.ctx.auth.audit({
        principal,
        identity,
        caller,
        operation: 'exchange',
        result: 'Denied',
        status: err.status,
        started,
        reason: err.message.slice(0, 500),
      });
      throw err;
    }
  }

  /** iss, sub and alg from the unverified token, with the checks that need no key. */
  private peek(token: string): { iss: string; sub: string; alg: string } {
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES)
      throw badToken(`the token is ${Buffer.byteLength(token)} bytes; tokens of at most ${MAX_TOKEN_BYTES} bytes (16 KiB) are accepted`);
    let header: { alg?: unknown };
    let payload: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
      payload = decodeJwt(token);
    } catch {
      throw badToken('access_token is neither a Berth token nor a JWT (an OIDC ID token) with a JSON header and payload');
    }
    const alg = typeof header.alg === 'string' ? header.alg : '';
    if (alg.toLowerCase() === 'none') throw badToken('unsigned tokens (alg "none") are refused: the issuer must sign its tokens');
    if (/^HS/i.test(alg))
      throw badToken(
        `tokens signed with a shared secret (${alg}) are refused: use a token its issuer signs with a published key (${OIDC_ALGORITHMS.join(', ')})`,
      );
    if (!(OIDC_ALGORITHMS as readonly string[]).includes(alg))
      throw badToken(`token algorithm ${shown(alg)} is not accepted: use one of ${OIDC_ALGORITHMS.join(', ')}`);
    if (typeof payload.iss !== 'string' || payload.iss.length === 0) throw badToken('the token has no iss (issuer) claim');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw badToken('the token has no sub (subject) claim');
    return { iss: payload.iss, sub: payload.sub, alg };
  }

  /** The one credential (and its live service principal) the verified claims satisfy, or why none does. */
  private async match(
    candidates: FederatedCredentialRow[],
    claims: Record<string, unknown>,
    clientId: string | undefined,
  ): Promise<{ row: FederatedCredentialRow; principal: Principal }> {
    const sub = claims.sub as string;
    const tokenAud =
      typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a) => typeof a === 'string') : [];
    let pool = candidates;
    if (clientId !== undefined) {
      const sp = await this.ctx.store.spByAppId(clientId);
      pool = sp ? candidates.filter((c) => c.sp_id === sp.id) : [];
      if (pool.length === 0)
        throw badToken(`service principal ${shown(clientId)} has no federated credential for issuer ${candidates[0]!.issuer}`);
    }
    const bySubject = pool.filter((c) => c.subject === sub);
    if (bySubject.length === 0)
      // Not the credentials' subjects: any workload of a shared issuer (every GitHub Actions job)
      // can get a signed token, and must not learn which repositories or accounts are trusted.
      throw badToken(`token subject ${shown(sub)} matches no federated credential for issuer ${candidates[0]!.issuer}`);
    const byAudience = bySubject.filter((c) => (JSON.parse(c.audiences) as string[]).some((a) => tokenAud.includes(a)));
    if (byAudience.length === 0) {
      const c = bySubject[0]!;
      const want = (JSON.parse(c.audiences) as string[]).join(', ');
      throw badToken(
        `token audience ${tokenAud.length ? tokenAud.join(', ') : '(none)'} does not match federated credential ${c.name}'s audience ${want}`,
      );
    }
    const sps = new Set(byAudience.map((c) => c.sp_id));
    if (sps.size > 1) throw badToken(`${sps.size} service principals trust this token: pass client_id=<app id> to choose one`);
    const row = byAudience[0]!;
    const sp = await this.ctx.store.spById(row.sp_id);
    if (!sp) throw badToken(`the service principal of federated credential ${row.name} no longer exists`);
    return { row, principal: { kind: 'sp', id: sp.id, name: sp.app_id } };
  }
}

export { IssuerUnavailable };
