import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalKeyFileProvider, withTimeout, type KeyProvider } from '../keys.js';

// Key-encryption keys named by URI, as `berth create --key-encryption-key URI` takes them:
//
//   file:///etc/berth/keys/reg1.kek    a local file holding 32 random bytes in base64
//
// The URI is shown back (berth encryption show), so it never carries a secret: credentials for a
// provider come from the configuration.

/** A key URI that cannot be used: unknown scheme, malformed, or naming a key that is not there. */
export class KeyUriError extends Error {
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super(`key-encryption key ${JSON.stringify(uri)}: ${message}`);
    this.name = 'KeyUriError';
  }
}

export interface KeyProviderOptions {
  /** Every wrap/unwrap call is bounded by this (a hung provider fails, never stalls). */
  timeoutMs: number;
}

export const KEY_URI_SCHEMES = ['file:'] as const;

/** The provider for a key URI; throws KeyUriError or the provider's own error (e.g. KeyFileError). */
export function keyProviderFor(uri: string, opts: KeyProviderOptions): KeyProvider {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new KeyUriError(uri, `not a URI (expected one of: ${KEY_URI_SCHEMES.join(', ')})`);
  }
  switch (u.protocol) {
    case 'file:': {
      if (u.host !== '' || u.search || u.hash)
        throw new KeyUriError(uri, 'a file key is file:///absolute/path, with no host, query or fragment');
      const file = fileURLToPath(u);
      if (!path.isAbsolute(file)) throw new KeyUriError(uri, 'the path must be absolute');
      return withTimeout(new LocalKeyFileProvider(file), opts.timeoutMs);
    }
    default:
      throw new KeyUriError(uri, `unsupported scheme ${u.protocol} (supported: ${KEY_URI_SCHEMES.join(', ')})`);
  }
}
