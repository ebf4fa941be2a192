import { newSecret, secretHash } from '../../auth/crypto.js';
import type { Principal } from '../../auth/service.js';
import type { SecretRow } from '../../meta/access-store.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Sku } from '../../domain/registry.js';
import { TIERS } from '../policy/tiers.js';
import type { IdentityContext } from './context.js';
import { createScopeMapRow, scopeMapDisplayName, scopeMapRef } from './scope-maps.js';
import type { TokenPasswordName, TokenPasswordView, TokenView } from './views.js';
import { assertAcrName, checkActionCount, conflict, invalid, normalizeActions, parseExpiry, parseStatus, unknown } from './validate.js';

// Repository-scoped tokens (`az acr token`): a name, a scope map, and up to two passwords, each
// stored as a SHA-256 and shown once.

/** ACR's fixed limit (FEATURES.md §1.1): tokens per registry by tier. */
const TOKEN_LIMIT = Object.fromEntries(Object.entries(TIERS).map(([k, t]) => [k, t.tokens])) as Record<Sku, number>;

function passwordsView(secrets: SecretRow[]): TokenPasswordView[] {
  return secrets
    .filter((s) => s.name === 'password1' || s.name === 'password2')
    .map((s) => ({ name: s.name, creationTime: s.created_at, expiry: s.expires_at }));
}

async function tokenView(
  ctx: IdentityContext,
  reg: RegistryRow,
  t: { id: number; name: string; scope_map: string; status: string; created_at: string; updated_at: string },
  fresh: TokenPasswordView[] = [],
): Promise<TokenView> {
  const scopeMapName = await scopeMapDisplayName(ctx, reg, t.scope_map);
  const stored = passwordsView(await ctx.store.secretsOf('token', t.id));
  const passwords = stored.map((s) => fresh.find((f) => f.name === s.name) ?? s);
  return {
    name: t.name,
    id: `/registries/${reg.name}/tokens/${t.name}`,
    registry: reg.name,
    creationDate: t.created_at,
    lastUpdated: t.updated_at,
    status: t.status === 'disabled' ? 'disabled' : 'enabled',
    scopeMapName,
    scopeMapId: `/registries/${reg.name}/scopeMaps/${scopeMapName}`,
    credentials: { username: t.name, passwords, certificates: [] },
    provisioningState: 'Succeeded',
    type: 'tokens',
  };
}

async function findToken(ctx: IdentityContext, reg: RegistryRow, name: string) {
  const t = typeof name === 'string' && name.length <= 64 ? await ctx.store.token(reg.id, name) : undefined;
  if (!t) throw unknown(`registry ${reg.name} has no token "${String(name).slice(0, 80)}"`);
  return t;
}

async function generatePasswords(
  ctx: IdentityContext,
  tokenId: number,
  names: TokenPasswordName[],
  expiry: string | null,
): Promise<TokenPasswordView[]> {
  const out: TokenPasswordView[] = [];
  for (const name of names) {
    const value = newSecret();
    const row = await ctx.store.putSecret({
      owner_type: 'token',
      owner_id: tokenId,
      name,
      hash: secretHash(value),
      sealed: null,
      hint: value.slice(-4),
      expires_at: expiry,
    });
    out.push({ name, creationTime: row.created_at, expiry, value });
  }
  return out;
}

export class Tokens {
  constructor(private readonly ctx: IdentityContext) {}

  /**
   * `az acr token create`: with an existing scope map, or with actions (then a scope map
   * "<token>-scope-map" is created). Both passwords are generated unless noPasswords, and shown
   * only in this response.
   */
  async createToken(
    p: Principal,
    registry: string,
    input: {
      name?: unknown;
      scopeMap?: unknown;
      actions?: unknown;
      status?: unknown;
      expirationInDays?: unknown;
      expiration?: unknown;
      noPasswords?: unknown;
    },
  ): Promise<TokenView> {
    const reg = await this.ctx.registry(p, registry, 'write', 'create tokens in');
    const name = assertAcrName(input.name, 'token');
    const status = input.status === undefined ? 'enabled' : parseStatus(input.status);
    if (input.noPasswords !== undefined && typeof input.noPasswords !== 'boolean') throw invalid('"noPasswords" must be true or false');
    if (input.expirationInDays !== undefined && typeof input.expirationInDays !== 'number')
      throw invalid('"expirationInDays" must be a number');
    if (input.expiration !== undefined && typeof input.expiration !== 'string')
      throw invalid('"expiration" must be an ISO-8601 date or time');
    const expiry = parseExpiry({ expirationInDays: input.expirationInDays, expiration: input.expiration });
    if ((input.scopeMap === undefined) === (input.actions === undefined))
      throw invalid('give either "scopeMap" (an existing scope map) or "actions" (a new scope map is created), not both');
    if (await this.ctx.store.token(reg.id, name))
      throw conflict(`registry ${reg.name} already has a token "${name}" (names are unique regardless of case)`);
    const sku = reg.sku as Sku;
    if ((await this.ctx.store.listTokens(reg.id)).length >= TOKEN_LIMIT[sku])
      throw invalid(`registry ${reg.name} already has ${TOKEN_LIMIT[sku]} tokens, the ${sku} tier's limit`);
    let scopeMap: string;
    let createdMap: number | undefined;
    if (input.actions !== undefined) {
      const actions = normalizeActions(input.actions);
      checkActionCount(actions);
      const row = await createScopeMapRow(this.ctx, reg, `${name}-scope-map`, `Scope map for token ${name}`, actions);
      scopeMap = row.name;
      createdMap = row.id;
    } else {
      scopeMap = await scopeMapRef(this.ctx, reg, input.scopeMap);
    }
    const t = await this.ctx.store.createToken(reg.id, name, scopeMap, status);
    if (!t) {
      if (createdMap !== undefined) await this.ctx.store.deleteScopeMap(createdMap);
      throw conflict(`registry ${reg.name} already has a token "${name}" (names are unique regardless of case)`);
    }
    const fresh = input.noPasswords ? [] : await generatePasswords(this.ctx, t.id, ['password1', 'password2'], expiry);
    return tokenView(this.ctx, reg, t, fresh);
  }

  async listTokens(p: Principal, registry: string): Promise<TokenView[]> {
    const reg = await this.ctx.registry(p, registry, 'read', 'read');
    const out: TokenView[] = [];
    for (const t of await this.ctx.store.listTokens(reg.id)) out.push(await tokenView(this.ctx, reg, t));
    return out;
  }

  async showToken(p: Principal, registry: string, name: string): Promise<TokenView> {
    const reg = await this.ctx.registry(p, registry, 'read', 'read');
    return tokenView(this.ctx, reg, await findToken(this.ctx, reg, name));
  }

  async updateToken(p: Principal, registry: string, name: string, input: { status?: unknown; scopeMap?: unknown }): Promise<TokenView> {
    const reg = await this.ctx.registry(p, registry, 'write', 'update tokens in');
    const t = await findToken(this.ctx, reg, name);
    if (input.status === undefined && input.scopeMap === undefined) throw invalid('nothing to update: give "status" and/or "scopeMap"');
    const patch: { status?: string; scope_map?: string } = {};
    if (input.status !== undefined) patch.status = parseStatus(input.status);
    if (input.scopeMap !== undefined) patch.scope_map = await scopeMapRef(this.ctx, reg, input.scopeMap);
    await this.ctx.store.updateToken(t.id, patch);
    this.ctx.auth.forget();
    return tokenView(this.ctx, reg, (await this.ctx.store.tokenById(t.id))!);
  }

  async deleteToken(p: Principal, registry: string, name: string): Promise<void> {
    const reg = await this.ctx.registry(p, registry, 'write', 'delete tokens in');
    const t = await findToken(this.ctx, reg, name);
    await this.ctx.store.deleteToken(t.id);
    this.ctx.auth.forget();
  }

  /** `az acr token credential generate`: new values (shown once) for password1 and/or password2 (both when neither is named). */
  async generateTokenPasswords(
    p: Principal,
    registry: string,
    name: string,
    input: { password1?: unknown; password2?: unknown; expirationInDays?: unknown; expiration?: unknown },
  ): Promise<{ username: string; passwords: TokenPasswordView[] }> {
    const reg = await this.ctx.registry(p, registry, 'write', 'generate token passwords in');
    const t = await findToken(this.ctx, reg, name);
    for (const k of ['password1', 'password2'] as const)
      if (input[k] !== undefined && typeof input[k] !== 'boolean') throw invalid(`"${k}" must be true or false`);
    if (input.expirationInDays !== undefined && typeof input.expirationInDays !== 'number')
      throw invalid('"expirationInDays" must be a number');
    if (input.expiration !== undefined && typeof input.expiration !== 'string')
      throw invalid('"expiration" must be an ISO-8601 date or time');
    const expiry = parseExpiry({ expirationInDays: input.expirationInDays, expiration: input.expiration });
    let names: TokenPasswordName[] = [];
    if (input.password1) names.push('password1');
    if (input.password2) names.push('password2');
    if (names.length === 0) names = ['password1', 'password2'];
    const passwords = await generatePasswords(this.ctx, t.id, names, expiry);
    this.ctx.auth.forget();
    return { username: t.name, passwords };
  }

  async deleteTokenPassword(p: Principal, registry: string, name: string, password: unknown): Promise<void> {
    const reg = await this.ctx.registry(p, registry, 'write', 'delete token passwords in');
    const t = await findToken(this.ctx, reg, name);
    if (password !== 'password1' && password !== 'password2') throw invalid('name the password: password1 or password2');
    await this.ctx.store.deleteSecret('token', t.id, password);
    this.ctx.auth.forget();
  }
}
