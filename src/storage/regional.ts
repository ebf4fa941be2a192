import type { Readable } from 'node:stream';
import {
  StorageNotFoundError,
  StorageUnavailableError,
  type PositionalReader,
  type ReadRange,
  type StatResult,
  type StorageDriver,
  type Writer,
} from './driver.js';

// A node's view of a multi-region deployment's blob stores (geo-replication): everything is
// written to the node's own region; a blob its region does not hold yet (a copy still on its way,
// or the region's store down) is read from another region that holds it; and deleting a blob
// deletes it in every region (garbage collection). Other keys (upload sessions, task sources and
// logs) stay regional. Which region holds what is metadata (blob_placements), kept by
// services/replication; this layer only falls back in order. A registry's own copies of blobs
// (domains/<id>/blobs/…, customer-managed keys) are blobs here too. With encryption at rest each
// region's driver seals that region's store (the deployment's data key, a registry's key for its
// domain), so everything above sees plaintext in every region.

export interface Region {
  readonly name: string;
  /** The region's public base URL (its regional endpoint). */
  readonly url: string;
  readonly driver: StorageDriver;
}

const isBlobKey = (key: string) => /^(domains\/[1-9][0-9]*\/)?blobs\//.test(key);

/** Whether a failed read is worth trying elsewhere: the object is missing here, or this store is down. */
const elsewhere = (e: unknown) => e instanceof StorageNotFoundError || e instanceof StorageUnavailableError;

export class RegionalStorage implements StorageDriver {
  readonly name: string;

  constructor(
    readonly local: Region,
    readonly peers: readonly Region[],
    /** Told when a blob was read from another region (a read-repair cue), and when deleting it there failed. */
    private readonly observer: {
      readFromPeer?(key: string, region: string): void;
      deleteFailed?(key: string, region: string, err: unknown): void;
    } = {},
  ) {
    // The local driver's name: errors carry it, and metrics label storage operations by it.
    this.name = local.driver.name;
  }

  /** The same regions over other drivers (each region's store sealed: encryption at rest). */
  async withDrivers(fn: (r: Region) => Promise<StorageDriver>): Promise<RegionalStorage> {
    const map = async (r: Region): Promise<Region> => ({ ...r, driver: await fn(r) });
    const local = await map(this.local);
    const peers: Region[] = [];
    for (const p of this.peers) peers.push(await map(p));
    return new RegionalStorage(local, peers, this.observer);
  }

  get regions(): Region[] {
    return [this.local, ...this.peers];
  }

  /** The other regions to try for a blob: those known to hold it first (in that order), then the rest. */
  peersFor(holders: readonly string[] = []): Region[] {
    const known = holders.map((h) => this.peers.find((p) => p.name === h)).filter((r): r is Region => r !== undefined);
    return [...known, ...this.peers.filter((p) => !known.includes(p))];
  }

  async stat(key: string, opts?: { here?: boolean }): Promise<StatResult | null> {
    let localError: Error | undefined;
    try {
      const st = await this.local.driver.stat(key);
      if (st || !isBlobKey(key) || opts?.here) return st;
    } catch (e) {
      if (!isBlobKey(key) || !elsewhere(e)) throw e;
      localError = e;
    }
    for (const p of this.peers) {
      try {
        const st = await p.driver.stat(key);
        if (st) return st;
      } catch (e) {
        if (!elsewhere(e)) throw e;
      }
    }
    if (localError) throw localError;
    return null;
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    try {
      return await this.local.driver.read(key, range);
    } catch (e) {
      if (!isBlobKey(key) || !elsewhere(e)) throw e;
      for (const p of this.peers) {
        try {
          const stream = await p.driver.read(key, range);
          this.observer.readFromPeer?.(key, p.name);
          return stream;
        } catch (pe) {
          if (!elsewhere(pe)) throw pe;
        }
      }
      throw e;
    }
  }

  writer(key: string, opts?: { offset?: number; durableName?: boolean }): Promise<Writer> {
    return this.local.driver.writer(key, opts);
  }

  move(from: string, to: string): Promise<void> {
    return this.local.driver.move(from, to);
  }

  /** A blob goes from every region (its own region must succeed; a region that fails is swept later). */
  async delete(key: string): Promise<void> {
    if (!isBlobKey(key)) return this.local.driver.delete(key);
    const results = await Promise.allSettled([this.local.driver.delete(key), ...this.peers.map((p) => p.driver.delete(key))]);
    results.forEach((r, i) => {
      if (r.status === 'rejected' && i > 0) this.observer.deleteFailed?.(key, this.peers[i - 1]!.name, r.reason);
    });
    const own = results[0];
    if (own.status === 'rejected') throw own.reason as Error;
  }

  /** Positional reads of this region's copy only; a caller falls back to read() on StorageNotFoundError. */
  get openPositional(): ((key: string) => Promise<PositionalReader>) | undefined {
    const local = this.local.driver;
    return local.openPositional ? (key) => local.openPositional!.call(local, key) : undefined;
  }

  list(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<string[]> {
    return this.local.driver.list(prefix, opts);
  }

  /** A read URL in this region when it holds the object, else in the first region that does and can sign. */
  get signedReadUrl(): ((key: string, opts: { expiresInSeconds: number }) => Promise<string | null>) | undefined {
    if (!this.regions.some((r) => typeof r.driver.signedReadUrl === 'function')) return undefined;
    return async (key, opts) => {
      for (const r of this.regions) {
        if (!r.driver.signedReadUrl) continue;
        const st = await r.driver.stat(key).catch((e: unknown) => {
          if (elsewhere(e)) return null;
          throw e;
        });
        if (st) return r.driver.signedReadUrl(key, opts);
      }
      return null;
    };
  }
}
