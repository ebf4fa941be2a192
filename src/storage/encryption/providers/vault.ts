import http from 'node:http';
import https from 'node:https';
import { KeyProviderUnavailableError, KeyUnwrapError, type KeyProvider } from '../keys.js';
import { KeyProviderConfigError, KeyUriError } from './errors.js';
import { caBundle, providerAgent, readSecretFile } from './secrets.js';

// HashiCorp Vault (or OpenBao) transit: the KEK never leaves Vault; Berth sends the DEK to
// /v1/<mount>/encrypt/<name> and gets `vault:vN:<base64>` back. N is Vault's key version, kept as
// the keyVersion, so a key rotated in Vault still decrypts what older versions wrapped (until
// min_decryption_version passes them), and a rewrap takes the latest version.

/** Where Vault's credentials and trust come from (storage.encryption.providers.vault). */
export interface VaultSettings {
  /** A Vault token; or tokenFile, re-read on every call (a Vault Agent sink renews it in place). */
  token?: string;
  tokenFile?: string;
  /** Vault Enterprise / HCP namespace (X-Vault-Namespace); empty = none. */
  namespace?: string;
  /** PEM CA certificates trusted for Vault's TLS, in addition to the public roots. */
  caFile?: string;
}

export interface VaultKeyRef {
  /** http(s)://host:port of the Vault server. */
  origin: string;
  protocol: 'http:' | 'https:';
  /** The transit engine's mount path, e.g. transit or kms/transit. */
  mount: string;
  name: string;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** vault+https://HOST[:PORT]/<mount path>/keys/<name> (vault+http:// for development). */
export function parseVaultUri(uri: string): VaultKeyRef {
  const u = new URL(uri);
  const protocol = u.protocol === 'vault+https:' ? 'https:' : u.protocol === 'vault+http:' ? 'http:' : undefined;
  if (!protocol) throw new KeyUriError(uri, 'a Vault key is vault+https://HOST[:PORT]/<mount>/keys/<name>');
  if (u.username || u.password)
    throw new KeyUriError(uri, 'a key URI carries no credentials: give the Vault token in storage.encryption.providers.vault');
  if (u.search || u.hash) throw new KeyUriError(uri, 'a Vault key URI has no query or fragment');
  if (!u.hostname) throw new KeyUriError(uri, 'the Vault server is missing (vault+https://HOST[:PORT]/<mount>/keys/<name>)');
  const m = /^\/(.+)\/keys\/([^/]+)$/.exec(u.pathname);
  const mount = m?.[1];
  const name = m?.[2];
  if (!mount || !name || !mount.split('/').every((s) => SEGMENT.test(s)) || !SEGMENT.test(name))
    throw new KeyUriError(uri, 'the path must be /<transit mount path>/keys/<key name>, e.g. /transit/keys/berth');
  return { origin: `${protocol}//${u.host}`, protocol, mount, name };
}

const CIPHERTEXT = /^vault:v([1-9][0-9]*):([A-Za-z0-9+/]+={0,2})$/;
const MAX_RESPONSE = 1024 * 1024;

export class VaultTransitProvider implements KeyProvider {
  readonly id: string;
  private readonly ref: VaultKeyRef;
  private readonly agent: http.Agent;

  /** requestTimeoutMs ends a hung request (withTimeout has reported it by then; this frees the socket). */
  constructor(
    uri: string,
    private readonly settings: VaultSettings,
    private readonly requestTimeoutMs: number,
  ) {
    this.id = uri;
    this.ref = parseVaultUri(uri);
    if (!settings.token && !settings.tokenFile)
      throw new KeyProviderConfigError(uri, 'no Vault token: set storage.encryption.providers.vault.tokenFile (or .token)');
    if (settings.token && settings.tokenFile)
      throw new KeyProviderConfigError(uri, 'set one of storage.encryption.providers.vault.token and .tokenFile, not both');
    if (settings.tokenFile) readSecretFile(uri, 'storage.encryption.providers.vault.tokenFile', settings.tokenFile);
    const ca =
      settings.caFile && this.ref.protocol === 'https:'
        ? caBundle(uri, 'storage.encryption.providers.vault.caFile', settings.caFile)
        : undefined;
    this.agent = providerAgent(this.ref.protocol, ca);
  }

  async wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }> {
    const data = await this.call('encrypt', { plaintext: dek.toString('base64') });
    const m = typeof data.ciphertext === 'string' ? CIPHERTEXT.exec(data.ciphertext) : null;
    if (!m) throw new KeyProviderUnavailableError(this.id, 'Vault answered encrypt without a vault:vN: ciphertext');
    return { wrapped: Buffer.from(m[2]!, 'base64'), keyVersion: m[1]! };
  }

  async unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer> {
    if (!/^[1-9][0-9]*$/.test(keyVersion)) throw new KeyUnwrapError(this.id, `unknown key version ${JSON.stringify(keyVersion)}`);
    const data = await this.call('decrypt', { ciphertext: `vault:v${keyVersion}:${wrapped.toString('base64')}` });
    if (typeof data.plaintext !== 'string') throw new KeyProviderUnavailableError(this.id, 'Vault answered decrypt without a plaintext');
    return Buffer.from(data.plaintext, 'base64');
  }

  private token(): string {
    return this.settings.tokenFile
      ? readSecretFile(this.id, 'storage.encryption.providers.vault.tokenFile', this.settings.tokenFile)
      : this.settings.token!;
  }

  /** One transit call; Vault's refusals are KeyUnwrapError, everything that may pass is KeyProviderUnavailableError. */
  private async call(op: 'encrypt' | 'decrypt', body: object): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-vault-token': this.token(),
      'x-vault-request': 'true',
    };
    if (this.settings.namespace) headers['x-vault-namespace'] = this.settings.namespace;
    const url = `${this.ref.origin}/v1/${this.ref.mount}/${op}/${this.ref.name}`;
    let res: { status: number; text: string };
    try {
      res = await this.post(url, headers, JSON.stringify(body));
    } catch (e) {
      throw new KeyProviderUnavailableError(this.id, `cannot reach Vault for ${op}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 200) {
      try {
        const parsed = JSON.parse(res.text) as { data?: Record<string, unknown> };
        if (parsed.data && typeof parsed.data === 'object') return parsed.data;
      } catch {
        // reported below
      }
      throw new KeyProviderUnavailableError(this.id, `Vault answered ${op} with HTTP 200 but no data`);
    }
    const why = `Vault refused ${op} (HTTP ${res.status}${vaultErrors(res.text)})`;
    // 408/412 (a performance standby not caught up)/429 and 5xx (sealed, standby, overloaded) pass;
    // 400 (invalid ciphertext, unknown key, version below min_decryption_version), 403 (token or
    // policy), 404 (no such mount) stay until someone changes Vault.
    if (res.status >= 400 && res.status < 500 && ![408, 412, 429].includes(res.status)) throw new KeyUnwrapError(this.id, why);
    throw new KeyProviderUnavailableError(this.id, why);
  }

  private post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
    const mod = this.ref.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE) req.destroy(new Error('response too large'));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(this.requestTimeoutMs, () => req.destroy(new Error(`no answer within ${this.requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** Vault's own error messages (`{"errors": [...]}`), short; they carry no secrets. */
function vaultErrors(text: string): string {
  try {
    const errors = (JSON.parse(text) as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length) return `: ${errors.map(String).join('; ').slice(0, 300)}`;
  } catch {
    // not JSON: say nothing more
  }
  return '';
}
