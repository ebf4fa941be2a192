import { randomBytes } from 'node:crypto';
import { dataEndpointBase, signDataUrl, verifyDataUrl, type DataRequest } from '../../domain/endpoints.js';
import type { RegistryRow } from '../../meta/store.js';

// Dedicated data endpoints (ACR's dataEndpointEnabled, docs/private-endpoints.md): a registry with
// the setting on answers blob downloads with a 307 to its data host, which serves only those,
// through short-lived URLs signed with the deployment's data-endpoint key (HMAC over registry,
// repository, digest and expiry). The key lives in the deployment settings, so every node signs
// and checks with the same one; it is made on first use. With regions, each region has its own
// data host (ACR: <registry>.<region>.data.azurecr.io): a node redirects to its own region's when
// the registry is served there (its home or a replica), else to the registry's home region's.

/** The deployment setting holding the signing key (base64, 32 random bytes). */
export const DATA_ENDPOINT_KEY_SETTING = 'data_endpoint_signing_key';

export interface DataEndpointOptions {
  /**
   * Each region's data endpoint URL, {registry} standing for the registry name (config's
   * dataEndpointTemplates); an empty one is unknown (this node's is filled in once its listener is bound).
   */
  templates: Map<string, string>;
  /** This node's region. */
  local: string;
  /** Lifetime of a signed URL (storage.redirectTtlSeconds: one setting for every redirect). */
  ttlSeconds: number;
}

/** A region's data endpoint, as show-endpoints lists it (ACR's dataEndpoints entries). */
export interface DataEndpointEntry {
  region: string;
  endpoint: string;
}

export class DataEndpoints {
  private key: Promise<Buffer> | undefined;
  /** The regions a registry is served from, home first (geo-replication); unset: this node's region only. */
  servedFrom: ((reg: RegistryRow) => Promise<string[]>) | undefined;

  constructor(
    private readonly settings: { setting(key: string, create: () => string): Promise<string> },
    private readonly opts: DataEndpointOptions,
  ) {}

  /** Whether this deployment has a data endpoint (dataEndpoint.listen or URLs): only then may a registry enable it. */
  get configured(): boolean {
    return [...this.opts.templates.values()].some((t) => t !== '');
  }

  /** This region's URL when the configuration gives none: the bound data listener (app.ts). */
  set boundUrl(url: string) {
    if (!this.opts.templates.get(this.opts.local)) this.opts.templates.set(this.opts.local, url);
  }

  private async regions(reg: RegistryRow): Promise<string[]> {
    return this.servedFrom ? this.servedFrom(reg) : [this.opts.local];
  }

  /** ACR's show-endpoints dataEndpoints: one per region the registry is served from that has a data endpoint. */
  async endpoints(reg: RegistryRow): Promise<DataEndpointEntry[]> {
    const out: DataEndpointEntry[] = [];
    for (const region of await this.regions(reg)) {
      const t = this.opts.templates.get(region);
      if (t) out.push({ region, endpoint: new URL(dataEndpointBase(t, reg.name)).host });
    }
    return out;
  }

  /** ACR's dataEndpointHostNames: the hosts a registry's blob downloads go to, one per region it is served from. */
  async hostNames(reg: RegistryRow): Promise<string[]> {
    return (await this.endpoints(reg)).map((e) => e.endpoint);
  }

  private signingKey(): Promise<Buffer> {
    this.key ??= this.settings
      .setting(DATA_ENDPOINT_KEY_SETTING, () => randomBytes(32).toString('base64'))
      .then((v) => Buffer.from(v, 'base64'))
      .catch((e: unknown) => {
        this.key = undefined; // the database may be back on the next request
        throw e;
      });
    return this.key;
  }

  /**
   * A signed URL for one blob, valid for ttlSeconds, on this region's data host when the registry
   * is served here, else on its home region's; undefined when there is none.
   */
  async url(reg: RegistryRow, b: Omit<DataRequest, 'registry'>): Promise<string | undefined> {
    if (!this.configured) return undefined;
    const served = await this.regions(reg);
    const region = served.includes(this.opts.local) ? this.opts.local : served[0];
    const template = region === undefined ? undefined : this.opts.templates.get(region);
    if (!template) return undefined;
    const expires = Math.floor(Date.now() / 1000) + this.opts.ttlSeconds;
    return signDataUrl(await this.signingKey(), template, { ...b, registry: reg.name }, expires);
  }

  /** What a request on the data endpoint may read, or why it may not. */
  async verify(path: string, query: URLSearchParams): Promise<DataRequest | string> {
    return verifyDataUrl(await this.signingKey(), path, query, Math.floor(Date.now() / 1000));
  }
}
