import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Services } from '../services/index.js';
import type { Ctx } from './context.js';
import { sendError } from './errors.js';
import { serveBlob } from './oci/blobs.js';

// The dedicated data endpoint's listener (dataEndpoint.listen; docs/private-endpoints.md): it
// answers only GET and HEAD of blob URLs the login server signed (its 307 for a registry with
// dataEndpointEnabled), and nothing else. The bytes come through the same read path as the login
// server's (serveBlob: Range, positional reads, regional reads).

export function createDataHandler(svc: Services, log: Logger, metrics?: Metrics) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://data');
    const ctx: Ctx = { req, res, url, requestId, log, route: 'data-endpoint' };
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const started = process.hrtime.bigint();
    res.on('finish', () =>
      metrics?.record(ctx.route, req.method, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, ctx.registry),
    );
    try {
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD')
        throw new RegistryError('UNSUPPORTED', `${method} is not served by the data endpoint: it answers blob downloads only`, {
          headers: { Allow: 'GET, HEAD' },
        });
      // Raw path, never a normalised one: the signature covers exactly what the login server wrote.
      const rawPath = (req.url ?? '/').split('?')[0]!;
      const granted = await svc.dataEndpoints.verify(rawPath, url.searchParams);
      if (typeof granted === 'string') {
        if (rawPath.startsWith('/v2/') && /\/blobs\/[^/]+$/.test(rawPath)) {
          metrics?.dataEndpointRefused();
          throw new RegistryError('DENIED', granted);
        }
        throw new RegistryError('NOT_FOUND', granted);
      }
      const reg = await svc.registries.find(granted.registry);
      // Turning the setting off stops URLs already handed out, too.
      if (!reg || Number(reg.data_endpoint_enabled) !== 1)
        throw new RegistryError('NAME_UNKNOWN', `registry ${granted.registry} has no dedicated data endpoint`);
      ctx.registry = reg.name;
      // Whoever the login server signed for was allowed to read the blob then, quarantine included:
      // the link is checked again (a blob deleted since is gone), the caller's rights are not.
      await serveBlob(ctx, svc, reg, granted.repository, granted.digest, () => Promise.resolve(true), false);
    } catch (err) {
      sendError(ctx, err);
    }
  };
}
