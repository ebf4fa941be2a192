import { z } from 'zod';
import { countParam, idParam, json } from '../routes.js';
import { route } from './common.js';

// The job queue, for operators: GET /api/jobs[?state=&kind=&n=], GET /api/jobs/{id},
// POST /api/jobs/{id}/retry (deployment-wide read to look, write to retry).

const JobParams = z.object({ id: idParam('a job id') });

export const jobRoutes = [
  route('GET /api/jobs', {
    query: z.object({ state: z.string().optional(), kind: z.string().optional(), n: countParam(100, 1000) }),
    handler: async ({ svc, p, query }) => {
      await svc.access.deployment(p, 'read', 'list jobs');
      return json(200, { value: await svc.jobAdmin.list({ state: query.state, kind: query.kind, limit: query.n }) });
    },
  }),
  route('GET /api/jobs/:id', {
    params: JobParams,
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'read', 'show jobs');
      return json(200, await svc.jobAdmin.get(params.id));
    },
  }),
  route('POST /api/jobs/:id/retry', {
    activity: { operation: 'Berth/jobs/retry/action' },
    params: JobParams,
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'write', 'retry jobs');
      return json(200, await svc.jobAdmin.retry(params.id));
    },
  }),
];
