import type { Services } from '../services/index.js';
import { RegistryError } from '../domain/errors.js';
import { readBody, sendJson, type Ctx } from './context.js';

// Calls from outside that carry their own proof instead of credentials:
//   POST /hooks/tasks/{registry}/{task}   a git host's push or pull-request event for a task's
//                                         source trigger, signed with the task's webhook secret
// (GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token, or Berth's X-Berth-Signature-256).

const MAX_BODY = 1024 * 1024;

export async function handleHooks(ctx: Ctx, svc: Services, rawPath: string): Promise<void> {
  ctx.route = 'hooks';
  const m = /^\/hooks\/tasks\/([^/]{1,100})\/([^/]{1,100})\/?$/.exec(rawPath);
  if (!m) throw new RegistryError('NOT_FOUND', `nothing at ${rawPath.slice(0, 120)}; task webhooks are POST /hooks/tasks/REGISTRY/TASK`);
  if (ctx.req.method !== 'POST') throw new RegistryError('METHOD_NOT_ALLOWED', 'task webhooks take POST', { headers: { Allow: 'POST' } });
  const body = await readBody(
    ctx,
    MAX_BODY,
    () => new RegistryError('REQUEST_INVALID', `a webhook delivery is at most ${MAX_BODY} bytes`, { status: 413 }),
  );
  const r = await svc.tasks.sourceDelivery(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), ctx.req.headers, body);
  sendJson(ctx, r.status, r.body);
}
