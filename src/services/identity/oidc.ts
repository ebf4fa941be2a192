import { compactVerify, createLocalJWKSet, errors as joseErrors, type JSONWebKeySet } from 'jose';
import { RegistryError } from '../../domain/errors.js';
import { EgressRefused, egressRequest, type EgressOptions } from '../../net/egress.js';

// Verifies ID tokens of external OpenID Connect issuers (GitHub Actions, Kubernetes service
// account issuers, Entra…) for workload identity federation. Keys come from the issuer's
// discovery document (OpenID Connect Discovery 1.0 §4: "<issuer>/.well-known/openid-configuration",
// whose "issuer" MUST be identical to the issuer it was fetched for) and its jwks_uri, fetched only
// through the egress policy (net/egress.ts) and cached per issuer. Only issuers some federated
// credential names are ever fetched: the caller looks credentials up by `iss` first.

/** Asymmetric algorithms only: an HMAC (HS*) key would be a secret shared with every verifier, and `none` is no signature. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export const MAX_TOKEN_BYTES = 16 * 1024;
export const CLOCK_SKEW_SECONDS = 60;
/** A discovery document or JWKS larger than this is refused (they are a few KiB). */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
/** An unknown kid refetches the JWKS at most this often per issuer (key rotation, without letting tokens hammer the issuer). */
const UNKNOWN_KID_REFETCH_MS = 30_000;
/** How long a failed fetch is remembered per issuer. */
const FAILURE_MEMORY_MS = 5_000;

export interface OidcOptions {
  egress: EgressOptions;
  /** How long an issuer's JWKS is used before it is fetched again. */
  jwksCacheSeconds: number;
  /** Least time between two fetches of one issuer's JWKS for an unknown kid (default 30 s; tests shorten it). */
  unknownKidRefetchMs?: number;
}

/** The issuer could not be asked (unreachable, too slow, refused by policy, or answered nonsense): 503. */
export class IssuerUnavailable extends RegistryError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/** The token itself is wrong (the message says how): 401. */
export const badToken = (message: string) => new RegistryError('UNAUTHORIZED', message);

interface CachedKeys {
  jwks: JSONWebKeySet;
  fetchedAt: number;
}

export class OidcVerifier {
  private readonly keys = new Map<string, CachedKeys>();
  private readonly inFlight = new Map<string, Promise<CachedKeys>>();
  /** An issuer that just failed, until when: tokens naming it do not each cost a fetch. */
  private readonly failures = new Map<string, { error: RegistryError; until: number }>();

  constructor(private readonly opts: OidcOptions) {}

  /**
   * The token's claims once its signature verifies against the issuer's keys and its time claims
   * hold (exp required; exp, nbf and iat with CLOCK_SKEW_SECONDS of skew). iss was checked by the
   * caller against a federated credential; aud and sub are the caller's to match.
   */
  async verify(token: string, issuer: string, alg: string): Promise<Record<string, unknown>> {
    let cached = await this.keysOf(issuer, false);
    let payload: Uint8Array;
    try {
      payload = await this.check(token, cached.jwks);
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw this.explain(e, alg, issuer);
      // The issuer may have rotated its keys since they were cached: look once more, not too often.
      if (Date.now() - cached.fetchedAt < (this.opts.unknownKidRefetchMs ?? UNKNOWN_KID_REFETCH_MS)) throw this.explain(e, alg, issuer);
      cached = await this.keysOf(issuer, true);
      try {
        payload = await this.check(token, cached.jwks);
      } catch (e2) {
        throw this.explain(e2, alg, issuer);
      }
    }
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    } catch {
      throw badToken('the token payload is not JSON');
    }
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw badToken('the token payload is not a JSON object');
    checkTimes(claims);
    return claims;
  }

  private async check(token: string, jwks: JSONWebKeySet): Promise<Uint8Array> {
    const keySet = createLocalJWKSet(jwks);
    return (await compactVerify(token, keySet, { algorithms: [...OIDC_ALGORITHMS] })).payload;
  }

  private explain(e: unknown, alg: string, issuer: string): RegistryError {
    if (e instanceof RegistryError) return e;
    if (e instanceof joseErrors.JWKSNoMatchingKey)
      return badToken(`the token is signed with a key (${alg}) that is not in the JWKS of issuer ${issuer}`);
    if (e instanceof joseErrors.JWSSignatureVerificationFailed)
      return badToken(`the token signature does not verify with issuer ${issuer}'s key`);
    if (e instanceof joseErrors.JOSEAlgNotAllowed)
      return badToken(`token algorithm ${alg} is not accepted: use one of ${OIDC_ALGORITHMS.join(', ')}`);
    if (e instanceof joseErrors.JWKSMultipleMatchingKeys)
      return badToken(`issuer ${issuer}'s JWKS has several keys that match the token's header: the token needs a kid`);
    if (e instanceof joseErrors.JOSEError) return badToken(`the token cannot be verified: ${e.message}`);
    return badToken(`the token cannot be verified: ${(e as Error).message}`);
  }

  /** The issuer's JWKS: cached for jwksCacheSeconds, fetched once for concurrent callers. */
  private keysOf(issuer: string, force: boolean): Promise<CachedKeys> {
    const known = this.keys.get(issuer);
    if (!force && known && Date.now() - known.fetchedAt < this.opts.jwksCacheSeconds * 1000) return Promise.resolve(known);
    const pending = this.inFlight.get(issuer);
    if (pending) return pending;
    const failed = this.failures.get(issuer);
    if (failed && failed.until > Date.now()) return Promise.reject(failed.error);
    const p = this.fetchKeys(issuer)
      .catch((e: unknown) => {
        if (e instanceof IssuerUnavailable) {
          if (this.failures.size >= 1000) this.failures.clear();
          this.failures.set(issuer, { error: e, until: Date.now() + FAILURE_MEMORY_MS });
        }
        throw e;
      })
      .finally(() => this.inFlight.delete(issuer));
    this.inFlight.set(issuer, p);
    return p;
  }

  private async fetchKeys(issuer: string): Promise<CachedKeys> {
    // Both fetches share one egress.timeoutMs: a slow issuer costs a caller that long at most.
    const deadline = Date.now() + this.opts.egress.timeoutMs;
    const discoveryUrl = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const discovery = await this.getJson(discoveryUrl, `issuer ${issuer}'s OpenID configuration`, deadline);
    if (discovery.issuer !== issuer)
      throw new IssuerUnavailable(
        `issuer ${issuer}'s OpenID configuration names issuer ${JSON.stringify(discovery.issuer)}; it must be exactly ${issuer}`,
      );
    const jwksUri = discovery.jwks_uri;
    if (typeof jwksUri !== 'string' || !/^https?:\/\//.test(jwksUri))
      throw new IssuerUnavailable(`issuer ${issuer}'s OpenID configuration has no http(s) jwks_uri`);
    const jwks = await this.getJson(jwksUri, `issuer ${issuer}'s JWKS (${jwksUri})`, deadline);
    if (!Array.isArray(jwks.keys)) throw new IssuerUnavailable(`issuer ${issuer}'s JWKS (${jwksUri}) has no "keys" array`);
    const entry = { jwks: jwks as unknown as JSONWebKeySet, fetchedAt: Date.now() };
    if (this.keys.size >= 1000) this.keys.clear();
    this.keys.set(issuer, entry);
    return entry;
  }

  private async getJson(url: string, what: string, deadline: number): Promise<Record<string, unknown>> {
    // Not egress.maxResponseBytes (sized for webhook answers): key sets of big issuers are larger.
    const limit = MAX_DOCUMENT_BYTES;
    let res;
    try {
      // One byte more than the limit is read, to tell "exactly at the limit" from "larger".
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete answer within ${this.opts.egress.timeoutMs} ms`);
      res = await egressRequest(url, 'GET', { Accept: 'application/json' }, undefined, {
        ...this.opts.egress,
        timeoutMs: left,
        maxResponseBytes: limit + 1,
      });
    } catch (e) {
      const why = e instanceof EgressRefused ? e.message : (e as Error).message;
      throw new IssuerUnavailable(`could not fetch ${what}: ${why}`);
    }
    if (res.status !== 200) throw new IssuerUnavailable(`could not fetch ${what}: ${url} answered HTTP ${res.status}`);
    if (res.body.length > limit) throw new IssuerUnavailable(`could not fetch ${what}: the document is larger than ${limit} bytes`);
    let doc: unknown;
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new IssuerUnavailable(`${what} is not JSON (${url})`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new IssuerUnavailable(`${what} is not a JSON object (${url})`);
    return doc as Record<string, unknown>;
  }
}

function checkTimes(claims: Record<string, unknown>): void {
  const now = Math.floor(Date.now() / 1000);
  const { exp, nbf, iat } = claims;
  if (typeof exp !== 'number') throw badToken('the token has no exp (expiry) claim; one is required');
  if (exp + CLOCK_SKEW_SECONDS <= now)
    throw badToken(`the token expired at ${new Date(exp * 1000).toISOString()} (now ${new Date(now * 1000).toISOString()})`);
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') throw badToken('the token nbf claim is not a number');
    if (nbf - CLOCK_SKEW_SECONDS > now) throw badToken(`the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
  }
  if (iat !== undefined) {
    if (typeof iat !== 'number') throw badToken('the token iat claim is not a number');
    if (iat - CLOCK_SKEW_SECONDS > now) throw badToken(`the token was issued in the future (iat ${new Date(iat * 1000).toISOString()})`);
  }
}
