import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyProviderUnavailableError, LocalKeyFileProvider, withTimeout, type KeyProvider } from '../keys.js';
import { AzureKeyVaultProvider, type AzureKeyVaultSettings } from './azure-key-vault.js';
import { KeyProviderConfigError, KeyUriError } from './errors.js';
import { Pkcs11Provider, type Pkcs11Settings } from './pkcs11.js';
import { VaultTransitProvider, type VaultSettings } from './vault.js';

// Key-encryption keys named by URI, as `berth create --key-encryption-key URI` takes them:
//
//   file:///etc/berth/keys/reg1.kek                              a local file, 32 random bytes in base64
//   vault+https://vault.example:8200/transit/keys/berth           HashiCorp Vault transit (vault+http:// for dev)
//   https://myvault.vault.azure.net/keys/berth[/<version>]        Azure Key Vault (or Managed HSM) RSA key
//   pkcs11:token=berth;object=kek                                 an AES key in a PKCS#11 token (HSM)
//
// The URI is shown back (berth encryption show), so it never carries a secret: credentials for a
// provider come from the configuration (storage.encryption.providers).

export { KeyProviderConfigError, KeyUriError } from './errors.js';

/** The providers' credentials and trust: storage.encryption.providers in the configuration. */
export interface KeyProvidersConfig {
  vault?: VaultSettings;
  azureKeyVault?: AzureKeyVaultSettings;
  pkcs11?: Pkcs11Settings;
}

export interface KeyProviderOptions {
  /** Every wrap/unwrap call is bounded by this (a hung provider fails, never stalls). */
  timeoutMs: number;
  providers?: KeyProvidersConfig;
}

export const KEY_URI_SCHEMES = ['file:', 'vault+https:', 'vault+http:', 'https:', 'pkcs11:'] as const;

/** Providers stop waiting on their own a little after the caller's bound, so hung connections are freed. */
const GRACE_MS = 1000;

/**
 * The provider for a key URI; throws KeyUriError, KeyProviderConfigError (missing credentials
 * for its kind) or the provider's own error (e.g. KeyFileError).
 */
export function keyProviderFor(uri: string, opts: KeyProviderOptions): KeyProvider {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new KeyUriError(uri, `not a URI (expected one of: ${KEY_URI_SCHEMES.join(', ')})`);
  }
  const providers = opts.providers ?? {};
  const bound = (p: KeyProvider) => withTimeout(configFailuresUnavailable(p), opts.timeoutMs);
  switch (u.protocol) {
    case 'file:': {
      if (u.host !== '' || u.search || u.hash)
        throw new KeyUriError(uri, 'a file key is file:///absolute/path, with no host, query or fragment');
      const file = fileURLToPath(u);
      if (!path.isAbsolute(file)) throw new KeyUriError(uri, 'the path must be absolute');
      return bound(new LocalKeyFileProvider(file));
    }
    case 'vault+https:':
    case 'vault+http:':
      return bound(new VaultTransitProvider(uri, providers.vault ?? {}, opts.timeoutMs + GRACE_MS));
    case 'https:':
      return bound(new AzureKeyVaultProvider(uri, providers.azureKeyVault ?? {}, opts.timeoutMs + GRACE_MS));
    case 'pkcs11:':
      return bound(new Pkcs11Provider(uri, providers.pkcs11 ?? {}));
    default:
      throw new KeyUriError(uri, `unsupported scheme ${u.protocol} (supported: ${KEY_URI_SCHEMES.join(', ')})`);
  }
}

/**
 * A configuration problem met during a call (a token or PIN file gone, a package or module that
 * does not load) is reported as unavailability: callers know three failures, and a local glitch
 * must not look like the key owner revoking access. keyProviderFor itself still throws
 * KeyProviderConfigError for what it can check up front.
 */
function configFailuresUnavailable(p: KeyProvider): KeyProvider {
  const map = (e: unknown): never => {
    if (e instanceof KeyProviderConfigError) throw new KeyProviderUnavailableError(e.keyId, e.detail, { cause: e });
    throw e;
  };
  return {
    id: p.id,
    wrap: (dek) => p.wrap(dek).catch(map),
    unwrap: (wrapped, v) => p.unwrap(wrapped, v).catch(map),
  };
}
