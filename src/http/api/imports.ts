import { z } from 'zod';
import { describePrincipal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { parseImportRequest } from '../../services/import/request.js';
import { caller } from '../auth.js';
import { countParam, fields, idParam, json } from '../routes.js';
import { named, route } from './common.js';

// Image import (ACR's importImage):
//   POST /api/registries/<reg>/importImage {source, targetTags, untaggedTargetRepositories, mode}
//        -> 202 with the import (its id is the job's id) and Location /api/registries/<reg>/imports/<id>
//   GET  /api/registries/<reg>/imports/<id>   status and progress
//   GET  /api/registries/<reg>/imports        recent imports (registry read power)
// Starting an import needs push on every target repository (as pushing the image would); reading
// one needs the registry's read power or push on its targets. Credentials are never returned, and
// credentials of this deployment are refused as source credentials (ImportService.start).

const pushDenial = (reg: Registry) => (who: string, repo: string) =>
  `${who} is not allowed to push to ${reg.name}/${repo}, which importing there needs`;

export const importRoutes = [
  route('POST /api/registries/:reg/importImage', {
    activity: {
      operation: 'Microsoft.ContainerRegistry/registries/importImage/action',
      resource: ({ params, reply }) => named(`/registries/${params.reg}/imports`, (reply as { id?: unknown })?.id),
    },
    // The fields' meaning (references, tags, mode) is parseImportRequest's to check.
    body: fields('source', 'targetTags', 'untaggedTargetRepositories', 'mode'),
    bodyLimit: 64 * 1024,
    handler: async ({ ctx, svc, p, params, body }) => {
      const reg = await svc.access.find(p, params.reg, 'import into');
      const req = parseImportRequest(await body());
      await svc.access.everyRepository(
        p,
        reg,
        req.targets.map((t) => t.repository),
        'push',
        pushDenial(reg),
      );
      const host = ctx.req.headers.host;
      const id = await svc.imports.start(reg, req, { identity: describePrincipal(p), ip: caller(ctx).ip, host });
      const location = `/api/registries/${reg.name}/imports/${id}`;
      return json(202, await svc.imports.view(reg, id), { Location: location, 'Azure-AsyncOperation': location });
    },
  }),
  route('GET /api/registries/:reg/imports', {
    query: z.object({ n: countParam(100, 1000) }),
    handler: async ({ svc, p, params, query }) =>
      json(200, { value: await svc.imports.list(await svc.access.registry(p, params.reg, 'read', 'list the imports of'), query.n) }),
  }),
  route('GET /api/registries/:reg/imports/:id', {
    params: z.object({ reg: z.string(), id: idParam('an import id') }),
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.find(p, params.reg, 'import into');
      const targets = await svc.imports.targets(reg, params.id);
      if (targets && !(await svc.access.reads(p, reg)))
        await svc.access.everyRepository(
          p,
          reg,
          targets.map((t) => t.repository),
          'push',
          pushDenial(reg),
        );
      const view = targets && (await svc.imports.view(reg, params.id));
      if (!view) throw new RegistryError('RESOURCE_UNKNOWN', `import ${params.id} does not exist in registry ${reg.name}`);
      return json(200, view);
    },
  }),
];
