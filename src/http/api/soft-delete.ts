import { z } from 'zod';
import { pageLink } from '../context.js';
import { fields, json, pageQuery } from '../routes.js';
import { policyState, repositoryParams, route } from './common.js';

// Soft delete routes of the management API:
//   GET|PATCH /api/registries/<reg>/softDeletePolicy {status, retentionDays}   az acr config soft-delete show|update
//   GET  /api/registries/<reg>/deletedRepositories                            az acr repository list-deleted
//   GET  /api/registries/<reg>/repositories/<repo>/_deleted[?n=&last=]        az acr manifest list-deleted
//   GET  /api/registries/<reg>/repositories/<repo>/_deletedTags[?tag=&n=&last=]  az acr manifest list-deleted-tags
//   POST /api/registries/<reg>/repositories/<repo>/_restore {tag?, digest?, force?}   az acr manifest restore
// The policy needs the registry read (show) or write (update) power; the bin is read with
// metadata_read on the repository (or registry read) and restored with push (content/write),
// like ACR's registries/deleted/read and registries/deleted/restore/action.

const SMALL = 16 * 1024;
const BinQuery = pageQuery(1000)
  .extend({ tag: z.string().optional() })
  .transform((q) => ({ ...q, n: q.n || 1000 }));
/** The next page of a bin listing: a query string for the same path. */
const next = (q: z.output<typeof BinQuery>, last: string | undefined) =>
  last ? { nextLink: pageLink('', { n: q.n, tag: q.tag || undefined, last }) } : {};
const RestoreBody = z.strictObject({ tag: z.string().optional(), digest: z.string().optional(), force: z.boolean().optional() });

export const softDeleteRoutes = [
  route('GET /api/registries/:reg/softDeletePolicy', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.softDelete.policy(await svc.access.registry(p, params.reg, 'read', 'read the soft delete policy of'))),
  }),
  route('PATCH|PUT /api/registries/:reg/softDeletePolicy', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/softDeletePolicy/write',
      state: ({ svc, params }) => policyState(svc, params.reg, (reg) => svc.softDelete.policy(reg)),
    },
    body: fields('status', 'retentionDays'),
    bodyLimit: SMALL,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'change the soft delete policy of');
      return json(200, await svc.softDelete.updatePolicy(reg, await body()));
    },
  }),
  route('GET /api/registries/:reg/deletedRepositories', {
    handler: async ({ svc, p, params }) =>
      json(200, {
        value: await svc.softDelete.listDeletedRepositories(await svc.access.catalog(p, params.reg, 'the deleted repositories of')),
      }),
  }),
  route('GET /api/registries/:reg/repositories/*repo/_deleted', {
    params: repositoryParams,
    query: BinQuery,
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['metadata_read']);
      const page = await svc.softDelete.listDeletedManifests(reg, params.repo, query.n, query.last);
      return json(200, { registry: reg.name, imageName: params.repo, value: page.items, ...next(query, page.next) });
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_deletedTags', {
    params: repositoryParams,
    query: BinQuery,
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['metadata_read']);
      const page = await svc.softDelete.listDeletedTags(reg, params.repo, query.tag, query.n, query.last);
      return json(200, { registry: reg.name, imageName: params.repo, value: page.items, ...next(query, page.next) });
    },
  }),
  route('POST /api/registries/:reg/repositories/*repo/_restore', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/deleted/restore/action' },
    params: repositoryParams,
    body: RestoreBody,
    bodyLimit: SMALL,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['push']);
      return json(200, await svc.softDelete.restore(reg, params.repo, await body()));
    },
  }),
];
