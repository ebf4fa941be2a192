import { gcApi } from './gc.js';
import type { Action, ManagementPower } from '../../auth/model.js';
import { describePrincipal, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { RegistryRow } from '../../meta/store.js';
import { authenticate, serviceName, type AuthHttpOptions } from '../auth.js';
import { assertRepositoryName } from '../../domain/reference.js';
import { parsePageSize, type Services } from '../../services/index.js';
import { parseSku, registryView } from '../../services/content/registries.js';
import { readJson, send, sendJson, type Ctx, notAllowed } from '../context.js';
import { decodeSegment } from '../oci/target.js';
import { identityApi } from './identity.js';
import { importsApi } from './imports.js';
import { purgeApi } from './purge.js';
import { tiersApi } from './tiers.js';
import { softDeleteApi } from './soft-delete.js';
import { webhooksApi } from './webhooks.js';

// Management REST API (/api), JSON in and out. Lists are { value: [...], nextLink? } as in ARM.
// Repository names contain "/", so sub-resources of a repository start with "_" (never valid in a name).

export interface ApiOptions extends AuthHttpOptions {
  domain: string;
  publicUrl: string;
}

/** Extra route families (identity management and more) register here; each gets the caller. */
export type ApiExtension = (ctx: Ctx, svc: Services, parts: string[], principal: Principal, opts: ApiOptions) => Promise<boolean>;
const extensions: ApiExtension[] = [];
export function registerApi(ext: ApiExtension): void {
  extensions.push(ext);
}

/**
 * Loads a registry by name for a caller about to `what` it. Unknown and forbidden look alike
 * (DENIED) unless the caller sees the whole deployment, so names do not leak; the caller checks
 * its own rights on the registry it gets.
 */
export async function findRegistry(svc: Services, p: Principal, name: string, what: string): Promise<RegistryRow> {
  const reg = await svc.registries.find(name);
  if (reg) return reg;
  if ((await svc.auth.powers(p, null)).has('read')) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${name}" does not exist`);
  throw new RegistryError('DENIED', `${describePrincipal(p)} may not ${what} registry "${name}"`);
}

/** Loads a registry the caller may manage with `power` (see findRegistry). */
export async function managedRegistry(svc: Services, p: Principal, name: string, power: ManagementPower, what: string): Promise<RegistryRow> {
  const reg = await findRegistry(svc, p, name, what);
  await svc.auth.requirePower(p, reg.id, power, `${what} registry ${reg.name}`);
  return reg;
}

/** Repository-level API calls are authorized like the data plane (ACR's /acr/v1). */
export async function requireData(svc: Services, p: Principal, reg: RegistryRow, repo: string, anyOf: Action[]): Promise<void> {
  const g = await svc.auth.grant(p, reg, repo);
  if (anyOf.some((a) => g.actions.has(a))) return;
  const powers = await svc.auth.powers(p, reg.id);
  if ((anyOf.includes('metadata_read') || anyOf.includes('pull')) && powers.has('read')) return;
  throw new RegistryError('DENIED', `${describePrincipal(p)} is not allowed to ${anyOf.join(' or ')} ${reg.name}/${repo}`);
}

function loginServer(ctx: Ctx, opts: ApiOptions, name: string): string {
  if (opts.domain) return `${name.toLowerCase()}.${opts.domain}`;
  const host = opts.publicUrl ? new URL(opts.publicUrl).host : (ctx.req.headers.host ?? 'localhost');
  return `${host}/${name.toLowerCase()}`;
}


function str(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RegistryError('REQUEST_INVALID', `"${key}" must be a string`);
  return v;
}

export async function handleApi(ctx: Ctx, svc: Services, rawPath: string, opts: ApiOptions): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  ctx.route = 'api';
  const parts = rawPath.slice('/api/'.length).split('/').map((p) => decodeSegment(p, 'name'));
  const { principal } = await authenticate(ctx, svc.auth, serviceName(ctx, opts)).catch((e) => {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') e.headers['WWW-Authenticate'] = 'Basic realm="berth"';
    throw e;
  });
  if (principal.kind === 'anonymous') {
    throw new RegistryError('UNAUTHORIZED', 'the management API needs credentials: --username/--password (or BERTH_USERNAME/BERTH_PASSWORD), or berth account login', { headers: { 'WWW-Authenticate': 'Basic realm="berth"' } });
  }
  for (const ext of extensions) if (await ext(ctx, svc, parts, principal, opts)) return;
  if (parts[0] !== 'registries') throw new RegistryError('NOT_FOUND', `no management API at ${rawPath.slice(0, 120)}`);
  const q = ctx.url.searchParams;

  if (parts.length === 1 || (parts.length === 2 && parts[1] === '')) {
    if (method === 'GET') {
      const deploymentRead = (await svc.auth.powers(principal, null)).has('read');
      const rows = [];
      for (const r of await svc.registries.list()) if (deploymentRead || (await svc.auth.powers(principal, r.id)).has('read')) rows.push(r);
      return sendJson(ctx, 200, { value: rows.map((r) => registryView(r, loginServer(ctx, opts, r.name))) });
    }
    if (method === 'POST') {
      await svc.auth.requirePower(principal, null, 'create_registries', 'create registries');
      const body = await readJson(ctx);
      const name = str(body, 'name');
      if (!name) throw new RegistryError('REQUEST_INVALID', 'a registry needs a "name" (5-50 letters and digits)');
      const row = await svc.registries.create(name, parseSku(str(body, 'sku') ?? 'Basic'));
      return sendJson(ctx, 201, registryView(row, loginServer(ctx, opts, row.name)), { Location: `/api/registries/${row.name}` });
    }
    throw notAllowed(method, ['GET', 'POST']);
  }

  if (parts[1] === 'check-name' && parts.length === 2) {
    if (method !== 'POST' && method !== 'GET') throw notAllowed(method, ['GET', 'POST']);
    const name = method === 'POST' ? str(await readJson(ctx), 'name') : q.get('name') ?? undefined;
    return sendJson(ctx, 200, await svc.registries.checkName(name ?? ''));
  }

  const regName = parts[1]!;
  if (parts.length === 2) {
    if (method === 'GET') {
      const row = await managedRegistry(svc, principal, regName, 'read', 'read');
      return sendJson(ctx, 200, registryView(row, loginServer(ctx, opts, row.name)));
    }
    if (method === 'PATCH') {
      await managedRegistry(svc, principal, regName, 'write', 'update');
      const body = await readJson(ctx);
      const updatable = ['sku', 'adminUserEnabled', 'anonymousPullEnabled'];
      for (const k of Object.keys(body)) if (!updatable.includes(k)) throw new RegistryError('REQUEST_INVALID', `"${k}" cannot be updated; updatable: ${updatable.join(', ')}`);
      const row = await svc.identities.updateRegistry(principal, regName, body);
      return sendJson(ctx, 200, registryView(row, loginServer(ctx, opts, row.name)));
    }
    if (method === 'DELETE') {
      await managedRegistry(svc, principal, regName, 'write', 'delete');
      await svc.registries.delete(regName);
      await svc.identities.registryDeleted();
      return send(ctx, 204, {});
    }
    throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);
  }

  if (parts[2] !== 'repositories') throw new RegistryError('NOT_FOUND', `no management API at ${rawPath.slice(0, 120)}`);
  const found = await svc.registries.find(regName);
  if (!found && (await svc.auth.powers(principal, null)).has('read')) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${regName}" does not exist`);
  const reg = found ?? { id: -1, name: regName, sku: 'Basic', admin_enabled: 0, anonymous_pull_enabled: 0, created_at: '', updated_at: '' };
  const rest = parts.slice(3);
  const n = parsePageSize(q.get('n'), 1000);
  const last = q.get('last') ?? undefined;

  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    if (!(await svc.auth.grant(principal, reg, '')).catalog && !(await svc.auth.powers(principal, reg.id)).has('read')) {
      throw new RegistryError('DENIED', `${describePrincipal(principal)} is not allowed to list the repositories of ${reg.name}`);
    }
    const page = await svc.repositories.catalog(reg, n, last);
    return sendJson(ctx, 200, { value: page.items, ...(page.next ? { nextLink: `${ctx.url.pathname}?n=${n}&last=${encodeURIComponent(page.next)}` } : {}) });
  }

  const sub = rest.findIndex((p) => p.startsWith('_'));
  const repo = assertRepositoryName((sub < 0 ? rest : rest.slice(0, sub)).join('/'));
  const resource = sub < 0 ? '' : rest[sub]!;
  const arg = sub < 0 ? undefined : rest.slice(sub + 1).join('/') || undefined;

  const need: Action[] = method === 'GET' || method === 'HEAD' ? ['metadata_read', 'pull']
    : resource === '_tags' ? ['delete', 'metadata_write'] : ['delete'];
  await requireData(svc, principal, reg, repo, need);
  if (!found) throw new RegistryError('REGISTRY_UNKNOWN', `registry "${regName}" does not exist`);

  switch (resource) {
    case '':
      if (method === 'GET') return sendJson(ctx, 200, await svc.repositories.show(reg, repo));
      if (method === 'DELETE') return sendJson(ctx, 202, await svc.repositories.delete(reg, repo));
      throw notAllowed(method, ['GET', 'DELETE']);
    case '_tags':
      if (arg === undefined) {
        if (method !== 'GET') throw notAllowed(method, ['GET']);
        const page = await svc.repositories.tagDetails(reg, repo, n, last);
        return sendJson(ctx, 200, { registry: reg.name, imageName: repo, value: page.items, ...(page.next ? { nextLink: `?n=${n}&last=${encodeURIComponent(page.next)}` } : {}) });
      }
      if (method === 'DELETE') {
        if (arg.includes(':')) throw new RegistryError('REQUEST_INVALID', `"${arg}" is not a tag`);
        await svc.manifests.delete(reg, repo, arg);
        return send(ctx, 204, {});
      }
      throw notAllowed(method, ['DELETE']);
    case '_manifests':
      if (arg === undefined) {
        if (method !== 'GET') throw notAllowed(method, ['GET']);
        const page = await svc.repositories.manifestDetails(reg, repo, n, last);
        return sendJson(ctx, 200, { registry: reg.name, imageName: repo, value: page.items, ...(page.next ? { nextLink: `?n=${n}&last=${encodeURIComponent(page.next)}` } : {}) });
      }
      if (method === 'GET') {
        const m = await svc.manifests.get(reg, repo, arg);
        return send(ctx, 200, { 'Content-Type': m.media_type, 'Docker-Content-Digest': m.digest }, Buffer.from(m.content));
      }
      if (method === 'DELETE') {
        const m = await svc.manifests.head(reg, repo, arg);
        await svc.manifests.delete(reg, repo, m.digest);
        return sendJson(ctx, 202, { deleted: m.digest });
      }
      throw notAllowed(method, ['GET', 'DELETE']);
    case '_referrers': {
      if (method !== 'GET') throw notAllowed(method, ['GET']);
      if (arg === undefined) throw new RegistryError('REQUEST_INVALID', 'name the subject: _referrers/<digest or tag>');
      const subject = arg.includes(':') ? arg : (await svc.manifests.head(reg, repo, arg)).digest;
      const out = await svc.manifests.referrers(reg, repo, subject, q.get('artifactType') ?? undefined, n || 1000, last);
      return sendJson(ctx, 200, { subject, ...out.index });
    }
    default:
      throw new RegistryError('NOT_FOUND', `unknown repository resource "${resource}"; use _tags, _manifests or _referrers`);
  }
}

// Identity management (users, service principals, role assignments, tokens, scope maps, admin
// credentials, anonymous pull, login audit).
registerApi(identityApi);
// Storage usage and quotas (show-usage, registry and repository quotas).
registerApi(tiersApi);
// Webhooks of a registry, and the job queue.
registerApi(webhooksApi);
// Soft delete: the policy, the recycle bin and restore.
registerApi(softDeleteApi);
registerApi(gcApi);
// Image import (az acr import).
registerApi(importsApi);
// Purge (on demand and scheduled), the retention policy and immutability policies.
registerApi(purgeApi);
