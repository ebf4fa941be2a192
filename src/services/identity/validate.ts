import { formatScopeRule, parseScopeRule, SCOPE_MAP_ACTIONS, type RoleDefinition } from '../../auth/model.js';
import { TOKEN_USERNAME } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';

// Input checks shared by the identity services, and the errors they throw.

const USER_NAME = /^[A-Za-z0-9._@-]{3,64}$/;
const ACR_NAME = /^[a-zA-Z0-9_-]{5,50}$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;
const MAX_DESCRIPTION = 256;
const MAX_SCOPE_MAP_ACTIONS = 500;

export const invalid = (message: string) => new RegistryError('REQUEST_INVALID', message);
export const unknown = (message: string) => new RegistryError('RESOURCE_UNKNOWN', message);
export const conflict = (message: string) => new RegistryError('CONFLICT', message);

/** "2h", "3d", "30m", "45s" or an ISO-8601 time, as an ISO-8601 UTC string. */
export function parseSince(raw: string, now = Date.now(), field = 'since'): string {
  const rel = /^(\d{1,7})([smhd])$/.exec(raw.trim());
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(rel[1]) * unit).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(t))
    throw invalid(`"${field}" must be an ISO-8601 time (2026-01-05T10:00:00Z) or a span such as 30m, 2h, 3d; got "${raw.slice(0, 60)}"`);
  return new Date(t).toISOString();
}

/** Expiry of a new secret: `expirationInDays` or an absolute `expiration`, or none (ACR: never). */
export function parseExpiry(o: { expirationInDays?: number; expiration?: string }, now = Date.now()): string | null {
  if (o.expirationInDays !== undefined && o.expiration !== undefined) throw invalid('give either expirationInDays or expiration, not both');
  if (o.expirationInDays !== undefined) {
    const d = o.expirationInDays;
    if (!Number.isInteger(d) || d < 1 || d > 36_500)
      throw invalid(`expirationInDays must be a whole number of days from 1 to 36500, got ${JSON.stringify(d)}`);
    return new Date(now + d * 86_400_000).toISOString();
  }
  if (o.expiration !== undefined) {
    const t = /^\d{4}-\d{2}-\d{2}/.test(o.expiration) ? Date.parse(o.expiration) : NaN;
    if (Number.isNaN(t))
      throw invalid(`expiration must be an ISO-8601 date or time such as 2027-01-01T00:00:00Z, got "${String(o.expiration).slice(0, 60)}"`);
    if (t <= now) throw invalid(`expiration ${o.expiration} is in the past`);
    return new Date(t).toISOString();
  }
  return null;
}

export function canonicalScope(reg: { name: string } | null, repository: string | null): string {
  if (!reg) return '/';
  return repository === null ? `/registries/${reg.name}` : `/registries/${reg.name}/repositories/${repository}`;
}

export function assertUserName(name: unknown): string {
  if (typeof name !== 'string' || !USER_NAME.test(name)) {
    throw invalid(
      `a user name is 3-64 characters: letters, digits, ".", "_", "@" and "-"; got ${JSON.stringify(typeof name === 'string' ? name.slice(0, 80) : name)}`,
    );
  }
  if (UUID.test(name) || name === TOKEN_USERNAME)
    throw invalid(`"${name}" looks like an app id: user names cannot be UUIDs (those name service principals)`);
  return name;
}

export function assertPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD) throw invalid(`a password needs at least ${MIN_PASSWORD} characters`);
  if (password.length > MAX_PASSWORD) throw invalid(`a password has at most ${MAX_PASSWORD} characters`);
  if (/\p{Cc}/u.test(password)) throw invalid('a password cannot contain control characters');
  return password;
}

export function assertAcrName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !ACR_NAME.test(name)) {
    throw invalid(
      `a ${what} name is 5-50 characters: letters, digits, "-" and "_"; got ${JSON.stringify(typeof name === 'string' ? name.slice(0, 80) : name)}`,
    );
  }
  return name;
}

export function parseStatus(s: unknown): 'enabled' | 'disabled' {
  if (s !== 'enabled' && s !== 'disabled') throw invalid('"status" must be "enabled" or "disabled"');
  return s;
}

export function assertRoleFitsScope(role: RoleDefinition, scope: { repository: string | null }): void {
  if (scope.repository === null) return;
  if (role.registryWideOnly)
    throw invalid(`${role.name} applies to a whole registry or the deployment; it cannot be scoped to repositories`);
  if (role.management.length > 0) {
    throw invalid(
      `${role.name} grants management powers, which apply only to a whole registry or the deployment; for repository access use AcrPull, AcrPush, AcrDelete or a Container Registry Repository role`,
    );
  }
}

/** Validates and normalizes scope-map actions ("repositories/<repo>/<action>"), deduplicated, in order. */
export function normalizeActions(actions: unknown, what = 'actions'): string[] {
  if (!Array.isArray(actions)) throw invalid(`"${what}" must be an array of strings such as "repositories/hello/content/read"`);
  const out: string[] = [];
  for (const a of actions) {
    if (typeof a !== 'string') throw invalid(`"${what}" must be an array of strings`);
    const f = formatScopeRule(parseScopeRule(a));
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

export function checkDescription(d: unknown): string | undefined {
  if (d === undefined) return undefined;
  if (typeof d !== 'string' || d.length > MAX_DESCRIPTION || /\p{Cc}/u.test(d))
    throw invalid(`"description" must be a string of at most ${MAX_DESCRIPTION} printable characters`);
  return d;
}

export function checkActionCount(actions: string[]): void {
  if (actions.length === 0)
    throw invalid(
      `a scope map needs at least one action, e.g. "repositories/hello/content/read" (actions: ${SCOPE_MAP_ACTIONS.join(', ')})`,
    );
  if (actions.length > MAX_SCOPE_MAP_ACTIONS)
    throw invalid(`a scope map has at most ${MAX_SCOPE_MAP_ACTIONS} actions, got ${actions.length}`);
}
