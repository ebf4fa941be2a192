import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, FederatedCredentialsTable } from './schema.js';
import { isUniqueViolation, now } from './store.js';

// Queries of federated identity credentials (migration 24). Deleting a service principal deletes
// its credentials too (AccessStore.deleteServicePrincipal, in the same transaction).

export type FederatedCredentialRow = Selectable<FederatedCredentialsTable>;

export class KyselyFederatedCredentials {
  constructor(private readonly db: Kysely<Database>) {}

  list(spId: number): Promise<FederatedCredentialRow[]> {
    return this.db.selectFrom('federated_credentials').selectAll().where('sp_id', '=', spId).orderBy('name').execute();
  }

  byName(spId: number, name: string): Promise<FederatedCredentialRow | undefined> {
    return this.db.selectFrom('federated_credentials').selectAll().where('sp_id', '=', spId).where('name', '=', name).executeTakeFirst();
  }

  /** Every credential that trusts this issuer (the token exchange's lookup; compared exactly). */
  byIssuer(issuer: string): Promise<FederatedCredentialRow[]> {
    return this.db.selectFrom('federated_credentials').selectAll().where('issuer', '=', issuer).orderBy('id').limit(1000).execute();
  }

  count(spId: number): Promise<number> {
    return this.db
      .selectFrom('federated_credentials')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('sp_id', '=', spId)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  /** The new row, or the kind of clash: the name, or the (issuer, subject) pair, is taken on this SP. */
  async create(
    c: Pick<FederatedCredentialRow, 'sp_id' | 'name' | 'issuer' | 'subject' | 'audiences' | 'description'>,
  ): Promise<FederatedCredentialRow | 'name' | 'subject'> {
    try {
      return await this.db
        .insertInto('federated_credentials')
        .values({ ...c, uid: randomUUID(), created_at: now() })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      return (await this.byName(c.sp_id, c.name)) ? 'name' : 'subject';
    }
  }

  async delete(spId: number, name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('federated_credentials').where('sp_id', '=', spId).where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
