import { z } from 'zod';
import { countParam, json, noContent } from '../routes.js';
import { named, route } from './common.js';

// Webhooks of a registry (ACR's webhook resource: read power lists, write power manages):
//   GET|POST /api/registries/{r}/webhooks
//   GET|PATCH|DELETE /api/registries/{r}/webhooks/{name}
//   POST …/{name}/ping   GET|POST …/{name}/getCallbackConfig   GET|POST …/{name}/listEvents?n=   POST …/{name}/redeliver {eventId}

const WebhookBody = z.strictObject({
  name: z.string().optional(),
  serviceUri: z.string().optional(),
  scope: z.string().optional(),
  status: z.string().optional(),
  format: z.string().optional(),
  location: z.string({ error: '"location" must be a region name' }).max(64).optional(),
  actions: z.array(z.string(), { error: '"actions" must be an array of strings' }).optional(),
  customHeaders: z.record(z.string(), z.string(), { error: '"customHeaders" must be an object of strings' }).optional(),
});
const PatchBody = WebhookBody.extend({ name: z.never({ error: 'a webhook cannot be renamed' }).optional() });

export const webhookRoutes = [
  route('GET /api/registries/:reg/webhooks', {
    handler: async ({ svc, p, params }) =>
      json(200, { value: await svc.webhooks.list(await svc.access.registry(p, params.reg, 'read', 'read')) }),
  }),
  route('POST /api/registries/:reg/webhooks', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/webhooks/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/webhooks`, body?.name),
    },
    body: WebhookBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create webhooks in');
      const created = await svc.webhooks.create(reg, await body());
      return json(201, created, { Location: `/api/registries/${reg.name}/webhooks/${created.name}` });
    },
  }),
  route('GET /api/registries/:reg/webhooks/:name', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.webhooks.show(await svc.access.registry(p, params.reg, 'read', 'read'), params.name)),
  }),
  route('PATCH /api/registries/:reg/webhooks/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/webhooks/write' },
    body: PatchBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'update webhooks in');
      return json(200, await svc.webhooks.update(reg, params.name, await body()));
    },
  }),
  route('DELETE /api/registries/:reg/webhooks/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/webhooks/delete' },
    handler: async ({ svc, p, params }) => {
      await svc.webhooks.delete(await svc.access.registry(p, params.reg, 'write', 'delete webhooks in'), params.name);
      return noContent();
    },
  }),
  route('POST /api/registries/:reg/webhooks/:name/ping', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/webhooks/ping/action' },
    handler: async ({ svc, p, params }) =>
      json(202, await svc.webhooks.ping(await svc.access.registry(p, params.reg, 'write', 'ping webhooks of'), params.name)),
  }),
  route('POST|GET /api/registries/:reg/webhooks/:name/getCallbackConfig', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action' },
    handler: async ({ svc, p, params }) =>
      json(200, await svc.webhooks.config(await svc.access.registry(p, params.reg, 'write', 'read webhook configuration of'), params.name)),
  }),
  route('GET|POST /api/registries/:reg/webhooks/:name/listEvents', {
    query: z.object({ n: countParam(100, 1000) }),
    handler: async ({ svc, p, params, query }) =>
      json(200, { value: await svc.webhooks.events(await svc.access.registry(p, params.reg, 'read', 'read'), params.name, query.n) }),
  }),
  route('POST /api/registries/:reg/webhooks/:name/redeliver', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/webhooks/redeliver/action' },
    body: z.strictObject({ eventId: z.string({ error: 'give "eventId"' }).min(1, { error: 'give "eventId"' }) }),
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'redeliver webhook events of');
      return json(202, await svc.webhooks.redeliver(reg, params.name, (await body()).eventId));
    },
  }),
];
