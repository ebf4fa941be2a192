import { newSecret, seal, secretHash, unseal } from '../../auth/crypto.js';
import { assertRepositoryPattern } from '../../auth/model.js';
import type { Principal } from '../../auth/service.js';
import type { RegistryRow } from '../../meta/store.js';
import type { NewRegistryKey } from '../../meta/registries.js';
import { parseSku, type Sku } from '../../domain/registry.js';
import type { IdentityContext } from './context.js';
import type { AdminCredentialsView, AdminPasswordName, AnonymousPullView } from './views.js';
import { invalid } from './validate.js';

// A registry's own access settings: the admin user (the registry's name with two passwords,
// sealed as well as hashed because ACR shows them again: `az acr credential show`) and anonymous
// pull, registry-wide or per repository.

async function putAdminPassword(ctx: IdentityContext, registryId: number, name: AdminPasswordName): Promise<void> {
  const value = newSecret();
  await ctx.store.putSecret({
    owner_type: 'admin',
    owner_id: registryId,
    name,
    hash: secretHash(value),
    sealed: seal(value, await ctx.store.sealKey()),
    hint: value.slice(-4),
    expires_at: null,
  });
}

async function ensureAdminPasswords(ctx: IdentityContext, registryId: number): Promise<void> {
  const have = new Set((await ctx.store.secretsOf('admin', registryId)).map((s) => s.name));
  for (const n of ['password', 'password2'] as const) if (!have.has(n)) await putAdminPassword(ctx, registryId, n);
}

async function adminCredentials(ctx: IdentityContext, reg: RegistryRow): Promise<AdminCredentialsView> {
  if (!reg.admin_enabled)
    throw invalid(`the admin user of registry ${reg.name} is disabled; enable it with: berth update -n ${reg.name} --admin-enabled true`);
  const key = await ctx.store.sealKey();
  const secrets = await ctx.store.secretsOf('admin', reg.id);
  const passwords: AdminCredentialsView['passwords'] = [];
  for (const n of ['password', 'password2'] as const) {
    const s = secrets.find((x) => x.name === n);
    if (s?.sealed) passwords.push({ name: n, value: unseal(s.sealed, key) });
  }
  return { username: reg.name, passwords };
}

async function anonymousView(ctx: IdentityContext, reg: RegistryRow): Promise<AnonymousPullView> {
  const rules = await ctx.store.anonymousRules(reg.id);
  return {
    registry: reg.name,
    anonymousPullEnabled: !!reg.anonymous_pull_enabled,
    repositories: rules.map((r) => ({ repository: r.repository, createdAt: r.created_at })),
  };
}

/** The registry policies an update may set: quarantinePolicy.status enabled|disabled (1|0). */
function parsePolicies(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid('"policies" must be an object such as {"quarantinePolicy": {"status": "enabled"}}');
  const { quarantinePolicy, ...other } = raw as Record<string, unknown>;
  const unknown = Object.keys(other)[0];
  if (unknown !== undefined) throw invalid(`unknown policy "${unknown.slice(0, 40)}": this update sets quarantinePolicy`);
  if (quarantinePolicy === undefined) return undefined;
  const status: unknown =
    typeof quarantinePolicy === 'object' && quarantinePolicy !== null ? (quarantinePolicy as Record<string, unknown>).status : undefined;
  if (status !== 'enabled' && status !== 'disabled') throw invalid('quarantinePolicy.status must be "enabled" or "disabled"');
  return status === 'enabled' ? 1 : 0;
}

export class RegistryCredentials {
  constructor(private readonly ctx: IdentityContext) {}

  /** After a registry is deleted: its tokens, scope maps and role assignments went with it (foreign keys); drop their passwords too. */
  async registryDeleted(): Promise<void> {
    await this.ctx.store.deleteOrphanSecrets();
    this.ctx.auth.forget();
  }

  /**
   * `az acr create [--admin-enabled]`: the registry and, when asked, its admin user with its two
   * passwords. The caller is authorized to create registries (checked before). Should enabling the
   * admin user fail, the new registry is removed again, so no half-made registry stays.
   */
  async createRegistry(name: string, sku: Sku, adminUserEnabled: boolean, location?: string, key?: NewRegistryKey): Promise<RegistryRow> {
    const row = await this.ctx.registries.create(name, sku, location, key);
    if (!adminUserEnabled) return row;
    try {
      await ensureAdminPasswords(this.ctx, row.id);
      await this.ctx.store.setRegistryFlags(row.id, { admin_enabled: 1 });
    } catch (e) {
      await this.ctx.registries.delete(row.name).catch(() => undefined);
      await this.registryDeleted().catch(() => undefined);
      throw e;
    }
    return this.ctx.registries.get(row.name);
  }

  /**
   * `az acr update`: sku, adminUserEnabled, anonymousPullEnabled and policies (the quarantine
   * policy, `{"quarantinePolicy": {"status": "enabled"}}` as ACR shows it), validated together
   * before any change. Anonymous pull is a Standard and Premium feature (ACR); enabling the admin
   * user creates its two passwords when missing.
   */
  async updateRegistry(
    p: Principal,
    name: string,
    patch: { sku?: unknown; adminUserEnabled?: unknown; anonymousPullEnabled?: unknown; policies?: unknown },
  ): Promise<RegistryRow> {
    const reg = await this.ctx.registry(p, name, 'write', 'update');
    const quarantine = patch.policies === undefined ? undefined : parsePolicies(patch.policies);
    const sku = patch.sku === undefined ? undefined : parseSku(patch.sku);
    for (const k of ['adminUserEnabled', 'anonymousPullEnabled'] as const) {
      if (patch[k] !== undefined && typeof patch[k] !== 'boolean') throw invalid(`"${k}" must be true or false`);
    }
    const admin = patch.adminUserEnabled as boolean | undefined;
    const anon = patch.anonymousPullEnabled as boolean | undefined;
    const finalSku = sku ?? (reg.sku as Sku);
    const finalAnon = anon ?? !!reg.anonymous_pull_enabled;
    if (finalAnon && finalSku === 'Basic') {
      if (anon)
        throw invalid(
          `anonymous pull access is available on the Standard and Premium tiers; registry ${reg.name} is ${finalSku}: upgrade with --sku Standard, or open single repositories with berth repository update --anonymous-pull-enabled true`,
        );
      throw invalid(
        `registry ${reg.name} has anonymous pull enabled, which the Basic tier does not offer: disable it first (--anonymous-pull-enabled false)`,
      );
    }
    if (sku !== undefined && sku !== reg.sku) await this.ctx.registries.update(reg.name, { sku });
    if (quarantine !== undefined && quarantine !== Number(reg.quarantine_enabled))
      await this.ctx.registries.update(reg.name, { quarantine_enabled: quarantine });
    const flags: { admin_enabled?: number; anonymous_pull_enabled?: number } = {};
    if (admin !== undefined) flags.admin_enabled = admin ? 1 : 0;
    if (anon !== undefined) flags.anonymous_pull_enabled = anon ? 1 : 0;
    if (admin) await ensureAdminPasswords(this.ctx, reg.id);
    if (Object.keys(flags).length) await this.ctx.store.setRegistryFlags(reg.id, flags);
    if (admin === false || anon === false) this.ctx.auth.forget();
    return this.ctx.registries.get(reg.name);
  }

  /** `az acr credential show`: needs Contributor (ACR's listCredentials is not a Reader action). */
  async showAdminCredentials(p: Principal, name: string): Promise<AdminCredentialsView> {
    const reg = await this.ctx.registry(p, name, 'write', 'show the admin credentials of');
    return adminCredentials(this.ctx, reg);
  }

  /** `az acr credential renew --password-name password|password2`: the old value stops working at once. */
  async renewAdminCredential(p: Principal, name: string, passwordName: unknown): Promise<AdminCredentialsView> {
    const reg = await this.ctx.registry(p, name, 'write', 'renew the admin credentials of');
    if (passwordName !== 'password' && passwordName !== 'password2') throw invalid('"name" must be "password" or "password2"');
    if (!reg.admin_enabled)
      throw invalid(`the admin user of registry ${reg.name} is disabled; enable it with: berth update -n ${reg.name} --admin-enabled true`);
    await putAdminPassword(this.ctx, reg.id, passwordName);
    this.ctx.auth.forget();
    return adminCredentials(this.ctx, reg);
  }

  async anonymousPull(p: Principal, name: string): Promise<AnonymousPullView> {
    const reg = await this.ctx.registry(p, name, 'read', 'read');
    return anonymousView(this.ctx, reg);
  }

  /** Opens (or closes) one repository or "prefix/*" to anonymous pull: beyond ACR, on every tier. */
  async setRepositoryAnonymousPull(p: Principal, name: string, repository: unknown, enabled: boolean): Promise<AnonymousPullView> {
    const reg = await this.ctx.registry(p, name, 'write', 'change anonymous pull of');
    if (typeof repository !== 'string' || repository.length === 0) throw invalid('name a repository or a "prefix/*" pattern');
    if (repository === '*')
      throw invalid(
        'to open the whole registry use --anonymous-pull-enabled on the registry (berth update, Standard and Premium); per-repository rules name a repository or "prefix/*"',
      );
    assertRepositoryPattern(repository);
    if (enabled) await this.ctx.store.addAnonymousRule(reg.id, repository);
    else await this.ctx.store.removeAnonymousRule(reg.id, repository);
    if (!enabled) this.ctx.auth.forget();
    return anonymousView(this.ctx, reg);
  }
}
