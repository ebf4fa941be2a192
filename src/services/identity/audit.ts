import type { Principal } from '../../auth/service.js';
import type { IdentityContext } from './context.js';
import type { LoginEventView, LoginQuery, RepositoryEventQuery, RepositoryEventView } from './views.js';
import { invalid, parseSince } from './validate.js';

// The audit logs, shaped as ACR's diagnostic categories: ContainerRegistryLoginEvents (logins,
// granted and denied) and ContainerRegistryRepositoryEvents (from the events outbox). The third,
// the activity log of management operations, is activity.ts; it is read by the same rule.

export const IDENTITY_TYPES: Record<string, string> = {
  user: 'User',
  sp: 'ServicePrincipal',
  admin: 'AdminUser',
  token: 'Token',
  anonymous: 'Anonymous',
};

/** Who may read which audit log, and the paging fields every audit query shares. */
export async function auditScope(
  ctx: IdentityContext,
  p: Principal,
  q: { registry?: string; top?: number; before?: number; identity?: string },
): Promise<{ registryId: number | undefined; top: number }> {
  ctx.notAnonymous(p);
  let registryId: number | undefined;
  if (q.registry !== undefined) registryId = (await ctx.registry(p, q.registry, 'read', 'read the audit log of')).id;
  else await ctx.auth.requirePower(p, null, 'read', "read the deployment audit log (give a registry to read one registry's)");
  const top = q.top ?? 100;
  if (!Number.isInteger(top) || top < 1 || top > 10_000)
    throw invalid(`"top" must be a whole number from 1 to 10000, got ${JSON.stringify(q.top)}`);
  if (q.before !== undefined && (!Number.isInteger(q.before) || q.before < 1)) throw invalid('"before" must be an event id');
  if (q.identity !== undefined && q.identity.length > 256) throw invalid('"identity" is at most 256 characters');
  return { registryId, top };
}

/** One page of an audit log, newest first: rows were fetched with limit top + 1, so one more means a next page (paged on by id). */
export function auditPage<R extends { id: number | string }, V>(rows: R[], top: number, view: (r: R) => V): { value: V[]; next?: number } {
  const page = rows.slice(0, top);
  return { value: page.map(view), ...(rows.length > top ? { next: Number(page[page.length - 1]!.id) } : {}) };
}

export class Audit {
  constructor(private readonly ctx: IdentityContext) {}

  /** Login events, newest first. `before` pages on (the id of the last event seen). */
  async loginEvents(p: Principal, q: LoginQuery): Promise<{ value: LoginEventView[]; next?: number }> {
    const { registryId, top } = await auditScope(this.ctx, p, q);
    if (q.result !== undefined && q.result !== 'Granted' && q.result !== 'Denied') throw invalid('"result" must be Granted or Denied');
    if (q.excludeUserAgentPrefix !== undefined && (q.excludeUserAgentPrefix.length < 1 || q.excludeUserAgentPrefix.length > 256))
      throw invalid('"excludeUserAgentPrefix" is 1 to 256 characters');
    const rows = await this.ctx.store.queryLogins({
      since: q.since === undefined ? undefined : parseSince(q.since),
      until: q.until === undefined ? undefined : parseSince(q.until, Date.now(), 'until'),
      registryId,
      identity: q.identity,
      result: q.result,
      excludeUserAgentPrefix: q.excludeUserAgentPrefix,
      limit: top + 1,
      beforeId: q.before,
    });
    return auditPage(rows, top, (r) => ({
      id: r.id,
      time: r.time,
      category: 'ContainerRegistryLoginEvents',
      registry: r.registry,
      identity: r.identity,
      identityType: IDENTITY_TYPES[r.identity_type] ?? 'Unknown',
      jwtId: r.jwt_id,
      callerIpAddress: r.caller_ip,
      userAgent: r.user_agent,
      operation: r.operation,
      resultType: r.result,
      resultDescription: r.reason ?? (r.result === 'Granted' ? 'OK' : 'denied'),
      status: r.status,
      durationMs: r.duration_ms,
    }));
  }

  /** Repository events (push, pull, delete, untag), newest first: committed changes only (the outbox is written in their transaction). */
  async repositoryEvents(p: Principal, q: RepositoryEventQuery): Promise<{ value: RepositoryEventView[]; next?: number }> {
    const { registryId, top } = await auditScope(this.ctx, p, q);
    if (q.operation !== undefined && !['push', 'pull', 'delete', 'untag', 'purge', 'retention', 'quarantine', 'scan'].includes(q.operation))
      throw invalid('"operation" must be push, pull, delete, untag, purge, retention, quarantine or scan');
    const rows = await this.ctx.store.queryRepositoryEvents({
      since: q.since === undefined ? undefined : parseSince(q.since),
      until: q.until === undefined ? undefined : parseSince(q.until, Date.now(), 'until'),
      registryId,
      identity: q.identity,
      operation: q.operation,
      limit: top + 1,
      beforeId: q.before,
    });
    return auditPage(rows, top, (r) => ({
      id: Number(r.id),
      time: r.created_at,
      category: 'ContainerRegistryRepositoryEvents',
      registry: r.registry,
      operationName: r.operation ?? r.action,
      repository: r.repository,
      tag: r.tag,
      digest: r.digest,
      mediaType: r.media_type,
      size: r.size === null ? null : Number(r.size),
      identity: r.identity,
      callerIpAddress: r.caller_ip,
      userAgent: r.request_useragent,
      correlationId: r.request_id,
      loginServer: r.request_host,
      requestMethod: r.request_method,
      resultType: 'Succeeded',
    }));
  }
}
