import { z } from 'zod';
import { describePrincipal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { validateSpec } from '../../services/lifecycle/purge-spec.js';
import { fields, idParam, json, noContent } from '../routes.js';
import { named, policyState, route } from './common.js';

// Purge, purge schedules, the retention policy and immutability policies of a registry:
//   POST   /api/registries/{r}/purge                           {filters, ago, untagged, untaggedOnly, keep, concurrency, dryRun}
//          dryRun: 200 with the plan; else 202 {jobId} (a 'purge' job). Needs delete on every matching repository.
//   GET    /api/registries/{r}/purge/runs/{jobId}              state and result (the requester, or read power)
//   GET    /api/registries/{r}/purge/schedules                 (read)   POST {name, schedule, filters, ago, ...} (write)
//   GET|DELETE /api/registries/{r}/purge/schedules/{name}      POST .../{name}/run (write)
//   GET    /api/registries/{r}/retention                       PUT|PATCH {status, days, type} (write)
//   GET    /api/registries/{r}/immutability                    POST {name, repository, tag} (write)
//   GET|DELETE /api/registries/{r}/immutability/{name}
// The spec's meaning (filters, durations, ranges) is validateSpec's to check, for runs and schedules alike.

const SPEC_FIELDS = ['filters', 'ago', 'untagged', 'untaggedOnly', 'keep', 'concurrency'] as const;
const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/;
const NAME_NEEDED = 'a schedule needs a "name": 1-50 letters, digits, "-" or "_"';
const ScheduleBody = z.strictObject({
  name: z.string({ error: NAME_NEEDED }).regex(SCHEDULE_NAME, { error: NAME_NEEDED }),
  schedule: z.string({ error: 'give "schedule": a five-field cron expression in UTC, e.g. "0 0 * * *"' }),
  status: z.enum(['enabled', 'disabled'], { error: '"status" must be enabled or disabled' }).optional(),
  dryRun: z.never({ error: 'a schedule cannot be a dry run; run berth purge --dry-run to preview it' }).optional(),
  ...(Object.fromEntries(SPEC_FIELDS.map((k) => [k, z.unknown().optional()])) as Record<
    (typeof SPEC_FIELDS)[number],
    z.ZodOptional<z.ZodUnknown>
  >),
});
const ImmutabilityBody = z.strictObject({ name: z.string().optional(), repository: z.string().optional(), tag: z.string().optional() });

const runLink = (reg: Registry, jobId: number) => ({ Location: `/api/registries/${reg.name}/purge/runs/${jobId}` });

export const purgeRoutes = [
  route('POST /api/registries/:reg/purge', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/purge/action',
      resource: ({ params, reply }) => named(`/registries/${params.reg}/purge/runs`, (reply as { jobId?: unknown })?.jobId),
      reply: (b: { jobId?: number }) => (b.jobId ? { jobId: b.jobId } : {}),
    },
    body: fields(...SPEC_FIELDS, 'dryRun'),
    handler: async ({ svc, p, params, body }) => {
      const b = await body();
      const spec = validateSpec(b);
      const reg = await svc.access.find(p, params.reg, 'purge');
      // Purging deletes: the caller needs delete (AcrDelete, content/delete) on every repository it touches.
      const repos = await svc.purge.matchingRepositories(reg, spec);
      await svc.access.everyRepository(
        p,
        reg,
        repos,
        'delete',
        (who, r) => `${who} is not allowed to delete in ${reg.name}/${r}, which the filters match; narrow the filters or ask for AcrDelete`,
      );
      if (b.dryRun === true) return json(200, await svc.purge.run(reg, spec, { dryRun: true, only: repos }));
      const jobId = await svc.purge.enqueue(reg, spec, describePrincipal(p), repos);
      return json(202, { jobId, status: 'queued', repositories: repos.length }, runLink(reg, jobId));
    },
  }),
  route('GET /api/registries/:reg/purge/runs/:id', {
    params: z.object({ reg: z.string(), id: idParam('a job id') }),
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.find(p, params.reg, 'purge');
      const run = await svc.purge.job(reg, params.id);
      if (!run || !(await svc.access.requesterOrReader(p, reg, run.requestedBy)))
        throw new RegistryError('RESOURCE_UNKNOWN', `purge run ${params.id} does not exist in registry ${reg.name}`);
      return json(200, run);
    },
  }),
  route('GET /api/registries/:reg/purge/schedules', {
    handler: async ({ svc, p, params }) =>
      json(200, { value: await svc.purgeSchedules.list(await svc.access.registry(p, params.reg, 'read', 'read')) }),
  }),
  route('POST /api/registries/:reg/purge/schedules', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/purgeSchedules/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/purge/schedules`, body?.name),
    },
    body: ScheduleBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create purge schedules in');
      const { name, schedule, status, dryRun: _, ...spec } = await body();
      const created = await svc.purgeSchedules.create(reg, { name, schedule, status, spec });
      return json(201, created, { Location: `/api/registries/${reg.name}/purge/schedules/${created.name}` });
    },
  }),
  route('GET /api/registries/:reg/purge/schedules/:name', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.purgeSchedules.show(await svc.access.registry(p, params.reg, 'read', 'read'), params.name)),
  }),
  route('DELETE /api/registries/:reg/purge/schedules/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/purgeSchedules/delete' },
    handler: async ({ svc, p, params }) => {
      await svc.purgeSchedules.delete(await svc.access.registry(p, params.reg, 'write', 'delete purge schedules in'), params.name);
      return noContent();
    },
  }),
  route('POST /api/registries/:reg/purge/schedules/:name/run', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/purgeSchedules/run/action',
      reply: (b: { jobId: number }) => ({ jobId: b.jobId }),
    },
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'run purge schedules of');
      const jobId = await svc.purgeSchedules.run(reg, params.name);
      return json(202, { jobId, status: 'queued' }, runLink(reg, jobId));
    },
  }),
  route('GET /api/registries/:reg/retention', {
    handler: async ({ svc, p, params }) => json(200, await svc.retention.show(await svc.access.registry(p, params.reg, 'read', 'read'))),
  }),
  route('PUT|PATCH /api/registries/:reg/retention', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/retentionPolicy/write',
      state: async ({ svc, params }) => policyState(svc, params.reg, (reg) => svc.retention.show(reg)),
    },
    body: fields('status', 'days', 'type'),
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'set the retention policy of');
      return json(200, await svc.retention.update(reg, await body()));
    },
  }),
  route('GET /api/registries/:reg/immutability', {
    handler: async ({ svc, p, params }) =>
      json(200, { value: await svc.immutability.list(await svc.access.registry(p, params.reg, 'read', 'read')) }),
  }),
  route('POST /api/registries/:reg/immutability', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/immutabilityPolicies/write',
      resource: ({ params, reply }) => named(`/registries/${params.reg}/immutability`, (reply as { name?: unknown })?.name),
    },
    body: ImmutabilityBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'add immutability policies to');
      const created = await svc.immutability.add(reg, await body());
      return json(201, created, { Location: `/api/registries/${reg.name}/immutability/${created.name}` });
    },
  }),
  route('GET /api/registries/:reg/immutability/:name', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.immutability.show(await svc.access.registry(p, params.reg, 'read', 'read'), params.name)),
  }),
  route('DELETE /api/registries/:reg/immutability/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/immutabilityPolicies/delete' },
    handler: async ({ svc, p, params }) => {
      await svc.immutability.remove(await svc.access.registry(p, params.reg, 'write', 'remove immutability policies from'), params.name);
      return noContent();
    },
  }),
];
