// Errors of the key providers that are not about a wrap or an unwrap (those are keys.ts's).

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

/**
 * The configuration for a provider is missing or unusable (no Vault token, an unreadable PIN
 * file, a PKCS#11 module that does not load). Names the setting, never its value.
 */
export class KeyProviderConfigError extends Error {
  constructor(
    readonly keyId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`key provider ${keyId}: ${message}`, options);
    this.name = 'KeyProviderConfigError';
  }
}
