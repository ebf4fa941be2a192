import type { Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { assertRepositoryName } from '../../domain/reference.js';
import type { Services } from '../../services/index.js';
import { readJson, sendJson, type Ctx, notAllowed } from '../context.js';
import { managedRegistry } from './router.js';

// Tier routes of the management API (registered with registerApi in router.ts):
//   GET /api/registries/<reg>/usages                          az acr show-usage (Reader)
//   PUT /api/registries/<reg>/quota {storageQuotaBytes}        registry storage quota (write)
//   GET /api/registries/<reg>/repositories/<repo>/_usage      a repository's storage and quota (Reader)
//   PUT /api/registries/<reg>/repositories/<repo>/_quota {storageQuotaBytes}   (write)
// storageQuotaBytes null removes the quota.


async function quotaBody(ctx: Ctx): Promise<number | null> {
  const b = await readJson(ctx, 16 * 1024);
  const extra = Object.keys(b).filter((k) => k !== 'storageQuotaBytes');
  if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 60))}; allowed: storageQuotaBytes`);
  if (!('storageQuotaBytes' in b)) throw new RegistryError('REQUEST_INVALID', 'give "storageQuotaBytes": a whole number of bytes, or null to remove the quota');
  const v = b.storageQuotaBytes;
  if (v !== null && typeof v !== 'number') throw new RegistryError('REQUEST_INVALID', `"storageQuotaBytes" must be a number or null, got ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

export async function tiersApi(ctx: Ctx, svc: Services, parts: string[], principal: Principal): Promise<boolean> {
  if (parts[0] !== 'registries' || parts.length < 3) return false;
  const method = ctx.req.method ?? 'GET';
  const name = parts[1]!;
  if (parts.length === 3 && parts[2] === 'usages') {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    const reg = await managedRegistry(svc, principal, name, 'read', 'read the usage of');
    sendJson(ctx, 200, await svc.tiers.usages(reg));
    return true;
  }
  if (parts.length === 3 && parts[2] === 'quota') {
    if (method !== 'PUT') throw notAllowed(method, ['PUT']);
    const reg = await managedRegistry(svc, principal, name, 'write', 'set the storage quota of');
    await svc.tiers.setRegistryQuota(reg, await quotaBody(ctx));
    sendJson(ctx, 200, await svc.tiers.usages(reg));
    return true;
  }
  const last = parts[parts.length - 1];
  if (parts[2] === 'repositories' && parts.length >= 5 && (last === '_usage' || last === '_quota')) {
    const repo = assertRepositoryName(parts.slice(3, -1).join('/'));
    if (last === '_usage') {
      if (method !== 'GET') throw notAllowed(method, ['GET']);
      const reg = await managedRegistry(svc, principal, name, 'read', 'read the usage of');
      sendJson(ctx, 200, await svc.tiers.repositoryUsage(reg, repo));
      return true;
    }
    if (method !== 'PUT') throw notAllowed(method, ['PUT']);
    const reg = await managedRegistry(svc, principal, name, 'write', 'set storage quotas in');
    await svc.tiers.setRepositoryQuota(reg, repo, await quotaBody(ctx));
    sendJson(ctx, 200, await svc.tiers.repositoryUsage(reg, repo));
    return true;
  }
  return false;
}
