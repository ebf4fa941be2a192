import { describePrincipal, type Principal } from '../../auth/service.js';
import type { ActivityResult } from '../../domain/activity.js';
import { RegistryError } from '../../domain/errors.js';
import { identityTypeOf } from '../../services/identity/identities.js';
import type { Services } from '../../services/index.js';
import { caller as callerInfo } from '../auth.js';
import type { Ctx } from '../context.js';
import type { ActivityDef, Method, RouteObserver, Seen } from '../routes.js';
import type { ApiEnv } from './common.js';

// The activity log's HTTP side: for a route annotated with `activity`, the /api router runs the
// route with this observer, which records one entry when the handler returns or throws. What is
// known before the handler runs is taken first: the registry's id (a deleted registry has none
// afterwards) and, for routes that say how, the resource's state, compared with the state after
// a successful call to record what changed.

export function activityObserver(env: ApiEnv, def: ActivityDef<ApiEnv>, params: Record<string, string>): Promise<RouteObserver> {
  return observer(env, env, def, params, { registry: params.reg });
}

/**
 * The observer for a route of any family: `caller` says who calls, `env` is what the family's
 * handlers get (for `state`), `where` the registry and resource when the family knows them better
 * than the defaults (/acr/v1 names the registry in the repository path or the host).
 */
export async function observer<Env>(
  caller: { ctx: Ctx; svc: Services; p: Principal },
  env: Env,
  def: ActivityDef<Env>,
  params: Record<string, string>,
  where: { registry?: string; resource?: string },
): Promise<RouteObserver> {
  const { ctx, svc, p } = caller;
  const started = Date.now();
  const method = (ctx.req.method ?? 'GET') as Method;
  const operation = typeof def.operation === 'string' ? def.operation : def.operation[method];
  // A method the route does not log (e.g. a read beside a logged write): nothing to look up.
  if (!operation) return () => Promise.resolve();
  const registryId = where.registry === undefined ? undefined : await svc.identities.activity.registryId(where.registry);
  const before = def.state ? await def.state({ ...env, params }).catch(() => undefined) : undefined;
  return async ({ reply, error, body }) => {
    const seen: Seen = { params, body, reply: reply?.body };
    const failure = error === undefined ? undefined : asRegistryError(error, ctx.requestId);
    const status = failure?.status ?? reply?.status ?? ctx.res.statusCode;
    const result: ActivityResult = status >= 400 ? 'Failed' : status === 202 ? 'Accepted' : 'Succeeded';
    const properties: Record<string, unknown> = {};
    if (body && Object.keys(body).length > 0) properties.request = body;
    if (!failure) {
      if (def.state && before) {
        const changes = changed(before, await def.state({ ...env, params }).catch(() => undefined));
        if (changes) properties.changes = changes;
      }
      if (def.reply && reply?.body !== undefined) Object.assign(properties, def.reply(reply.body as never));
    }
    const registry = def.registry ? def.registry(seen) : where.registry;
    const { ip, userAgent } = callerInfo(ctx);
    await svc.identities.activity.record({
      operation,
      registry,
      registryId: def.registry ? undefined : registryId,
      resource: (def.resource && def.resource(seen)) ?? where.resource ?? ctx.url.pathname.replace(/^\/api(?=\/)/, ''),
      result,
      status,
      ...(failure ? { error: { code: failure.code, message: failure.message } } : {}),
      identity: describePrincipal(p),
      identityType: identityTypeOf(p),
      callerIp: ip,
      userAgent,
      correlationId: ctx.requestId,
      method,
      durationMs: Date.now() - started,
      ...(Object.keys(properties).length > 0 ? { properties } : {}),
    });
  };
}

/** What the caller is told (http/errors.ts): a RegistryError as it is, anything else an internal error. */
function asRegistryError(e: unknown, requestId: string): RegistryError {
  if (e instanceof RegistryError) return e;
  return new RegistryError('INTERNAL_ERROR', `internal error; quote request id ${requestId} to the operator`);
}

/** { field: { from, to } } for every field whose value differs; undefined when nothing did. */
function changed(before: Record<string, unknown>, after: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!after) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k] = { from: before[k] ?? null, to: after[k] ?? null };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The registry a role assignment's scope names ("/registries/r/…" or the short form "r/…"), if any. */
export function scopeRegistry(scope: unknown): string | undefined {
  if (typeof scope !== 'string' || scope === '/' || scope === '') return undefined;
  const m = /^\/registries\/([^/]+)/.exec(scope) ?? /^([^/]+)/.exec(scope);
  return m?.[1];
}
