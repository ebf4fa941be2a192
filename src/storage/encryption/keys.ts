import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

// Key providers: a key-encryption key (KEK) that wraps a data-encryption key (DEK): the
// deployment's, or a registry's customer-managed one. Only wrapped DEKs are stored (in the
// metadata); the KEK lives elsewhere (a file, Vault transit, Azure Key Vault, an HSM), behind this
// one interface. Providers report failures as one of three errors: KeyUnwrapError (the key refused
// or does not match: permanent until someone restores access), KeyProviderUnavailableError and
// KeyProviderTimeoutError (the provider could not be reached: expected to pass).

export interface KeyProvider {
  /** Names the key in errors and next to the wrapped DEK (e.g. "file:/etc/berth/kek"). */
  readonly id: string;
  wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }>;
  unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer>;
}

/** The key file cannot be used: missing, unreadable or not 32 base64-encoded bytes. */
export class KeyFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`encryption key file ${file}: ${message}`, options);
    this.name = 'KeyFileError';
  }
}

/** A wrapped key did not unwrap: another key wrapped it, or it was damaged. */
export class KeyUnwrapError extends Error {
  constructor(
    readonly keyId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot unwrap the data encryption key with ${keyId}: ${message}`, options);
    this.name = 'KeyUnwrapError';
  }
}

/** The provider could not be reached or failed on its side (connection refused, 5xx, throttled). */
export class KeyProviderUnavailableError extends Error {
  /** Clients are answered 503 with Retry-After (domain/errors.ts isTransient). */
  readonly transient = 'key provider';
  constructor(
    readonly keyId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`key provider ${keyId} is unavailable: ${message}`, options);
    this.name = 'KeyProviderUnavailableError';
  }
}

/** A key provider did not answer in time. */
export class KeyProviderTimeoutError extends Error {
  readonly transient = 'key provider';
  constructor(
    readonly keyId: string,
    readonly op: string,
    readonly ms: number,
  ) {
    super(`key provider ${keyId} did not answer ${op} within ${ms} ms`);
    this.name = 'KeyProviderTimeoutError';
  }
}

/** The provider's calls, each bounded by `ms`: a hung KMS must fail the start, not stall it. */
export function withTimeout(provider: KeyProvider, ms: number): KeyProvider {
  const bounded = <T>(op: string, p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KeyProviderTimeoutError(provider.id, op, ms)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  };
  return {
    id: provider.id,
    wrap: (dek) => bounded('wrap', provider.wrap(dek)),
    unwrap: (wrapped, v) => bounded('unwrap', provider.unwrap(wrapped, v)),
  };
}

/**
 * A KEK from a local file: 32 random bytes, base64. Wraps with AES-256 key wrap (RFC 3394,
 * node's id-aes256-wrap with its default IV), whose integrity check refuses a wrong key.
 */
export class LocalKeyFileProvider implements KeyProvider {
  readonly id: string;
  private readonly kek: Buffer;

  constructor(
    readonly file: string,
    opts: { create?: boolean } = {},
  ) {
    this.id = `file:${file}`;
    this.kek = LocalKeyFileProvider.load(file, opts.create ?? false);
  }

  private static load(file: string, create: boolean): Buffer {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && create) {
        const kek = randomBytes(32);
        try {
          writeFileSync(file, kek.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
          chmodSync(file, 0o600);
        } catch (we) {
          throw new KeyFileError(file, `cannot create it: ${(we as Error).message}`, { cause: we });
        }
        return kek;
      }
      throw new KeyFileError(file, `cannot read it (${code ?? (e as Error).message})`, { cause: e });
    }
    const trimmed = text.trim();
    const kek = Buffer.from(trimmed, 'base64');
    if (!/^[A-Za-z0-9+/]+=*$/.test(trimmed) || kek.length !== 32) {
      throw new KeyFileError(file, 'it must hold 32 random bytes in base64 (e.g. `head -c 32 /dev/urandom | base64`)');
    }
    return kek;
  }

  wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }> {
    const c = createCipheriv('id-aes256-wrap', this.kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    return Promise.resolve({ wrapped: Buffer.concat([c.update(dek), c.final()]), keyVersion: '1' });
  }

  unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer> {
    if (keyVersion !== '1') return Promise.reject(new KeyUnwrapError(this.id, `unknown key version ${keyVersion}`));
    try {
      const d = createDecipheriv('id-aes256-wrap', this.kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
      return Promise.resolve(Buffer.concat([d.update(wrapped), d.final()]));
    } catch (e) {
      return Promise.reject(
        new KeyUnwrapError(this.id, 'the key does not match (another key file wrapped it, or it is damaged)', { cause: e }),
      );
    }
  }
}
