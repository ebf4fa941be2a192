import type { Kysely, Selectable } from 'kysely';
import type { RegistryRow } from './store.js';
import type { Database, RetentionPoliciesTable } from './schema.js';

// Each registry's retention policy for untagged manifests (retention_policies, one row a registry,
// none until first set). What the policy deletes, and when, is in services/lifecycle/retention.ts.

export type RetentionPolicyRow = Selectable<RetentionPoliciesTable>;

export interface RetentionPolicies {
  get(registryId: number): Promise<RetentionPolicyRow | undefined>;
  /** Creates or updates a registry's policy; enabled_at is written only when given (the policy was just enabled). */
  put(p: { registryId: number; status: string; days: number; enabledAt?: string; updatedAt: string }): Promise<void>;
  /** Every enabled policy, with its registry. */
  enabled(): Promise<(RegistryRow & { days: number; enabled_at: string | null })[]>;
}

export class KyselyRetentionPolicies implements RetentionPolicies {
  constructor(private readonly db: Kysely<Database>) {}

  get(registryId: number): Promise<RetentionPolicyRow | undefined> {
    return this.db.selectFrom('retention_policies').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
  }

  async put(p: { registryId: number; status: string; days: number; enabledAt?: string; updatedAt: string }): Promise<void> {
    const { status, days, enabledAt, updatedAt } = p;
    await this.db
      .insertInto('retention_policies')
      .values({ registry_id: p.registryId, status, days, type: 'UntaggedManifests', enabled_at: enabledAt ?? null, updated_at: updatedAt })
      .onConflict((oc) =>
        oc.column('registry_id').doUpdateSet({ status, days, updated_at: updatedAt, ...(enabledAt ? { enabled_at: enabledAt } : {}) }),
      )
      .execute();
  }

  enabled(): Promise<(RegistryRow & { days: number; enabled_at: string | null })[]> {
    return this.db
      .selectFrom('retention_policies')
      .innerJoin('registries', 'registries.id', 'retention_policies.registry_id')
      .select([
        'registries.id',
        'registries.name',
        'registries.sku',
        'registries.admin_enabled',
        'registries.anonymous_pull_enabled',
        'registries.quarantine_enabled',
        'registries.location',
        'registries.created_at',
        'registries.updated_at',
        'registries.public_network_access',
        'registries.network_default_action',
        'registries.network_ip_rules',
        'registries.network_bypass',
        'registries.data_endpoint_enabled',
        'retention_policies.days',
        'retention_policies.enabled_at',
      ])
      .where('retention_policies.status', '=', 'enabled')
      .execute();
  }
}
