import { z } from 'zod';
import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { parseOrder } from '../../services/content/attributes.js';
import { pageLink, send } from '../context.js';
import { json, pageQuery, type Reply } from '../routes.js';
import { repositoryParams, route } from './common.js';

// A registry's repositories (az acr repository ...). Repository names contain "/", so the
// sub-resources of a repository start with "_" (never valid in a name):
//   GET    /api/registries/{r}/repositories                       ?n=&last=&orderby=timeasc|timedesc  (catalog grant or read power)
//   GET|DELETE …/repositories/{repo}                               attributes | delete the repository
//   GET    …/{repo}/_tags   DELETE …/{repo}/_tags/{tag}
//   GET    …/{repo}/_manifests   GET|DELETE …/{repo}/_manifests/{tag or digest}
//   GET    …/{repo}/_referrers/{tag or digest}                   ?artifactType=&n=&last=
// Authorized like the data plane (/acr/v1): reads need metadata_read or pull (or the registry's
// read power), untagging delete or metadata_write, deleting delete.

const READ: Action[] = ['metadata_read', 'pull'];
const TagParams = repositoryParams.extend({
  tag: z.string().refine((t) => !t.includes(':'), { error: (iss) => `"${String(iss.input).slice(0, 80)}" is not a tag` }),
});
const RefParams = repositoryParams.extend({ ref: z.string() });

/** A page of a repository's tags or manifests, ACR-shaped, with the link to the next page. */
function listing<T>(reg: Registry, repository: string, n: number, page: { items: T[]; next?: string }): Reply {
  const more = page.next ? { nextLink: pageLink('', { n, last: page.next }) } : {};
  return json(200, { registry: reg.name, imageName: repository, value: page.items, ...more });
}

export const repositoryRoutes = [
  route('GET /api/registries/:reg/repositories', {
    query: pageQuery(1000).extend({
      orderby: z
        .string()
        .optional()
        .transform((v) => parseOrder(v ?? null)),
    }),
    handler: async ({ ctx, svc, p, params, query }) => {
      const reg = await svc.access.catalog(p, params.reg, 'the repositories of');
      const page = await svc.repositories.catalog(reg, query.n, query.last, query.orderby);
      const orderby = query.orderby === 'none' ? undefined : query.orderby;
      return json(200, {
        value: page.items,
        ...(page.next ? { nextLink: pageLink(ctx.url.pathname, { n: query.n, last: page.next, orderby }) } : {}),
      });
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo', {
    params: repositoryParams,
    handler: async ({ svc, p, params }) =>
      json(200, await svc.repositories.show(await svc.access.repository(p, params.reg, params.repo, READ), params.repo)),
  }),
  route('DELETE /api/registries/:reg/repositories/*repo', {
    params: repositoryParams,
    handler: async ({ svc, p, params }) =>
      json(202, await svc.repositories.delete(await svc.access.repository(p, params.reg, params.repo, ['delete']), params.repo)),
  }),
  route('GET /api/registries/:reg/repositories/*repo/_tags', {
    params: repositoryParams,
    query: pageQuery(1000),
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      const hide = await svc.manifests.hidesQuarantined(reg, svc.access.quarantineViewer(p, reg, params.repo));
      return listing(reg, params.repo, query.n, await svc.repositories.tagDetails(reg, params.repo, query.n, query.last, hide));
    },
  }),
  route('DELETE /api/registries/:reg/repositories/*repo/_tags/:tag', {
    params: TagParams,
    handler: async ({ svc, p, params }) => {
      await svc.manifests.delete(
        await svc.access.repository(p, params.reg, params.repo, ['delete', 'metadata_write']),
        params.repo,
        params.tag,
      );
      return { status: 204 };
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_manifests', {
    params: repositoryParams,
    query: pageQuery(1000),
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      const hide = await svc.manifests.hidesQuarantined(reg, svc.access.quarantineViewer(p, reg, params.repo));
      return listing(reg, params.repo, query.n, await svc.repositories.manifestDetails(reg, params.repo, query.n, query.last, hide));
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_manifests/:ref', {
    params: RefParams,
    handler: async ({ ctx, svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      const m = await svc.manifests.get(reg, params.repo, params.ref, svc.access.quarantineViewer(p, reg, params.repo));
      send(ctx, 200, { 'Content-Type': m.media_type, 'Docker-Content-Digest': m.digest }, Buffer.from(m.content));
    },
  }),
  route('DELETE /api/registries/:reg/repositories/*repo/_manifests/:ref', {
    params: RefParams,
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['delete']);
      // Deleting a quarantined image is allowed: it needs no sight of its content.
      const m = await svc.manifests.head(reg, params.repo, params.ref, () => Promise.resolve(true));
      await svc.manifests.delete(reg, params.repo, m.digest);
      return json(202, { deleted: m.digest });
    },
  }),
  route('GET /api/registries/:reg/repositories/*repo/_referrers', {
    params: repositoryParams,
    handler: () => Promise.reject(new RegistryError('REQUEST_INVALID', 'name the subject: _referrers/<digest or tag>')),
  }),
  route('GET /api/registries/:reg/repositories/*repo/_referrers/:ref', {
    params: RefParams,
    query: pageQuery(1000).extend({ artifactType: z.string().optional() }),
    handler: async ({ svc, p, params, query }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      const viewer = svc.access.quarantineViewer(p, reg, params.repo);
      const subject = params.ref.includes(':') ? params.ref : (await svc.manifests.head(reg, params.repo, params.ref, viewer)).digest;
      const n = query.n || 1000;
      const out = await svc.manifests.referrers(reg, params.repo, subject, query.artifactType, n, query.last, viewer);
      const more = out.next ? { nextLink: pageLink('', { n, last: out.next, artifactType: query.artifactType }) } : {};
      return json(200, { subject, ...out.index, ...more });
    },
  }),
];
