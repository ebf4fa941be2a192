import type { Registry } from '../domain/registry.js';
import { isUniqueViolation, now, type Executor, type MetaContext } from './context.js';
import { prepared } from './prepared.js';

/** A registries row as services and handlers see it: the domain's Registry. */
export type RegistryRow = Registry;

/** The columns of the Registry entity (domain/registry.ts), read wherever registries are. */
export const REGISTRY_COLUMNS = [
  'id',
  'name',
  'sku',
  'admin_enabled',
  'anonymous_pull_enabled',
  'quarantine_enabled',
  'location',
  'created_at',
  'updated_at',
  'public_network_access',
  'network_default_action',
  'network_ip_rules',
  'network_bypass',
  'data_endpoint_enabled',
] as const;

/** Columns an update may change. */
export interface RegistryPatch {
  sku?: string;
  quarantine_enabled?: number;
  public_network_access?: string;
  network_default_action?: string;
  network_ip_rules?: string;
  network_bypass?: string;
  data_endpoint_enabled?: number;
}

/** A customer-managed key as a new registry stores it: the wrapped data key and what wrapped it. */
export interface NewRegistryKey {
  key_uri: string;
  key_version: string;
  wrapped_dek: string;
}

/** Registries: created, found by name (any case) or id, listed, re-tiered and deleted. */
export interface RegistryStore {
  /** null when the name is taken, in any case. */
  /**
   * `location`: the home region (geo-replication); none = the deployment's first region. `key`: a
   * customer-managed key, stored with the registry in one transaction (a registry never exists,
   * even briefly, without the key it was asked to have).
   */
  createRegistry(name: string, sku: string, location?: string, key?: NewRegistryKey): Promise<RegistryRow | null>;
  getRegistry(name: string, ex?: Executor): Promise<RegistryRow | undefined>;
  getRegistryById(id: number): Promise<RegistryRow | undefined>;
  listRegistries(): Promise<RegistryRow[]>;
  updateRegistry(id: number, patch: RegistryPatch): Promise<void>;
  deleteRegistry(id: number): Promise<void>;
  /** Sets the IP rules when they are still `from` (concurrent edits do not lose rules); false when they changed. */
  replaceIpRules(id: number, from: string, to: string): Promise<boolean>;
}

export class KyselyRegistryStore implements RegistryStore {
  constructor(private readonly ctx: MetaContext) {}

  async createRegistry(name: string, sku: string, location?: string, key?: NewRegistryKey): Promise<RegistryRow | null> {
    const ts = now();
    try {
      return await this.ctx.transaction(async (trx) => {
        const row = await trx
          .insertInto('registries')
          .values({ name, name_key: name.toLowerCase(), sku, created_at: ts, updated_at: ts, location: location ?? null })
          .returning(REGISTRY_COLUMNS)
          .executeTakeFirstOrThrow();
        if (key)
          await trx
            .insertInto('registry_keys')
            .values({ registry_id: row.id, ...key, created_at: ts })
            .execute();
        return row;
      });
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  private readonly byNameKey = prepared((ex, nameKey: string) =>
    ex.selectFrom('registries').select(REGISTRY_COLUMNS).where('name_key', '=', nameKey),
  );

  async getRegistry(name: string, ex: Executor = this.ctx.db): Promise<RegistryRow | undefined> {
    return (await this.byNameKey(ex, name.toLowerCase()))[0];
  }

  listRegistries(): Promise<RegistryRow[]> {
    return this.ctx.db.selectFrom('registries').select(REGISTRY_COLUMNS).orderBy('name_key').execute();
  }

  async updateRegistry(id: number, patch: RegistryPatch): Promise<void> {
    await this.ctx.db
      .updateTable('registries')
      .set({ ...patch, updated_at: now() })
      .where('id', '=', id)
      .execute();
  }

  getRegistryById(id: number): Promise<RegistryRow | undefined> {
    return this.ctx.db.selectFrom('registries').select(REGISTRY_COLUMNS).where('id', '=', id).executeTakeFirst();
  }

  async replaceIpRules(id: number, from: string, to: string): Promise<boolean> {
    const r = await this.ctx.db
      .updateTable('registries')
      .set({ network_ip_rules: to, updated_at: now() })
      .where('id', '=', id)
      .where('network_ip_rules', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async deleteRegistry(id: number): Promise<void> {
    await this.ctx.db.deleteFrom('registries').where('id', '=', id).execute();
  }
}
