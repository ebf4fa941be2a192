import type { Kysely, Selectable } from 'kysely';
import { now } from './context.js';
import type { Database, RegistryKeysTable } from './schema.js';

// Customer-managed keys (migration 26): a registry's wrapped data key and the state of its key.
// Created with the registry (registries.ts createRegistry); the crypto is in services/encryption.

export type RegistryKeyRow = Selectable<RegistryKeysTable>;

export class KyselyRegistryKeys {
  constructor(private readonly db: Kysely<Database>) {}

  get(registryId: number): Promise<RegistryKeyRow | undefined> {
    return this.db.selectFrom('registry_keys').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
  }

  /** Ids of every registry with a customer-managed key (each is an encryption domain). */
  async registryIds(): Promise<number[]> {
    return (await this.db.selectFrom('registry_keys').select('registry_id').orderBy('registry_id').execute()).map((r) =>
      Number(r.registry_id),
    );
  }

  /**
   * Replaces the wrapped data key when it is still `fromWrapped` (two rotations at once: one wins,
   * the other is told to retry rather than silently overwrite). False when it changed meanwhile.
   */
  async rewrap(
    registryId: number,
    fromWrapped: string,
    to: { key_uri: string; key_version: string; wrapped_dek: string },
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('registry_keys')
      .set({ ...to, rotated_at: now() })
      .where('registry_id', '=', registryId)
      .where('wrapped_dek', '=', fromWrapped)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Records a state change; false when the state already was `state` (so only changes are audited). */
  async setState(registryId: number, state: string, reason: string | null): Promise<boolean> {
    const r = await this.db
      .updateTable('registry_keys')
      .set({ state, state_reason: reason, state_changed_at: now() })
      .where('registry_id', '=', registryId)
      .where('state', '!=', state)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
