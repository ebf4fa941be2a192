// Errors of the key providers that are not about a wrap or an unwrap (those are keys.ts's).

/**
 * A URI as errors may show it: credentials someone put in it (user:pass@, a query such as
 * ?pin-value= or ?token=) are replaced, since the error is logged and shown back.
 */
export function redactUri(uri: string): string {
  return uri.replace(/^([a-z0-9+.-]+:\/\/)[^/@?#]*@/i, '$1***@').replace(/\?.*$/s, (q) => (q.length > 1 ? '?***' : q));
}

/** A key URI that cannot be used: unknown scheme, malformed, or naming a key that is not there. */
export class KeyUriError extends Error {
  readonly uri: string;
  constructor(uri: string, message: string) {
    const shown = redactUri(uri);
    super(`key-encryption key ${JSON.stringify(shown)}: ${message}`);
    this.name = 'KeyUriError';
    this.uri = shown;
  }
}

/**
 * The configuration for a provider is missing or unusable (no Vault token, an unreadable PIN
 * file, a PKCS#11 module that does not load). Names the setting, never its value.
 */
export class KeyProviderConfigError extends Error {
  constructor(
    readonly keyId: string,
    /** What is wrong, without the key's name. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`key provider ${keyId}: ${detail}`, options);
    this.name = 'KeyProviderConfigError';
  }
}
