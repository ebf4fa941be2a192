import { findRegistry } from './router.js';
import { describePrincipal, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { parseImportRequest, type ImportTarget } from '../../services/import/request.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Services } from '../../services/index.js';
import { caller } from '../auth.js';
import { readJson, sendJson, type Ctx, notAllowed } from '../context.js';

// Image import (ACR's importImage; registered with registerApi in router.ts):
//   POST /api/registries/<reg>/importImage {source, targetTags, untaggedTargetRepositories, mode}
//        -> 202 with the import (its id is the job's id) and Location /api/registries/<reg>/imports/<id>
//   GET  /api/registries/<reg>/imports/<id>   status and progress
//   GET  /api/registries/<reg>/imports        recent imports (registry read power)
// Starting an import needs push on every target repository (as pushing the image would); reading
// one needs the registry's read power or push on its targets. Credentials are never returned.


async function requirePush(svc: Services, p: Principal, reg: RegistryRow, targets: ImportTarget[]): Promise<void> {
  for (const repo of new Set(targets.map((t) => t.repository))) {
    if (!(await svc.auth.grant(p, reg, repo)).actions.has('push')) {
      throw new RegistryError('DENIED', `${describePrincipal(p)} is not allowed to push to ${reg.name}/${repo}, which importing there needs`);
    }
  }
}

export async function importsApi(ctx: Ctx, svc: Services, parts: string[], p: Principal): Promise<boolean> {
  if (parts[0] !== 'registries' || parts.length < 3 || (parts[2] !== 'importImage' && parts[2] !== 'imports')) return false;
  const method = ctx.req.method ?? 'GET';
  if (parts[2] === 'importImage') {
    if (parts.length !== 3) return false;
    if (method !== 'POST') throw notAllowed(method, ['POST']);
    const reg = await findRegistry(svc, p, parts[1]!, 'import into');
    const req = parseImportRequest(await readJson(ctx, 64 * 1024));
    await requirePush(svc, p, reg, req.targets);
    const id = await svc.imports.start(reg, req, { identity: describePrincipal(p), ip: caller(ctx).ip });
    const location = `/api/registries/${reg.name}/imports/${id}`;
    sendJson(ctx, 202, await svc.imports.view(reg, id), { Location: location, 'Azure-AsyncOperation': location });
    return true;
  }
  const reg = await findRegistry(svc, p, parts[1]!, 'import into');
  if (parts.length === 3 || (parts.length === 4 && parts[3] === '')) {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    await svc.auth.requirePower(p, reg.id, 'read', `list the imports of registry ${reg.name}`);
    const n = Math.min(1000, Number(ctx.url.searchParams.get('n') ?? 100) || 100);
    sendJson(ctx, 200, { value: await svc.imports.list(reg, n) });
    return true;
  }
  if (parts.length !== 4) return false;
  if (method !== 'GET') throw notAllowed(method, ['GET']);
  const id = Number(parts[3]);
  if (!/^\d{1,15}$/.test(parts[3]!)) throw new RegistryError('REQUEST_INVALID', `"${parts[3]!.slice(0, 40)}" is not an import id`);
  const targets = await svc.imports.targets(reg, id);
  if (!(await svc.auth.powers(p, reg.id)).has('read')) {
    if (!targets) throw new RegistryError('RESOURCE_UNKNOWN', `import ${id} does not exist in registry ${reg.name}`);
    await requirePush(svc, p, reg, targets);
  }
  const view = targets && (await svc.imports.view(reg, id));
  if (!view) throw new RegistryError('RESOURCE_UNKNOWN', `import ${id} does not exist in registry ${reg.name}`);
  sendJson(ctx, 200, view);
  return true;
}
