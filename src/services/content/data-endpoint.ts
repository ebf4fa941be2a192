import { randomBytes } from 'node:crypto';
import { dataEndpointBase, signDataUrl, verifyDataUrl, type DataRequest } from '../../domain/endpoints.js';

// Dedicated data endpoints (ACR's dataEndpointEnabled, docs/private-endpoints.md): a registry with
// the setting on answers blob downloads with a 307 to its data host, which serves only those,
// through short-lived URLs signed with the deployment's data-endpoint key (HMAC over registry,
// repository, digest and expiry). The key lives in the deployment settings, so every node signs
// and checks with the same one; it is made on first use.

/** The deployment setting holding the signing key (base64, 32 random bytes). */
export const DATA_ENDPOINT_KEY_SETTING = 'data_endpoint_signing_key';

export interface DataEndpointOptions {
  /** The data endpoint's URL, {registry} standing for the registry name; set once the data listener is bound. */
  template?: string;
  /** Lifetime of a signed URL (storage.redirectTtlSeconds: one setting for every redirect). */
  ttlSeconds: number;
}

export class DataEndpoints {
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly settings: { setting(key: string, create: () => string): Promise<string> },
    private readonly opts: DataEndpointOptions,
  ) {}

  /** Whether this deployment has a data endpoint (dataEndpoint.listen): only then may a registry enable it. */
  get configured(): boolean {
    return !!this.opts.template;
  }

  /** The URL template, once the data listener is bound (app.ts fills in the real port). */
  set template(t: string) {
    this.opts.template = t;
  }

  /** ACR's dataEndpointHostNames: the host a registry's blob downloads go to. */
  hostNames(registry: string): string[] {
    if (!this.opts.template) return [];
    return [new URL(dataEndpointBase(this.opts.template, registry)).host];
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

  /** A signed URL for one blob, valid for ttlSeconds; undefined when the deployment has no data endpoint. */
  async url(b: DataRequest): Promise<string | undefined> {
    if (!this.opts.template) return undefined;
    const expires = Math.floor(Date.now() / 1000) + this.opts.ttlSeconds;
    return signDataUrl(await this.signingKey(), this.opts.template, b, expires);
  }

  /** What a request on the data endpoint may read, or why it may not. */
  async verify(path: string, query: URLSearchParams): Promise<DataRequest | string> {
    return verifyDataUrl(await this.signingKey(), path, query, Math.floor(Date.now() / 1000));
  }
}
