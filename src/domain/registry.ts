import { RegistryError } from './errors.js';

/** ACR's service tiers. */
export const SKUS = ['Basic', 'Standard', 'Premium'] as const;
export type Sku = (typeof SKUS)[number];

/** A tier name as a client may spell it (any case), or REQUEST_INVALID. */
export function parseSku(raw: unknown): Sku {
  const s = typeof raw === 'string' ? SKUS.find((k) => k.toLowerCase() === raw.toLowerCase()) : undefined;
  if (!s) throw new RegistryError('REQUEST_INVALID', `invalid SKU ${JSON.stringify(raw)}: use one of ${SKUS.join(', ')}`);
  return s;
}

// The registry entity as services hand it to handlers: what a request is about once its registry
// name has been resolved. Field names are the metadata columns (meta/registries.ts reads exactly
// these), so no mapping sits between the database and the services that use it.

export interface Registry {
  id: number;
  /** As created (case kept); registry names are unique case-insensitively (ACR). */
  name: string;
  /** Basic, Standard or Premium. */
  sku: string;
  /** 1 = the admin user may sign in. */
  admin_enabled: number;
  /** 1 = anonymous pulls are allowed (Standard and Premium). */
  anonymous_pull_enabled: number;
  /** 1 = quarantine policy enabled: new manifests are Quarantined until marked Passed (ACR's quarantinePolicy). */
  quarantine_enabled: number;
  /** Home region (geo-replication); null = the deployment's first region. */
  location: string | null;
  created_at: string;
  updated_at: string;
  /** Network rules (domain/network.ts): Enabled | Disabled (ACR's publicNetworkAccess). */
  public_network_access: string;
  /** Allow | Deny (ACR's networkRuleSet.defaultAction). */
  network_default_action: string;
  /** JSON array of canonical IP ranges (networkRuleSet.ipRules). */
  network_ip_rules: string;
  /** AzureServices | None (networkRuleBypassOptions). */
  network_bypass: string;
  /** 1 = blob downloads are redirected to the registry's dedicated data endpoint (ACR's dataEndpointEnabled). */
  data_endpoint_enabled: number;
}

/**
 * A registry's login server, as clients name it: `<name>.<domain>` with a domain (subdomain
 * style), else `<host>/<name>` (path style), the host being the public URL's, else `fallbackHost`
 * (the request's Host header, or the listen address for background work).
 */
export function loginServer(name: string, o: { domain: string; publicUrl: string }, fallbackHost: string): string {
  if (o.domain) return `${name.toLowerCase()}.${o.domain}`;
  const host = o.publicUrl ? new URL(o.publicUrl).host : fallbackHost;
  return `${host}/${name.toLowerCase()}`;
}
