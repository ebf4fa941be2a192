import type { Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { readJson, sendJson, type Ctx, notAllowed } from '../context.js';

// Garbage collection (registered with registerApi in router.ts). GC spans the deployment (blobs are
// shared by every registry), so it takes deployment-level powers:
//   GET  /api/gc                 status: pending garbage, the running run, the last runs (read)
//   POST /api/gc/runs {dryRun}   dry run: 200 with the plan; else 202, the run goes on in the background (write)
//   GET  /api/gc/runs/<id>       one run's report (read)


export async function gcApi(ctx: Ctx, svc: Services, parts: string[], p: Principal): Promise<boolean> {
  if (parts[0] !== 'gc') return false;
  const method = ctx.req.method ?? 'GET';
  if (parts.length === 1) {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    await svc.auth.requirePower(p, null, 'read', 'see garbage collection status');
    sendJson(ctx, 200, await svc.gc.status());
    return true;
  }
  if (parts[1] === 'runs' && parts.length === 2) {
    if (method !== 'POST') throw notAllowed(method, ['POST']);
    await svc.auth.requirePower(p, null, 'write', 'run garbage collection');
    const body = await readJson(ctx, 4096);
    const extra = Object.keys(body).filter((k) => k !== 'dryRun');
    if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 60))}; allowed: dryRun`);
    if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new RegistryError('REQUEST_INVALID', '"dryRun" must be true or false');
    if (body.dryRun) {
      sendJson(ctx, 200, await svc.gc.run({ dryRun: true }));
    } else {
      const run = await svc.gc.start();
      ctx.res.setHeader('Location', `/api/gc/runs/${run.id}`);
      sendJson(ctx, 202, run);
    }
    return true;
  }
  if (parts[1] === 'runs' && parts.length === 3) {
    if (method !== 'GET') throw notAllowed(method, ['GET']);
    await svc.auth.requirePower(p, null, 'read', 'see garbage collection runs');
    const id = parts[2]!;
    if (!/^\d{1,15}$/.test(id)) throw new RegistryError('REQUEST_INVALID', `"${id.slice(0, 40)}" is not a run id`);
    const run = await svc.gc.report(Number(id));
    if (!run) throw new RegistryError('RESOURCE_UNKNOWN', `garbage collection run ${id} does not exist`);
    sendJson(ctx, 200, run);
    return true;
  }
  throw new RegistryError('NOT_FOUND', 'no management API here; use /api/gc, /api/gc/runs or /api/gc/runs/{id}');
}
