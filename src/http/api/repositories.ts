import { z } from 'zod';
import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { parseOrder } from '../../services/content/attributes.js';
import { pageLink, send } from '../context.js';
import { getBlob } from '../oci/blobs.js';
import type { QuarantineViewer, Services } from '../../services/index.js';
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
      prefix: z.string().optional(),
    }),
    handler: async ({ ctx, svc, p, params, query }) => {
      const reg = await svc.access.catalog(p, params.reg, 'the repositories of');
      const page = await svc.repositories.catalog(reg, query.n, query.last, query.orderby, query.prefix);
      const orderby = query.orderby === 'none' ? undefined : query.orderby;
      const prefix = query.prefix || undefined;
      return json(200, {
        value: page.items,
        ...(page.next ? { nextLink: pageLink(ctx.url.pathname, { n: query.n, last: page.next, orderby, prefix }) } : {}),
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
  // The manifest as JSON, with its image config when the caller may pull (a config's env can
  // hold what only pullers should read): what the portal's manifest page shows.
  route('GET /api/registries/:reg/repositories/*repo/_manifests/:ref/_document', {
    params: RefParams,
    handler: async ({ svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, READ);
      const viewer = svc.access.quarantineViewer(p, reg, params.repo);
      const m = await svc.manifests.get(reg, params.repo, params.ref, viewer);
      const document = JSON.parse(Buffer.from(m.content).toString('utf8')) as { config?: { mediaType?: unknown; digest?: unknown } };
      const out = { digest: m.digest, mediaType: m.media_type, size: Number(m.size), document };
      const cfg = document.config;
      if (!cfg || typeof cfg.digest !== 'string' || !IMAGE_CONFIGS.has(String(cfg.mediaType))) return json(200, out);
      const mayPull = await svc.access.repository(p, params.reg, params.repo, ['pull']).then(
        () => true,
        () => false,
      );
      if (!mayPull) return json(200, { ...out, configHidden: true });
      return json(200, { ...out, config: await readSmallJson(svc, reg, params.repo, cfg.digest, viewer) });
    },
  }),
  // A blob's bytes (layers, configs), for callers who may pull: the portal's download links.
  route('GET /api/registries/:reg/repositories/*repo/_blobs/:digest', {
    params: repositoryParams.extend({ digest: z.string() }),
    handler: async ({ ctx, svc, p, params }) => {
      const reg = await svc.access.repository(p, params.reg, params.repo, ['pull']);
      const viewer = svc.access.quarantineViewer(p, reg, params.repo);
      const t = { registry: reg.name, repository: params.repo, urlName: `${reg.name}/${params.repo}` };
      await getBlob({ ctx, svc, reg, t, viewer }, params.digest);
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

const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const CONFIG_MAX = 1 << 20;

/** A config blob's JSON, when it is at most 1 MiB of JSON (else undefined). */
async function readSmallJson(svc: Services, reg: Registry, repository: string, digest: string, viewer: QuarantineViewer): Promise<unknown> {
  const head = await svc.blobs.stat(reg, repository, digest, viewer);
  if (head.size > CONFIG_MAX) return undefined;
  const body = await svc.blobs.open(reg, repository, head);
  const s = body.stream;
  let buf: Buffer;
  if (Buffer.isBuffer(s)) buf = s;
  else if ('reader' in s) {
    buf = Buffer.alloc(s.end - s.start + 1);
    try {
      for (let at = 0; at < buf.length;) {
        const got = await s.reader.read(buf.subarray(at), s.start + at);
        if (got === 0) break;
        at += got;
      }
    } finally {
      await s.reader.close();
    }
  } else {
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    buf = Buffer.concat(chunks);
  }
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}
