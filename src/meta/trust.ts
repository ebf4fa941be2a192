import type { Kysely, Selectable } from 'kysely';
import { now, type Executor } from './context.js';
import type { Database, SignatureVerdictsTable, TrustPoliciesTable, TrustStoreEntriesTable } from './schema.js';

// Content trust (migration 23): trust store entries, the trust policy document with its version,
// and cached signature verdicts per manifest. Verification itself is in services/trust.

export type TrustStoreEntryRow = Selectable<TrustStoreEntriesTable>;
export type TrustPolicyRow = Selectable<TrustPoliciesTable>;
export type VerdictRow = Selectable<SignatureVerdictsTable>;

/** A referrer of a manifest that may be a signature: what verification reads. */
export interface SignatureCandidate {
  manifest_id: number;
  digest: string;
  artifact_type: string | null;
  content: Uint8Array;
}

export class KyselyTrust {
  constructor(private readonly db: Kysely<Database>) {}

  entries(registryId: number, type?: string, name?: string): Promise<TrustStoreEntryRow[]> {
    let q = this.db.selectFrom('trust_store_entries').selectAll().where('registry_id', '=', registryId);
    if (type !== undefined) q = q.where('store_type', '=', type);
    if (name !== undefined) q = q.where('store_name', '=', name);
    return q.orderBy('store_type').orderBy('store_name').orderBy('created_at').orderBy('thumbprint').execute();
  }

  async countEntries(registryId: number): Promise<number> {
    const r = await this.db
      .selectFrom('trust_store_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('registry_id', '=', registryId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Inserts entries not yet in the store; returns how many were new. */
  async addEntries(ex: Executor, rows: Omit<TrustStoreEntryRow, 'created_at'>[]): Promise<number> {
    let added = 0;
    const t = now();
    for (const row of rows) {
      const r = await ex
        .insertInto('trust_store_entries')
        .values({ ...row, created_at: t })
        .onConflict((oc) => oc.columns(['registry_id', 'store_type', 'store_name', 'thumbprint']).doNothing())
        .executeTakeFirst();
      added += Number(r.numInsertedOrUpdatedRows ?? 0);
    }
    return added;
  }

  /** Removes a whole store, or one entry of it; returns how many entries went. */
  async removeEntries(ex: Executor, registryId: number, type: string, name: string, thumbprint?: string): Promise<number> {
    let q = ex
      .deleteFrom('trust_store_entries')
      .where('registry_id', '=', registryId)
      .where('store_type', '=', type)
      .where('store_name', '=', name);
    if (thumbprint !== undefined) q = q.where('thumbprint', '=', thumbprint);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  policy(registryId: number, ex: Executor = this.db): Promise<TrustPolicyRow | undefined> {
    return ex.selectFrom('trust_policies').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
  }

  /**
   * Bumps the registry's trust version (every change to its stores or policy does), and sets the
   * document when given (null removes it). Returns the new version.
   */
  async bump(ex: Executor, registryId: number, by: string, document?: string | null): Promise<number> {
    const t = now();
    await ex
      .insertInto('trust_policies')
      .values({ registry_id: registryId, document: null, version: 0, updated_at: t, updated_by: by })
      .onConflict((oc) => oc.column('registry_id').doNothing())
      .execute();
    // One atomic increment: two nodes changing trust at once each get their own version.
    const r = await ex
      .updateTable('trust_policies')
      .set((eb) => ({ version: eb('version', '+', 1), updated_at: t, updated_by: by, ...(document !== undefined ? { document } : {}) }))
      .where('registry_id', '=', registryId)
      .returning('version')
      .executeTakeFirstOrThrow();
    return Number(r.version);
  }

  verdict(manifestId: number): Promise<VerdictRow | undefined> {
    return this.db.selectFrom('signature_verdicts').selectAll().where('manifest_id', '=', manifestId).executeTakeFirst();
  }

  /** Verdicts of a page of manifests at one trust version, in one query. */
  async verdicts(manifestIds: readonly number[], version: number): Promise<Map<number, VerdictRow>> {
    const out = new Map<number, VerdictRow>();
    if (manifestIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('signature_verdicts')
      .selectAll()
      .where('manifest_id', 'in', [...manifestIds])
      .where('version', '=', version)
      .execute();
    for (const r of rows) out.set(Number(r.manifest_id), r);
    return out;
  }

  async saveVerdict(row: VerdictRow): Promise<void> {
    await this.db
      .insertInto('signature_verdicts')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('manifest_id')
          .doUpdateSet({ version: row.version, status: row.status, detail: row.detail, verified_at: row.verified_at }),
      )
      .execute()
      .catch((e: unknown) => {
        // The manifest was deleted meanwhile: its verdict has nothing to belong to.
        if (/foreign key/i.test(String((e as Error).message))) return;
        throw e;
      });
  }

  /**
   * What a manifest's verdict depends on, without content, in one query: its referrers (newest
   * first) and the manifest cosign's sha256-<hex>.sig tag points at.
   */
  signatureSources(repositoryId: number, digest: string, cosignTag: string, limit: number): Promise<{ id: number; digest: string }[]> {
    return this.db
      .selectFrom('manifests')
      .select(['id', 'digest'])
      .where('repository_id', '=', repositoryId)
      .where((eb) =>
        eb.or([
          eb('subject_digest', '=', digest),
          eb(
            'id',
            '=',
            eb.selectFrom('tags').select('manifest_id').where('repository_id', '=', repositoryId).where('name', '=', cosignTag),
          ),
        ]),
      )
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /** The manifests behind signatureSources, with their content (read only when a verdict is reached again). */
  candidates(ids: readonly number[]): Promise<SignatureCandidate[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('manifests')
      .select(['id as manifest_id', 'digest', 'artifact_type', 'content'])
      .where('id', 'in', [...ids])
      .orderBy('id', 'desc')
      .execute();
  }

  /** Indexes of the repository that list this manifest (a platform image is trusted through its signed index). */
  parentIndexes(repositoryId: number, digest: string): Promise<{ id: number; digest: string; media_type: string; size: number }[]> {
    return this.db
      .selectFrom('manifest_refs')
      .innerJoin('manifests', 'manifests.id', 'manifest_refs.manifest_id')
      .select(['manifests.id', 'manifests.digest', 'manifests.media_type', 'manifests.size'])
      .where('manifests.repository_id', '=', repositoryId)
      .where('manifest_refs.child_digest', '=', digest)
      .where('manifest_refs.kind', '=', 'manifest')
      .limit(20)
      .execute();
  }

  /** Manifests of a registry that have referrers (what a trust change re-verifies), keyset on id. */
  async subjectsWithReferrers(
    registryId: number,
    afterId: number,
    limit: number,
  ): Promise<{ id: number; repository_id: number; repository: string; digest: string; media_type: string; size: number }[]> {
    return this.db
      .selectFrom('manifests as s')
      .innerJoin('repositories as r', 'r.id', 's.repository_id')
      .select(['s.id', 's.repository_id', 'r.name as repository', 's.digest', 's.media_type', 's.size'])
      .where('r.registry_id', '=', registryId)
      .where('s.id', '>', afterId)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('manifests as x')
            .select('x.id')
            .whereRef('x.repository_id', '=', 's.repository_id')
            .whereRef('x.subject_digest', '=', 's.digest'),
        ),
      )
      .orderBy('s.id')
      .limit(limit)
      .execute();
  }

  /** A manifest with its repository's name, for verifying it outside a request. */
  manifestById(
    id: number,
  ): Promise<{ id: number; repository_id: number; repository: string; digest: string; media_type: string; size: number } | undefined> {
    return this.db
      .selectFrom('manifests')
      .innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
      .select([
        'manifests.id',
        'manifests.repository_id',
        'repositories.name as repository',
        'manifests.digest',
        'manifests.media_type',
        'manifests.size',
      ])
      .where('manifests.id', '=', id)
      .executeTakeFirst();
  }

  /** The id of the manifest with this digest in the repository of another manifest. */
  async manifestInRepositoryOf(ex: Executor, manifestId: number, digest: string): Promise<number | undefined> {
    const r = await ex
      .selectFrom('manifests as a')
      .innerJoin('manifests as b', 'b.repository_id', 'a.repository_id')
      .select('b.id')
      .where('a.id', '=', manifestId)
      .where('b.digest', '=', digest)
      .executeTakeFirst();
    return r ? Number(r.id) : undefined;
  }
}
