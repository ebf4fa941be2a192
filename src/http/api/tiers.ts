import { z } from 'zod';
import { json } from '../routes.js';
import { repositoryParams, route } from './common.js';

// Tier routes of the management API:
//   GET /api/registries/<reg>/usages                          az acr show-usage (Reader)
//   GET /api/registries/<reg>/usages/history?days=30          storage per day and pushes/pulls per day (Reader)
//   PUT /api/registries/<reg>/quota {storageQuotaBytes}        registry storage quota (write)
//   GET /api/registries/<reg>/repositories/<repo>/_usage      a repository's storage and quota (Reader)
//   PUT /api/registries/<reg>/repositories/<repo>/_quota {storageQuotaBytes}   (write)
// storageQuotaBytes null removes the quota.

const QuotaBody = z.strictObject({
  storageQuotaBytes: z
    .number({
      error: (iss) =>
        iss.input === undefined
          ? 'give "storageQuotaBytes": a whole number of bytes, or null to remove the quota'
          : `"storageQuotaBytes" must be a number or null, got ${JSON.stringify(iss.input)?.slice(0, 40)}`,
    })
    .nullable(),
});
const QUOTA_BODY_MAX = 16 * 1024;

export const tierRoutes = [
  route('GET /api/registries/:reg/usages', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.tiers.usages(await svc.access.registry(p, params.reg, 'read', 'read the usage of'))),
  }),
  route('GET /api/registries/:reg/usages/history', {
    query: z.object({
      days: z.coerce
        .number({ error: '"days" must be a whole number from 1 to 90' })
        .int({ error: '"days" must be a whole number from 1 to 90' })
        .min(1, { error: '"days" must be a whole number from 1 to 90' })
        .max(90, { error: '"days" must be a whole number from 1 to 90' })
        .default(30),
    }),
    handler: async ({ svc, p, params, query }) =>
      json(200, await svc.tiers.history(await svc.access.registry(p, params.reg, 'read', 'read the usage of'), query.days)),
  }),
  route('PUT /api/registries/:reg/quota', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/storageQuota/write' },
    body: QuotaBody,
    bodyLimit: QUOTA_BODY_MAX,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'set the storage quota of');
      await svc.tiers.setRegistryQuota(reg, (await body()).storageQuotaBytes);
      return json(200, await svc.tiers.usages(reg));
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_usage', {
    params: repositoryParams,
    handler: async ({ svc, p, params }) =>
      json(200, await svc.tiers.repositoryUsage(await svc.access.registry(p, params.reg, 'read', 'read the usage of'), params.repo)),
  }),
  route('PUT /api/registries/:reg/repositories/*repo/_quota', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/repositories/storageQuota/write' },
    params: repositoryParams,
    body: QuotaBody,
    bodyLimit: QUOTA_BODY_MAX,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'set storage quotas in');
      await svc.tiers.setRepositoryQuota(reg, params.repo, (await body()).storageQuotaBytes);
      return json(200, await svc.tiers.repositoryUsage(reg, params.repo));
    },
  }),
];
