import type { Executor } from '../../meta/store.js';

/**
 * What the delete paths of manifests and repositories need from the recycle bin, inside the
 * deleting transaction: whether the registry keeps deletes, and keeping a manifest before it
 * goes. services/lifecycle/soft-delete.ts implements it; content never imports lifecycle.
 */
export interface RecycleBinHook {
  enabled(trx: Executor, registryId: number): Promise<{ on: boolean; days: number }>;
  /** One id for everything a single delete puts in the bin (restored together). */
  newGroup(): string;
  keep(
    trx: Executor,
    registryId: number,
    repositoryId: number,
    repository: string,
    digest: string,
    o: { group: string; days: number; onlyTag?: string },
  ): Promise<void>;
  hasEntries(trx: Executor, repositoryId: number): Promise<boolean>;
  now(): Date;
}
