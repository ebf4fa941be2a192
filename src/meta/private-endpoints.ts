import type { Kysely, Selectable } from 'kysely';
import type { Database, PrivateEndpointConnectionsTable, PrivateEndpointListenersTable } from './schema.js';
import { isUniqueViolation, now } from './store.js';

// Queries of private endpoint connections (migration 27, location from 28) and of the nodes'
// listener reports (migration 28). Deleting a registry deletes its connections (foreign key, on
// delete cascade). A connection with a location applies only on that region's nodes; without,
// on every node.

export type PrivateEndpointRow = Selectable<PrivateEndpointConnectionsTable>;
export type ListenerReportRow = Selectable<PrivateEndpointListenersTable>;

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
    c: Pick<
      PrivateEndpointRow,
      'registry_id' | 'name' | 'listen' | 'status' | 'description' | 'request_message' | 'created_by' | 'location'
    >,
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

  /** Every listener some connection of this region names (whatever its state): what a node of the region binds. */
  async listens(region: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('private_endpoint_connections')
      .select('listen')
      .distinct()
      .where((eb) => eb.or([eb('location', 'is', null), eb('location', '=', region)]))
      .orderBy('listen')
      .execute();
    return rows.map((r) => r.listen);
  }

  /** Whether the registry has an Approved connection on the listener in this region (the data plane's check on a private listener). */
  async approved(listen: string, registryId: number, region: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('private_endpoint_connections')
      .select('id')
      .where('listen', '=', listen)
      .where('registry_id', '=', registryId)
      .where('status', '=', 'Approved')
      .where((eb) => eb.or([eb('location', 'is', null), eb('location', '=', region)]))
      .executeTakeFirst();
    return r !== undefined;
  }

  /** The registries with an Approved connection on the listener in this region (listings there). */
  async approvedRegistries(listen: string, region: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom('private_endpoint_connections')
      .select('registry_id')
      .where('listen', '=', listen)
      .where('status', '=', 'Approved')
      .where((eb) => eb.or([eb('location', 'is', null), eb('location', '=', region)]))
      .execute();
    return rows.map((r) => Number(r.registry_id));
  }

  // ---------------------------------------------------------------- the nodes' listener reports

  /** Records a node's listener state (a bind, a failure, or a new reason), current for `ttlMs`. */
  async report(r: Omit<ListenerReportRow, 'last_seen' | 'expires_at'>, ttlMs: number): Promise<void> {
    const seen = { last_seen: now(), expires_at: new Date(Date.now() + ttlMs).toISOString() };
    await this.db
      .insertInto('private_endpoint_listeners')
      .values({ ...r, ...seen })
      .onConflict((oc) =>
        oc.columns(['node', 'listen']).doUpdateSet({ region: r.region, state: r.state, error: r.error, since: r.since, ...seen }),
      )
      .execute();
  }

  /** A node's heartbeat: its reports are current for `ttlMs` more; the ones for addresses it no longer holds go. */
  async heartbeat(node: string, keep: string[], ttlMs: number): Promise<void> {
    await this.db
      .updateTable('private_endpoint_listeners')
      .set({ last_seen: now(), expires_at: new Date(Date.now() + ttlMs).toISOString() })
      .where('node', '=', node)
      .execute();
    let del = this.db.deleteFrom('private_endpoint_listeners').where('node', '=', node);
    if (keep.length) del = del.where('listen', 'not in', keep);
    await del.execute();
  }

  /** Reports that expired before `before`: their nodes stopped without saying so. */
  async pruneReports(before: string): Promise<void> {
    await this.db.deleteFrom('private_endpoint_listeners').where('expires_at', '<', before).execute();
  }

  /** A node's reports, all gone (it stops). */
  async forgetNode(node: string): Promise<void> {
    await this.db.deleteFrom('private_endpoint_listeners').where('node', '=', node).execute();
  }

  /** Every node's report on these listeners still current at `at`, by listener, region and node. */
  reports(listens: string[], at: string): Promise<ListenerReportRow[]> {
    if (listens.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('private_endpoint_listeners')
      .selectAll()
      .where('listen', 'in', listens)
      .where('expires_at', '>=', at)
      .orderBy('listen')
      .orderBy('region')
      .orderBy('node')
      .execute();
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
