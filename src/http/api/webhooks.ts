import { RegistryError } from '../../domain/errors.js';
import { jobView } from '../../jobs/queue.js';
import type { Principal } from '../../auth/service.js';
import type { Services } from '../../services/index.js';
import type { WebhookInput } from '../../services/webhooks/webhooks.js';
import { readJson, send, sendJson, type Ctx, notAllowed } from '../context.js';
import { managedRegistry, type ApiOptions } from './router.js';

// /api/registries/{r}/webhooks[/{name}[/ping|getCallbackConfig|listEvents|redeliver]] (ACR's
// webhook resource: read power lists, write power manages) and /api/jobs[/{id}[/retry]] for
// operators (deployment-wide read to look, write to retry).


function input(body: Record<string, unknown>): WebhookInput {
  const out: WebhookInput = {};
  const str = (k: string) => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new RegistryError('REQUEST_INVALID', `"${k}" must be a string`);
    return v;
  };
  if (body.name !== undefined) out.name = str('name');
  if (body.serviceUri !== undefined) out.serviceUri = str('serviceUri');
  if (body.scope !== undefined) out.scope = str('scope');
  if (body.status !== undefined) out.status = str('status');
  if (body.format !== undefined) out.format = str('format');
  if (body.actions !== undefined) {
    if (!Array.isArray(body.actions) || body.actions.some((a) => typeof a !== 'string')) throw new RegistryError('REQUEST_INVALID', '"actions" must be an array of strings');
    out.actions = body.actions as string[];
  }
  if (body.customHeaders !== undefined) {
    const h = body.customHeaders;
    if (!h || typeof h !== 'object' || Array.isArray(h) || Object.values(h).some((v) => typeof v !== 'string')) throw new RegistryError('REQUEST_INVALID', '"customHeaders" must be an object of strings');
    out.customHeaders = h as Record<string, string>;
  }
  return out;
}

export async function webhooksApi(ctx: Ctx, svc: Services, parts: string[], p: Principal, _opts: ApiOptions): Promise<boolean> {
  const method = ctx.req.method ?? 'GET';
  if (parts[0] === 'jobs') {
    const [, id, verb] = parts;
    if (id === undefined || id === '') {
      if (method !== 'GET') throw notAllowed(method, ['GET']);
      await svc.auth.requirePower(p, null, 'read', 'list jobs');
      const q = ctx.url.searchParams;
      const rows = await svc.jobs.list({ state: q.get('state') ?? undefined, kind: q.get('kind') ?? undefined, limit: Math.min(1000, Number(q.get('n') ?? 100) || 100) });
      sendJson(ctx, 200, { value: rows.map(jobView) });
      return true;
    }
    const n = Number(id);
    if (!/^\d+$/.test(id) || !Number.isSafeInteger(n)) throw new RegistryError('REQUEST_INVALID', `"${id.slice(0, 40)}" is not a job id`);
    if (verb === undefined) {
      if (method !== 'GET') throw notAllowed(method, ['GET']);
      await svc.auth.requirePower(p, null, 'read', 'show jobs');
      const j = await svc.jobs.get(n);
      if (!j) throw new RegistryError('RESOURCE_UNKNOWN', `job ${n} does not exist`);
      sendJson(ctx, 200, jobView(j));
      return true;
    }
    if (verb === 'retry' && parts.length === 3) {
      if (method !== 'POST') throw notAllowed(method, ['POST']);
      await svc.auth.requirePower(p, null, 'write', 'retry jobs');
      const j = await svc.jobs.get(n);
      if (!j) throw new RegistryError('RESOURCE_UNKNOWN', `job ${n} does not exist`);
      if (j.state === 'running') throw new RegistryError('CONFLICT', `job ${n} is running`);
      sendJson(ctx, 200, jobView((await svc.jobs.retry(n))!));
      return true;
    }
    throw new RegistryError('NOT_FOUND', 'no management API here; use /api/jobs, /api/jobs/{id} or /api/jobs/{id}/retry');
  }

  if (parts[0] !== 'registries' || parts[2] !== 'webhooks' || parts.length < 3) return false;
  const regName = parts[1]!;
  const name = parts[3];
  const verb = parts[4];
  const wh = svc.webhooks;
  if (name === undefined || name === '') {
    if (method === 'GET') {
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      sendJson(ctx, 200, { value: await wh.list(reg) });
      return true;
    }
    if (method === 'POST') {
      const reg = await managedRegistry(svc, p, regName, 'write', 'create webhooks in');
      const created = await wh.create(reg, input(await readJson(ctx)));
      sendJson(ctx, 201, created, { Location: `/api/registries/${reg.name}/webhooks/${created.name}` });
      return true;
    }
    throw notAllowed(method, ['GET', 'POST']);
  }
  if (verb === undefined) {
    if (method === 'GET') {
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      sendJson(ctx, 200, await wh.show(reg, name));
      return true;
    }
    if (method === 'PATCH') {
      const reg = await managedRegistry(svc, p, regName, 'write', 'update webhooks in');
      const body = input(await readJson(ctx));
      if (body.name !== undefined) throw new RegistryError('REQUEST_INVALID', 'a webhook cannot be renamed');
      sendJson(ctx, 200, await wh.update(reg, name, body));
      return true;
    }
    if (method === 'DELETE') {
      const reg = await managedRegistry(svc, p, regName, 'write', 'delete webhooks in');
      await wh.delete(reg, name);
      send(ctx, 204, {});
      return true;
    }
    throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);
  }
  if (parts.length !== 5) throw new RegistryError('NOT_FOUND', 'unknown webhook resource');
  switch (verb) {
    case 'getCallbackConfig': {
      if (method !== 'POST' && method !== 'GET') throw notAllowed(method, ['POST']);
      const reg = await managedRegistry(svc, p, regName, 'write', 'read webhook configuration of');
      sendJson(ctx, 200, await wh.config(reg, name));
      return true;
    }
    case 'ping': {
      if (method !== 'POST') throw notAllowed(method, ['POST']);
      const reg = await managedRegistry(svc, p, regName, 'write', 'ping webhooks of');
      sendJson(ctx, 202, await wh.ping(reg, name));
      return true;
    }
    case 'listEvents': {
      if (method !== 'POST' && method !== 'GET') throw notAllowed(method, ['GET', 'POST']);
      const reg = await managedRegistry(svc, p, regName, 'read', 'read');
      sendJson(ctx, 200, { value: await wh.events(reg, name, Math.min(1000, Number(ctx.url.searchParams.get('n') ?? 100) || 100)) });
      return true;
    }
    case 'redeliver': {
      if (method !== 'POST') throw notAllowed(method, ['POST']);
      const reg = await managedRegistry(svc, p, regName, 'write', 'redeliver webhook events of');
      const body = await readJson(ctx);
      if (typeof body.eventId !== 'string' || !body.eventId) throw new RegistryError('REQUEST_INVALID', 'give "eventId"');
      sendJson(ctx, 202, await wh.redeliver(reg, name, body.eventId));
      return true;
    }
    default:
      throw new RegistryError('NOT_FOUND', `unknown webhook action "${verb.slice(0, 40)}"; use ping, getCallbackConfig, listEvents or redeliver`);
  }
}
