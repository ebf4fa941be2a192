import { z } from 'zod';
import { RegistryError } from '../../domain/errors.js';
import { jobView } from '../../jobs/queue.js';
import { countParam, idParam, json } from '../routes.js';
import { route } from './common.js';

// The job queue, for operators: GET /api/jobs[?state=&kind=&n=], GET /api/jobs/{id},
// POST /api/jobs/{id}/retry (deployment-wide read to look, write to retry).

const JobParams = z.object({ id: idParam('a job id') });

const unknownJob = (id: number) => new RegistryError('RESOURCE_UNKNOWN', `job ${id} does not exist`);

export const jobRoutes = [
  route('GET /api/jobs', {
    query: z.object({ state: z.string().optional(), kind: z.string().optional(), n: countParam(100, 1000) }),
    handler: async ({ svc, p, query }) => {
      await svc.access.deployment(p, 'read', 'list jobs');
      return json(200, { value: (await svc.jobs.list({ state: query.state, kind: query.kind, limit: query.n })).map(jobView) });
    },
  }),
  route('GET /api/jobs/:id', {
    params: JobParams,
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'read', 'show jobs');
      const j = await svc.jobs.get(params.id);
      if (!j) throw unknownJob(params.id);
      return json(200, jobView(j));
    },
  }),
  route('POST /api/jobs/:id/retry', {
    params: JobParams,
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'write', 'retry jobs');
      const j = await svc.jobs.get(params.id);
      if (!j) throw unknownJob(params.id);
      if (j.state === 'running') throw new RegistryError('CONFLICT', `job ${params.id} is running`);
      return json(200, jobView((await svc.jobs.retry(params.id))!));
    },
  }),
];
