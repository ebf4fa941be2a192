import { z } from 'zod';
import { describePrincipal } from '../../auth/service.js';
import { json, noContent } from '../routes.js';
import { route } from './common.js';

// Private endpoint connections (az acr private-endpoint-connection list|show|approve|reject|delete,
// and the creation az network private-endpoint create does; docs/private-endpoints.md):
//   GET|POST /api/registries/{r}/private-endpoint-connections          list | create {name, listen, requestMessage, manual, location} (write power)
//   GET|PUT|PATCH|DELETE /api/registries/{r}/private-endpoint-connections/{name}
//                                  PUT/PATCH {privateLinkServiceConnectionState: {status, description}} (ACR's body) or {status, description}

const CreateBody = z.strictObject({
  name: z.string({ error: 'a private endpoint needs a "name"' }),
  listen: z.string({ error: 'a private endpoint needs "listen": ADDRESS:PORT or unix:/path' }),
  requestMessage: z.string({ error: '"requestMessage" must be text' }).optional(),
  manual: z.boolean({ error: '"manual" must be true or false' }).optional(),
  location: z.string({ error: '"location" must be a region name' }).optional(),
});

const StateBody = z.strictObject({
  privateLinkServiceConnectionState: z
    .strictObject({
      status: z.string({ error: '"status" must be Approved, Rejected or Disconnected' }),
      description: z.string({ error: '"description" must be text' }).optional(),
      actionsRequired: z.string().optional(),
    })
    .optional(),
  status: z.string({ error: '"status" must be Approved, Rejected or Disconnected' }).optional(),
  description: z.string({ error: '"description" must be text' }).optional(),
});

const WRITE = 'Microsoft.ContainerRegistry/registries/privateEndpointConnections/write' as const;
const base = '/api/registries/:reg/private-endpoint-connections';

export const privateEndpointRoutes = [
  route(`GET ${base}`, {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the private endpoint connections of');
      return json(200, { value: await svc.privateEndpoints.list(reg) });
    },
  }),
  route(`POST ${base}`, {
    activity: {
      operation: WRITE,
      resource: ({ params, body }) =>
        typeof body?.name === 'string' && body.name ? `/registries/${params.reg}/privateEndpointConnections/${body.name}` : undefined,
    },
    body: CreateBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create private endpoints of');
      const v = await svc.privateEndpoints.create(reg, await body(), describePrincipal(p));
      return json(201, v, { Location: `/api/registries/${reg.name}/private-endpoint-connections/${v.name}` });
    },
  }),
  route(`GET ${base}/:name`, {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the private endpoint connections of');
      return json(200, await svc.privateEndpoints.show(reg, params.name));
    },
  }),
  route(`PUT|PATCH ${base}/:name`, {
    activity: { operation: WRITE },
    body: StateBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'approve or reject private endpoint connections of');
      const b = await body();
      const s = b.privateLinkServiceConnectionState;
      return json(200, await svc.privateEndpoints.setState(reg, params.name, s?.status ?? b.status, s?.description ?? b.description));
    },
  }),
  route(`DELETE ${base}/:name`, {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/privateEndpointConnections/delete' },
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'delete private endpoint connections of');
      await svc.privateEndpoints.delete(reg, params.name);
      return noContent();
    },
  }),
];
