import type { Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import type { LoginQuery } from '../../services/identity/identities.js';
import { readJson, send, sendJson, type Ctx, notAllowed } from '../context.js';
import type { ApiOptions } from './router.js';

// Identity management routes of the management API: users, service principals, role
// assignments, a registry's tokens, scope maps, admin credentials and anonymous pull, and the
// login audit. Request bodies are strict: an unknown field is a 400, never silently ignored
// (no mass assignment). Authorization is in IdentityService; this file only maps HTTP to it.
//
// Registered with registerApi (router.ts): it claims only the paths below and returns false for
// anything else (notably /api/registries/<name> and /api/registries/<name>/repositories/...).

const REGISTRY_SUBRESOURCES = new Set(['tokens', 'scope-maps', 'credentials', 'anonymous-pull']);


/** The JSON body, refusing any field not in `allowed`. */
async function body(ctx: Ctx, allowed: string[]): Promise<Record<string, unknown>> {
  const b = await readJson(ctx, 256 * 1024);
  const extra = Object.keys(b).filter((k) => !allowed.includes(k));
  if (extra.length) {
    throw new RegistryError('REQUEST_INVALID', `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k.slice(0, 60))).join(', ')}; allowed: ${allowed.join(', ') || 'none'}`, { detail: { unknownFields: extra.slice(0, 20) } });
  }
  for (const k of Object.keys(b)) if (b[k] === null) delete b[k];
  return b;
}

/** Query parameters, refusing unknown ones and repeated ones. */
function query(ctx: Ctx, allowed: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const k of new Set(ctx.url.searchParams.keys())) {
    if (!allowed.includes(k)) throw new RegistryError('REQUEST_INVALID', `unknown query parameter "${k.slice(0, 60)}"; allowed: ${allowed.join(', ')}`);
    const all = ctx.url.searchParams.getAll(k);
    if (all.length > 1) throw new RegistryError('REQUEST_INVALID', `query parameter "${k}" given ${all.length} times`);
    out[k] = all[0];
  }
  return out;
}

function intParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v)) throw new RegistryError('REQUEST_INVALID', `"${name}" must be a whole number, got "${v.slice(0, 30)}"`);
  return Number(v);
}

export async function identityApi(ctx: Ctx, svc: Services, parts: string[], p: Principal, _opts: ApiOptions): Promise<boolean> {
  const method = ctx.req.method ?? 'GET';
  const ids = svc.identities;
  const [head, a, b, c, d] = parts;
  const n = parts.length;
  const json = (status: number, value: unknown, headers: Record<string, string> = {}): boolean => {
    sendJson(ctx, status, value, headers);
    return true;
  };
  const noContent = (_done: unknown): boolean => {
    send(ctx, 204, {});
    return true;
  };
  const noBody = (_done: void): boolean => true;

  // ------------------------------------------------------------ /api/users
  if (head === 'users') {
    if (n === 1 || (n === 2 && a === '')) {
      if (method === 'GET') return json(200, { value: await ids.listUsers(p) });
      if (method === 'POST') {
        const u = await ids.createUser(p, await body(ctx, ['name', 'password']));
        return json(201, u, { Location: `/api/users/${encodeURIComponent(u.name)}` });
      }
      throw notAllowed(method, ['GET', 'POST']);
    }
    if (n === 2) {
      if (method === 'GET') return json(200, await ids.showUser(p, a!));
      if (method === 'PATCH') return json(200, await ids.updateUser(p, a!, await body(ctx, ['password', 'enabled'])));
      if (method === 'DELETE') return noContent(await ids.deleteUser(p, a!));
      throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);
    }
    throw new RegistryError('NOT_FOUND', 'no management API here: use /api/users or /api/users/<name>');
  }

  // ------------------------------------------------------------ /api/service-principals
  if (head === 'service-principals') {
    if (n === 1 || (n === 2 && a === '')) {
      if (method === 'GET') return json(200, { value: await ids.listServicePrincipals(p) });
      if (method === 'POST') {
        const sp = await ids.createServicePrincipal(p, await body(ctx, ['displayName', 'role', 'scopes', 'years']));
        return json(201, sp, { Location: `/api/service-principals/${sp.appId}` });
      }
      throw notAllowed(method, ['GET', 'POST']);
    }
    if (n === 2) {
      if (method === 'GET') return json(200, await ids.showServicePrincipal(p, a!));
      if (method === 'DELETE') return noContent(await ids.deleteServicePrincipal(p, a!));
      throw notAllowed(method, ['GET', 'DELETE']);
    }
    if (n === 3 && b === 'credentials') {
      if (method === 'POST') return json(200, await ids.resetServicePrincipalCredential(p, a!, await body(ctx, ['append', 'years'])));
      throw notAllowed(method, ['POST']);
    }
    throw new RegistryError('NOT_FOUND', 'no management API here: use /api/service-principals[/<appId>[/credentials]]');
  }

  // ------------------------------------------------------------ /api/role-assignments
  if (head === 'role-assignments') {
    if (n === 1 || (n === 2 && a === '')) {
      if (method === 'GET') {
        const q = query(ctx, ['assignee', 'scope', 'role']);
        return json(200, { value: await ids.listRoleAssignments(p, { assignee: q.assignee, scope: q.scope, role: q.role }) });
      }
      if (method === 'POST') {
        const r = await ids.createRoleAssignment(p, await body(ctx, ['assignee', 'role', 'scope']));
        return json(r.created ? 201 : 200, r.assignment, { Location: `/api/role-assignments/${r.assignment.id}` });
      }
      throw notAllowed(method, ['GET', 'POST']);
    }
    if (n === 2) {
      if (method === 'GET') {
        const hit = (await ids.listRoleAssignments(p)).find((x) => x.id === a!.toLowerCase());
        if (!hit) throw new RegistryError('RESOURCE_UNKNOWN', `no role assignment "${a!.slice(0, 80)}" that you can see`);
        return json(200, hit);
      }
      if (method === 'DELETE') return noContent(await ids.deleteRoleAssignments(p, [a!]));
      throw notAllowed(method, ['GET', 'DELETE']);
    }
    throw new RegistryError('NOT_FOUND', 'no management API here: use /api/role-assignments[/<id>]');
  }

  // ------------------------------------------------------------ /api/audit/logins, /api/audit/repository
  if (head === 'audit') {
    if (n !== 2 || (a !== 'logins' && a !== 'repository')) throw new RegistryError('NOT_FOUND', 'no management API here: use /api/audit/logins or /api/audit/repository');
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    const q = query(ctx, ['registry', 'since', 'identity', a === 'logins' ? 'result' : 'operation', 'top', 'before', 'format']);
    if (q.format !== undefined && q.format !== 'json' && q.format !== 'jsonl') throw new RegistryError('REQUEST_INVALID', '"format" must be json or jsonl');
    const base = { registry: q.registry, since: q.since, identity: q.identity, top: intParam(q.top, 'top'), before: intParam(q.before, 'before') };
    const fetchPage: PageFetcher = a === 'logins'
      ? (f) => ids.loginEvents(p, { ...f, result: q.result })
      : (f) => ids.repositoryEvents(p, { ...f, operation: q.operation });
    if (q.format === 'jsonl') return noBody(await streamEvents(ctx, fetchPage, base));
    const page = await fetchPage(base);
    let nextLink: string | undefined;
    if (page.next !== undefined) {
      const next = new URLSearchParams(ctx.url.searchParams);
      next.set('before', String(page.next));
      nextLink = `/api/audit/${a}?${next}`;
    }
    return json(200, { value: page.value, ...(nextLink ? { nextLink } : {}) });
  }

  // ------------------------------------------------------------ /api/registries/<name>/<identity sub-resource>
  if (head !== 'registries' || n < 3 || !REGISTRY_SUBRESOURCES.has(b!)) return false;
  const reg = a!;
  const rest = parts.slice(3);
  const top = rest.length === 0 || (rest.length === 1 && rest[0] === '');

  switch (b) {
    case 'tokens':
      if (top) {
        if (method === 'GET') return json(200, { value: await ids.listTokens(p, reg) });
        if (method === 'POST') {
          const t = await ids.createToken(p, reg, await body(ctx, ['name', 'scopeMap', 'actions', 'status', 'expirationInDays', 'expiration', 'noPasswords']));
          return json(201, t, { Location: `/api/registries/${encodeURIComponent(t.registry)}/tokens/${encodeURIComponent(t.name)}` });
        }
        throw notAllowed(method, ['GET', 'POST']);
      }
      if (n === 4) {
        if (method === 'GET') return json(200, await ids.showToken(p, reg, c!));
        if (method === 'PATCH') return json(200, await ids.updateToken(p, reg, c!, await body(ctx, ['status', 'scopeMap'])));
        if (method === 'DELETE') return noContent(await ids.deleteToken(p, reg, c!));
        throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);
      }
      if (n === 5 && d === 'credentials') {
        if (method === 'POST') return json(200, await ids.generateTokenPasswords(p, reg, c!, await body(ctx, ['password1', 'password2', 'expirationInDays', 'expiration'])));
        throw notAllowed(method, ['POST']);
      }
      if (n === 6 && d === 'credentials') {
        if (method === 'DELETE') return noContent(await ids.deleteTokenPassword(p, reg, c!, parts[5]));
        throw notAllowed(method, ['DELETE']);
      }
      throw new RegistryError('NOT_FOUND', 'no management API here: use …/tokens[/<token>[/credentials[/password1|password2]]]');

    case 'scope-maps':
      if (top) {
        if (method === 'GET') return json(200, { value: await ids.listScopeMaps(p, reg) });
        if (method === 'POST') {
          const m = await ids.createScopeMap(p, reg, await body(ctx, ['name', 'description', 'actions']));
          return json(201, m, { Location: `/api/registries/${encodeURIComponent(m.registry)}/scope-maps/${encodeURIComponent(m.name)}` });
        }
        throw notAllowed(method, ['GET', 'POST']);
      }
      if (n === 4) {
        if (method === 'GET') return json(200, await ids.showScopeMap(p, reg, c!));
        if (method === 'PATCH') return json(200, await ids.updateScopeMap(p, reg, c!, await body(ctx, ['description', 'actions', 'addActions', 'removeActions'])));
        if (method === 'DELETE') return noContent(await ids.deleteScopeMap(p, reg, c!));
        throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);
      }
      throw new RegistryError('NOT_FOUND', 'no management API here: use …/scope-maps[/<scope map>]');

    case 'credentials':
      if (top) {
        if (method === 'GET') return json(200, await ids.showAdminCredentials(p, reg));
        throw notAllowed(method, ['GET']);
      }
      if (n === 4 && c === 'renew') {
        if (method === 'POST') return json(200, await ids.renewAdminCredential(p, reg, (await body(ctx, ['name'])).name));
        throw notAllowed(method, ['POST']);
      }
      throw new RegistryError('NOT_FOUND', 'no management API here: use …/credentials or …/credentials/renew');

    case 'anonymous-pull':
      if (top) {
        if (method === 'GET') return json(200, await ids.anonymousPull(p, reg));
        throw notAllowed(method, ['GET']);
      }
      {
        const pattern = rest.join('/');
        if (method === 'PUT' || method === 'DELETE') {
          await body(ctx, []);
          return json(200, await ids.setRepositoryAnonymousPull(p, reg, pattern, method === 'PUT'));
        }
        throw notAllowed(method, ['PUT', 'DELETE']);
      }
  }
  return false;
}

type PageQuery = { registry?: string; since?: string; identity?: string; top?: number; before?: number };
type PageFetcher = (q: PageQuery) => Promise<{ value: unknown[]; next?: number }>;

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
