import { RegistryError } from '../../domain/errors.js';
import { parsePageSize, type Services } from '../../services/index.js';
import { sendJson, type Ctx } from '../context.js';
import { nextLink } from './manifests.js';
import * as blobs from './blobs.js';
import * as manifests from './manifests.js';
import { decodeReference, decodeSegment, hostRegistry, resolveTarget } from './target.js';

// The /v2 data plane: matches the raw path (never a normalised one: "..", "%2e" and "\" must be
// refused, not resolved), resolves registry and repository, and hands over to one handler.
// RFC 9110 9.1: "All general-purpose servers MUST support the methods GET and HEAD": every GET
// route answers HEAD too (send() omits the body).

const ROUTES: { re: RegExp; family: string }[] = [
  { re: /^(.+)\/manifests\/([^/]+)$/, family: 'manifest' },
  { re: /^(.+)\/blobs\/uploads\/?$/, family: 'upload-start' },
  { re: /^(.+)\/blobs\/uploads\/([^/]+)$/, family: 'upload' },
  { re: /^(.+)\/blobs\/([^/]+)$/, family: 'blob' },
  { re: /^(.+)\/tags\/list$/, family: 'tags' },
  { re: /^(.+)\/referrers\/([^/]+)$/, family: 'referrers' },
];

function methodNotAllowed(method: string, allowed: string[]): RegistryError {
  return new RegistryError('UNSUPPORTED', `${method} is not allowed here; use ${allowed.join(', ')}`, { status: 405, headers: { Allow: allowed.join(', ') } });
}

export async function handleV2(ctx: Ctx, svc: Services, rawPath: string, domain: string): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const rest = rawPath.slice('/v2/'.length);
  const fromHost = hostRegistry(ctx.req.headers.host, domain);

  if (rest === '') {
    ctx.route = 'base';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
    sendJson(ctx, 200, {});
    return;
  }
  if (rest === '_catalog' || /^[^/]+\/_catalog$/.test(rest)) {
    ctx.route = 'catalog';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
    await catalog(ctx, svc, rest === '_catalog' ? fromHost : decodeSegment(rest.slice(0, -'/_catalog'.length), 'name'), fromHost !== undefined);
    return;
  }

  for (const { re, family } of ROUTES) {
    const m = re.exec(rest);
    if (!m) continue;
    const t = resolveTarget(m[1]!, fromHost);
    const ref = m[2] === undefined ? '' : decodeReference(m[2]);
    if (family === 'referrers') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
      // distribution-spec: a registry that supports referrers "MUST NOT return a 404 Not Found"
      // to a referrers request; an unknown registry, like an unknown repository, has none.
      return manifests.listReferrers({ ctx, svc, reg: await svc.registries.find(t.registry), t }, ref);
    }
    const reg = await svc.registries.resolve(t.registry);
    const args = { ctx, svc, reg, t };
    switch (family) {
      case 'manifest':
        if (method === 'GET' || method === 'HEAD') return manifests.getManifest(args, ref);
        if (method === 'PUT') return manifests.putManifest(args, ref);
        if (method === 'DELETE') return manifests.deleteManifest(args, ref);
        throw methodNotAllowed(method, ['GET', 'HEAD', 'PUT', 'DELETE']);
      case 'upload-start':
        if (method === 'POST') return blobs.startUpload(args);
        throw methodNotAllowed(method, ['POST']);
      case 'upload':
        if (method === 'GET' || method === 'HEAD') return blobs.uploadStatus(args, ref);
        if (method === 'PATCH') return blobs.patchUpload(args, ref);
        if (method === 'PUT') return blobs.putUpload(args, ref);
        if (method === 'DELETE') return blobs.cancelUpload(args, ref);
        throw methodNotAllowed(method, ['GET', 'HEAD', 'PATCH', 'PUT', 'DELETE']);
      case 'blob':
        if (method === 'GET' || method === 'HEAD') return blobs.getBlob(args, ref);
        if (method === 'DELETE') return blobs.deleteBlob(args, ref);
        throw methodNotAllowed(method, ['GET', 'HEAD', 'DELETE']);
      case 'tags':
        if (method === 'GET' || method === 'HEAD') return manifests.listTags(args);
        throw methodNotAllowed(method, ['GET', 'HEAD']);
    }
  }
  throw new RegistryError('UNSUPPORTED', `no registry API at ${rawPath.slice(0, 120)}`, { status: 404 });
}

/**
 * _catalog. Host-style: the registry's repositories. Path-style: /v2/<registry>/_catalog for one
 * registry, /v2/_catalog for all; names are "<registry>/<repository>", the names clients pull by.
 */
async function catalog(ctx: Ctx, svc: Services, registry: string | undefined, hostStyle: boolean): Promise<void> {
  const q = ctx.url.searchParams;
  const n = parsePageSize(q.get('n'), 1000);
  const last = q.get('last') ?? undefined;
  const path = ctx.url.pathname;
  let items: string[];
  let next: string | undefined;
  if (registry === undefined) {
    ({ items, next } = await svc.repositories.catalogAll(n, last));
  } else {
    const reg = await svc.registries.resolve(registry);
    const prefix = hostStyle ? '' : `${registry}/`;
    const strip = last !== undefined && prefix && last.startsWith(prefix) ? last.slice(prefix.length) : last;
    const page = await svc.repositories.catalog(reg, n, strip);
    items = page.items.map((r) => prefix + r);
    next = page.next === undefined ? undefined : prefix + page.next;
  }
  sendJson(ctx, 200, { repositories: items }, next === undefined ? {} : { Link: nextLink(path, n, next) });
}
