import { z } from 'zod';
import { RegistryError } from '../../domain/errors.js';
import type { Ctx } from '../context.js';
import { pageLink } from '../context.js';
import { fields, json, noContent, type Reply } from '../routes.js';
import { scopeRegistry } from './activity.js';
import { IDENTITY_BODY_MAX as MAX, named, route, wholeNumber } from './common.js';

// Identity management routes of the management API: users, service principals, role
// assignments, a registry's tokens, scope maps, admin credentials and anonymous pull, and the
// audit logs (logins, repository events, the activity log). Request bodies are strict: an
// unknown field is a 400, never silently ignored (no mass assignment). Authorization is in IdentityService, which also checks what each field
// means; this file only maps HTTP to it.

const enc = encodeURIComponent;

const AuditFilters = {
  registry: z.string().optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  identity: z.string().optional(),
};
const AuditPaging = {
  top: wholeNumber.optional(),
  before: wholeNumber.optional(),
  format: z.enum(['json', 'jsonl'], { error: '"format" must be json or jsonl' }).optional(),
};
const LoginsQuery = z.strictObject({
  ...AuditFilters,
  result: z.string().optional(),
  excludeUserAgentPrefix: z.string().optional(),
  ...AuditPaging,
});
const RepositoryEventsQuery = z.strictObject({ ...AuditFilters, operation: z.string().optional(), ...AuditPaging });
const ActivityQuery = z.strictObject({ ...AuditFilters, operation: z.string().optional(), result: z.string().optional(), ...AuditPaging });

type PageQuery = { registry?: string; since?: string; until?: string; identity?: string; top?: number; before?: number };
type PageFetcher = (q: PageQuery) => Promise<{ value: unknown[]; next?: number }>;

/** An audit listing: one page with a nextLink, or every match as JSON lines (format=jsonl). */
async function audit(ctx: Ctx, path: string, q: PageQuery & { format?: 'json' | 'jsonl' }, fetchPage: PageFetcher): Promise<Reply | void> {
  const { format, ...filter } = q;
  if (format === 'jsonl') return streamEvents(ctx, fetchPage, filter);
  const page = await fetchPage(filter);
  return json(200, { value: page.value, ...(page.next !== undefined ? { nextLink: pageLink(path, { ...q, before: page.next }) } : {}) });
}

export const identityRoutes = [
  // ---------------------------------------------------------------- the caller
  // Who the caller is and what it may do across the deployment, so a client offers only what
  // will be allowed (the portal's "Create registry"); every call is still authorized on its own.
  route('GET /api/me', {
    handler: async ({ svc, p }) => json(200, { name: p.name, kind: p.kind, deploymentPowers: await svc.access.deploymentPowers(p) }),
  }),
  // ---------------------------------------------------------------- users
  route('GET /api/users', { handler: async ({ svc, p }) => json(200, { value: await svc.identities.users.listUsers(p) }) }),
  route('POST /api/users', {
    activity: { operation: 'Berth/users/write', resource: ({ body }) => named('/users', body?.name) },
    body: fields('name', 'password'),
    bodyLimit: MAX,
    handler: async ({ svc, p, body }) => {
      const u = await svc.identities.users.createUser(p, await body());
      return json(201, u, { Location: `/api/users/${enc(u.name)}` });
    },
  }),
  route('GET /api/users/:name', { handler: async ({ svc, p, params }) => json(200, await svc.identities.users.showUser(p, params.name)) }),
  route('PATCH /api/users/:name', {
    activity: { operation: 'Berth/users/write' },
    body: fields('password', 'enabled'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) => json(200, await svc.identities.users.updateUser(p, params.name, await body())),
  }),
  route('DELETE /api/users/:name', {
    activity: { operation: 'Berth/users/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.users.deleteUser(p, params.name)),
  }),

  // ---------------------------------------------------------------- service principals
  route('GET /api/service-principals', {
    handler: async ({ svc, p }) => json(200, { value: await svc.identities.servicePrincipals.listServicePrincipals(p) }),
  }),
  route('POST /api/service-principals', {
    activity: {
      operation: 'Berth/servicePrincipals/write',
      resource: ({ reply }) => named('/service-principals', (reply as { appId?: unknown })?.appId),
    },
    body: fields('displayName', 'role', 'scopes', 'years'),
    bodyLimit: MAX,
    handler: async ({ svc, p, body }) => {
      const sp = await svc.identities.servicePrincipals.createServicePrincipal(p, await body());
      return json(201, sp, { Location: `/api/service-principals/${sp.appId}` });
    },
  }),
  route('GET /api/service-principals/:appId', {
    handler: async ({ svc, p, params }) => json(200, await svc.identities.servicePrincipals.showServicePrincipal(p, params.appId)),
  }),
  route('DELETE /api/service-principals/:appId', {
    activity: { operation: 'Berth/servicePrincipals/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.servicePrincipals.deleteServicePrincipal(p, params.appId)),
  }),
  route('POST /api/service-principals/:appId/credentials', {
    activity: { operation: 'Berth/servicePrincipals/resetCredential/action' },
    body: fields('append', 'years'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.identities.servicePrincipals.resetServicePrincipalCredential(p, params.appId, await body())),
  }),

  // ---------------------------------------------------------------- federated identity credentials (workload identity federation)
  route('GET /api/service-principals/:appId/federated-credentials', {
    handler: async ({ svc, p, params }) => json(200, { value: await svc.identities.federatedCredentials.list(p, params.appId) }),
  }),
  route('POST /api/service-principals/:appId/federated-credentials', {
    activity: {
      operation: 'Berth/servicePrincipals/federatedCredentials/write',
      resource: ({ params, reply }) =>
        named(`/service-principals/${params.appId}/federated-credentials`, (reply as { name?: unknown })?.name),
    },
    body: fields('name', 'issuer', 'subject', 'audiences', 'description'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) => {
      const c = await svc.identities.federatedCredentials.create(p, params.appId, await body());
      return json(201, c, { Location: `/api/service-principals/${enc(params.appId)}/federated-credentials/${enc(c.name)}` });
    },
  }),
  route('GET /api/service-principals/:appId/federated-credentials/:name', {
    handler: async ({ svc, p, params }) => json(200, await svc.identities.federatedCredentials.show(p, params.appId, params.name)),
  }),
  route('DELETE /api/service-principals/:appId/federated-credentials/:name', {
    activity: { operation: 'Berth/servicePrincipals/federatedCredentials/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.federatedCredentials.delete(p, params.appId, params.name)),
  }),

  // ---------------------------------------------------------------- role assignments
  route('GET /api/role-assignments', {
    query: z.strictObject({ assignee: z.string().optional(), scope: z.string().optional(), role: z.string().optional() }),
    handler: async ({ svc, p, query }) => json(200, { value: await svc.identities.roleAssignments.listRoleAssignments(p, query) }),
  }),
  route('POST /api/role-assignments', {
    activity: {
      operation: 'Microsoft.Authorization/roleAssignments/write',
      registry: ({ body, reply }) => scopeRegistry((reply as { scope?: unknown })?.scope ?? body?.scope),
      resource: ({ reply }) => named('/role-assignments', (reply as { id?: unknown })?.id),
    },
    body: fields('assignee', 'role', 'scope'),
    bodyLimit: MAX,
    handler: async ({ svc, p, body }) => {
      const r = await svc.identities.roleAssignments.createRoleAssignment(p, await body());
      return json(r.created ? 201 : 200, r.assignment, { Location: `/api/role-assignments/${r.assignment.id}` });
    },
  }),
  route('GET /api/role-assignments/:id', {
    handler: async ({ svc, p, params }) => {
      const hit = (await svc.identities.roleAssignments.listRoleAssignments(p)).find((x) => x.id === params.id.toLowerCase());
      if (!hit) throw new RegistryError('RESOURCE_UNKNOWN', `no role assignment "${params.id.slice(0, 80)}" that you can see`);
      return json(200, hit);
    },
  }),
  route('DELETE /api/role-assignments/:id', {
    activity: { operation: 'Microsoft.Authorization/roleAssignments/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.roleAssignments.deleteRoleAssignments(p, [params.id])),
  }),

  // ---------------------------------------------------------------- audit logs: logins, repository events, activity
  route('GET /api/audit/logins', {
    query: LoginsQuery,
    handler: async ({ ctx, svc, p, query }) =>
      audit(ctx, '/api/audit/logins', query, (f) =>
        svc.identities.audit.loginEvents(p, { ...f, result: query.result, excludeUserAgentPrefix: query.excludeUserAgentPrefix }),
      ),
  }),
  route('GET /api/audit/repository', {
    query: RepositoryEventsQuery,
    handler: async ({ ctx, svc, p, query }) =>
      audit(ctx, '/api/audit/repository', query, (f) => svc.identities.audit.repositoryEvents(p, { ...f, operation: query.operation })),
  }),
  // The activity log of management operations (services/identity/activity.ts).
  route('GET /api/audit/activity', {
    query: ActivityQuery,
    handler: async ({ ctx, svc, p, query }) =>
      audit(ctx, '/api/audit/activity', query, (f) =>
        svc.identities.activity.list(p, { ...f, operation: query.operation, result: query.result }),
      ),
  }),

  // ---------------------------------------------------------------- a registry's tokens
  route('GET /api/registries/:reg/tokens', {
    handler: async ({ svc, p, params }) => json(200, { value: await svc.identities.tokens.listTokens(p, params.reg) }),
  }),
  route('POST /api/registries/:reg/tokens', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/tokens/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/tokens`, body?.name),
    },
    body: fields('name', 'scopeMap', 'actions', 'status', 'expirationInDays', 'expiration', 'noPasswords'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) => {
      const t = await svc.identities.tokens.createToken(p, params.reg, await body());
      return json(201, t, { Location: `/api/registries/${enc(t.registry)}/tokens/${enc(t.name)}` });
    },
  }),
  route('GET /api/registries/:reg/tokens/:name', {
    handler: async ({ svc, p, params }) => json(200, await svc.identities.tokens.showToken(p, params.reg, params.name)),
  }),
  route('PATCH /api/registries/:reg/tokens/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tokens/write' },
    body: fields('status', 'scopeMap'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.identities.tokens.updateToken(p, params.reg, params.name, await body())),
  }),
  route('DELETE /api/registries/:reg/tokens/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tokens/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.tokens.deleteToken(p, params.reg, params.name)),
  }),
  route('POST /api/registries/:reg/tokens/:name/credentials', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/generateCredentials/action' },
    body: fields('password1', 'password2', 'expirationInDays', 'expiration'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.identities.tokens.generateTokenPasswords(p, params.reg, params.name, await body())),
  }),
  route('DELETE /api/registries/:reg/tokens/:name/credentials/:password', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tokens/write' },
    handler: async ({ svc, p, params }) =>
      noContent(await svc.identities.tokens.deleteTokenPassword(p, params.reg, params.name, params.password)),
  }),

  // ---------------------------------------------------------------- scope maps
  route('GET /api/registries/:reg/scope-maps', {
    handler: async ({ svc, p, params }) => json(200, { value: await svc.identities.scopeMaps.listScopeMaps(p, params.reg) }),
  }),
  route('POST /api/registries/:reg/scope-maps', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/scopeMaps/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/scope-maps`, body?.name),
    },
    body: fields('name', 'description', 'actions'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) => {
      const m = await svc.identities.scopeMaps.createScopeMap(p, params.reg, await body());
      return json(201, m, { Location: `/api/registries/${enc(m.registry)}/scope-maps/${enc(m.name)}` });
    },
  }),
  route('GET /api/registries/:reg/scope-maps/:name', {
    handler: async ({ svc, p, params }) => json(200, await svc.identities.scopeMaps.showScopeMap(p, params.reg, params.name)),
  }),
  route('PATCH /api/registries/:reg/scope-maps/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/scopeMaps/write' },
    body: fields('description', 'actions', 'addActions', 'removeActions'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.identities.scopeMaps.updateScopeMap(p, params.reg, params.name, await body())),
  }),
  route('DELETE /api/registries/:reg/scope-maps/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/scopeMaps/delete' },
    handler: async ({ svc, p, params }) => noContent(await svc.identities.scopeMaps.deleteScopeMap(p, params.reg, params.name)),
  }),

  // ---------------------------------------------------------------- admin credentials and anonymous pull
  route('GET /api/registries/:reg/credentials', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/listCredentials/action' },
    handler: async ({ svc, p, params }) => json(200, await svc.identities.registryCredentials.showAdminCredentials(p, params.reg)),
  }),
  route('POST /api/registries/:reg/credentials/renew', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/regenerateCredential/action' },
    body: fields('name'),
    bodyLimit: MAX,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.identities.registryCredentials.renewAdminCredential(p, params.reg, (await body()).name)),
  }),
  route('GET /api/registries/:reg/anonymous-pull', {
    handler: async ({ svc, p, params }) => json(200, await svc.identities.registryCredentials.anonymousPull(p, params.reg)),
  }),
  route('PUT|DELETE /api/registries/:reg/anonymous-pull/*pattern', {
    activity: {
      operation: {
        PUT: 'Microsoft.ContainerRegistry/registries/anonymousPullRules/write',
        DELETE: 'Microsoft.ContainerRegistry/registries/anonymousPullRules/delete',
      },
    },
    body: fields(),
    bodyLimit: MAX,
    handler: async ({ ctx, svc, p, params, body }) => {
      await body();
      return json(
        200,
        await svc.identities.registryCredentials.setRepositoryAnonymousPull(p, params.reg, params.pattern, ctx.req.method === 'PUT'),
      );
    },
  }),
];

/** All matching audit events as JSON lines, newest first, fetched in pages. */
async function streamEvents(ctx: Ctx, fetchPage: PageFetcher, filter: PageQuery): Promise<void> {
  const limit = filter.top;
  let page = await fetchPage({ ...filter, top: Math.min(limit ?? 1000, 1000) });
  const { res } = ctx;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
  let sent = 0;
  for (;;) {
    for (const e of page.value) {
      if (limit !== undefined && sent >= limit) break;
      if (!res.write(`${JSON.stringify(e)}\n`)) await new Promise((r) => res.once('drain', r));
      sent++;
    }
    if (page.next === undefined || (limit !== undefined && sent >= limit) || res.destroyed) break;
    page = await fetchPage({ ...filter, top: Math.min(limit === undefined ? 1000 : limit - sent, 1000), before: page.next });
  }
  res.end();
}
