import { RegistryError } from '../../domain/errors.js';
import {
  storedRules,
  withRules,
  parseCidr,
  type DefaultAction,
  type NetworkBypass,
  type PublicNetworkAccess,
} from '../../domain/network.js';
import type { RegistryRow, RegistryStore } from '../../meta/store.js';

// A registry's network rules as ACR shows them (publicNetworkAccess, networkRuleSet,
// networkRuleBypassOptions), changed through the registry PATCH or rule by rule. Premium only, as
// ACR's firewall: a Basic or Standard registry keeps Enabled / Allow / no rules.

export interface NetworkView {
  publicNetworkAccess: PublicNetworkAccess;
  networkRuleSet: { defaultAction: DefaultAction; ipRules: { action: 'Allow'; value: string }[] };
  networkRuleBypassOptions: NetworkBypass;
}

export interface NetworkPatch {
  publicNetworkAccess?: unknown;
  networkRuleSet?: unknown;
  networkRuleBypassOptions?: unknown;
  /** ACR's dataEndpointEnabled (dedicated data endpoints; Premium). */
  dataEndpointEnabled?: unknown;
}

const invalid = (msg: string) => new RegistryError('REQUEST_INVALID', msg);

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  const hit = typeof v === 'string' ? allowed.find((a) => a.toLowerCase() === v.toLowerCase()) : undefined;
  if (!hit) throw invalid(`"${field}" must be ${allowed.join(' or ')}`);
  return hit;
}

export function networkView(r: RegistryRow): NetworkView {
  return {
    publicNetworkAccess: r.public_network_access === 'Disabled' ? 'Disabled' : 'Enabled',
    networkRuleSet: {
      defaultAction: r.network_default_action === 'Deny' ? 'Deny' : 'Allow',
      ipRules: storedRules(r.network_ip_rules).map((value) => ({ action: 'Allow', value })),
    },
    networkRuleBypassOptions: r.network_bypass === 'None' ? 'None' : 'AzureServices',
  };
}

/** The ipRules of a networkRuleSet body: [{action: "Allow", value}] (ACR) or bare strings. */
function ruleValues(raw: unknown): unknown[] {
  if (!Array.isArray(raw)) throw invalid('"networkRuleSet.ipRules" must be a list of {"action": "Allow", "value": "CIDR"}');
  return raw.map((r) => {
    if (typeof r === 'string') return r;
    if (!r || typeof r !== 'object') throw invalid('each IP rule is {"action": "Allow", "value": "CIDR"}');
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'action' && k !== 'value') throw invalid(`unknown IP rule field "${k.slice(0, 40)}"`);
    if (o.action !== undefined && o.action !== 'Allow') throw invalid('an IP rule\'s "action" can only be "Allow" (ACR)');
    return o.value;
  });
}

/** Columns a PATCH sets (prepare). */
export interface NetworkChange {
  public_network_access?: string;
  network_default_action?: string;
  network_ip_rules?: string;
  network_bypass?: string;
  data_endpoint_enabled?: number;
}

export class NetworkRuleService {
  constructor(
    private readonly meta: Pick<RegistryStore, 'updateRegistry' | 'replaceIpRules' | 'getRegistryById'>,
    /** Whether the deployment has a data endpoint (dataEndpoint.listen): only then may a registry enable one. */
    private readonly dataEndpointConfigured: () => boolean = () => false,
  ) {}

  private premium(reg: RegistryRow, what: string): void {
    if (reg.sku !== 'Premium')
      throw invalid(
        `${what} is a Premium feature (ACR's firewall); registry ${reg.name} is ${reg.sku}: upgrade with berth update -n ${reg.name} --sku Premium`,
      );
  }

  /**
   * The registry PATCH's network fields, validated together before any is applied (apply): what
   * to set, or undefined when the body has none. `sku`: the tier the registry has after the PATCH.
   */
  prepare(reg: RegistryRow, patch: NetworkPatch, sku: string): NetworkChange | undefined {
    const set: NetworkChange = {};
    if (patch.publicNetworkAccess !== undefined)
      set.public_network_access = oneOf(patch.publicNetworkAccess, 'publicNetworkAccess', ['Enabled', 'Disabled'] as const);
    if (patch.networkRuleBypassOptions !== undefined)
      set.network_bypass = oneOf(patch.networkRuleBypassOptions, 'networkRuleBypassOptions', ['AzureServices', 'None'] as const);
    if (patch.networkRuleSet !== undefined) {
      const rs = patch.networkRuleSet;
      if (!rs || typeof rs !== 'object' || Array.isArray(rs))
        throw invalid('"networkRuleSet" must be {"defaultAction": ..., "ipRules": [...]}');
      const o = rs as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (k !== 'defaultAction' && k !== 'ipRules')
          throw invalid(`unknown networkRuleSet field "${k.slice(0, 40)}" (defaultAction, ipRules)`);
      if (o.defaultAction !== undefined)
        set.network_default_action = oneOf(o.defaultAction, 'networkRuleSet.defaultAction', ['Allow', 'Deny'] as const);
      // ipRules, when given, replace the list (ACR's PATCH body).
      if (o.ipRules !== undefined) set.network_ip_rules = JSON.stringify(withRules([], ruleValues(o.ipRules)));
    }
    if (patch.dataEndpointEnabled !== undefined) {
      if (typeof patch.dataEndpointEnabled !== 'boolean') throw invalid('"dataEndpointEnabled" must be true or false');
      if (patch.dataEndpointEnabled) {
        this.premium({ ...reg, sku }, 'a dedicated data endpoint');
        if (!this.dataEndpointConfigured())
          throw invalid(
            'this deployment has no data endpoint: an operator sets dataEndpoint.listen (and dataEndpoint.url) first (docs/private-endpoints.md)',
          );
      }
      set.data_endpoint_enabled = patch.dataEndpointEnabled ? 1 : 0;
    }
    if (Object.keys(set).length === 0) return undefined;
    const restricting =
      set.public_network_access === 'Disabled' ||
      set.network_default_action === 'Deny' ||
      (set.network_ip_rules !== undefined && storedRules(set.network_ip_rules).length > 0);
    if (restricting) this.premium({ ...reg, sku }, 'restricting network access');
    return set;
  }

  /** Applies what prepare returned; the registry as it is now. */
  async apply(reg: RegistryRow, change: NetworkChange): Promise<RegistryRow> {
    await this.meta.updateRegistry(reg.id, change);
    const row = await this.meta.getRegistryById(reg.id);
    if (!row) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${reg.name}" does not exist`);
    return row;
  }

  /** Adds IP rules (berth network-rule add): exact duplicates and more than 200 rules are refused. */
  async addRules(reg: RegistryRow, values: unknown[]): Promise<NetworkView> {
    this.premium(reg, 'an IP rule');
    return this.edit(reg, (current) => withRules(current, values));
  }

  /** Removes IP rules (berth network-rule remove); each must exist (any spelling of the same range). */
  async removeRules(reg: RegistryRow, values: unknown[]): Promise<NetworkView> {
    return this.edit(reg, (current) => {
      const out = [...current];
      for (const raw of values) {
        const c = parseCidr(raw);
        const i = out.indexOf(c.value);
        if (i < 0) throw new RegistryError('NOT_FOUND', `registry ${reg.name} has no IP rule ${c.value}`);
        out.splice(i, 1);
      }
      return out;
    });
  }

  private async edit(reg: RegistryRow, change: (current: string[]) => string[]): Promise<NetworkView> {
    let row: RegistryRow | undefined = reg;
    for (let attempt = 0; attempt < 5 && row; attempt++) {
      const next = JSON.stringify(change(storedRules(row.network_ip_rules)));
      if (await this.meta.replaceIpRules(row.id, row.network_ip_rules, next))
        return networkView((await this.meta.getRegistryById(row.id))!);
      row = await this.meta.getRegistryById(row.id);
    }
    if (!row) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${reg.name}" does not exist`);
    throw new RegistryError('CONFLICT', 'the IP rules changed concurrently; try again');
  }
}
