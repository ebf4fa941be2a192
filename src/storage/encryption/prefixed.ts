import type { Readable } from 'node:stream';
import {
  StorageNotFoundError,
  type PositionalReader,
  type ReadRange,
  type StatResult,
  type StorageDriver,
  type Writer,
} from '../driver.js';

/**
 * Every key under a fixed prefix of the inner driver ("encrypted/" + key). A deployment that
 * encrypted its clear-text objects in place keeps its encrypted objects there, apart from the
 * clear ones while the migration runs, and for good afterwards (the layout never changes back).
 */
export class PrefixedDriver implements StorageDriver {
  readonly name: string;

  constructor(
    readonly inner: StorageDriver,
    readonly prefix: string,
  ) {
    if (!prefix.endsWith('/')) throw new Error('a storage prefix ends with "/"');
    this.name = inner.name;
    // signedReadUrl is absent on purpose: what lies under the prefix is ciphertext.
    if (inner.openPositional) {
      this.openPositional = async (key: string): Promise<PositionalReader> => {
        try {
          return await inner.openPositional!(this.prefix + key);
        } catch (e) {
          throw this.unmapped(e, key);
        }
      };
    }
  }

  openPositional?: (key: string) => Promise<PositionalReader>;

  /** A not-found error names the key the caller asked for. */
  private unmapped(e: unknown, key: string): unknown {
    return e instanceof StorageNotFoundError ? new StorageNotFoundError(this.name, key) : e;
  }

  stat(key: string): Promise<StatResult | null> {
    return this.inner.stat(this.prefix + key);
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    try {
      return await this.inner.read(this.prefix + key, range);
    } catch (e) {
      throw this.unmapped(e, key);
    }
  }

  writer(key: string, opts?: { offset?: number; durableName?: boolean }): Promise<Writer> {
    return this.inner.writer(this.prefix + key, opts);
  }

  async move(from: string, to: string): Promise<void> {
    try {
      await this.inner.move(this.prefix + from, this.prefix + to);
    } catch (e) {
      throw this.unmapped(e, from);
    }
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(this.prefix + key);
  }

  async list(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<string[]> {
    const keys = await this.inner.list(this.prefix + prefix, {
      ...opts,
      startAfter: opts.startAfter === undefined ? undefined : this.prefix + opts.startAfter,
    });
    return keys.map((k) => k.slice(this.prefix.length));
  }
}
