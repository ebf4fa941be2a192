import type { Principal } from '../../auth/service.js';
import {
  ACTIVITY_OPERATIONS,
  isActivityOperation,
  type ActivityRecord,
  type ActivityRecorder,
  type ActivityOperation,
} from '../../domain/activity.js';
import type { ActivityLog } from '../../meta/activity.js';
import type { Logger } from '../../observability/logger.js';
import { auditPage, auditScope } from './audit.js';
import type { IdentityContext } from './context.js';
import { redact, scrub } from './redact.js';
import { invalid, parseSince } from './validate.js';

// The activity log: who ran which management operation on what, when, from where, with which
// fields (secrets redacted), what changed, and the outcome. The /api router records every
// annotated route (http/api/activity.ts) after its handler returns or throws, before the reply is
// sent, so a caller who sees the reply can read the record; background work (purge and import
// jobs, garbage collection) records its outcome here too, as System. Read by the same rule as
// the other audit logs (auditScope): Reader of a registry for its records, Reader at "/" for all.

const CATEGORY = 'Administrative';
const RESULTS = ['Accepted', 'Succeeded', 'Failed'];
const MAX_PROPERTIES = 32 * 1024;

export { identityTypeOf } from '../../auth/service.js';

export interface ActivityQuery {
  registry?: string;
  since?: string;
  /** Only records before this time (exclusive): an ISO time or a span ago, as since. */
  until?: string;
  identity?: string;
  /** An operation name, or a prefix ending in "/*" (Microsoft.ContainerRegistry/registries/webhooks/*). */
  operation?: string;
  result?: string;
  top?: number;
  before?: number;
}

export interface ActivityView {
  id: number;
  time: string;
  category: typeof CATEGORY;
  operationName: string;
  registry: string | null;
  resourceId: string;
  resultType: string;
  /** The HTTP status answered; null for background work. */
  status: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  identity: string;
  identityType: string;
  callerIpAddress: string | null;
  userAgent: string | null;
  correlationId: string | null;
  httpMethod: string | null;
  durationMs: number | null;
  properties: Record<string, unknown> | null;
}

export class Activity implements ActivityRecorder {
  constructor(
    private readonly ctx: IdentityContext,
    private readonly store: ActivityLog,
    private readonly log: Logger,
  ) {}

  /** The id of a registry by name, when there is one (resolved before a change that may delete it). */
  async registryId(name: string): Promise<number | undefined> {
    return (await this.ctx.registries.find(name).catch(() => undefined))?.id;
  }

  async record(e: ActivityRecord): Promise<void> {
    try {
      const registryId = e.registryId ?? (e.registry ? await this.registryId(e.registry) : undefined);
      const { value, secrets } = redact(e.properties ?? null);
      let properties = value === null ? null : JSON.stringify(value);
      if (properties && properties.length > MAX_PROPERTIES) properties = JSON.stringify({ truncated: true, bytes: properties.length });
      await this.store.insert({
        operation: e.operation,
        registry: e.registry?.toLowerCase() ?? null,
        registry_id: registryId ?? null,
        resource: e.resource.slice(0, 1024),
        result: e.result,
        status: e.status ?? null,
        error_code: e.error?.code ?? null,
        error_message: e.error ? scrub(e.error.message, secrets).slice(0, 2000) : null,
        identity: e.identity.slice(0, 256),
        identity_type: e.identityType,
        caller_ip: e.callerIp ?? null,
        user_agent: e.userAgent?.slice(0, 512) ?? null,
        correlation_id: e.correlationId?.slice(0, 128) ?? null,
        method: e.method ?? null,
        duration_ms: e.durationMs ?? null,
        properties,
      });
    } catch (err) {
      // The operation itself is done (or failed) already; losing its record must not fail it.
      this.log.warn({ err, operation: e.operation, resource: e.resource }, 'could not record an activity log entry');
    }
  }

  /** Records newest first; `before` pages on (the id of the last record seen). */
  async list(p: Principal, q: ActivityQuery): Promise<{ value: ActivityView[]; next?: number }> {
    const { registryId, top } = await auditScope(this.ctx, p, q);
    if (q.result !== undefined && !RESULTS.includes(q.result)) throw invalid('"result" must be Accepted, Succeeded or Failed');
    const rows = await this.store.query({
      since: q.since === undefined ? undefined : parseSince(q.since),
      until: q.until === undefined ? undefined : parseSince(q.until, Date.now(), 'until'),
      registryId,
      identity: q.identity,
      operations: q.operation === undefined ? undefined : operationsMatching(q.operation),
      result: q.result,
      limit: top + 1,
      beforeId: q.before,
    });
    return auditPage(rows, top, (r) => ({
      id: Number(r.id),
      time: r.time,
      category: CATEGORY,
      operationName: r.operation,
      registry: r.registry,
      resourceId: r.resource,
      resultType: r.result,
      status: r.status,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      identity: r.identity,
      identityType: r.identity_type,
      callerIpAddress: r.caller_ip,
      userAgent: r.user_agent,
      correlationId: r.correlation_id,
      httpMethod: r.method,
      durationMs: r.duration_ms,
      properties: r.properties === null ? null : (JSON.parse(r.properties) as Record<string, unknown>),
    }));
  }
}

/** The operations a filter names: one by its exact name, or every one below a prefix ending in "/*". */
function operationsMatching(filter: string): ActivityOperation[] {
  if (isActivityOperation(filter)) return [filter];
  const all = Object.keys(ACTIVITY_OPERATIONS) as ActivityOperation[];
  if (filter.endsWith('/*')) {
    const prefix = filter.slice(0, -1);
    const hits = all.filter((o) => o.startsWith(prefix));
    if (hits.length) return hits;
  }
  throw invalid(
    `"operation" must be an activity log operation (such as Microsoft.ContainerRegistry/registries/write) or a prefix ending in "/*" (Microsoft.ContainerRegistry/registries/webhooks/*); got "${filter.slice(0, 120)}"`,
  );
}
