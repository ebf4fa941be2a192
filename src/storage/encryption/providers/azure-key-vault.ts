import type * as Identity from '@azure/identity';
import type { TokenCredential } from '@azure/identity';
import type * as KeyVaultKeys from '@azure/keyvault-keys';
import type { CryptographyClient, CryptographyClientOptions, KeyClient } from '@azure/keyvault-keys';
import { KeyProviderUnavailableError, KeyUnwrapError, type KeyProvider } from '../keys.js';
import { KeyProviderConfigError, KeyUriError } from './errors.js';
import { caBundle, readSecretFile } from './secrets.js';

// Azure Key Vault (and Managed HSM): an RSA key that wraps the DEK with RSA-OAEP-256, as ACR's
// customer-managed keys do. The URI is the key identifier, https://<vault>.vault.azure.net/keys/
// <name>[/<version>]: versioned = that version only; versionless = each wrap takes the key's
// current version (so Key Vault's auto-rotation is followed by the next rewrap). The version that
// wrapped a DEK is its keyVersion, and unwrap asks that version. Permissions: keys get, wrapKey, unwrapKey.

/** Credentials and trust for Key Vault (storage.encryption.providers.azureKeyVault). */
export interface AzureKeyVaultSettings {
  /** Tenant of the service principal (with clientId and clientSecretFile). */
  tenantId?: string;
  /** The service principal's, the user-assigned managed identity's or the workload identity's client id. */
  clientId?: string;
  /** A service principal's client secret, in a file. Without it: DefaultAzureCredential (managed or workload identity, environment). */
  clientSecretFile?: string;
  /** Microsoft Entra authority for sovereign clouds or Azure Stack (e.g. https://login.chinacloudapi.cn); empty = public cloud. */
  authorityHost?: string;
  /** PEM CA certificates trusted for Key Vault and the authority, in addition to the public roots (private CAs, TLS-inspecting proxies). */
  caFile?: string;
  /** Check that Key Vault's Bearer challenge names a resource of the vault's own domain; off only for Key Vault-compatible endpoints outside it. */
  verifyChallengeResource?: boolean;
}

export interface AzureKeyRef {
  /** https://<vault>.vault.azure.net */
  vaultUrl: string;
  name: string;
  /** Empty = versionless: follow the key's current version. */
  version: string;
}

/** https://<vault>.vault.azure.net/keys/<name>[/<version>] */
export function parseAzureKeyUri(uri: string): AzureKeyRef {
  const u = new URL(uri);
  const form = 'an Azure Key Vault key is https://<vault>.vault.azure.net/keys/<name>[/<version>]';
  if (u.protocol !== 'https:') throw new KeyUriError(uri, form);
  if (u.username || u.password) throw new KeyUriError(uri, 'a key URI carries no credentials');
  if (u.search || u.hash) throw new KeyUriError(uri, `${form}, with no query or fragment`);
  const m = /^\/keys\/([0-9A-Za-z-]{1,127})(?:\/([0-9A-Za-z]{1,64}))?\/?$/.exec(u.pathname);
  if (!m) throw new KeyUriError(uri, form);
  return { vaultUrl: u.origin, name: m[1]!, version: m[2] ?? '' };
}

const ALGORITHM = 'RSA-OAEP-256';

export class AzureKeyVaultProvider implements KeyProvider {
  readonly id: string;
  private readonly ref: AzureKeyRef;
  private readonly options: CryptographyClientOptions;
  private sdk?: Promise<{ credential: TokenCredential; keys: KeyClient; Crypto: typeof CryptographyClient }>;
  /** One client per key version: it keeps the key's properties and its token. */
  private readonly clients = new Map<string, CryptographyClient>();

  constructor(
    uri: string,
    private readonly settings: AzureKeyVaultSettings,
    /** Ends a hung call (withTimeout has reported it by then; this frees the connection). */
    private readonly requestTimeoutMs: number,
    /** Tests hand in a credential; production builds one from settings. */
    private readonly credential?: TokenCredential,
  ) {
    this.id = uri;
    this.ref = parseAzureKeyUri(uri);
    if (settings.clientSecretFile) {
      if (!settings.tenantId || !settings.clientId)
        throw new KeyProviderConfigError(uri, 'a client secret needs storage.encryption.providers.azureKeyVault.tenantId and .clientId');
      readSecretFile(uri, 'storage.encryption.providers.azureKeyVault.clientSecretFile', settings.clientSecretFile);
    }
    if (settings.authorityHost && !/^https:\/\//.test(settings.authorityHost))
      throw new KeyProviderConfigError(uri, 'storage.encryption.providers.azureKeyVault.authorityHost must be an https URL');
    const ca = settings.caFile ? caBundle(uri, 'storage.encryption.providers.azureKeyVault.caFile', settings.caFile) : undefined;
    this.options = {
      // Through the SDK's pipeline, so HTTPS_PROXY/NO_PROXY keep working with the CA bundle.
      ...(ca ? { tlsOptions: { ca } } : {}),
      disableChallengeResourceVerification: settings.verifyChallengeResource === false,
      // A few quick tries: the caller's bound (withTimeout) must see an unreachable vault as such.
      retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 500 },
    };
  }

  private load(): Promise<{ credential: TokenCredential; keys: KeyClient; Crypto: typeof CryptographyClient }> {
    this.sdk ??= (async () => {
      let kv: typeof KeyVaultKeys;
      let identity: typeof Identity;
      try {
        [kv, identity] = await Promise.all([import('@azure/keyvault-keys'), import('@azure/identity')]);
      } catch (e) {
        throw new KeyProviderConfigError(this.id, 'the packages @azure/keyvault-keys and @azure/identity are not installed', {
          cause: e,
        });
      }
      const credential = this.credential ?? this.makeCredential(identity);
      return { credential, keys: new kv.KeyClient(this.ref.vaultUrl, credential, this.options), Crypto: kv.CryptographyClient };
    })();
    this.sdk.catch(() => (this.sdk = undefined));
    return this.sdk;
  }

  private makeCredential(identity: typeof Identity): TokenCredential {
    const s = this.settings;
    const common = {
      ...(s.authorityHost ? { authorityHost: s.authorityHost, disableInstanceDiscovery: true } : {}),
      ...(this.options.tlsOptions ? { tlsOptions: this.options.tlsOptions } : {}),
    };
    if (s.clientSecretFile) {
      const secret = readSecretFile(this.id, 'storage.encryption.providers.azureKeyVault.clientSecretFile', s.clientSecretFile);
      return new identity.ClientSecretCredential(s.tenantId!, s.clientId!, secret, common);
    }
    return new identity.DefaultAzureCredential({
      ...common,
      ...(s.tenantId ? { tenantId: s.tenantId } : {}),
      ...(s.clientId ? { managedIdentityClientId: s.clientId, workloadIdentityClientId: s.clientId } : {}),
    });
  }

  private async client(version: string): Promise<CryptographyClient> {
    const { credential, Crypto } = await this.load();
    let c = this.clients.get(version);
    if (!c) {
      c = new Crypto(`${this.ref.vaultUrl}/keys/${this.ref.name}/${version}`, credential, this.options);
      this.clients.set(version, c);
    }
    return c;
  }

  async wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }> {
    try {
      let version = this.ref.version;
      if (!version) {
        // The SDK reports the id it was given, not the version that wrapped: so ask for the
        // current version first and wrap with exactly that one.
        const { keys } = await this.load();
        const key = await keys.getKey(this.ref.name, { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) });
        version = key.properties.version ?? '';
        if (!version) throw new KeyProviderUnavailableError(this.id, 'Key Vault answered without a key version');
      }
      const r = await (await this.client(version)).wrapKey(ALGORITHM, dek, { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) });
      return { wrapped: Buffer.from(r.result), keyVersion: version };
    } catch (e) {
      throw this.classify('wrap', e);
    }
  }

  async unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer> {
    if (!/^[0-9A-Za-z]{1,64}$/.test(keyVersion)) throw new KeyUnwrapError(this.id, `unknown key version ${JSON.stringify(keyVersion)}`);
    try {
      const r = await (
        await this.client(keyVersion)
      ).unwrapKey(ALGORITHM, wrapped, {
        abortSignal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      return Buffer.from(r.result);
    } catch (e) {
      throw this.classify('unwrap', e);
    }
  }

  /** Key Vault's refusals (and the authority's) are KeyUnwrapError; throttling, 5xx and the network pass. */
  private classify(op: string, e: unknown): Error {
    if (e instanceof KeyUnwrapError || e instanceof KeyProviderUnavailableError || e instanceof KeyProviderConfigError) return e;
    const err = e as { name?: string; statusCode?: number; code?: string; message?: string };
    const message = (err.message ?? String(e)).split('\n')[0]!.slice(0, 300);
    const status = err.statusCode;
    // @azure/identity reports the authority's answers under several names across versions; an
    // OAuth error code (a wrong secret, an unknown client, no consent) is a refusal.
    if (
      /^(AuthenticationError|AuthenticationRequiredError|AggregateAuthenticationError|CredentialUnavailableError)$/.test(err.name ?? '')
    ) {
      const refused =
        (status !== undefined && status >= 400 && status < 500 && ![408, 429].includes(status)) ||
        /\b(invalid_client|unauthorized_client|invalid_grant|invalid_request|invalid_scope|invalid_resource|access_denied)\b/.test(message);
      return refused
        ? new KeyUnwrapError(this.id, `Microsoft Entra ID refused the credential (${message})`, { cause: e })
        : new KeyProviderUnavailableError(this.id, `${op}: cannot get a token: ${message}`, { cause: e });
    }
    if (err.name === 'RestError') {
      if (status !== undefined && status >= 400 && status < 500 && ![408, 429].includes(status))
        return new KeyUnwrapError(this.id, `Key Vault refused ${op} (HTTP ${status}: ${message})`, { cause: e });
      return new KeyProviderUnavailableError(this.id, `${op}: ${status ? `HTTP ${status}: ` : ''}${message}`, { cause: e });
    }
    // The SDK's own checks of the key: expired, not yet valid, operation not allowed on it.
    if (/expired at|can't be used before|is not supported on key/.test(message))
      return new KeyUnwrapError(this.id, `${op}: ${message}`, { cause: e });
    return new KeyProviderUnavailableError(this.id, `${op}: ${message}`, { cause: e });
  }
}
