import type { Principal } from '../../auth/service.js';
import { describePrincipal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/reference.js';
import type { RegistryRow } from '../../meta/store.js';
import { parsePageSize, type Services } from '../../services/index.js';
import { readJson, sendJson, type Ctx, notAllowed } from '../context.js';
import { findRegistry, managedRegistry, requireData } from './router.js';

// Soft delete routes of the management API (registered with registerApi in router.ts):
//   GET|PATCH /api/registries/<reg>/softDeletePolicy {status, retentionDays}   az acr config soft-delete show|update
//   GET  /api/registries/<reg>/deletedRepositories                            az acr repository list-deleted
//   GET  /api/registries/<reg>/repositories/<repo>/_deleted[?n=&last=]        az acr manifest list-deleted
//   GET  /api/registries/<reg>/repositories/<repo>/_deletedTags[?tag=&n=&last=]  az acr manifest list-deleted-tags
//   POST /api/registries/<reg>/repositories/<repo>/_restore {tag?, digest?, force?}   az acr manifest restore
// The policy needs the registry read (show) or write (update) power; the bin is read with
// metadata_read on the repository (or registry read) and restored with push (content/write),
// like ACR's registries/deleted/read and registries/deleted/restore/action.


export async function softDeleteApi(ctx: Ctx, svc: Services, parts: string[], principal: Principal): Promise<boolean> {
  if (parts[0] !== 'registries' || parts.length < 3) return false;
  const method = ctx.req.method ?? 'GET';
  const name = parts[1]!;

  if (parts.length === 3 && parts[2] === 'softDeletePolicy') {
    if (method === 'GET') {
      const reg = await managedRegistry(svc, principal, name, 'read', 'read the soft delete policy of');
      sendJson(ctx, 200, await svc.softDelete.policy(reg));
      return true;
    }
    if (method === 'PATCH' || method === 'PUT') {
      const reg = await managedRegistry(svc, principal, name, 'write', 'change the soft delete policy of');
      const body = await readJson(ctx, 16 * 1024);
      const extra = Object.keys(body).filter((k) => k !== 'status' && k !== 'retentionDays');
      if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 60))}; allowed: status, retentionDays`);
      sendJson(ctx, 200, await svc.softDelete.updatePolicy(reg, body));
      return true;
    }
    throw notAllowed(method, ['GET', 'PATCH']);
  }

  if (parts.length === 3 && parts[2] === 'deletedRepositories') {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    const reg = await findRegistry(svc, principal, name, 'read');
    if (!(await svc.auth.grant(principal, reg, '')).catalog && !(await svc.auth.powers(principal, reg.id)).has('read')) {
      throw new RegistryError('DENIED', `${describePrincipal(principal)} is not allowed to list the deleted repositories of ${reg.name}`);
    }
    sendJson(ctx, 200, { value: await svc.softDelete.listDeletedRepositories(reg) });
    return true;
  }

  const last = parts[parts.length - 1];
  if (parts[2] !== 'repositories' || parts.length < 5 || (last !== '_deleted' && last !== '_deletedTags' && last !== '_restore')) return false;
  const repo = assertRepositoryName(parts.slice(3, -1).join('/'));
  const reg = await findRegistry(svc, principal, name, 'read');
  if (last === '_restore') {
    if (method !== 'POST') throw notAllowed(method, ['POST']);
    await requireData(svc, principal, reg, repo, ['push']);
    const body = await readJson(ctx, 16 * 1024);
    const extra = Object.keys(body).filter((k) => !['tag', 'digest', 'force'].includes(k));
    if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 60))}; allowed: tag, digest, force`);
    for (const k of ['tag', 'digest'] as const) {
      if (body[k] !== undefined && typeof body[k] !== 'string') throw new RegistryError('REQUEST_INVALID', `"${k}" must be a string`);
    }
    if (body.force !== undefined && typeof body.force !== 'boolean') throw new RegistryError('REQUEST_INVALID', '"force" must be true or false');
    sendJson(ctx, 200, await svc.softDelete.restore(reg, repo, { tag: body.tag as string | undefined, digest: body.digest as string | undefined, force: body.force as boolean | undefined }));
    return true;
  }
  if (method !== 'GET') throw notAllowed(method, ['GET']);
  await requireData(svc, principal, reg, repo, ['metadata_read']);
  const q = ctx.url.searchParams;
  const n = parsePageSize(q.get('n'), 1000) || 1000;
  const after = q.get('last') ?? undefined;
  const page = last === '_deleted'
    ? await svc.softDelete.listDeletedManifests(reg, repo, n, after)
    : await svc.softDelete.listDeletedTags(reg, repo, q.get('tag') ?? undefined, n, after);
  const more = new URLSearchParams({ n: String(n), ...(q.get('tag') ? { tag: q.get('tag')! } : {}), ...(page.next ? { last: page.next } : {}) });
  sendJson(ctx, 200, { registry: reg.name, imageName: repo, value: page.items, ...(page.next ? { nextLink: `?${more}` } : {}) });
  return true;
}
