import { z } from 'zod';
import { describePrincipal } from '../../auth/service.js';
import { RegistryError } from '../../domain/errors.js';
import type { OsvDataKind } from '../../services/scan/vulndb.js';
import { contentLength, type Ctx } from '../context.js';
import { idParam, json } from '../routes.js';
import { named, route } from './common.js';

// Vulnerability data for the built-in scanner (OSV records the operator carries in). It serves
// every registry, so it takes deployment-wide powers, as garbage collection does:
//   POST /api/vulndb/imports?source=NAME   the body is the data, streamed (write):
//        application/json (one record or an array), application/x-ndjson, application/zip
//        -> 201 with the import's counts; Location /api/vulndb/imports/<id>
//   GET  /api/vulndb                       records, sources, data dates, last imports (read)
//   GET  /api/vulndb/imports/<id>          one import (read)

const KINDS: Record<string, OsvDataKind> = {
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
};

function kindOf(ctx: Ctx): OsvDataKind {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const kind = KINDS[type];
  if (!kind)
    throw new RegistryError(
      'REQUEST_INVALID',
      `Content-Type ${type ? `"${type.slice(0, 80)}"` : '(none)'} is not vulnerability data: send OSV records as application/json (a record or an array), application/x-ndjson (one record a line) or application/zip (osv.dev's all.zip)`,
    );
  return kind;
}

export const vulndbRoutes = [
  route('GET /api/vulndb', {
    handler: async ({ svc, p }) => {
      await svc.access.deployment(p, 'read', 'see the vulnerability data');
      return json(200, await svc.vulndb.status());
    },
  }),
  route('POST /api/vulndb/imports', {
    activity: {
      operation: 'Berth/vulnerabilityData/import/action',
      resource: ({ reply }) => named('/vulndb/imports', (reply as { importId?: unknown })?.importId),
    },
    query: z.strictObject({ source: z.string().optional() }),
    handler: async ({ ctx, svc, p, query }) => {
      await svc.access.deployment(p, 'write', 'import vulnerability data');
      const kind = kindOf(ctx);
      const source = svc.vulndb.checkSource(query.source);
      const max = svc.vulndb.limits.maxUploadBytes;
      const declared = contentLength(ctx);
      if (declared !== undefined && declared > max) {
        ctx.res.setHeader('Connection', 'close');
        throw new RegistryError(
          'REQUEST_INVALID',
          `the upload (${declared} bytes) is larger than the ${max}-byte limit for vulnerability data`,
          {
            status: 413,
          },
        );
      }
      // Not destroyed when the import stops early (a corrupt file): the reply still has to go out.
      const body = ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
      const result = await svc.vulndb.importOsv(body, kind, source, { identity: describePrincipal(p) });
      return json(201, result, { Location: `/api/vulndb/imports/${result.importId}` });
    },
  }),
  route('GET /api/vulndb/imports/:id', {
    params: z.object({ id: idParam('an import id') }),
    handler: async ({ svc, p, params }) => {
      await svc.access.deployment(p, 'read', 'see vulnerability data imports');
      const view = await svc.vulndb.import(params.id);
      if (!view) throw new RegistryError('RESOURCE_UNKNOWN', `vulnerability data import ${params.id} does not exist`);
      return json(200, view);
    },
  }),
];
