import type { Kysely, Selectable } from 'kysely';
import type { Database, ScanPoliciesTable, ScansTable } from './schema.js';
import type { Executor } from './store.js';

// Vulnerability scans (scans: one row per manifest, removed with it; scan_policies: per registry).
// The scan itself is in services/scan/.

export type ScanRow = Selectable<ScansTable>;

/** Manifests that are scanned: indexes, and images (by their config's media type). */
export const INDEX_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
] as const;
export const IMAGE_CONFIG_TYPES = ['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json'] as const;
export type ScanPolicyRow = Selectable<ScanPoliciesTable>;
export type ScanStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'unsupported';

/** A scan with the manifest and repository it belongs to, for listings. */
export interface ScanListRow extends ScanRow {
  digest: string;
  repository: string;
  media_type: string;
}

export interface ScanResultPatch {
  status: ScanStatus;
  message?: string | null;
  inventory?: string | null;
  sbom_cyclonedx?: string | null;
  sbom_spdx?: string | null;
  summary?: string | null;
  findings?: string | null;
  data_date?: string | null;
  scanned_at?: string | null;
  matched_at?: string | null;
}

/** The manifest a scan job is about, with where it lives. */
export interface ScanSubject {
  manifest_id: number;
  registry_id: number;
  repository_id: number;
  repository: string;
  digest: string;
  media_type: string;
  content: Uint8Array;
  created_at: string;
  /** Quarantined | Passed | Failed, or null when pushed with the registry's quarantine policy off. */
  quarantine_state: string | null;
  /** Who set the state last (the scanner's own decisions may be made again by a rescan). */
  quarantine_updated_by: string | null;
  /** One of its tags (the first by name), for the scan event; null when untagged. */
  tag: string | null;
}

/** What the /acr/v1 attributes show of a manifest's scan. */
export type ScanBrief = Pick<ScanRow, 'status' | 'scanned_at' | 'data_date' | 'summary'>;

export interface Scans {
  /** The manifest a scan is about; undefined once it is gone. */
  subject(manifestId: number): Promise<ScanSubject | undefined>;
  /** The manifest of a repository by digest (for an index's children). */
  manifestId(repositoryId: number, digest: string): Promise<number | undefined>;
  /** Marks a manifest as waiting for a scan; inside the transaction that queues the scan job. */
  request(ex: Executor, manifestId: number, registryId: number, at: string): Promise<void>;
  get(manifestId: number): Promise<ScanRow | undefined>;
  /** Records a scan's state or result; `ex` when it goes with other changes (the scan event). */
  update(manifestId: number, patch: ScanResultPatch, ex?: Executor): Promise<void>;
  /** The scans of a page of manifests, in one query; manifests without a scan are absent. */
  summaries(manifestIds: readonly number[]): Promise<Map<number, ScanBrief>>;
  /** A registry's scans, newest manifest first (keyset on manifest id). */
  list(registryId: number, beforeManifestId: number | undefined, limit: number): Promise<ScanListRow[]>;
  /** Scans holding an inventory, in manifest id order: what a vulnerability data import matches again. */
  withInventory(afterManifestId: number, limit: number): Promise<Pick<ScanRow, 'manifest_id' | 'registry_id' | 'inventory'>[]>;
  /** Whether any (not withdrawn) vulnerability record is stored: scan.mode auto scans only then. */
  hasVulnData(ex: Executor): Promise<boolean>;
  /** Images and indexes without a scan (keyset on manifest id): what the first data import scans. */
  unscanned(afterManifestId: number, limit: number): Promise<{ manifest_id: number; registry_id: number }[]>;
  /** How many scans are in each state (queue depth for metrics). */
  countByStatus(): Promise<Record<string, number>>;
  policy(registryId: number): Promise<ScanPolicyRow | undefined>;
  setPolicy(row: ScanPolicyRow): Promise<void>;
}

export class KyselyScans implements Scans {
  constructor(private readonly db: Kysely<Database>) {}

  async subject(manifestId: number): Promise<ScanSubject | undefined> {
    const r = await this.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select([
        'manifests.id as manifest_id',
        'repositories.registry_id',
        'repositories.id as repository_id',
        'repositories.name as repository',
        'manifests.digest',
        'manifests.media_type',
        'manifests.content',
        'manifests.created_at',
        'manifests.quarantine_state',
        'manifests.quarantine_updated_by',
      ])
      .where('manifests.id', '=', manifestId)
      .executeTakeFirst();
    if (!r) return undefined;
    const tag = await this.db
      .selectFrom('tags')
      .select('name')
      .where('manifest_id', '=', manifestId)
      .orderBy('name')
      .limit(1)
      .executeTakeFirst();
    return {
      ...r,
      manifest_id: Number(r.manifest_id),
      registry_id: Number(r.registry_id),
      repository_id: Number(r.repository_id),
      tag: tag?.name ?? null,
    };
  }

  async manifestId(repositoryId: number, digest: string): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('manifests')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return r ? Number(r.id) : undefined;
  }

  async request(ex: Executor, manifestId: number, registryId: number, at: string): Promise<void> {
    await ex
      .insertInto('scans')
      .values({ manifest_id: manifestId, registry_id: registryId, status: 'queued', requested_at: at })
      .onConflict((oc) => oc.column('manifest_id').doUpdateSet({ status: 'queued', message: null, requested_at: at }))
      .execute();
  }

  get(manifestId: number): Promise<ScanRow | undefined> {
    return this.db.selectFrom('scans').selectAll().where('manifest_id', '=', manifestId).executeTakeFirst();
  }

  async update(manifestId: number, patch: ScanResultPatch, ex: Executor = this.db): Promise<void> {
    await ex.updateTable('scans').set(patch).where('manifest_id', '=', manifestId).execute();
  }

  async summaries(manifestIds: readonly number[]): Promise<Map<number, ScanBrief>> {
    const out = new Map<number, ScanBrief>();
    if (manifestIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('scans')
      .select(['manifest_id', 'status', 'scanned_at', 'data_date', 'summary'])
      .where('manifest_id', 'in', [...new Set(manifestIds)])
      .execute();
    for (const { manifest_id, ...brief } of rows) out.set(Number(manifest_id), brief);
    return out;
  }

  list(registryId: number, beforeManifestId: number | undefined, limit: number): Promise<ScanListRow[]> {
    let q = this.db
      .selectFrom('scans')
      .innerJoin('manifests', 'manifests.id', 'scans.manifest_id')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .selectAll('scans')
      .select(['manifests.digest', 'manifests.media_type', 'repositories.name as repository'])
      .where('scans.registry_id', '=', registryId);
    if (beforeManifestId !== undefined) q = q.where('scans.manifest_id', '<', beforeManifestId);
    return q.orderBy('scans.manifest_id', 'desc').limit(limit).execute();
  }

  withInventory(afterManifestId: number, limit: number): Promise<Pick<ScanRow, 'manifest_id' | 'registry_id' | 'inventory'>[]> {
    return this.db
      .selectFrom('scans')
      .select(['manifest_id', 'registry_id', 'inventory'])
      .where('manifest_id', '>', afterManifestId)
      .where('inventory', 'is not', null)
      .orderBy('manifest_id')
      .limit(limit)
      .execute();
  }

  async hasVulnData(ex: Executor): Promise<boolean> {
    return (await ex.selectFrom('vuln_records').select('id').where('withdrawn', 'is', null).limit(1).executeTakeFirst()) !== undefined;
  }

  async unscanned(afterManifestId: number, limit: number): Promise<{ manifest_id: number; registry_id: number }[]> {
    const rows = await this.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .leftJoin('scans', 'scans.manifest_id', 'manifests.id')
      .select(['manifests.id as manifest_id', 'repositories.registry_id'])
      .where('scans.manifest_id', 'is', null)
      .where('manifests.id', '>', afterManifestId)
      .where((eb) =>
        eb.or([eb('manifests.media_type', 'in', [...INDEX_MEDIA_TYPES]), eb('manifests.config_media_type', 'in', [...IMAGE_CONFIG_TYPES])]),
      )
      .orderBy('manifests.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ manifest_id: Number(r.manifest_id), registry_id: Number(r.registry_id) }));
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('scans')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  policy(registryId: number): Promise<ScanPolicyRow | undefined> {
    return this.db.selectFrom('scan_policies').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
  }

  async setPolicy(row: ScanPolicyRow): Promise<void> {
    await this.db
      .insertInto('scan_policies')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('registry_id')
          .doUpdateSet({ fail_on: row.fail_on, ignore_unfixed: row.ignore_unfixed, allow: row.allow, updated_at: row.updated_at }),
      )
      .execute();
  }
}
