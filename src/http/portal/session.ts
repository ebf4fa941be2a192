import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { describePrincipal, type AuthService, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { identify } from '../../services/actor.js';
import { readBody, type Ctx } from '../context.js';

// Portal sessions. The session cookie holds a token from the token service (signed with the
// deployment's rotating keys, audience "berth-portal", expiring after portal.sessionHours) that
// names the principal and carries a random CSRF secret. Every request verifies it and re-checks
// the principal live, as a bearer token is: a disabled or deleted identity, or a password reset,
// ends the session. A sign-in always issues a new token, so a cookie planted before sign-in is
// never promoted (no fixation).

export const SESSION_COOKIE = 'berth_portal';
/** Before sign-in: the secret the sign-in form echoes (double submit), so no site can sign a browser in as someone else. */
export const SIGN_IN_COOKIE = 'berth_portal_signin';
const FORM_LIMIT = 16 * 1024;

export interface Session {
  principal: Principal;
  /** The secret every form of this session carries as _csrf. */
  csrf: string;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** Over TLS here, or behind a public https URL: the cookie is then never sent in clear. */
export function secureRequest(ctx: Ctx, opts: { tls: boolean; publicUrl: string }): boolean {
  return opts.tls || !!(ctx.req.socket as TLSSocket).encrypted || opts.publicUrl.startsWith('https:');
}

/**
 * A portal cookie: HttpOnly (scripts never read it), Path=/portal (never sent to /v2 or /api),
 * SameSite=Lax (no cross-site POST carries it; links into the portal from elsewhere still open
 * signed in, and GET screens change nothing), Secure when served over TLS.
 */
export function cookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export const newSecret = (): string => randomBytes(24).toString('base64url');

/** Equal secrets, compared in constant time (digests, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length > 0;
}

/** The session the request's cookie holds, or undefined (none, expired, revoked, or its principal is gone). */
export async function currentSession(ctx: Ctx, auth: AuthService): Promise<Session | undefined> {
  const token = parseCookies(ctx.req.headers.cookie).get(SESSION_COOKIE);
  if (!token) return undefined;
  try {
    const s = await auth.verifyPortalSession(token);
    identify(describePrincipal(s.principal));
    return { principal: s.principal, csrf: s.csrf };
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') return undefined;
    throw e;
  }
}

/** A urlencoded form body (what the portal's forms post), up to 16 KiB. */
export async function readForm(ctx: Ctx): Promise<URLSearchParams> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = await readBody(
    ctx,
    FORM_LIMIT,
    () => new RegistryError('REQUEST_INVALID', `form exceeds ${FORM_LIMIT} bytes`, { status: 413 }),
  );
  if (type !== 'application/x-www-form-urlencoded') return new URLSearchParams();
  return new URLSearchParams(body.toString('utf8'));
}
