import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import { parseOrder } from '../../services/content/attributes.js';
import { parsePageSize, type Services } from '../../services/index.js';
import { authenticate, authorize, authorizeCatalog, challenge, serviceName, type AuthContext } from '../auth.js';
import { readJson, send, sendJson, type Ctx } from '../context.js';
import { decodeReference, decodeSegment, hostRegistry, resolveTarget } from '../oci/target.js';
import type { V2Options } from '../oci/router.js';

// ACR's /acr/v1 data-plane API, addressed like /v2 (oci/target.ts):
//   path-style  /acr/v1/<registry>/<repository>[/_tags[/<tag>] | /_manifests[/<digest>]]
//   host-style  <registry>.<domain>/acr/v1/<repository>/...
// Authorized like /v2: metadata_read to read, metadata_write to PATCH, delete to DELETE, the
// catalog grant for _catalog. Errors are ACR's {"errors":[{code,message,detail}]}.

function notAllowed(method: string, allowed: string[]): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not allowed here; use ${allowed.join(', ')}`, { status: 405, headers: { Allow: allowed.join(', ') } });
}

function link(path: string, n: number, last: string, extra: Record<string, string>): string {
  const q = new URLSearchParams({ last, n: String(n), ...extra });
  return `<${path}?${q.toString()}>; rel="next"`;
}

export async function handleAcrV1(ctx: Ctx, svc: Services, rawPath: string, opts: V2Options): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const rest = rawPath.slice('/acr/v1/'.length);
  const fromHost = hostRegistry(ctx.req.headers.host, opts.domain);
  const service = serviceName(ctx, opts);
  let a: AuthContext;
  try {
    a = await authenticate(ctx, svc.auth, service);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') Object.assign(e.headers, challenge(ctx, opts, service, undefined));
    throw e;
  }
  const q = ctx.url.searchParams;

  if (rest === '_catalog' || /^[^/]+\/_catalog$/.test(rest)) {
    ctx.route = 'acr-catalog';
    if (method !== 'GET' && method !== 'HEAD') throw notAllowed(method, ['GET']);
    const registry = rest === '_catalog' ? fromHost : decodeSegment(rest.slice(0, -'/_catalog'.length), 'name');
    if (registry === undefined) throw new RegistryError('NAME_INVALID', 'path-style: name the registry, /acr/v1/<registry>/_catalog');
    const reg = await svc.registries.find(registry);
    if (!reg && (await svc.auth.powers(a.principal, null)).has('read')) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
    await authorizeCatalog(ctx, svc.auth, a, reg, opts, service);
    if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
    const n = parsePageSize(q.get('n'), 100);
    const prefix = fromHost !== undefined ? '' : `${registry}/`;
    const last = q.get('last') ?? undefined;
    const strip = last !== undefined && prefix && last.startsWith(prefix) ? last.slice(prefix.length) : last;
    const page = await svc.repositories.catalog(reg, n, strip);
    const items = page.items.map((r) => prefix + r);
    if (page.next === undefined) return sendJson(ctx, 200, { repositories: items });
    const l = link(ctx.url.pathname, n, prefix + page.next, {});
    return sendJson(ctx, 200, { repositories: items, link: l }, { Link: l });
  }

  const segs = rest.split('/');
  const sub = segs.findIndex((s) => s.startsWith('_'));
  const rawName = (sub < 0 ? segs : segs.slice(0, sub)).join('/');
  if (!rawName) throw new RegistryError('NAME_INVALID', 'name a repository: /acr/v1/<registry>/<repository>');
  const resource = sub < 0 ? '' : segs[sub]!;
  const argSegs = sub < 0 ? [] : segs.slice(sub + 1);
  if (argSegs.length > 1) throw new RegistryError('UNSUPPORTED', `no /acr/v1 API at ${rawPath.slice(0, 120)}`, { status: 404 });
  const arg = argSegs[0] ? decodeReference(argSegs[0]) : undefined;
  if (resource !== '' && resource !== '_tags' && resource !== '_manifests') {
    throw new RegistryError('UNSUPPORTED', `unknown repository resource "${resource.slice(0, 40)}"; use _tags or _manifests`, { status: 404 });
  }
  const t = resolveTarget(rawName, fromHost);
  ctx.route = `acr${resource || '-repository'}`;

  let anyOf: Action[];
  if (method === 'GET' || method === 'HEAD') anyOf = ['metadata_read'];
  else if (method === 'PATCH') anyOf = ['metadata_write'];
  else if (method === 'DELETE') anyOf = ['delete'];
  else throw notAllowed(method, ['GET', 'PATCH', 'DELETE']);

  const reg = await svc.registries.find(t.registry);
  const unknownVisible = !reg && (await svc.auth.powers(a.principal, null)).has('read');
  if (!unknownVisible) {
    await authorize(ctx, svc.auth, a, { registry: reg, repository: t.repository, urlName: t.urlName, anyOf, scope: `repository:${t.urlName}:${anyOf.join(',')}` }, opts, service);
  }
  if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${t.registry}" does not exist on this server`);
  const repo = t.repository;

  const body = () => readJson(ctx);
  switch (resource) {
    case '':
      if (method === 'GET' || method === 'HEAD') return sendJson(ctx, 200, await svc.acr.repository(reg, repo));
      if (method === 'PATCH') return sendJson(ctx, 200, await svc.acr.patchRepository(reg, repo, await body()));
      return sendJson(ctx, 202, await svc.acr.deleteRepository(reg, repo));
    case '_tags': {
      if (arg === undefined) {
        if (method !== 'GET' && method !== 'HEAD') throw notAllowed(method, ['GET']);
        const n = parsePageSize(q.get('n'), 100);
        const order = parseOrder(q.get('orderby'));
        const digest = q.get('digest') ?? undefined;
        const page = await svc.acr.tags(reg, repo, { n, last: q.get('last') ?? undefined, order, digest });
        const extra: Record<string, string> = { ...(order !== 'none' ? { orderby: order } : {}), ...(digest ? { digest } : {}) };
        const l = page.next === undefined ? undefined : link(ctx.url.pathname, n, page.next, extra);
        return sendJson(ctx, 200, { registry: reg.name, imageName: repo, tags: page.items, ...(l ? { link: l } : {}) }, l ? { Link: l } : {});
      }
      if (method === 'GET' || method === 'HEAD') return sendJson(ctx, 200, await svc.acr.tag(reg, repo, arg));
      if (method === 'PATCH') return sendJson(ctx, 200, await svc.acr.patchTag(reg, repo, arg, await body()));
      await svc.acr.deleteTag(reg, repo, arg);
      return send(ctx, 202, {});
    }
    default: {
      if (arg === undefined) {
        if (method !== 'GET' && method !== 'HEAD') throw notAllowed(method, ['GET']);
        const n = parsePageSize(q.get('n'), 100);
        const order = parseOrder(q.get('orderby'));
        const page = await svc.acr.manifestList(reg, repo, { n, last: q.get('last') ?? undefined, order });
        const l = page.next === undefined ? undefined : link(ctx.url.pathname, n, page.next, order !== 'none' ? { orderby: order } : {});
        return sendJson(ctx, 200, { registry: reg.name, imageName: repo, manifests: page.items, ...(l ? { link: l } : {}) }, l ? { Link: l } : {});
      }
      if (method === 'GET' || method === 'HEAD') return sendJson(ctx, 200, await svc.acr.manifest(reg, repo, arg));
      if (method === 'PATCH') return sendJson(ctx, 200, await svc.acr.patchManifest(reg, repo, arg, await body()));
      if (!arg.includes(':')) throw new RegistryError('DIGEST_INVALID', `"${arg.slice(0, 80)}" is not a digest`);
      await svc.manifests.delete(reg, repo, arg);
      return send(ctx, 202, {});
    }
  }
}

