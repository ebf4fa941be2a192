import { z } from 'zod';
import { RegistryError } from '../../domain/errors.js';
import { idParam, json } from '../routes.js';
import { named, route } from './common.js';

// Garbage collection. GC spans the deployment (blobs are shared by every registry), so it takes
// deployment-level powers:
//   GET  /api/gc                 status: pending garbage, the running run, the last runs (read)
//   POST /api/gc/runs {dryRun}   dry run: 200 with the plan; else 202, the run goes on in the background (write)
//   GET  /api/gc/runs/<id>       one run's report (read)

export const gcRoutes = [
  route('GET /api/gc', {
    handler: async ({ svc, p }) => {
      await svc.access.deployment(p, 'read', 'see garbage collection status');
      return json(200, await svc.gc.status());
    },
  }),
  route('POST /api/gc/runs', {
    activity: {
      operation: 'Berth/garbageCollection/run/action',
      resource: ({ reply }) => named('/gc/runs', (reply as { id?: unknown })?.id),
    },
    body: z.strictObject({ dryRun: z.boolean().optional() }),
    bodyLimit: 4096,
    handler: async ({ svc, p, body }) => {
      await svc.access.deployment(p, 'write', 'run garbage collection');
      if ((await body()).dryRun) return json(200, await svc.gc.run({ dryRun: true }));
      const run = await svc.gc.start();
      return json(202, run, { Location: `/api/gc/runs/${run.id}` });
    },
  }),
  route('GET /api/gc/runs/:id', {
    params: z.object({ id: idParam('a run id') }),
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'read', 'see garbage collection runs');
      const run = await svc.gc.report(params.id);
      if (!run) throw new RegistryError('RESOURCE_UNKNOWN', `garbage collection run ${params.id} does not exist`);
      return json(200, run);
    },
  }),
];
