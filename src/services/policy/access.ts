import type { Action, ManagementPower } from '../../auth/model.js';
import { describePrincipal, identityTypeOf, type AuthService, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { isValidRegistryName } from '../../domain/reference.js';
import type { RegistryRow, RegistryStore } from '../../meta/store.js';
import { onceViewer, type QuarantineViewer } from '../../domain/quarantine.js';
import type { ActivityOperation, ActivityRecorder } from '../../domain/activity.js';
import { gateFor, refusalMessage } from '../../domain/network.js';
import { currentActor } from '../actor.js';
import type { CatalogReach } from '../../auth/service.js';
import type { PrivateEndpointObserver } from './private-endpoints.js';

// The access policy every API family asks: which registry a name means for this caller, and
// whether the caller may act on it. Roles, tokens and powers are evaluated by AuthService; this
// file decides which of them a request needs.
//
// The visibility rule, written here once: an unknown registry is visible only to deployment
// readers (callers with the read power at scope "/"). Everyone else gets exactly what a registry
// they may not access gives them (401 when anonymous, 403 DENIED otherwise), so registry names
// never leak through "does not exist".

export type Located = { reg: RegistryRow; unknownVisible: false } | { reg: undefined; unknownVisible: boolean };

/** Where refused connections are counted (observability/metrics.ts). */
export interface NetworkObserver {
  networkRefused(registry: string): void;
}

/** The client a data-plane request comes from (http/auth.ts caller). */
export interface ClientInfo {
  ip: string;
  userAgent?: string;
  correlationId?: string;
  method?: string;
}

export class AccessPolicy {
  network: { observer?: NetworkObserver; activity?: ActivityRecorder } = {};
  /** A registry with a customer-managed key answers its data planes only while the key works. */
  keys?: { assertAccessible(reg: RegistryRow): Promise<void> };
  /**
   * Private endpoints (services/policy/private-endpoints.ts): which registries answer on a private
   * listener. A request's listener is decided once, by http/server.ts, and read from its scope.
   */
  endpoints:
    | {
        visibleOn(listen: string, registryId: number): Promise<boolean>;
        approvedOn(listen: string): Promise<number[]>;
        observer?: PrivateEndpointObserver;
      }
    | undefined;
  // Refusals recorded in the activity log lately, per registry and client: a client retrying in a
  // loop must not turn into a database write per request.
  private readonly recentRefusals = new Map<string, number>();

  constructor(
    private readonly auth: AuthService,
    private readonly registries: Pick<RegistryStore, 'getRegistry'>,
  ) {}

  /** The visibility rule: may this caller learn that a registry does not exist? */
  async seesUnknownRegistries(p: Principal): Promise<boolean> {
    return (await this.auth.powers(p, null)).has('read');
  }

  /**
   * For the data planes (/v2, /acr/v1), which authorize with token scopes and challenges of their
   * own: the registry, or whether the caller may be told it does not exist (when not, the caller
   * authorizes against no registry, which fails like a forbidden one). One query when it exists.
   */
  async locate(p: Principal, name: string, client?: ClientInfo): Promise<Located> {
    const reg = isValidRegistryName(name) ? await this.registries.getRegistry(name) : undefined;
    const endpoint = currentActor()?.endpoint;
    if (endpoint !== undefined) {
      // On a private listener a registry without an Approved connection there does not exist, for
      // everyone alike (so nothing leaks). One that has one passes: IP rules and
      // publicNetworkAccess are about the public endpoint only, as in ACR.
      if (reg && this.endpoints && (await this.endpoints.visibleOn(endpoint, reg.id))) {
        if (client) await this.keys?.assertAccessible(reg);
        return { reg, unknownVisible: false };
      }
      if (reg && client) this.refusedOnEndpoint(reg, client, p, endpoint);
      return { reg: undefined, unknownVisible: true };
    }
    if (reg) {
      if (client) {
        this.admit(reg, client, p);
        await this.keys?.assertAccessible(reg);
      }
      return { reg, unknownVisible: false };
    }
    return { reg: undefined, unknownVisible: await this.seesUnknownRegistries(p) };
  }

  /**
   * The registry's network rules (domain/network.ts) for a client of its login server: throws
   * 403 DENIED naming the client's address when they refuse it. Compiled rules are cached by their
   * settings, so this asks the database nothing beyond the registry row the caller already read.
   */
  admit(reg: RegistryRow, client: ClientInfo, p: Principal): void {
    const why = gateFor(reg).refusal(client.ip);
    if (why === undefined) return;
    // networkRuleBypassOptions AzureServices: Berth's own trusted services pass. Replication,
    // import and GC work in process and never come through here; task runs do, with their run
    // credential (ACR lets its Tasks through the same way).
    if (p.kind === 'run' && reg.network_bypass !== 'None') return;
    const message = refusalMessage(client.ip, reg.name, why);
    this.network.observer?.networkRefused(reg.name);
    this.recordRefusal(reg, client, p, message);
    throw new RegistryError('DENIED', message, { detail: { clientIp: client.ip, reason: why } });
  }

  /** A registry asked for on a private listener it has no Approved connection on: counted, and recorded like a refusal. */
  private refusedOnEndpoint(reg: RegistryRow, client: ClientInfo, p: Principal, endpoint: string): void {
    this.endpoints?.observer?.privateEndpointRefused(reg.name);
    this.recordRefused(reg, client, p, {
      key: `${reg.id}|${client.ip}|${endpoint}`,
      operation: 'Berth/registries/privateEndpointConnections/refused/action',
      resource: 'privateEndpointConnections',
      status: 404,
      code: 'NAME_UNKNOWN',
      message: `registry ${reg.name} has no approved connection on the private endpoint ${endpoint}`,
      properties: { listen: endpoint },
    });
  }

  /**
   * One activity record per kind of refusal, client and registry a minute: a client retrying in
   * a loop must not become a database write per request (the metrics count every one).
   */
  private recordRefused(
    reg: RegistryRow,
    client: ClientInfo,
    p: Principal,
    r: {
      key: string;
      operation: ActivityOperation;
      resource: string;
      status: number;
      code: string;
      message: string;
      properties: Record<string, unknown>;
    },
  ): void {
    if (!this.firstRefusalLately(r.key)) return;
    void this.network.activity?.record({
      operation: r.operation,
      registry: reg.name,
      registryId: reg.id,
      resource: `/registries/${reg.name}/${r.resource}`,
      result: 'Failed',
      status: r.status,
      error: { code: r.code, message: r.message },
      identity: describePrincipal(p),
      identityType: identityTypeOf(p),
      callerIp: client.ip,
      userAgent: client.userAgent,
      correlationId: client.correlationId,
      method: client.method,
      properties: { ...r.properties, note: 'further refusals of this client within 60 s are counted, not recorded' },
    });
  }

  /** Whether this refusal is the first of its kind within a minute (the activity log records only those). */
  private firstRefusalLately(key: string): boolean {
    const nowMs = Date.now();
    const last = this.recentRefusals.get(key);
    if (last !== undefined && nowMs - last < 60_000) return false;
    if (this.recentRefusals.size > 10_000) this.recentRefusals.clear();
    this.recentRefusals.set(key, nowMs);
    return true;
  }

  /** On a private listener, the part of a catalog reach connected there (/v2/_catalog). */
  async reachHere(reach: CatalogReach): Promise<CatalogReach> {
    const endpoint = currentActor()?.endpoint;
    if (endpoint === undefined) return reach;
    const here = this.endpoints ? await this.endpoints.approvedOn(endpoint) : [];
    return reach === 'all' ? here : reach.filter((id) => here.includes(id));
  }

  private recordRefusal(reg: RegistryRow, client: ClientInfo, p: Principal, message: string): void {
    this.recordRefused(reg, client, p, {
      key: `${reg.id}|${client.ip}`,
      operation: 'Berth/registries/networkRules/refused/action',
      resource: 'networkRules',
      status: 403,
      code: 'DENIED',
      message,
      properties: { clientIp: client.ip },
    });
  }

  /**
   * The registry a management call names, for a caller about to `what` it. Unknown and forbidden
   * look alike (DENIED) unless the caller sees the deployment. Checks no rights on the registry.
   */
  async find(p: Principal, name: string, what: string): Promise<RegistryRow> {
    if (p.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'authentication required');
    const { reg, unknownVisible } = await this.locate(p, typeof name === 'string' ? name : '');
    if (reg) return reg;
    const shown = String(name).slice(0, 80);
    if (unknownVisible) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${shown}" does not exist`);
    throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} registry "${shown}"`);
  }

  /** A registry the caller may act on with `power` (access.registry(principal, name, power, what)). */
  async registry(p: Principal, name: string, power: ManagementPower, what: string): Promise<RegistryRow> {
    const reg = await this.find(p, name, what);
    await this.auth.requirePower(p, reg.id, power, `${what} registry ${reg.name}`);
    return reg;
  }

  /** A power over the whole deployment (create registries, garbage collection, jobs). */
  deployment(p: Principal, power: ManagementPower, what: string): Promise<void> {
    return this.auth.requirePower(p, null, power, what);
  }

  /** The caller's powers over the whole deployment (what a client may offer: "Create registry"...), sorted. */
  async deploymentPowers(p: Principal): Promise<ManagementPower[]> {
    if (p.kind === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'authentication required');
    return [...(await this.auth.powers(p, null))].sort();
  }

  /** The registries of `rows` the caller may read (all of them for deployment readers). */
  async readable(p: Principal, all: RegistryRow[]): Promise<RegistryRow[]> {
    const endpoint = currentActor()?.endpoint;
    // A private listener lists only the registries connected there.
    const here = endpoint === undefined ? undefined : new Set(this.endpoints ? await this.endpoints.approvedOn(endpoint) : []);
    const rows = here ? all.filter((r) => here.has(r.id)) : all;
    if (await this.seesUnknownRegistries(p)) return rows;
    const out: RegistryRow[] = [];
    for (const r of rows) if ((await this.auth.powers(p, r.id)).has('read')) out.push(r);
    return out;
  }

  /**
   * A registry whose repositories (`what`: "the repositories of", "the deleted repositories of")
   * the caller may list: the catalog grant, or the registry's read power.
   */
  async catalog(p: Principal, name: string, what: string): Promise<RegistryRow> {
    const reg = await this.dataRegistry(p, name);
    if (reg && ((await this.auth.grant(p, reg, '')).catalog || (await this.auth.powers(p, reg.id)).has('read'))) return reg;
    throw new RegistryError('DENIED', `${describePrincipal(p)} is not allowed to list ${what} ${reg?.name ?? name}`);
  }

  /**
   * Repository-level management calls are authorized like the data plane (ACR's /acr/v1): any one
   * of `anyOf` on the repository; reading (pull, metadata_read) also with the registry's read power.
   */
  async repository(p: Principal, name: string, repository: string, anyOf: Action[]): Promise<RegistryRow> {
    const reg = await this.dataRegistry(p, name);
    if (reg && (await this.mayActOn(p, reg, repository, anyOf))) return reg;
    throw new RegistryError('DENIED', `${describePrincipal(p)} is not allowed to ${anyOf.join(' or ')} ${reg?.name ?? name}/${repository}`);
  }

  /**
   * `action` on every one of `repositories`: an import pushes to each target, a purge deletes in
   * each repository its filters match. The first refused one is named by `denial`.
   */
  async everyRepository(
    p: Principal,
    reg: RegistryRow,
    repositories: Iterable<string>,
    action: Action,
    denial: (who: string, repository: string) => string,
  ): Promise<void> {
    for (const repo of new Set(repositories)) {
      if (!(await this.auth.grant(p, reg, repo)).actions.has(action)) throw new RegistryError('DENIED', denial(describePrincipal(p), repo));
    }
  }

  /** The caller asked for the job (`requestedBy`), or reads the registry. */
  async requesterOrReader(p: Principal, reg: RegistryRow, requestedBy: string | null): Promise<boolean> {
    return requestedBy === describePrincipal(p) || (await this.auth.powers(p, reg.id)).has('read');
  }

  /** Whether the caller sees quarantined content of a repository (quarantine_read), asked at most once. */
  quarantineViewer(p: Principal, reg: RegistryRow, repository: string): QuarantineViewer {
    return onceViewer(async () => (await this.auth.grant(p, reg, repository)).actions.has('quarantine_read'));
  }

  /** The caller reads the registry. */
  async reads(p: Principal, reg: RegistryRow): Promise<boolean> {
    return (await this.auth.powers(p, reg.id)).has('read');
  }

  /** The registry for a data-level check: undefined when unknown and hidden (the check then fails as forbidden). */
  private async dataRegistry(p: Principal, name: string): Promise<RegistryRow | undefined> {
    const { reg, unknownVisible } = await this.locate(p, name);
    if (unknownVisible) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${name.slice(0, 80)}" does not exist`);
    return reg;
  }

  private async mayActOn(p: Principal, reg: RegistryRow, repository: string, anyOf: Action[]): Promise<boolean> {
    const g = await this.auth.grant(p, reg, repository);
    if (anyOf.some((a) => g.actions.has(a))) return true;
    return (anyOf.includes('metadata_read') || anyOf.includes('pull')) && (await this.auth.powers(p, reg.id)).has('read');
  }
}
