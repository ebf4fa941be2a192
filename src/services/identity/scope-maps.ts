import { formatScopeRule, SYSTEM_SCOPE_MAPS } from '../../auth/model.js';
import type { Principal } from '../../auth/service.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Sku } from '../../domain/registry.js';
import { TIERS } from '../policy/tiers.js';
import type { IdentityContext } from './context.js';
import type { ScopeMapView } from './views.js';
import { assertAcrName, checkActionCount, checkDescription, conflict, invalid, normalizeActions, unknown } from './validate.js';

// Scope maps: named lists of repository actions that a token grants. The system scope maps
// (SYSTEM_SCOPE_MAPS) exist in every registry and cannot change.

/** ACR's fixed limit (FEATURES.md §1.1): scope maps per registry by tier. */
const SCOPE_MAP_LIMIT = Object.fromEntries(Object.entries(TIERS).map(([k, t]) => [k, t.scopeMaps])) as Record<Sku, number>;

function systemScopeMapView(reg: RegistryRow, name: string): ScopeMapView {
  const s = SYSTEM_SCOPE_MAPS[name]!;
  return {
    name,
    id: `/registries/${reg.name}/scopeMaps/${name}`,
    registry: reg.name,
    type: 'SystemDefined',
    description: s.description,
    actions: s.actions.map((action) => formatScopeRule({ repository: '*', action })),
    creationDate: reg.created_at,
    provisioningState: 'Succeeded',
  };
}

function scopeMapView(reg: RegistryRow, m: { name: string; description: string; actions: string; created_at: string }): ScopeMapView {
  return {
    name: m.name,
    id: `/registries/${reg.name}/scopeMaps/${m.name}`,
    registry: reg.name,
    type: 'UserDefined',
    description: m.description,
    actions: JSON.parse(m.actions) as string[],
    creationDate: m.created_at,
    provisioningState: 'Succeeded',
  };
}

export function isSystemScopeMap(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(SYSTEM_SCOPE_MAPS, name.toLowerCase());
}

export async function userScopeMap(ctx: IdentityContext, reg: RegistryRow, name: string) {
  const m = typeof name === 'string' && name.length <= 64 ? await ctx.store.scopeMap(reg.id, name) : undefined;
  if (!m) throw unknown(`registry ${reg.name} has no scope map "${String(name).slice(0, 80)}"`);
  return m;
}

export async function createScopeMapRow(ctx: IdentityContext, reg: RegistryRow, name: string, description: string, actions: string[]) {
  const sku = reg.sku as Sku;
  if ((await ctx.store.listScopeMaps(reg.id)).length >= SCOPE_MAP_LIMIT[sku]) {
    throw invalid(`registry ${reg.name} already has ${SCOPE_MAP_LIMIT[sku]} scope maps, the ${sku} tier's limit`);
  }
  const row = await ctx.store.createScopeMap(reg.id, name, description, actions);
  if (!row) throw conflict(`registry ${reg.name} already has a scope map "${name}" (names are unique regardless of case)`);
  return row;
}

/** The name to show for a token's scope map (tokens store the lower-cased key). */
export async function scopeMapDisplayName(ctx: IdentityContext, reg: RegistryRow, key: string): Promise<string> {
  if (isSystemScopeMap(key)) return key;
  return (await ctx.store.scopeMap(reg.id, key))?.name ?? key;
}

/** A scope map by name (system or user-defined) that exists in this registry; returns the stored key. */
export async function scopeMapRef(ctx: IdentityContext, reg: RegistryRow, name: unknown): Promise<string> {
  if (typeof name !== 'string' || name.length === 0) throw invalid('"scopeMap" must be a scope map name');
  if (isSystemScopeMap(name)) return name.toLowerCase();
  return (await userScopeMap(ctx, reg, name)).name;
}

export class ScopeMaps {
  constructor(private readonly ctx: IdentityContext) {}

  async listScopeMaps(p: Principal, registry: string): Promise<ScopeMapView[]> {
    const reg = await this.ctx.registry(p, registry, 'read', 'read');
    return [
      ...Object.keys(SYSTEM_SCOPE_MAPS)
        .sort()
        .map((n) => systemScopeMapView(reg, n)),
      ...(await this.ctx.store.listScopeMaps(reg.id)).map((m) => scopeMapView(reg, m)),
    ];
  }

  async showScopeMap(p: Principal, registry: string, name: string): Promise<ScopeMapView> {
    const reg = await this.ctx.registry(p, registry, 'read', 'read');
    if (typeof name === 'string' && isSystemScopeMap(name)) return systemScopeMapView(reg, name.toLowerCase());
    return scopeMapView(reg, await userScopeMap(this.ctx, reg, name));
  }

  async createScopeMap(
    p: Principal,
    registry: string,
    input: { name?: unknown; description?: unknown; actions?: unknown },
  ): Promise<ScopeMapView> {
    const reg = await this.ctx.registry(p, registry, 'write', 'create scope maps in');
    const name = assertAcrName(input.name, 'scope map');
    if (name.startsWith('_'))
      throw invalid(
        `scope map names starting with "_" are reserved for the system scope maps (${Object.keys(SYSTEM_SCOPE_MAPS).join(', ')})`,
      );
    const actions = normalizeActions(input.actions);
    checkActionCount(actions);
    const row = await createScopeMapRow(this.ctx, reg, name, checkDescription(input.description) ?? '', actions);
    return scopeMapView(reg, row);
  }

  /** Replaces the actions, or adds and removes some; a system scope map cannot change. */
  async updateScopeMap(
    p: Principal,
    registry: string,
    name: string,
    input: { description?: unknown; actions?: unknown; addActions?: unknown; removeActions?: unknown },
  ): Promise<ScopeMapView> {
    const reg = await this.ctx.registry(p, registry, 'write', 'update scope maps in');
    if (typeof name === 'string' && isSystemScopeMap(name))
      throw invalid(`${name.toLowerCase()} is a system scope map and cannot be changed; create your own with berth scope-map create`);
    const m = await userScopeMap(this.ctx, reg, name);
    const description = checkDescription(input.description);
    if (input.actions !== undefined && (input.addActions !== undefined || input.removeActions !== undefined))
      throw invalid('give "actions" (replace all) or "addActions"/"removeActions", not both');
    let actions: string[] | undefined;
    if (input.actions !== undefined) actions = normalizeActions(input.actions);
    if (input.addActions !== undefined || input.removeActions !== undefined) {
      actions = JSON.parse(m.actions) as string[];
      const remove = input.removeActions === undefined ? [] : normalizeActions(input.removeActions, 'removeActions');
      const missing = remove.filter((a) => !actions!.includes(a));
      if (missing.length) throw invalid(`scope map ${m.name} does not have ${missing.join(', ')}`);
      actions = actions.filter((a) => !remove.includes(a));
      for (const a of input.addActions === undefined ? [] : normalizeActions(input.addActions, 'addActions'))
        if (!actions.includes(a)) actions.push(a);
    }
    if (actions === undefined && description === undefined)
      throw invalid('nothing to update: give "description", "actions", "addActions" or "removeActions"');
    if (actions !== undefined) checkActionCount(actions);
    await this.ctx.store.updateScopeMap(m.id, { description, actions });
    this.ctx.auth.forget();
    return scopeMapView(reg, (await this.ctx.store.scopeMap(reg.id, m.name))!);
  }

  async deleteScopeMap(p: Principal, registry: string, name: string): Promise<void> {
    const reg = await this.ctx.registry(p, registry, 'write', 'delete scope maps in');
    if (typeof name === 'string' && isSystemScopeMap(name))
      throw invalid(`${name.toLowerCase()} is a system scope map and cannot be deleted`);
    const m = await userScopeMap(this.ctx, reg, name);
    const users = await this.ctx.store.tokensUsingScopeMap(reg.id, m.name);
    if (users.length) {
      throw conflict(
        `scope map ${m.name} is used by token${users.length > 1 ? 's' : ''} ${users.map((t) => t.name).join(', ')}; delete ${users.length > 1 ? 'them' : 'it'} or give ${users.length > 1 ? 'them' : 'it'} another scope map first`,
      );
    }
    await this.ctx.store.deleteScopeMap(m.id);
  }
}
