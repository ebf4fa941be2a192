import type { Readable } from 'node:stream';
import type { PositionalReader, ReadRange, StatResult, StorageDriver, Writer } from '../driver.js';
import { domainOfKey } from '../paths.js';

// Encryption domains: a registry with a customer-managed key keeps its objects under
// domains/<registry id>/… (storage/paths.ts), sealed with its own data key; everything else goes
// to the deployment's driver. This router picks the driver by key, so services only choose keys.
//
// A domain's driver comes from `resolve`, which unwraps (and caches) that registry's data key and
// throws when the key is inaccessible: every read and write of the domain fails then, and nothing
// is ever written in clear or under another key. Objects never move between domains (a move
// across is refused: it would need a re-encryption, which no caller wants silently).

export class DomainRouter implements StorageDriver {
  readonly name: string;
  readonly openPositional?: (key: string) => Promise<PositionalReader>;

  constructor(
    private readonly base: StorageDriver,
    private readonly resolve: (domain: number) => Promise<StorageDriver>,
  ) {
    this.name = base.name;
    // Positional reads where the deployment's driver has them; a domain's driver (encrypting, over
    // the same physical store) then has them too.
    if (base.openPositional) {
      this.openPositional = async (key) => {
        const driver = await this.driverFor(key);
        if (!driver.openPositional) throw new Error(`positional reads are not available for ${key}`);
        return driver.openPositional(key);
      };
    }
  }

  private driverFor(key: string): Promise<StorageDriver> | StorageDriver {
    const d = domainOfKey(key);
    return d === undefined ? this.base : this.resolve(d);
  }

  async stat(key: string, opts?: { here?: boolean }): Promise<StatResult | null> {
    return (await this.driverFor(key)).stat(key, opts);
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    return (await this.driverFor(key)).read(key, range);
  }

  async writer(key: string, opts?: { offset?: number; durableName?: boolean }): Promise<Writer> {
    return (await this.driverFor(key)).writer(key, opts);
  }

  async move(from: string, to: string): Promise<void> {
    if (domainOfKey(from) !== domainOfKey(to)) throw new Error(`cannot move ${from} to ${to}: they are in different encryption domains`);
    return (await this.driverFor(from)).move(from, to);
  }

  async delete(key: string): Promise<void> {
    // Deleting needs no key: a registry whose key was revoked can still be cleaned up.
    return this.base.delete(key);
  }

  list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<string[]> {
    // Names only, no contents: listing needs no key either.
    return this.base.list(prefix, opts);
  }

  async signedReadUrl(key: string, opts: { expiresInSeconds: number }): Promise<string | null> {
    // A signed URL would hand out a domain's ciphertext; the deployment's driver decides for its own keys.
    if (domainOfKey(key) !== undefined || !this.base.signedReadUrl) return null;
    return this.base.signedReadUrl(key, opts);
  }
}
