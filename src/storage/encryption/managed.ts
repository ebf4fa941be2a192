import { createCipheriv, createDecipheriv } from 'node:crypto';
import { KeyUnwrapError, type KeyProvider } from './keys.js';

/**
 * The Berth-managed key-encryption key: 32 random bytes kept in the metadata database (a
 * deployment setting), so every node over the same database shares it with no configuration.
 * It protects a blob store, disk snapshot or bucket that leaks on its own, not one that leaks
 * together with the database (docs/storage.md); a key file or a customer-managed key does.
 * Wraps with AES-256 key wrap (RFC 3394), whose integrity check refuses a wrong key.
 */
export class ManagedKeyProvider implements KeyProvider {
  static readonly ID = 'berth-managed';
  readonly id = ManagedKeyProvider.ID;

  constructor(private readonly kek: Buffer) {
    if (kek.length !== 32) throw new Error('the Berth-managed key must be 32 bytes');
  }

  wrap(dek: Buffer): Promise<{ wrapped: Buffer; keyVersion: string }> {
    const c = createCipheriv('id-aes256-wrap', this.kek, IV);
    return Promise.resolve({ wrapped: Buffer.concat([c.update(dek), c.final()]), keyVersion: '1' });
  }

  unwrap(wrapped: Buffer, keyVersion: string): Promise<Buffer> {
    if (keyVersion !== '1') return Promise.reject(new KeyUnwrapError(this.id, `unknown key version ${keyVersion}`));
    try {
      const d = createDecipheriv('id-aes256-wrap', this.kek, IV);
      return Promise.resolve(Buffer.concat([d.update(wrapped), d.final()]));
    } catch (e) {
      return Promise.reject(new KeyUnwrapError(this.id, 'the key does not match (the setting was changed or damaged)', { cause: e }));
    }
  }
}

/** RFC 3394's default initial value. */
const IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
