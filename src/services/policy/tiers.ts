import { storedRules } from '../../domain/network.js';
import { RegistryError } from '../../domain/errors.js';
import type { BlobStore, RegistryRow, RepositoryStore, Transactor } from '../../meta/store.js';
import type { UsageChange, UsageStore } from '../../meta/usage.js';
import type { Sku } from '../../domain/registry.js';

// ACR's service tiers as data (FEATURES.md §1.1-1.3): one table, read by quota enforcement,
// show-usage, SKU changes, identity limits and request-rate throttling.

const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

export interface RateLimits {
  /** Requests per minute: [per registry, per identity within the registry]. */
  read: [number, number];
  write: [number, number];
  delete: [number, number];
  referrers: [number, number];
}

export interface Tier {
  /** Storage included in the tier's price (ACR bills more per GiB/day; Berth only reports it). */
  includedStorageBytes: number;
  /** Pushes are refused beyond this (ACR: "pushes blocked when storage limit reached"). */
  maxStorageBytes: number;
  webhooks: number;
  /** -1 = unlimited (as ACR's usage API reports it); 0 = not available on the tier. */
  geoReplications: number;
  tokens: number;
  scopeMaps: number;
  anonymousPull: boolean;
  rates: RateLimits;
}

export const TIERS: Record<Sku, Tier> = {
  Basic: {
    includedStorageBytes: 10 * GiB,
    maxStorageBytes: 40 * TiB,
    webhooks: 2,
    geoReplications: 0,
    tokens: 100,
    scopeMaps: 100,
    anonymousPull: false,
    rates: { read: [10_000, 5_000], write: [2_000, 1_000], delete: [1_000, 500], referrers: [500, 250] },
  },
  Standard: {
    includedStorageBytes: 100 * GiB,
    maxStorageBytes: 40 * TiB,
    webhooks: 10,
    geoReplications: 0,
    tokens: 500,
    scopeMaps: 500,
    anonymousPull: true,
    rates: { read: [10_000, 5_000], write: [2_000, 1_000], delete: [1_000, 500], referrers: [500, 250] },
  },
  Premium: {
    includedStorageBytes: 500 * GiB,
    maxStorageBytes: 100 * TiB,
    webhooks: 500,
    geoReplications: -1,
    tokens: 50_000,
    scopeMaps: 50_000,
    anonymousPull: true,
    rates: { read: [20_000, 10_000], write: [4_000, 2_000], delete: [4_000, 2_000], referrers: [2_000, 1_000] },
  },
};

export const tierOf = (sku: string): Tier => TIERS[sku as Sku] ?? TIERS.Basic;

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]} (${n} bytes)`;
}

/**
 * Refuses a change that grew a counter beyond its limit; called inside the transaction that made
 * the change, so throwing rolls it back and nothing becomes visible.
 */
export function assertWithinQuota(reg: RegistryRow, repository: string, c: UsageChange | undefined): void {
  if (!c) return;
  if (c.registryDelta > 0) {
    const tier = tierOf(reg.sku);
    const limit = c.registryQuota === null ? tier.maxStorageBytes : Math.min(c.registryQuota, tier.maxStorageBytes);
    if (c.registryBytes > limit) {
      const which =
        c.registryQuota !== null && c.registryQuota <= tier.maxStorageBytes
          ? `the storage quota of registry ${reg.name}`
          : `the ${reg.sku} tier's maximum storage for registry ${reg.name}`;
      throw quotaError(which, limit, c.registryBytes - c.registryDelta, c.registryDelta);
    }
  }
  if (c.repositoryDelta > 0 && c.repositoryQuota !== null && c.repositoryBytes > c.repositoryQuota) {
    throw quotaError(
      `the storage quota of repository ${repository}`,
      c.repositoryQuota,
      c.repositoryBytes - c.repositoryDelta,
      c.repositoryDelta,
    );
  }
}

function quotaError(which: string, limit: number, used: number, adding: number): RegistryError {
  return new RegistryError(
    'DENIED',
    `push refused: it would exceed ${which}: limit ${formatBytes(limit)}, in use ${formatBytes(used)}, this push adds ${formatBytes(adding)}; delete content or raise the quota`,
    { detail: { quota: which, limit, currentValue: used, adding } },
  );
}

export interface UsageItem {
  name: string;
  currentValue: number;
  limit: number;
  unit: 'Bytes' | 'Count';
}

/** The roles a blob precheck reads. */
export type PrecheckStore = UsageStore &
  Pick<RepositoryStore, 'findRepositoryId'> &
  Pick<BlobStore, 'missingBlobs'> &
  Pick<Transactor, 'db'>;

/** A cheap check before a blob's bytes are moved into place: would linking it exceed a limit? */
export async function precheckBlob(meta: PrecheckStore, reg: RegistryRow, repository: string, digest: string, size: number): Promise<void> {
  if (size === 0) return;
  const repoId = await meta.findRepositoryId(reg.id, repository);
  const held = await meta.registryHoldsBlob(reg.id, digest);
  const r = await meta.registryUsage(reg.id);
  const p = repoId === undefined ? { bytes: 0, quota: null } : await meta.repositoryUsage(repoId);
  const inRepo = repoId !== undefined && (await meta.missingBlobs(meta.db, repoId, [digest])).length === 0;
  assertWithinQuota(reg, repository, {
    registryId: reg.id,
    repositoryId: repoId ?? 0,
    registryDelta: held ? 0 : size,
    registryBytes: r.bytes + (held ? 0 : size),
    registryQuota: r.quota,
    repositoryDelta: inRepo ? 0 : size,
    repositoryBytes: p.bytes + (inRepo ? 0 : size),
    repositoryQuota: p.quota,
  });
}

export interface RegistrySummary {
  storageBytes: number;
  /** The quota, or the tier's maximum when lower or when there is no quota. */
  storageLimitBytes: number;
  /** Repositories the catalog lists. */
  repositoryCount: number;
}

export interface UsageHistory {
  registry: string;
  days: number;
  /** Oldest first; storageBytes null before the first sample (history starts with migration 18). */
  value: { date: string; storageBytes: number | null; pushes: number; pulls: number }[];
}

/** The roles TierService reads and writes. */
export type TierStore = UsageStore & Pick<RepositoryStore, 'findRepositoryId'>;

/** Quotas, SKU changes and show-usage. */
export class TierService {
  constructor(private readonly meta: TierStore) {}

  /** `az acr show-usage`: each quota with its current value and limit. */
  async usages(reg: RegistryRow): Promise<{ value: UsageItem[] }> {
    const tier = tierOf(reg.sku);
    const storage = await this.meta.registryUsage(reg.id);
    const limit = storage.quota === null ? tier.maxStorageBytes : Math.min(storage.quota, tier.maxStorageBytes);
    return {
      value: [
        { name: 'Size', currentValue: storage.bytes, limit, unit: 'Bytes' },
        { name: 'IncludedSize', currentValue: storage.bytes, limit: tier.includedStorageBytes, unit: 'Bytes' },
        { name: 'Webhooks', currentValue: await this.meta.countInRegistry(reg.id, 'webhooks'), limit: tier.webhooks, unit: 'Count' },
        { name: 'Geo-replications', currentValue: 0, limit: tier.geoReplications, unit: 'Count' },
        { name: 'Tokens', currentValue: await this.meta.countInRegistry(reg.id, 'tokens'), limit: tier.tokens, unit: 'Count' },
        { name: 'ScopeMaps', currentValue: await this.meta.countInRegistry(reg.id, 'scope_maps'), limit: tier.scopeMaps, unit: 'Count' },
      ],
    };
  }

  /** For the registries list: storage against its limit and the listed repositories of each registry, in a few queries. */
  async summaries(regs: RegistryRow[]): Promise<Map<number, RegistrySummary>> {
    const raw = await this.meta.registrySummaries(regs.map((r) => r.id));
    const out = new Map<number, RegistrySummary>();
    for (const reg of regs) {
      const s = raw.get(reg.id)!;
      const max = tierOf(reg.sku).maxStorageBytes;
      out.set(reg.id, {
        storageBytes: s.bytes,
        storageLimitBytes: s.quota === null ? max : Math.min(s.quota, max),
        repositoryCount: s.repositories,
      });
    }
    return out;
  }

  /**
   * The last `days` UTC days (today included): storage at the end of each day (days before the
   * first sample have none) and pushes and pulls per day, as the repository audit still holds them.
   */
  async history(reg: RegistryRow, days: number): Promise<UsageHistory> {
    const dayList: string[] = [];
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    for (let i = days - 1; i >= 0; i--) dayList.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
    const since = dayList[0]!;
    const samples = await this.meta.storageHistory(reg.id, since);
    const ops = new Map((await this.meta.dailyOperations(reg.id, since)).map((o) => [o.day, o]));
    let k = 0;
    let last: number | null = null;
    const value = dayList.map((day) => {
      while (k < samples.length && samples[k]!.day <= day) last = samples[k++]!.bytes;
      const o = ops.get(day);
      return { date: day, storageBytes: last, pushes: o?.pushes ?? 0, pulls: o?.pulls ?? 0 };
    });
    return { registry: reg.name, days, value };
  }

  async repositoryUsage(
    reg: RegistryRow,
    repository: string,
  ): Promise<{ repository: string; currentValue: number; limit: number | null; unit: 'Bytes' }> {
    const id = await this.meta.findRepositoryId(reg.id, repository);
    if (id === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}`);
    const u = await this.meta.repositoryUsage(id);
    return { repository, currentValue: u.bytes, limit: u.quota, unit: 'Bytes' };
  }

  /** null clears the quota (the tier's maximum still applies). */
  async setRegistryQuota(reg: RegistryRow, bytes: number | null): Promise<void> {
    await this.meta.setRegistryQuota(reg.id, checkQuota(bytes));
  }

  async setRepositoryQuota(reg: RegistryRow, repository: string, bytes: number | null): Promise<void> {
    const id = await this.meta.findRepositoryId(reg.id, repository);
    if (id === undefined)
      throw new RegistryError('NAME_UNKNOWN', `repository ${repository} does not exist in registry ${reg.name}; push to it first`);
    await this.meta.setRepositoryQuota(reg.id, id, checkQuota(bytes));
  }

  /** Raises the ACR rule: a move to a lower tier is refused while the registry uses what that tier lacks. */
  async assertSkuChange(reg: RegistryRow, to: Sku): Promise<void> {
    if (to === reg.sku) return;
    const tier = TIERS[to];
    const problems: string[] = [];
    const tokens = await this.meta.countInRegistry(reg.id, 'tokens');
    if (tokens > tier.tokens) problems.push(`it has ${tokens} tokens and ${to} allows ${tier.tokens}`);
    const maps = await this.meta.countInRegistry(reg.id, 'scope_maps');
    if (maps > tier.scopeMaps) problems.push(`it has ${maps} scope maps and ${to} allows ${tier.scopeMaps}`);
    const hooks = await this.meta.countInRegistry(reg.id, 'webhooks');
    if (hooks > tier.webhooks) problems.push(`it has ${hooks} webhooks and ${to} allows ${tier.webhooks}`);
    if (tier.geoReplications === 0) {
      const replicas = await this.meta.countInRegistry(reg.id, 'replications');
      if (replicas > 0)
        problems.push(
          `it has ${replicas} geo-replica${replicas > 1 ? 's' : ''}, a Premium feature (berth replication delete -r ${reg.name} -l LOCATION)`,
        );
    }
    if (to !== 'Premium') {
      if (reg.network_default_action === 'Deny' || reg.public_network_access === 'Disabled' || storedRules(reg.network_ip_rules).length) {
        problems.push(
          `it has network rules, a Premium feature (berth update -n ${reg.name} --default-action Allow --public-network-enabled true, and berth network-rule remove)`,
        );
      }
      const endpoints = await this.meta.countInRegistry(reg.id, 'private_endpoint_connections');
      if (endpoints > 0)
        problems.push(
          `it has ${endpoints} private endpoint connection${endpoints > 1 ? 's' : ''}, a Premium feature (berth private-endpoint delete -n ${reg.name} --name NAME)`,
        );
      if (Number(reg.data_endpoint_enabled) === 1)
        problems.push(
          `its dedicated data endpoint is enabled, a Premium feature (berth update -n ${reg.name} --data-endpoint-enabled false)`,
        );
      if (await this.meta.retentionEnabled(reg.id)) {
        problems.push(
          `its retention policy for untagged manifests is enabled, a Premium feature (berth config retention update -r ${reg.name} --status disabled)`,
        );
      }
    }
    // Anonymous pull (Standard and Premium) is checked by IdentityService.updateRegistry against the
    // final state of the same request, so `--sku Basic --anonymous-pull-enabled false` works.
    const storage = await this.meta.registryUsage(reg.id);
    if (storage.bytes > tier.maxStorageBytes)
      problems.push(`it stores ${formatBytes(storage.bytes)} and ${to} allows at most ${formatBytes(tier.maxStorageBytes)}`);
    if (problems.length > 0) {
      throw new RegistryError('CONFLICT', `registry ${reg.name} cannot move from ${reg.sku} to ${to}: ${problems.join('; ')}`, {
        detail: problems,
      });
    }
  }
}

function checkQuota(bytes: number | null): number | null {
  if (bytes === null) return null;
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new RegistryError(
      'REQUEST_INVALID',
      `a storage quota is a whole number of bytes from 0 up, or null to remove it; got ${String(bytes)}`,
    );
  return bytes;
}
