import { z } from 'zod';
import { describePrincipal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import { FINAL_STATUSES } from '../../domain/tasks/model.js';
import { contentLength } from '../context.js';
import { countParam, json, noContent, text as textReply } from '../routes.js';
import { named, route } from './common.js';

// Tasks and runs (ACR Tasks; read power lists and reads, write power creates, runs and cancels):
//   GET|POST /api/registries/{r}/tasks              GET|PATCH|DELETE …/tasks/{name}[?withSecureProperties=true]
//   POST|PATCH|DELETE …/tasks/{name}/timers[/{timer}]   GET|POST|PATCH|DELETE …/tasks/{name}/credentials[/{server}]
//   POST …/listBuildSourceUploadUrl → {uploadUrl, relativePath}; PUT {uploadUrl} with the context (tar.gz)
//   POST …/scheduleRun {type: DockerBuildRequest|FileTaskRunRequest|EncodedTaskRunRequest|TaskRunRequest, …} → 202 run
//   GET …/runs[?top=&status=&task=]   GET|PATCH|DELETE …/runs/{runId}   POST …/runs/{runId}/cancel
//   GET|POST …/agentPools   GET|PATCH|DELETE …/agentPools/{name}   POST …/agentPools/{name}/listQueueStatus
//   GET …/runs/{runId}/logs[?follow=true]: text/plain, or with follow a server-sent event stream until the run ends

const NameValues = z
  .array(z.strictObject({ name: z.string(), value: z.string(), isSecret: z.boolean().optional() }), {
    error: 'give a list of {name, value, isSecret}',
  })
  .max(100, { error: 'at most 100 arguments or values' });

const TaskBody = z.strictObject({
  name: z.string().optional(),
  contextPath: z.string().max(2048).optional(),
  file: z.string().optional(),
  cmd: z.string().max(4096).optional(),
  encodedTask: z.string().max(400_000).optional(),
  imageNames: z.array(z.string()).optional(),
  arguments: NameValues.optional(),
  values: NameValues.optional(),
  timeout: z.number().optional(),
  platform: z.string().optional(),
  status: z.string().optional(),
  isPushEnabled: z.boolean().optional(),
  noCache: z.boolean().optional(),
  target: z.string().max(128).optional(),
  gitAccessToken: z.string().max(4096).optional(),
  commitTriggerEnabled: z.boolean().optional(),
  pullRequestTriggerEnabled: z.boolean().optional(),
  sourceTriggerPoll: z.boolean().optional(),
  baseImageTriggerEnabled: z.boolean().optional(),
  baseImageTriggerType: z.string().optional(),
  timers: z
    .array(z.strictObject({ name: z.string(), schedule: z.string(), status: z.string().optional() }))
    .max(20)
    .optional(),
  agentPoolName: z.string().max(64).optional(),
});

const RunBody = z.strictObject({
  type: z.enum(['DockerBuildRequest', 'FileTaskRunRequest', 'EncodedTaskRunRequest', 'TaskRunRequest'], {
    error: '"type" is DockerBuildRequest, FileTaskRunRequest, EncodedTaskRunRequest or TaskRunRequest',
  }),
  taskName: z.string().optional(),
  sourceLocation: z.string().max(2048).optional(),
  dockerFilePath: z.string().max(512).optional(),
  taskFilePath: z.string().max(512).optional(),
  encodedTaskContent: z.string().max(400_000).optional(),
  imageNames: z.array(z.string()).optional(),
  isPushEnabled: z.boolean().optional(),
  noCache: z.boolean().optional(),
  target: z.string().max(128).optional(),
  arguments: NameValues.optional(),
  values: NameValues.optional(),
  platform: z.string().optional(),
  timeout: z.number().optional(),
  agentPoolName: z.string().max(64).optional(),
  isArchiveEnabled: z.boolean().optional(),
});

const TimerBody = z.strictObject({ name: z.string(), schedule: z.string().optional(), status: z.string().optional() });
const CredentialBody = z.strictObject({
  loginServer: z.string().optional(),
  username: z.string().max(512).optional(),
  password: z.string().max(4096).optional(),
});

const PoolBody = z.strictObject({
  name: z.string().optional(),
  tier: z.string().optional(),
  count: z.number({ error: '"count" is a number' }).optional(),
  os: z.literal('Linux', { error: 'agent pools run Linux' }).optional(),
});

export const taskRoutes = [
  route('GET /api/registries/:reg/agentPools', {
    handler: async ({ svc, p, params }) =>
      json(200, { value: await svc.tasks.listPools(await svc.access.registry(p, params.reg, 'read', 'list the agent pools of')) }),
  }),
  route('POST /api/registries/:reg/agentPools', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/agentPools/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/agentPools`, body?.name),
    },
    body: PoolBody,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create agent pools in');
      const pool = await svc.tasks.createPool(reg, await body());
      return json(201, pool, { Location: `/api/registries/${reg.name}/agentPools/${pool.name}` });
    },
  }),
  route('GET /api/registries/:reg/agentPools/:name', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the agent pools of');
      return json(200, svc.tasks.poolView(reg, await svc.tasks.pool(reg, params.name)));
    },
  }),
  route('PATCH /api/registries/:reg/agentPools/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/agentPools/write' },
    body: PoolBody,
    handler: async ({ svc, p, params, body }) =>
      json(
        200,
        await svc.tasks.updatePool(await svc.access.registry(p, params.reg, 'write', 'update agent pools in'), params.name, await body()),
      ),
  }),
  route('DELETE /api/registries/:reg/agentPools/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/agentPools/delete' },
    handler: async ({ svc, p, params }) =>
      noContent(await svc.tasks.deletePool(await svc.access.registry(p, params.reg, 'write', 'delete agent pools in'), params.name)),
  }),
  route('POST|GET /api/registries/:reg/agentPools/:name/listQueueStatus', {
    handler: async ({ svc, p, params }) =>
      json(200, await svc.tasks.poolQueue(await svc.access.registry(p, params.reg, 'read', 'read the agent pools of'), params.name)),
  }),
  route('GET /api/registries/:reg/tasks', {
    handler: async ({ svc, p, params }) =>
      json(200, { value: await svc.tasks.list(await svc.access.registry(p, params.reg, 'read', 'list the tasks of')) }),
  }),
  route('POST /api/registries/:reg/tasks', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/tasks/write',
      resource: ({ params, body }) => named(`/registries/${params.reg}/tasks`, body?.name),
    },
    body: TaskBody,
    bodyLimit: 512 * 1024,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'create tasks in');
      const created = await svc.tasks.create(reg, await body(), describePrincipal(p));
      return json(201, created, { Location: `/api/registries/${reg.name}/tasks/${created.name}` });
    },
  }),
  route('GET /api/registries/:reg/tasks/:name', {
    query: z.object({ withSecureProperties: z.enum(['true', 'false']).optional() }),
    handler: async ({ svc, p, params, query }) => {
      const secure = query.withSecureProperties === 'true';
      const reg = await svc.access.registry(
        p,
        params.reg,
        secure ? 'write' : 'read',
        secure ? 'read the secrets of tasks in' : 'read the tasks of',
      );
      return json(200, await svc.tasks.show(reg, params.name, secure));
    },
  }),
  route('PATCH /api/registries/:reg/tasks/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    body: TaskBody,
    bodyLimit: 512 * 1024,
    handler: async ({ svc, p, params, body }) =>
      json(200, await svc.tasks.update(await svc.access.registry(p, params.reg, 'write', 'update tasks in'), params.name, await body())),
  }),
  route('DELETE /api/registries/:reg/tasks/:name', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/delete' },
    handler: async ({ svc, p, params }) =>
      noContent(await svc.tasks.delete(await svc.access.registry(p, params.reg, 'write', 'delete tasks in'), params.name)),
  }),
  route('POST /api/registries/:reg/tasks/:name/timers', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    body: TimerBody,
    handler: async ({ svc, p, params, body }) =>
      json(
        200,
        await svc.tasks.setTimer(await svc.access.registry(p, params.reg, 'write', 'update tasks in'), params.name, await body(), 'add'),
      ),
  }),
  route('PATCH /api/registries/:reg/tasks/:name/timers/:timer', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    body: TimerBody.partial(),
    handler: async ({ svc, p, params, body }) =>
      json(
        200,
        await svc.tasks.setTimer(
          await svc.access.registry(p, params.reg, 'write', 'update tasks in'),
          params.name,
          { ...(await body()), name: params.timer },
          'update',
        ),
      ),
  }),
  route('DELETE /api/registries/:reg/tasks/:name/timers/:timer', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    handler: async ({ svc, p, params }) =>
      json(
        200,
        await svc.tasks.setTimer(
          await svc.access.registry(p, params.reg, 'write', 'update tasks in'),
          params.name,
          { name: params.timer },
          'remove',
        ),
      ),
  }),
  route('GET /api/registries/:reg/tasks/:name/credentials', {
    handler: async ({ svc, p, params }) => {
      const task = await svc.tasks.show(await svc.access.registry(p, params.reg, 'read', 'read the tasks of'), params.name);
      return json(200, task.credentials.customRegistries);
    },
  }),
  route('POST /api/registries/:reg/tasks/:name/credentials', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    body: CredentialBody,
    handler: async ({ svc, p, params, body }) => {
      const b = await body();
      const reg = await svc.access.registry(p, params.reg, 'write', 'update tasks in');
      return json(
        200,
        await svc.tasks.setCredential(reg, params.name, b.loginServer ?? '', { username: b.username, password: b.password }),
      );
    },
  }),
  route('DELETE /api/registries/:reg/tasks/:name/credentials/:server', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/tasks/write' },
    handler: async ({ svc, p, params }) =>
      json(
        200,
        await svc.tasks.setCredential(
          await svc.access.registry(p, params.reg, 'write', 'update tasks in'),
          params.name,
          params.server,
          null,
        ),
      ),
  }),

  route('POST /api/registries/:reg/listBuildSourceUploadUrl', {
    handler: async ({ svc, p, params }) =>
      json(200, svc.tasks.sourceUploadUrl(await svc.access.registry(p, params.reg, 'write', 'run builds in'))),
  }),
  route('PUT /api/registries/:reg/buildSources/:id', {
    handler: async ({ ctx, svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'run builds in');
      const size = await svc.tasks.storeSource(reg, params.id, ctx.req, contentLength(ctx)).catch((e) => {
        if (e instanceof RegistryError && e.status === 413) ctx.res.setHeader('Connection', 'close');
        throw e;
      });
      return json(201, { relativePath: `source/${params.id}.tar.gz`, size });
    },
  }),
  route('POST /api/registries/:reg/scheduleRun', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/scheduleRun/action',
      resource: ({ params, reply }) => named(`/registries/${params.reg}/runs`, (reply as { runId?: unknown })?.runId),
    },
    body: RunBody,
    bodyLimit: 512 * 1024,
    handler: async ({ svc, p, params, body }) => {
      const reg = await svc.access.registry(p, params.reg, 'write', 'run builds and tasks in');
      const run = await svc.tasks.schedule(reg, await body(), describePrincipal(p));
      const location = `/api/registries/${reg.name}/runs/${run.runId}`;
      return json(202, run, { Location: location, 'Azure-AsyncOperation': location });
    },
  }),
  route('GET /api/registries/:reg/runs', {
    query: z.object({ top: countParam(15, 1000), status: z.string().optional(), task: z.string().optional() }),
    handler: async ({ svc, p, params, query }) =>
      json(200, {
        value: await svc.tasks.listRuns(await svc.access.registry(p, params.reg, 'read', 'list the runs of'), {
          top: query.top,
          status: query.status,
          taskName: query.task,
        }),
      }),
  }),
  route('GET /api/registries/:reg/runs/:run', {
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the runs of');
      return json(200, svc.tasks.runView(reg, await svc.tasks.run(reg, params.run)));
    },
  }),
  route('PATCH /api/registries/:reg/runs/:run', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/runs/write' },
    body: z.strictObject({ isArchiveEnabled: z.boolean({ error: 'give "isArchiveEnabled": true or false' }) }),
    handler: async ({ svc, p, params, body }) =>
      json(
        200,
        await svc.tasks.updateRun(
          await svc.access.registry(p, params.reg, 'write', 'update runs of'),
          params.run,
          (await body()).isArchiveEnabled,
        ),
      ),
  }),
  route('DELETE /api/registries/:reg/runs/:run', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/runs/delete' },
    handler: async ({ svc, p, params }) =>
      noContent(await svc.tasks.deleteRun(await svc.access.registry(p, params.reg, 'write', 'delete runs of'), params.run)),
  }),
  route('POST /api/registries/:reg/runs/:run/cancel', {
    activity: { operation: 'Microsoft.ContainerRegistry/registries/runs/cancel/action' },
    handler: async ({ svc, p, params }) =>
      json(202, await svc.tasks.cancel(await svc.access.registry(p, params.reg, 'write', 'cancel runs of'), params.run)),
  }),
  route('GET /api/registries/:reg/runs/:run/logs', {
    query: z.object({
      follow: z.enum(['true', 'false']).optional(),
      from: z
        .string()
        .regex(/^\d{1,15}$/)
        .optional(),
    }),
    handler: async ({ ctx, svc, p, params, query }) => {
      const reg = await svc.access.registry(p, params.reg, 'read', 'read the logs of runs of');
      const row = await svc.tasks.run(reg, params.run);
      // An explicit follow=false wins over the Accept header (the portal asks for text that way).
      const follow =
        query.follow === 'true' || (query.follow === undefined && (ctx.req.headers.accept ?? '').includes('text/event-stream'));
      let from = Number(query.from ?? 0);
      if (!follow) {
        const { text } = await svc.tasks.logText(row, from);
        return textReply(200, text, { 'Cache-Control': 'no-store', 'X-Run-Status': (await svc.tasks.run(reg, params.run)).status });
      }
      // Server-sent events: one "log" event per batch of lines (id = bytes sent so far, so a
      // reconnect resumes with ?from= or Last-Event-ID), then one "end" event with the run's status.
      const last = Number(ctx.req.headers['last-event-id']);
      if (Number.isSafeInteger(last) && last > from) from = last;
      ctx.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
      let open = true;
      ctx.res.on('close', () => (open = false));
      const keepAlive = setInterval(() => open && ctx.res.write(': keep-alive\n\n'), 15_000);
      try {
        while (open) {
          const { text, done } = await svc.tasks.logText(row, from);
          if (text) {
            from += Buffer.byteLength(text);
            ctx.res.write(
              `id: ${from}\nevent: log\n${text
                .replace(/\n$/, '')
                .split('\n')
                .map((l) => `data: ${l}`)
                .join('\n')}\n\n`,
            );
          }
          if (done) {
            const fresh = await svc.tasks.run(reg, params.run);
            if (FINAL_STATUSES.has(fresh.status)) {
              ctx.res.write(`event: end\ndata: ${JSON.stringify({ runId: fresh.run_id, status: fresh.status, error: fresh.error })}\n\n`);
              break;
            }
          }
          await new Promise((r) => setTimeout(r, 400));
        }
      } finally {
        clearInterval(keepAlive);
        ctx.res.end();
      }
    },
  }),
];
