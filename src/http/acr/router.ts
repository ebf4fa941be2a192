import { z } from 'zod';
import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import type { Registry } from '../../domain/registry.js';
import { parseOrder } from '../../services/content/attributes.js';
import type { QuarantineViewer, Services } from '../../services/index.js';
import { authenticate, authorize, authorizeCatalog, challenge, networkClient, serviceName, type AuthContext } from '../auth.js';
import { notAllowed, pageLink, type Ctx } from '../context.js';
import { decodeReference, decodeSegment, hostRegistry, resolveTarget } from '../oci/target.js';
import type { V2Options } from '../oci/router.js';
import { observer } from '../api/activity.js';
import { invokeRoute, json, pageQuery, routeFor, RouteTable, runRoute, splitPath, type Method, type Reply } from '../routes.js';
import { innerCtx } from '../api/router.js';
import type { Principal } from '../../auth/service.js';

// ACR's /acr/v1 data-plane API, addressed like /v2 (oci/target.ts):
//   path-style  /acr/v1/<registry>/<repository>[/_tags[/<tag>] | /_manifests[/<digest>]]
//   host-style  <registry>.<domain>/acr/v1/<repository>/...
// Authorized like /v2: metadata_read to read, metadata_write to PATCH, delete to DELETE, the
// catalog grant for _catalog; quarantine_write for a manifest PATCH of quarantineState (ACR's
// quarantine preview). Quarantined manifests are hidden from callers without quarantine_read. Errors are ACR's {"errors":[{code,message,detail}]}; like /v2 it
// answers 405 and unknown paths with UNSUPPORTED. Routes match the raw path: names are decoded
// (and refused when malformed) by resolveTarget, references by decodeReference.

interface AcrEnv {
  ctx: Ctx;
  svc: Services;
  a: AuthContext;
  opts: V2Options;
  service: string;
  /** The registry the Host header names (host-style), if any. */
  fromHost: string | undefined;
}

const route = routeFor<AcrEnv>();

const NEEDS: Record<string, Action> = { GET: 'metadata_read', HEAD: 'metadata_read', PATCH: 'metadata_write', DELETE: 'delete' };

/**
 * The repository a route names, once the caller may do what the method needs there (or `need`),
 * with whether the caller sees its quarantined manifests (asked only when something is quarantined).
 */
async function repository(
  r: AcrEnv & { params: { name: string } },
  need?: Action,
): Promise<{ reg: Registry; repo: string; viewer: QuarantineViewer }> {
  const t = resolveTarget(r.params.name, r.fromHost);
  const anyOf = [need ?? NEEDS[r.ctx.req.method ?? 'GET']!];
  const { reg, unknownVisible } = await r.svc.access.locate(r.a.principal, t.registry, networkClient(r.ctx));
  if (!unknownVisible) {
    await authorize(
      r.ctx,
      r.svc.auth,
      r.a,
      { registry: reg, repository: t.repository, urlName: t.urlName, anyOf, scope: `repository:${t.urlName}:${anyOf.join(',')}` },
      r.opts,
      r.service,
    );
  }
  if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${t.registry}" does not exist on this server`);
  return { reg, repo: t.repository, viewer: r.svc.access.quarantineViewer(r.a.principal, reg, t.repository) };
}

/** A next-page link, in the Link header and in the body as "link". */
function linked(ctx: Ctx, body: Record<string, unknown>, next: string | undefined, params: Record<string, string | number | undefined>) {
  if (next === undefined) return json(200, body);
  const link = `<${pageLink(ctx.url.pathname, { last: next, ...params })}>; rel="next"`;
  return json(200, { ...body, link }, { Link: link });
}

/**
 * _catalog. Host-style: the registry's repositories. Path-style: /acr/v1/<registry>/_catalog, with
 * names "<registry>/<repository>", the names clients pull by.
 */
async function catalog(r: AcrEnv & { query: z.output<typeof CatalogQuery> }, registry: string | undefined) {
  if (registry === undefined) throw new RegistryError('NAME_INVALID', 'path-style: name the registry, /acr/v1/<registry>/_catalog');
  const { reg, unknownVisible } = await r.svc.access.locate(r.a.principal, registry, networkClient(r.ctx));
  if (unknownVisible) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
  await authorizeCatalog(r.ctx, r.svc.auth, r.a, reg, r.opts, r.service);
  if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
  const { n, last } = r.query;
  const prefix = r.fromHost !== undefined ? '' : `${registry}/`;
  const page = await r.svc.repositories.catalog(
    reg,
    n,
    last !== undefined && prefix && last.startsWith(prefix) ? last.slice(prefix.length) : last,
  );
  return linked(r.ctx, { repositories: page.items.map((x) => prefix + x) }, page.next === undefined ? undefined : prefix + page.next, {
    n,
  });
}

const CatalogQuery = pageQuery(100);
const ListQuery = pageQuery(100).extend({
  orderby: z
    .string()
    .optional()
    .transform((v) => parseOrder(v ?? null)),
});
const TagListQuery = ListQuery.extend({ digest: z.string().optional(), prefix: z.string().optional() });
const RefParams = z.object({ name: z.string(), ref: z.string().transform(decodeReference) });
const Attributes = z.strictObject({
  deleteEnabled: z.boolean().optional(),
  writeEnabled: z.boolean().optional(),
  listEnabled: z.boolean().optional(),
  readEnabled: z.boolean().optional(),
});
/** ACR's quarantine preview adds these to a manifest's PATCH (AcrQuarantineWriter). */
const ManifestAttributes = Attributes.extend({
  quarantineState: z.string().optional(),
  quarantineDetails: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
});
/** Changing attributes (writeEnabled, deleteEnabled: locks) is recorded in the activity log. */
const LOCKS = { operation: 'Microsoft.ContainerRegistry/registries/repositories/metadata/write' } as const;
/** orderby in a next link, when not the default. */
const ordered = (order: string) => (order !== 'none' ? order : undefined);

const routes = [
  route('GET /acr/v1/_catalog', { label: 'acr-catalog', query: CatalogQuery, handler: (r) => catalog(r, r.fromHost) }),
  route('GET /acr/v1/:registry/_catalog', {
    label: 'acr-catalog',
    query: CatalogQuery,
    handler: (r) => catalog(r, decodeSegment(r.params.registry, 'name')),
  }),

  route('GET /acr/v1/*name', {
    label: 'acr-repository',
    handler: async (r) => {
      const { reg, repo } = await repository(r);
      return json(200, await r.svc.acr.repository(reg, repo));
    },
  }),
  route('PATCH /acr/v1/*name', {
    label: 'acr-repository',
    activity: LOCKS,
    body: Attributes,
    handler: async (r) => {
      const { reg, repo } = await repository(r);
      return json(200, await r.svc.acr.patchRepository(reg, repo, await r.body()));
    },
  }),
  route('DELETE /acr/v1/*name', {
    label: 'acr-repository',
    handler: async (r) => {
      const { reg, repo } = await repository(r);
      return json(202, await r.svc.acr.deleteRepository(reg, repo));
    },
  }),

  route('GET /acr/v1/*name/_tags', {
    label: 'acr_tags',
    query: TagListQuery,
    handler: async (r) => {
      const { reg, repo, viewer } = await repository(r);
      const { n, last, orderby: order, digest, prefix } = r.query;
      const page = await r.svc.acr.tags(reg, repo, { n, last, order, digest, prefix }, viewer);
      return linked(r.ctx, { registry: reg.name, imageName: repo, tags: page.items }, page.next, {
        n,
        orderby: ordered(order),
        digest: digest || undefined,
        prefix: prefix || undefined,
      });
    },
  }),
  route('GET /acr/v1/*name/_tags/:ref', {
    label: 'acr_tags',
    params: RefParams,
    handler: async (r) => {
      const { reg, repo, viewer } = await repository(r);
      return json(200, await r.svc.acr.tag(reg, repo, r.params.ref, viewer));
    },
  }),
  route('PATCH /acr/v1/*name/_tags/:ref', {
    label: 'acr_tags',
    activity: LOCKS,
    params: RefParams,
    body: Attributes,
    handler: async (r) => {
      const { reg, repo, viewer } = await repository(r);
      return json(200, await r.svc.acr.patchTag(reg, repo, r.params.ref, await r.body(), viewer));
    },
  }),
  route('DELETE /acr/v1/*name/_tags/:ref', {
    label: 'acr_tags',
    params: RefParams,
    handler: async (r) => {
      const { reg, repo } = await repository(r);
      await r.svc.acr.deleteTag(reg, repo, r.params.ref);
      return { status: 202 };
    },
  }),

  route('GET /acr/v1/*name/_manifests', {
    label: 'acr_manifests',
    query: ListQuery,
    handler: async (r) => {
      const { reg, repo, viewer } = await repository(r);
      const { n, last, orderby: order } = r.query;
      const page = await r.svc.acr.manifestList(reg, repo, { n, last, order }, viewer);
      return linked(r.ctx, { registry: reg.name, imageName: repo, manifests: page.items }, page.next, { n, orderby: ordered(order) });
    },
  }),
  route('GET /acr/v1/*name/_manifests/:ref', {
    label: 'acr_manifests',
    params: RefParams,
    handler: async (r) => {
      const { reg, repo, viewer } = await repository(r);
      return json(200, await r.svc.acr.manifest(reg, repo, r.params.ref, viewer));
    },
  }),
  route('PATCH /acr/v1/*name/_manifests/:ref', {
    label: 'acr_manifests',
    activity: LOCKS,
    params: RefParams,
    body: ManifestAttributes,
    handler: async (r) => {
      const body = await r.body();
      const { quarantineState, quarantineDetails, ...locks } = body;
      // Changing quarantine state needs quarantine_write (AcrQuarantineWriter, Owner); the locks metadata_write.
      const quarantine = quarantineState !== undefined || quarantineDetails !== undefined;
      const { reg, repo, viewer } = await repository(r, quarantine ? 'quarantine_write' : undefined);
      if (quarantine && Object.keys(locks).length > 0) await repository(r);
      return json(200, await r.svc.acr.patchManifest(reg, repo, r.params.ref, body, viewer));
    },
  }),
  route('DELETE /acr/v1/*name/_manifests/:ref', {
    label: 'acr_manifests',
    params: RefParams,
    handler: async (r) => {
      const { reg, repo } = await repository(r);
      if (!r.params.ref.includes(':')) throw new RegistryError('DIGEST_INVALID', `"${r.params.ref.slice(0, 80)}" is not a digest`);
      await r.svc.manifests.delete(reg, repo, r.params.ref);
      return { status: 202 };
    },
  }),
];

const table = new RouteTable(routes, { getAnswersHead: true });

export async function handleAcrV1(ctx: Ctx, svc: Services, rawPath: string, opts: V2Options): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const service = serviceName(ctx, opts);
  let a: AuthContext;
  try {
    a = await authenticate(ctx, svc.auth, service, { cliSession: true });
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') Object.assign(e.headers, challenge(ctx, opts, service, undefined));
    throw e;
  }
  ctx.route = 'acr';
  const m = matchRoute(method, rawPath);
  const env = { ctx, svc, a, opts, service, fromHost: hostRegistry(ctx.req.headers.host, opts.domain, svc.replication.regions) };
  await runRoute(env, m.route, m.params, await observe(env, m, rawPath));
}

/** The route for a method and raw path, or /acr/v1's 404 / 405 (UNSUPPORTED, as /v2 answers). */
function matchRoute(method: string, rawPath: string) {
  const m = table.match(method, splitPath(rawPath));
  if (!m)
    throw new RegistryError(
      'UNSUPPORTED',
      `no /acr/v1 API at ${rawPath.slice(0, 120)}; a repository's resources are _tags and _manifests`,
      { status: 404 },
    );
  if ('allow' in m) throw notAllowed(method, m.allow, 'UNSUPPORTED');
  return m;
}

/** Attribute changes (locks) go to the activity log, as the management API's operations do. */
async function observe(env: AcrEnv, m: ReturnType<typeof matchRoute>, rawPath: string) {
  const activity = m.route.def.activity;
  const p = env.a.principal;
  if (!activity || p.kind === 'anonymous') return undefined;
  return observer({ ctx: env.ctx, svc: env.svc, p }, env, activity, m.params, lockTarget(m.params.name, env.fromHost, rawPath));
}

/** The registry and resource (/registries/r/repositories/repo[/_tags/t]) an attribute change names, when the name is valid. */
function lockTarget(name: string | undefined, fromHost: string | undefined, rawPath: string): { registry?: string; resource?: string } {
  try {
    const t = resolveTarget(name ?? '', fromHost);
    const sub = /\/(_tags|_manifests)\/[^/]+$/.exec(rawPath)?.[0] ?? '';
    return { registry: t.registry, resource: `/registries/${t.registry}/repositories/${t.repository}${sub}` };
  } catch {
    return {};
  }
}

/**
 * Calls an /acr/v1 route in-process as `p` (the portal's tag and manifest attributes: locks,
 * quarantine): the same authorization and activity log as the HTTP call, path-style.
 */
export async function callAcr(
  caller: { ctx: Ctx; svc: Services; p: Principal; opts: V2Options },
  method: Method,
  path: string,
  source: { query?: URLSearchParams; json?: Record<string, unknown> } = {},
): Promise<Reply | void> {
  const ctx = innerCtx(caller.ctx, method, path, source.query);
  const rawPath = ctx.url.pathname;
  const m = matchRoute(method, rawPath);
  const env: AcrEnv = {
    ctx,
    svc: caller.svc,
    a: { principal: caller.p },
    opts: caller.opts,
    service: serviceName(ctx, caller.opts),
    fromHost: undefined,
  };
  return invokeRoute(env, m.route, m.params, await observe(env, m, rawPath), { query: ctx.url.searchParams, json: source.json ?? {} });
}
