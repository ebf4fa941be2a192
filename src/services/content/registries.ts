import { assertRegistryName, isValidRegistryName } from '../../domain/reference.js';
import { RegistryError } from '../../domain/errors.js';
import type { Sku } from '../../domain/registry.js';
import type { RegistryRow, RegistryStore } from '../../meta/store.js';
import type { NewRegistryKey } from '../../meta/registries.js';
import type { TierService } from '../policy/tiers.js';
import { networkView, type NetworkView } from '../policy/network.js';

export interface RegistryView {
  name: string;
  id: string;
  sku: Sku;
  loginServer: string;
  creationDate: string;
  lastUpdated: string;
  provisioningState: 'Succeeded';
  /** ACR: the admin user (username = registry name, two passwords) is enabled. */
  adminUserEnabled: boolean;
  /** ACR: anyone may pull from every repository (Standard and Premium only). */
  anonymousPullEnabled: boolean;
  /** ACR's registry policies; quarantinePolicy: new manifests stay hidden until marked Passed. */
  policies: { quarantinePolicy: { status: 'enabled' | 'disabled' } };
  /** The home region (geo-replication; ACR's location). */
  location: string;
  /** Network rules (ACR's shape): Enabled | Disabled. */
  publicNetworkAccess: NetworkView['publicNetworkAccess'];
  networkRuleSet: NetworkView['networkRuleSet'];
  networkRuleBypassOptions: NetworkView['networkRuleBypassOptions'];
  /** ACR's dedicated data endpoint: blob downloads are redirected to dataEndpointHostNames. */
  dataEndpointEnabled: boolean;
  /** The data endpoint's host (empty while dataEndpointEnabled is false). */
  dataEndpointHostNames: string[];
}

/** Registries: the tenants of a deployment. Each owns its repositories; nothing crosses between them. */
export class RegistryService {
  /** `tiers`: a SKU change is checked against what the registry uses. */
  constructor(
    private readonly meta: RegistryStore,
    private readonly tiers: TierService,
  ) {}

  /** The registry of that name, or undefined (for endpoints where an unknown registry is not an error). */
  async find(name: string): Promise<RegistryRow | undefined> {
    return isValidRegistryName(name) ? this.meta.getRegistry(name) : undefined;
  }

  async get(name: string): Promise<RegistryRow> {
    assertRegistryName(name);
    const row = await this.meta.getRegistry(name);
    if (!row) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${name}" does not exist`);
    return row;
  }

  async checkName(name: string): Promise<{ nameAvailable: boolean; reason?: string; message?: string }> {
    if (typeof name !== 'string' || !isValidRegistryName(name)) {
      return { nameAvailable: false, reason: 'Invalid', message: 'A registry name is 5 to 50 letters and digits (a-z, A-Z, 0-9).' };
    }
    if (await this.meta.getRegistry(name)) {
      return { nameAvailable: false, reason: 'AlreadyExists', message: `The registry ${name} is already in use.` };
    }
    return { nameAvailable: true };
  }

  /** `key`: a customer-managed key (services/encryption), stored with the registry in one transaction. */
  async create(name: string, sku: Sku, location?: string, key?: NewRegistryKey): Promise<RegistryRow> {
    assertRegistryName(name);
    const row = await this.meta.createRegistry(name, sku, location, key);
    if (!row)
      throw new RegistryError('REGISTRY_EXISTS', `the registry name "${name}" is already in use (names are unique regardless of case)`);
    return row;
  }

  list(): Promise<RegistryRow[]> {
    return this.meta.listRegistries();
  }

  async update(name: string, patch: { sku?: Sku; quarantine_enabled?: number }): Promise<RegistryRow> {
    const row = await this.get(name);
    if (patch.sku !== undefined) await this.tiers.assertSkuChange(row, patch.sku);
    await this.meta.updateRegistry(row.id, patch);
    return this.get(name);
  }

  async delete(name: string): Promise<void> {
    const row = await this.get(name);
    await this.meta.deleteRegistry(row.id);
  }
}

export function registryView(r: RegistryRow, loginServer: string, location: string, dataHosts: string[] = []): RegistryView {
  return {
    name: r.name,
    id: `/registries/${r.name}`,
    sku: r.sku as Sku,
    loginServer,
    creationDate: r.created_at,
    lastUpdated: r.updated_at,
    provisioningState: 'Succeeded',
    adminUserEnabled: !!r.admin_enabled,
    anonymousPullEnabled: !!r.anonymous_pull_enabled,
    policies: { quarantinePolicy: { status: Number(r.quarantine_enabled) === 1 ? 'enabled' : 'disabled' } },
    location,
    ...networkView(r),
    dataEndpointEnabled: Number(r.data_endpoint_enabled) === 1,
    dataEndpointHostNames: Number(r.data_endpoint_enabled) === 1 ? dataHosts : [],
  };
}
