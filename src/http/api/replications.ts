import { z } from 'zod';
import { RegistryError } from '../../domain/errors.js';
import type { ReplicaView } from '../../services/replication/replication.js';
import { json, noContent } from '../routes.js';
import { route } from './common.js';

// Geo-replication (az acr replication create|list|show|update|delete):
//   GET /api/regions                                       the deployment's regions, and the one serving this request
//   GET|POST /api/registries/{r}/replications              list (the home replica first) | create {location, regionEndpointEnabled, zoneRedundancy, tags}
//   GET|PUT|PATCH|DELETE /api/registries/{r}/replications/{location}
// A replica shows ACR's fields plus Berth's lag: status.displayStatus Ready|Syncing|Disabled,
// lagSeconds (age of the oldest image not yet complete there), pendingManifests, pendingBlobs, pendingBytes.

const Body = z.strictObject({
  location: z.string({ error: '"location" must be a region name' }).max(64).optional(),
  name: z.string().max(64).optional(),
  regionEndpointEnabled: z.boolean({ error: '"regionEndpointEnabled" must be true or false' }).optional(),
  /** az acr's newer name for regionEndpointEnabled. */
  globalEndpointRouting: z.boolean({ error: '"globalEndpointRouting" must be true or false' }).optional(),
  zoneRedundancy: z.enum(['Enabled', 'Disabled'], { error: '"zoneRedundancy" is Enabled or Disabled' }).optional(),
  tags: z.record(z.string().max(256), z.string().max(256), { error: '"tags" is an object of strings' }).optional(),
});

type BodyIn = z.infer<typeof Body>;

const settings = (b: BodyIn) => ({
  ...(b.regionEndpointEnabled !== undefined || b.globalEndpointRouting !== undefined
    ? { regionEndpointEnabled: b.regionEndpointEnabled ?? b.globalEndpointRouting }
    : {}),
  ...(b.zoneRedundancy !== undefined ? { zoneRedundancy: b.zoneRedundancy } : {}),
  ...(b.tags !== undefined ? { tags: b.tags } : {}),
});

/** ACR's replication resource, with Berth's lag fields (also under status). */
export function replicaJson(registry: string, v: ReplicaView) {
  const displayStatus = !v.regionEndpointEnabled ? 'Disabled' : v.backlog.manifests > 0 || v.backfilling ? 'Syncing' : 'Ready';
  const lag = {
    lagSeconds: v.lagSeconds,
    pendingManifests: v.backlog.manifests,
    pendingBlobs: v.backlog.blobs,
    pendingBytes: v.backlog.bytes,
  };
  return {
    id: `/registries/${registry}/replications/${v.location}`,
    name: v.location,
    type: 'Microsoft.ContainerRegistry/registries/replications',
    location: v.location,
    home: v.home,
    provisioningState: 'Succeeded',
    regionEndpointEnabled: v.regionEndpointEnabled,
    zoneRedundancy: v.zoneRedundancy,
    ...(v.url ? { regionEndpoint: v.url } : {}),
    status: {
      displayStatus,
      message:
        displayStatus === 'Syncing' && v.backfilling
          ? `what the registry holds is being queued for this new replica (${v.backlog.manifests} image(s) so far)`
          : displayStatus === 'Syncing'
            ? `${v.backlog.manifests} image(s) still being copied here (${v.backlog.blobs} blobs, ${v.backlog.bytes} bytes), the oldest for ${v.lagSeconds} s`
            : displayStatus === 'Disabled'
              ? 'global endpoint routing is off for this replica; it still replicates and serves its regional endpoint'
              : 'every image is complete in this region',
      // Since when the status holds: the oldest waiting image, else the replica's last change.
      timestamp: displayStatus === 'Syncing' && v.backlog.oldest ? v.backlog.oldest : v.updatedAt,
      ...lag,
    },
    ...lag,
    tags: v.tags,
    creationDate: v.createdAt,
  };
}

export const replicationRoutes = [
  route('GET /api/regions', {
    handler: ({ svc }) =>
      Promise.resolve(
        json(200, {
          value: svc.replication.regions.map((r) => ({ name: r.name, ...(r.url ? { url: r.url } : {}) })),
          serving: svc.replication.localRegion,
        }),
      ),
  }),
  route('GET /api/registries/:reg/replications', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'list the replications of');
      return json(200, { value: (await svc.replication.list(reg)).map((v) => replicaJson(reg.name, v)) });
    },
  }),
  route('POST /api/registries/:reg/replications', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/replications/write',
      resource: ({ params, body }) =>
        typeof body?.location === 'string' && body.location ? `/registries/${params.reg}/replications/${body.location}` : undefined,
    },
    body: Body,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create replications in');
      const b = await body();
      const location = b.location ?? b.name ?? '';
      if (!location) throw new RegistryError('REQUEST_INVALID', 'a replication needs a "location" (a region name)');
      const v = await svc.replication.create(reg, location, settings(b));
      return json(201, replicaJson(reg.name, v), { Location: `/api/registries/${reg.name}/replications/${v.location}` });
    },
  }),
  route('GET /api/registries/:reg/replications/:location', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the replications of');
      return json(200, replicaJson(reg.name, await svc.replication.show(reg, params.location)));
    },
  }),
  route('PUT /api/registries/:reg/replications/:location', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/replications/write' },
    body: Body,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create replications in');
      const b = await body();
      if (b.location !== undefined && b.location !== params.location)
        throw new RegistryError('REQUEST_INVALID', `the body's location ${b.location} is not the URL's ${params.location}`);
      const existing = await svc.replication.isReplica(reg, params.location);
      const v = existing
        ? await svc.replication.update(reg, params.location, settings(b))
        : await svc.replication.create(reg, params.location, settings(b));
      return json(existing ? 200 : 201, replicaJson(reg.name, v));
    },
  }),
  route('PATCH /api/registries/:reg/replications/:location', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/replications/write' },
    body: Body,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'update replications in');
      return json(200, replicaJson(reg.name, await svc.replication.update(reg, params.location, settings(await body()))));
    },
  }),
  route('DELETE /api/registries/:reg/replications/:location', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/replications/delete' },
    handler: async ({ svc, p, params }) => {
      await svc.replication.delete(await svc.access.registry(p, params.reg, 'write', 'delete replications in'), params.location);
      return noContent();
    },
  }),
];
