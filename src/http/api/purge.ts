import { describePrincipal, type Principal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { CronError } from '../../jobs/cron.js';
import type { ScheduleRow } from '../../jobs/scheduler.js';
import type { RegistryRow } from '../../meta/store.js';
import type { Services } from '../../services/index.js';
import { validateSpec, type PurgeSpec } from '../../services/lifecycle/purge.js';
import { readJson, send, sendJson, type Ctx, notAllowed } from '../context.js';
import { findRegistry, managedRegistry, type ApiOptions } from './router.js';

// Purge, purge schedules, the retention policy and immutability policies of a registry:
//   POST   /api/registries/{r}/purge                           {filters, ago, untagged, untaggedOnly, keep, concurrency, dryRun}
//          dryRun: 200 with the plan; else 202 {jobId} (a 'purge' job). Needs delete on every matching repository.
//   GET    /api/registries/{r}/purge/runs/{jobId}              state and result (the requester, or read power)
//   GET    /api/registries/{r}/purge/schedules                 (read)   POST {name, schedule, filters, ago, ...} (write)
//   GET|DELETE /api/registries/{r}/purge/schedules/{name}      POST .../{name}/run (write)
//   GET    /api/registries/{r}/retention                       PUT|PATCH {status, days, type} (write)
//   GET    /api/registries/{r}/immutability                    POST {name, repository, tag} (write)
//   GET|DELETE /api/registries/{r}/immutability/{name}


const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/;

export function scheduleView(s: ScheduleRow) {
  const spec = JSON.parse(s.payload).spec as PurgeSpec;
  return {
    name: s.name, schedule: s.cron, status: s.status, filters: spec.filters, ago: spec.ago, untagged: !!spec.untagged, untaggedOnly: !!spec.untaggedOnly,
    keep: spec.keep ?? 0, nextRunTime: s.next_run_at, lastRunTime: s.last_run_at, lastJobId: s.last_job_id === null ? null : Number(s.last_job_id), createdTime: s.created_at,
  };
}

async function purge(ctx: Ctx, svc: Services, p: Principal, regName: string): Promise<void> {
  const body = await readJson(ctx);
  const spec = validateSpec(body);
  const reg = await findRegistry(svc, p, regName, 'purge');
  // Purging deletes: the caller needs delete (AcrDelete, content/delete) on every repository it touches.
  const repos = await svc.purge.matchingRepositories(reg, spec);
  for (const r of repos) {
    if (!(await svc.auth.grant(p, reg, r)).actions.has('delete')) {
      throw new RegistryError('DENIED', `${describePrincipal(p)} is not allowed to delete in ${reg.name}/${r}, which the filters match; narrow the filters or ask for AcrDelete`);
    }
  }
  if (body.dryRun === true) return sendJson(ctx, 200, await svc.purge.run(reg, spec, { dryRun: true, only: repos }));
  const jobId = await svc.purge.enqueue(reg, spec, describePrincipal(p), repos);
  return sendJson(ctx, 202, { jobId, status: 'queued', repositories: repos.length }, { Location: `/api/registries/${reg.name}/purge/runs/${jobId}` });
}

async function schedules(ctx: Ctx, svc: Services, p: Principal, regName: string, name: string | undefined, verb: string | undefined): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  if (name === undefined || name === '') {
    if (method === 'GET') {
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      return sendJson(ctx, 200, { value: (await svc.scheduler.list(reg.id, 'purge')).map(scheduleView) });
    }
    if (method !== 'POST') throw notAllowed(method, ['GET', 'POST']);
    const reg = await managedRegistry(svc, p, regName, 'write', 'create purge schedules in');
    const { name: n, schedule, status, ...rest } = await readJson(ctx);
    if (typeof n !== 'string' || !SCHEDULE_NAME.test(n)) throw new RegistryError('REQUEST_INVALID', 'a schedule needs a "name": 1-50 letters, digits, "-" or "_"');
    if (typeof schedule !== 'string') throw new RegistryError('REQUEST_INVALID', 'give "schedule": a five-field cron expression in UTC, e.g. "0 0 * * *"');
    if (status !== undefined && status !== 'enabled' && status !== 'disabled') throw new RegistryError('REQUEST_INVALID', '"status" must be enabled or disabled');
    if ('dryRun' in rest) throw new RegistryError('REQUEST_INVALID', 'a schedule cannot be a dry run; run berth purge --dry-run to preview it');
    const spec = validateSpec(rest);
    let row: ScheduleRow | undefined;
    try {
      row = await svc.scheduler.create({ registryId: reg.id, kind: 'purge', name: n, cron: schedule, payload: { spec }, status: status as 'enabled' | 'disabled' | undefined });
    } catch (e) {
      if (e instanceof CronError) throw new RegistryError('REQUEST_INVALID', `"schedule": ${e.message}`);
      throw e;
    }
    if (!row) throw new RegistryError('CONFLICT', `purge schedule "${n}" already exists in registry ${reg.name}`);
    return sendJson(ctx, 201, scheduleView(row), { Location: `/api/registries/${reg.name}/purge/schedules/${row.name}` });
  }
  const find = async (reg: RegistryRow) => {
    const row = await svc.scheduler.get(reg.id, 'purge', name);
    if (!row) throw new RegistryError('RESOURCE_UNKNOWN', `purge schedule "${name}" does not exist in registry ${reg.name}`);
    return row;
  };
  if (verb === undefined) {
    if (method === 'GET') return sendJson(ctx, 200, scheduleView(await find(await managedRegistry(svc, p, regName, 'read', 'read'))));
    if (method !== 'DELETE') throw notAllowed(method, ['GET', 'DELETE']);
    const reg = await managedRegistry(svc, p, regName, 'write', 'delete purge schedules in');
    await find(reg);
    await svc.scheduler.delete(reg.id, 'purge', name);
    return send(ctx, 204, {});
  }
  if (verb !== 'run') throw new RegistryError('NOT_FOUND', `unknown purge schedule action "${verb.slice(0, 40)}"; use run`);
  if (method !== 'POST') throw notAllowed(method, ['POST']);
  const reg = await managedRegistry(svc, p, regName, 'write', 'run purge schedules of');
  const jobId = await svc.scheduler.runNow(await find(reg));
  return sendJson(ctx, 202, { jobId, status: 'queued' }, { Location: `/api/registries/${reg.name}/purge/runs/${jobId}` });
}

export async function purgeApi(ctx: Ctx, svc: Services, parts: string[], p: Principal, _opts: ApiOptions): Promise<boolean> {
  if (parts[0] !== 'registries' || parts.length < 3) return false;
  const area = parts[2];
  if (area !== 'purge' && area !== 'retention' && area !== 'immutability') return false;
  const method = ctx.req.method ?? 'GET';
  const regName = parts[1]!;

  if (area === 'purge') {
    if (parts.length === 3) {
      if (method !== 'POST') throw notAllowed(method, ['POST']);
      await purge(ctx, svc, p, regName);
      return true;
    }
    if (parts[3] === 'schedules' && parts.length <= 6) {
      await schedules(ctx, svc, p, regName, parts[4], parts[5]);
      return true;
    }
    if (parts[3] === 'runs' && parts.length === 5) {
      if (method !== 'GET') throw notAllowed(method, ['GET']);
      const id = parts[4]!;
      if (!/^\d{1,15}$/.test(id)) throw new RegistryError('REQUEST_INVALID', `"${id.slice(0, 40)}" is not a job id`);
      const reg = await findRegistry(svc, p, regName, 'purge');
      const run = await svc.purge.job(reg, Number(id));
      if (!run || (run.requestedBy !== describePrincipal(p) && !(await svc.auth.powers(p, reg.id)).has('read'))) {
        throw new RegistryError('RESOURCE_UNKNOWN', `purge run ${id} does not exist in registry ${reg.name}`);
      }
      sendJson(ctx, 200, run);
      return true;
    }
    throw new RegistryError('NOT_FOUND', 'unknown purge resource; use /purge, /purge/runs/{id} or /purge/schedules[/{name}[/run]]');
  }

  if (area === 'retention') {
    if (parts.length !== 3) throw new RegistryError('NOT_FOUND', 'use /api/registries/{name}/retention');
    if (method === 'GET') {
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      sendJson(ctx, 200, await svc.retention.show(reg));
      return true;
    }
    if (method !== 'PUT' && method !== 'PATCH') throw notAllowed(method, ['GET', 'PUT', 'PATCH']);
    const reg = await managedRegistry(svc, p, regName, 'write', 'set the retention policy of');
    sendJson(ctx, 200, await svc.retention.update(reg, await readJson(ctx)));
    return true;
  }

  // immutability
  const name = parts[3];
  if (parts.length > 4) throw new RegistryError('NOT_FOUND', 'use /api/registries/{name}/immutability[/{policy}]');
  if (name === undefined || name === '') {
    if (method === 'GET') {
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      sendJson(ctx, 200, { value: await svc.immutability.list(reg) });
      return true;
    }
    if (method !== 'POST') throw notAllowed(method, ['GET', 'POST']);
    const reg = await managedRegistry(svc, p, regName, 'write', 'add immutability policies to');
    const b = await readJson(ctx);
    const extra = Object.keys(b).filter((k) => !['name', 'repository', 'tag'].includes(k));
    if (extra.length) throw new RegistryError('REQUEST_INVALID', `unknown field ${JSON.stringify(extra[0]!.slice(0, 40))}; allowed: name, repository, tag`);
    for (const k of ['name', 'repository', 'tag']) if (b[k] !== undefined && typeof b[k] !== 'string') throw new RegistryError('REQUEST_INVALID', `"${k}" must be a string`);
    const created = await svc.immutability.add(reg, b as { name?: string; repository?: string; tag?: string });
    sendJson(ctx, 201, created, { Location: `/api/registries/${reg.name}/immutability/${created.name}` });
    return true;
  }
  if (method === 'GET') {
    const reg = await managedRegistry(svc, p, regName, 'read', 'read');
    sendJson(ctx, 200, await svc.immutability.show(reg, name));
    return true;
  }
  if (method !== 'DELETE') throw notAllowed(method, ['GET', 'DELETE']);
  const reg = await managedRegistry(svc, p, regName, 'write', 'remove immutability policies from');
  await svc.immutability.remove(reg, name);
  send(ctx, 204, {});
  return true;
}
