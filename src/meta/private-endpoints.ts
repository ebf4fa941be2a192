import type { Kysely, Selectable } from 'kysely';
import type { Database, PrivateEndpointConnectionsTable } from './schema.js';
import { isUniqueViolation, now } from './store.js';

// Queries of private endpoint connections (migration 27). Deleting a registry deletes its
// connections (foreign key, on delete cascade).

export type PrivateEndpointRow = Selectable<PrivateEndpointConnectionsTable>;

export class KyselyPrivateEndpoints {
  constructor(private readonly db: Kysely<Database>) {}

  list(registryId: number): Promise<PrivateEndpointRow[]> {
    return this.db.selectFrom('private_endpoint_connections').selectAll().where('registry_id', '=', registryId).orderBy('name').execute();
  }

  byName(registryId: number, name: string): Promise<PrivateEndpointRow | undefined> {
    return this.db
      .selectFrom('private_endpoint_connections')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  count(registryId: number): Promise<number> {
    return this.db
      .selectFrom('private_endpoint_connections')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('registry_id', '=', registryId)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  /** The new row, or which uniqueness it broke: the name in the registry, or the registry already on that listener. */
  async create(
    c: Pick<PrivateEndpointRow, 'registry_id' | 'name' | 'listen' | 'status' | 'description' | 'request_message' | 'created_by'>,
  ): Promise<PrivateEndpointRow | 'name' | 'listen'> {
    const ts = now();
    try {
      return await this.db
        .insertInto('private_endpoint_connections')
        .values({ ...c, created_at: ts, updated_at: ts })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      return (await this.byName(c.registry_id, c.name)) ? 'name' : 'listen';
    }
  }

  /** Sets the state when it is still `from` (two approvers racing do not overwrite each other); the row after, or undefined. */
  async setState(id: number, from: string, status: string, description: string): Promise<PrivateEndpointRow | undefined> {
    return this.db
      .updateTable('private_endpoint_connections')
      .set({ status, description, updated_at: now() })
      .where('id', '=', id)
      .where('status', '=', from)
      .returningAll()
      .executeTakeFirst();
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('private_endpoint_connections').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Every listener some connection names (whatever its state): what each node binds. */
  async listens(): Promise<string[]> {
    const rows = await this.db.selectFrom('private_endpoint_connections').select('listen').distinct().orderBy('listen').execute();
    return rows.map((r) => r.listen);
  }

  /** Whether the registry has an Approved connection on the listener (the data plane's check on a private listener). */
  async approved(listen: string, registryId: number): Promise<boolean> {
    const r = await this.db
      .selectFrom('private_endpoint_connections')
      .select('id')
      .where('listen', '=', listen)
      .where('registry_id', '=', registryId)
      .where('status', '=', 'Approved')
      .executeTakeFirst();
    return r !== undefined;
  }

  /** The registries with an Approved connection on the listener (listings there). */
  async approvedRegistries(listen: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('private_endpoint_connections')
      .select('registry_id')
      .where('listen', '=', listen)
      .where('status', '=', 'Approved')
      .execute();
    return rows.map((r) => Number(r.registry_id));
  }

  /** The other registries' connections on a listener (what `show` says it is shared with). */
  async onListener(listen: string): Promise<{ registry: string; name: string; status: string }[]> {
    return this.db
      .selectFrom('private_endpoint_connections as c')
      .innerJoin('registries as r', 'r.id', 'c.registry_id')
      .select(['r.name as registry', 'c.name', 'c.status'])
      .where('c.listen', '=', listen)
      .orderBy('r.name_key')
      .execute();
  }
}
