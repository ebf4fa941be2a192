import { RegistryError } from '../../domain/errors.js';
import {
  assertEndpointName,
  MAX_PRIVATE_ENDPOINTS,
  parseConnectionState,
  parseListenAddress,
  transitionRefusal,
  type ConnectionState,
  type ListenAddress,
} from '../../domain/endpoints.js';
import type { RegistryRow } from '../../meta/store.js';
import type { KyselyPrivateEndpoints, PrivateEndpointRow } from '../../meta/private-endpoints.js';

// Private endpoints (ACR's Private Link, docs/private-endpoints.md): extra listeners, each
// connected to a set of registries. A request that arrives on a private listener sees only the
// registries with an Approved connection there (AccessPolicy.locate asks visibleOn). The sockets
// themselves are bound by http/private-listeners.ts on every node (of the endpoint's location,
// when it has one); this service keeps the connections, tells the listeners what to bind, and
// shows what every node reported about its listeners (the metadata's private_endpoint_listeners).

/** How one node's listener for a listen address is doing. */
export interface ListenerState {
  state: 'Listening' | 'Failed';
  /** Why binding failed (Failed), e.g. "the address is already in use". */
  error?: string;
  since: string;
}

/** The listeners of this node (http/private-listeners.ts), as the service drives them. */
export interface PrivateListeners {
  /** Binds the address on this node unless already bound; throws a RegistryError saying why it cannot. */
  ensure(address: ListenAddress): Promise<void>;
  /** Binds what the connections name and closes what they no longer name (after a create or delete here). */
  sync(): Promise<void>;
}

/** Where one node's listeners report their state (the metadata, so every node's `show` sees every node's). */
export interface ListenerReporter {
  report(listen: string, s: ListenerState): Promise<void>;
  /** The node is alive and holds (or keeps trying) exactly these listeners. */
  heartbeat(listens: string[]): Promise<void>;
  /** The node stops: its reports go. */
  forget(): Promise<void>;
}

/** Told about connection state changes and refusals (observability/metrics.ts). */
export interface PrivateEndpointObserver {
  privateEndpointState(registry: string, state: string): void;
  privateEndpointRefused(registry: string): void;
}

/** One node's listener for a connection's address, as that node last reported it. */
export interface NodeListener {
  /** "<host name>:<login server port>". */
  node: string;
  region: string;
  state: 'Listening' | 'Failed';
  error?: string;
  since: string;
  lastSeen: string;
}

/**
 * The listener across the deployment: every node of the connection's region(s) that reported
 * lately. Listening: all of them listen; Degraded: some cannot bind (the others serve); Failed:
 * none can; NotStarted: no node has reported yet (none runs in its location, or none has polled).
 */
export type ListenerSummary = 'Listening' | 'Degraded' | 'Failed' | 'NotStarted';

/** ACR's privateEndpointConnections resource, with Berth's listener fields. */
export interface ConnectionView {
  id: string;
  name: string;
  type: 'Microsoft.ContainerRegistry/registries/privateEndpointConnections';
  /** location: the region whose nodes serve it (ACR's private endpoint location); absent = every region. */
  privateEndpoint: { id: string; listen: string; location?: string };
  privateLinkServiceConnectionState: { status: ConnectionState; description: string; actionsRequired: 'None' };
  provisioningState: 'Succeeded';
  requestMessage: string;
  listener: { state: ListenerSummary; nodes: NodeListener[] };
  createdBy: string;
  creationDate: string;
  lastUpdated: string;
}

export interface CreateEndpoint {
  name: unknown;
  listen: unknown;
  requestMessage?: string;
  /** true: the connection waits in Pending for approve (ACR's --manual-request); else Approved at once. */
  manual?: boolean;
  /** The region whose nodes bind and serve it (ACR's location); absent = every region. */
  location?: unknown;
}

export interface EndpointOptions {
  /** The deployment serves TLS: private listeners use the same certificate. */
  tls: boolean;
  /** insecureHttp: plain HTTP is allowed on non-loopback addresses. */
  insecureHttp: boolean;
  /** This node's region (the default region without regions). */
  region: string;
  /** The deployment's regions (just this node's without regions). */
  regions: readonly string[];
  /** How long this node's listener reports hold without a heartbeat (a few of its polls): past it, it is taken for stopped. */
  reportTtlMs: number;
}

const notFound = (reg: RegistryRow, name: string) =>
  new RegistryError('NOT_FOUND', `registry ${reg.name} has no private endpoint connection "${String(name).slice(0, 80)}"`);

export class PrivateEndpointService {
  listeners: PrivateListeners | undefined;
  observer: PrivateEndpointObserver | undefined;
  /** Addresses Berth's own listeners hold (the login server, the data endpoint), as listen keys: app.ts sets them once bound. */
  reserved: string[] = [];

  constructor(
    private readonly store: KyselyPrivateEndpoints,
    private readonly opts: EndpointOptions,
  ) {}

  private async views(reg: RegistryRow, rows: PrivateEndpointRow[]): Promise<ConnectionView[]> {
    const reports = await this.store.reports([...new Set(rows.map((r) => r.listen))], new Date().toISOString());
    return rows.map((r) => {
      const nodes: NodeListener[] = reports
        .filter((n) => n.listen === r.listen && (!r.location || n.region === r.location))
        .map((n) => ({
          node: n.node,
          region: n.region,
          state: n.state as NodeListener['state'],
          ...(n.error ? { error: n.error } : {}),
          since: n.since,
          lastSeen: n.last_seen,
        }));
      const failed = nodes.filter((n) => n.state === 'Failed').length;
      const state: ListenerSummary =
        nodes.length === 0 ? 'NotStarted' : failed === 0 ? 'Listening' : failed === nodes.length ? 'Failed' : 'Degraded';
      return {
        id: `/registries/${reg.name}/privateEndpointConnections/${r.name}`,
        name: r.name,
        type: 'Microsoft.ContainerRegistry/registries/privateEndpointConnections',
        privateEndpoint: { id: `/privateEndpoints/${r.name}`, listen: r.listen, ...(r.location ? { location: r.location } : {}) },
        privateLinkServiceConnectionState: { status: r.status as ConnectionState, description: r.description, actionsRequired: 'None' },
        provisioningState: 'Succeeded',
        requestMessage: r.request_message,
        listener: { state, nodes },
        createdBy: r.created_by,
        creationDate: r.created_at,
        lastUpdated: r.updated_at,
      };
    });
  }

  private async view(reg: RegistryRow, r: PrivateEndpointRow): Promise<ConnectionView> {
    return (await this.views(reg, [r]))[0]!;
  }

  async list(reg: RegistryRow): Promise<ConnectionView[]> {
    return this.views(reg, await this.store.list(reg.id));
  }

  async show(
    reg: RegistryRow,
    name: string,
  ): Promise<ConnectionView & { sharedWith: { registry: string; name: string; status: string }[] }> {
    const r = await this.store.byName(reg.id, name);
    if (!r) throw notFound(reg, name);
    const shared = (await this.store.onListener(r.listen)).filter((o) => o.registry !== reg.name);
    return { ...(await this.view(reg, r)), sharedWith: shared };
  }

  /** Where this node's listeners report, as node `node` of this node's region. */
  reporter(node: string): ListenerReporter {
    const { region, reportTtlMs: ttl } = this.opts;
    return {
      report: (listen, s) => this.store.report({ node, listen, region, state: s.state, error: s.error ?? null, since: s.since }, ttl),
      heartbeat: async (listens) => {
        await this.store.heartbeat(node, listens, ttl);
        // Any node clears what nodes that died left (an hour on): readers skip those rows anyway.
        await this.store.pruneReports(new Date(Date.now() - 3600_000).toISOString());
      },
      forget: () => this.store.forgetNode(node),
    };
  }

  /** Counted against the tier on a SKU change (TierService): private endpoints are Premium. */
  count(reg: RegistryRow): Promise<number> {
    return this.store.count(reg.id);
  }

  async create(reg: RegistryRow, c: CreateEndpoint, createdBy: string): Promise<ConnectionView> {
    if (reg.sku !== 'Premium')
      throw new RegistryError(
        'REQUEST_INVALID',
        `private endpoints are a Premium feature (ACR's Private Link); registry ${reg.name} is ${reg.sku}: upgrade with berth update -n ${reg.name} --sku Premium`,
      );
    const name = assertEndpointName(c.name);
    const address = parseListenAddress(c.listen);
    const location = this.location(c.location);
    if (c.requestMessage !== undefined && (typeof c.requestMessage !== 'string' || c.requestMessage.length > 140))
      throw new RegistryError('REQUEST_INVALID', '"requestMessage" is text of at most 140 characters (ACR)');
    if (this.reserved.includes(address.key))
      throw new RegistryError(
        'CONFLICT',
        `${address.key} is Berth's own listener (the login server or the data endpoint): choose another address`,
      );
    if (address.kind === 'tcp' && !this.opts.tls && !this.opts.insecureHttp && !isLoopback(address.host))
      throw new RegistryError(
        'REQUEST_INVALID',
        `refusing a plain-HTTP private endpoint on ${address.key}: credentials would cross the network unencrypted (configure tls.cert/tls.key, which private listeners share, or insecureHttp)`,
      );
    if ((await this.store.byName(reg.id, name)) !== undefined)
      throw new RegistryError('CONFLICT', `registry ${reg.name} already has a private endpoint connection named "${name}"`);
    const n = await this.store.count(reg.id);
    if (n >= MAX_PRIVATE_ENDPOINTS)
      throw new RegistryError(
        'REQUEST_INVALID',
        `registry ${reg.name} has ${n} private endpoint connections, the most a registry may have (${MAX_PRIVATE_ENDPOINTS}, ACR's limit)`,
      );
    // Bound here first: a busy or unusable address is refused now, not discovered later in a log.
    // An endpoint of another region is bound by that region's nodes on their next poll.
    if (!location || location === this.opts.region) await this.listeners?.ensure(address);
    const status: ConnectionState = c.manual ? 'Pending' : 'Approved';
    const made = await this.store.create({
      registry_id: reg.id,
      name,
      listen: address.key,
      status,
      description: c.manual ? '' : 'Auto-Approved',
      request_message: c.requestMessage ?? '',
      created_by: createdBy,
      location: location ?? null,
    });
    if (made === 'name')
      throw new RegistryError('CONFLICT', `registry ${reg.name} already has a private endpoint connection named "${name}"`);
    if (made === 'listen') {
      const other = (await this.store.list(reg.id)).find((r) => r.listen === address.key);
      throw new RegistryError(
        'CONFLICT',
        `registry ${reg.name} is already connected to the listener ${address.key} (private endpoint "${other?.name ?? '?'}")`,
      );
    }
    this.observer?.privateEndpointState(reg.name, status);
    // The listener is named by a connection now: later deletes may close it at once.
    await this.listeners?.sync();
    return this.view(reg, made);
  }

  /** approve, reject, or (the API) any state ACR's transitions allow. */
  async setState(reg: RegistryRow, name: string, to: unknown, description?: unknown): Promise<ConnectionView> {
    const status = parseConnectionState(to);
    if (description !== undefined && (typeof description !== 'string' || description.length > 140))
      throw new RegistryError('REQUEST_INVALID', '"description" is text of at most 140 characters (ACR)');
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await this.store.byName(reg.id, name);
      if (!r) throw notFound(reg, name);
      const why = transitionRefusal(r.status as ConnectionState, status);
      if (why) throw new RegistryError('CONFLICT', `cannot make private endpoint connection "${r.name}" ${status}: ${why}`);
      const next = await this.store.setState(r.id, r.status, status, typeof description === 'string' ? description : r.description);
      if (next) {
        if (r.status !== status) this.observer?.privateEndpointState(reg.name, status);
        return await this.view(reg, next);
      }
    }
    throw new RegistryError('CONFLICT', 'the connection changed concurrently; try again');
  }

  async delete(reg: RegistryRow, name: string): Promise<void> {
    const r = await this.store.byName(reg.id, name);
    if (!r || !(await this.store.delete(r.id))) throw notFound(reg, name);
    this.observer?.privateEndpointState(reg.name, 'Deleted');
    await this.listeners?.sync();
  }

  /** Every listen address some connection of this node's region names: what this node binds. */
  listenAddresses(): Promise<string[]> {
    return this.store.listens(this.opts.region);
  }

  /** Whether a registry answers on a private listener of this node: an Approved connection there, in this region. */
  visibleOn(listen: string, registryId: number): Promise<boolean> {
    return this.store.approved(listen, registryId, this.opts.region);
  }

  /** The registries that answer on a private listener of this node (its listings). */
  approvedOn(listen: string): Promise<number[]> {
    return this.store.approvedRegistries(listen, this.opts.region);
  }

  /** A create's location: a declared region, or none (every region). */
  private location(raw: unknown): string | undefined {
    if (raw === undefined || raw === null || raw === '') return undefined;
    const name = typeof raw === 'string' ? raw.toLowerCase() : '';
    if (!this.opts.regions.includes(name))
      throw new RegistryError(
        'REQUEST_INVALID',
        `"location" ${JSON.stringify(typeof raw === 'string' ? raw.slice(0, 60) : typeof raw)} is not a region of this deployment; the regions are ${this.opts.regions.join(', ')}`,
      );
    return name;
  }
}

function isLoopback(host: string): boolean {
  return host === '::1' || /^127\./.test(host);
}
