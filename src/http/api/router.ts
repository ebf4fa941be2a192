import { RegistryError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { authenticate, serviceName } from '../auth.js';
import { notAllowed, type Ctx } from '../context.js';
import { decodeSegment } from '../oci/target.js';
import { invokeRoute, RouteTable, runRoute, splitPath, type Method, type Reply } from '../routes.js';
import type { Principal } from '../../auth/service.js';
import { activityObserver } from './activity.js';
import type { ApiEnv, ApiOptions } from './common.js';
import { gcRoutes } from './gc.js';
import { identityRoutes } from './identity.js';
import { importRoutes } from './imports.js';
import { jobRoutes } from './jobs.js';
import { purgeRoutes } from './purge.js';
import { registryRoutes } from './registries.js';
import { repositoryRoutes } from './repositories.js';
import { softDeleteRoutes } from './soft-delete.js';
import { tierRoutes } from './tiers.js';
import { vulndbRoutes } from './vulndb.js';
import { scanRoutes } from './scans.js';
import { webhookRoutes } from './webhooks.js';
import { taskRoutes } from './tasks.js';
import { replicationRoutes } from './replications.js';
import { trustRoutes } from './trust.js';
import { privateEndpointRoutes } from './private-endpoints.js';
import { storageEncryptionRoutes } from './storage-encryption.js';

export type { ApiOptions } from './common.js';

// Management REST API (/api), JSON in and out. Lists are { value: [...], nextLink? } as in ARM.
// Every caller is authenticated (the API has nothing for anonymous callers); then one table,
// every family's routes, says which handler answers.

const table = new RouteTable([
  ...registryRoutes,
  ...repositoryRoutes,
  // Identity management (users, service principals, role assignments, tokens, scope maps, admin
  // credentials, anonymous pull, login audit).
  ...identityRoutes,
  // Storage usage and quotas (show-usage, registry and repository quotas).
  ...tierRoutes,
  ...webhookRoutes,
  ...jobRoutes,
  // Soft delete: the policy, the recycle bin and restore.
  ...softDeleteRoutes,
  ...gcRoutes,
  // Image import (az acr import).
  ...importRoutes,
  // Purge (on demand and scheduled), the retention policy and immutability policies.
  ...purgeRoutes,
  // Vulnerability data for the scanner (OSV imports and status).
  ...vulndbRoutes,
  ...scanRoutes,
  ...taskRoutes,
  ...replicationRoutes,
  ...trustRoutes,
  // Private endpoint connections (Private Link).
  ...privateEndpointRoutes,
  ...storageEncryptionRoutes,
]);

export async function handleApi(ctx: Ctx, svc: Services, rawPath: string, opts: ApiOptions): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  ctx.route = 'api';
  const segments = splitPath(rawPath).map((s) => decodeSegment(s, 'name'));
  const { principal } = await authenticate(ctx, svc.auth, serviceName(ctx, opts), { cliSession: true }).catch((e) => {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') e.headers['WWW-Authenticate'] = 'Basic realm="berth"';
    throw e;
  });
  if (principal.kind === 'anonymous') {
    throw new RegistryError(
      'UNAUTHORIZED',
      'the management API needs credentials: --username/--password (or BERTH_USERNAME/BERTH_PASSWORD), or berth account login',
      { headers: { 'WWW-Authenticate': 'Basic realm="berth"' } },
    );
  }
  const m = matchRoute(method, segments, rawPath);
  const env = { ctx, svc, p: principal, opts };
  await runRoute(env, m.route, m.params, await observe(env, m));
}

/** The route for a method and decoded segments, or the API's 404 / 405. */
function matchRoute(method: string, segments: string[], rawPath: string) {
  const m = table.match(method, segments);
  if (!m) throw new RegistryError('NOT_FOUND', `no management API at ${rawPath.slice(0, 120)}`);
  if ('allow' in m) throw notAllowed(method, m.allow);
  return m;
}

/** A management operation: the activity log records how the call ends (http/api/activity.ts). */
async function observe(env: ApiEnv, m: ReturnType<typeof matchRoute>) {
  const activity = m.route.def.activity;
  return activity && (await activityObserver(env, activity, m.params));
}

/**
 * A context for calling a route in-process on behalf of a request (the portal): the same caller,
 * connection and request id, but the method and address of the call.
 */
export function innerCtx(ctx: Ctx, method: Method, path: string, query?: URLSearchParams): Ctx {
  const url = new URL(path, ctx.url);
  if (query) url.search = query.toString();
  return { ...ctx, url, req: Object.create(ctx.req, { method: { value: method } }) as Ctx['req'] };
}

/**
 * Calls a management API route in-process as `p`: the same route table, authorization,
 * validation and activity log as an HTTP call to /api, without a second authentication. The portal
 * acts only through this, so it can never do more than its user may do with the API. Throws the
 * route's RegistryError; returns its reply (undefined for a route that answered by itself).
 */
export async function callApi(
  caller: { ctx: Ctx; svc: Services; p: Principal; opts: ApiOptions },
  method: Method,
  path: string,
  source: { query?: URLSearchParams; json?: Record<string, unknown> } = {},
): Promise<Reply | void> {
  const ctx = innerCtx(caller.ctx, method, path, source.query);
  const m = matchRoute(
    method,
    splitPath(ctx.url.pathname).map((s) => decodeSegment(s, 'name')),
    path,
  );
  const env = { ctx, svc: caller.svc, p: caller.p, opts: caller.opts };
  return invokeRoute(env, m.route, m.params, await observe(env, m), { query: ctx.url.searchParams, json: source.json ?? {} });
}
