import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import {
  authenticate,
  authorize,
  authorizeCatalog,
  catalogScope,
  challenge,
  networkClient,
  serviceName,
  tokenAllows,
  type AuthContext,
  type AuthHttpOptions,
} from '../auth.js';
import { onceViewer, parsePageSize, type Services } from '../../services/index.js';
import { categoriesOf } from '../../services/policy/rates.js';
import { notAllowed, sendJson, type Ctx } from '../context.js';
import { nextLink } from './manifests.js';
import * as blobs from './blobs.js';
import * as manifests from './manifests.js';
import { decodeReference, decodeSegment, hostRegistry, resolveTarget, type OciTarget } from './target.js';
import type { Registry } from '../../domain/registry.js';

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

/** 405 on /v2 is the OCI code UNSUPPORTED (what registry clients expect). */
const methodNotAllowed = (method: string, allowed: string[]): RegistryError => notAllowed(method, allowed, 'UNSUPPORTED');

export interface V2Options extends AuthHttpOptions {
  domain: string;
}

/** The scope a challenge asks for: every action that would do (the token service grants the ones the caller has). */
function scopeFor(urlName: string, anyOf: Action[]): string {
  return `repository:${urlName}:${anyOf.includes('push') ? 'pull,push' : anyOf.join(',')}`;
}

/** Whether the caller may do one action here: what its token carries, else what it holds now. */
async function mayDo(svc: Services, a: AuthContext, reg: Registry, t: OciTarget, action: Action): Promise<boolean> {
  if (a.access) return tokenAllows(a.access, { registry: reg, repository: t.repository, urlName: t.urlName, anyOf: [action], scope: '' });
  return (await svc.auth.grant(a.principal, reg, t.repository)).actions.has(action);
}

/** The action(s) a route needs; any one of them suffices. */
function needed(family: string, method: string, ref: string): Action[] | undefined {
  switch (family) {
    case 'manifest':
      if (method === 'GET' || method === 'HEAD') return ['pull'];
      // A signer may push signatures without push (checked per manifest in putManifest).
      if (method === 'PUT') return ['push', 'sign'];
      // DELETE by tag only untags: ACR lets metadata/write do that; by digest it deletes.
      if (method === 'DELETE') return ref.includes(':') ? ['delete'] : ['delete', 'metadata_write'];
      return undefined;
    case 'upload-start':
    case 'upload':
      return ['push', 'sign'];
    case 'blob':
      return method === 'DELETE' ? ['delete'] : ['pull'];
    case 'tags':
      return ['pull', 'metadata_read'];
    case 'referrers':
      return ['pull'];
  }
  return undefined;
}

export async function handleV2(ctx: Ctx, svc: Services, rawPath: string, opts: V2Options): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const rest = rawPath.slice('/v2/'.length);
  const fromHost = hostRegistry(ctx.req.headers.host, opts.domain, svc.replication.regions);
  const service = serviceName(ctx, opts);
  const a = await authenticateOrChallenge(ctx, svc, service, opts);

  if (rest === '') {
    ctx.route = 'base';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
    // A host-style login server's base endpoint answers only clients its network rules admit.
    if (fromHost !== undefined) {
      const { reg } = await svc.access.locate(a.principal, fromHost, networkClient(ctx));
      // On a private endpoint a registry not connected there does not exist, its host included.
      if (!reg && ctx.endpoint !== undefined)
        throw new RegistryError('NAME_UNKNOWN', `registry "${fromHost}" does not exist on this server`);
    }
    // distribution-spec: /v2/ tells a client whether it is authenticated.
    if (a.principal.kind === 'anonymous')
      throw new RegistryError('UNAUTHORIZED', 'authentication required', { headers: challenge(ctx, opts, service, undefined) });
    sendJson(ctx, 200, {});
    return;
  }
  if (rest === '_catalog' || /^[^/]+\/_catalog$/.test(rest)) {
    ctx.route = 'catalog';
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
    const registry = rest === '_catalog' ? fromHost : decodeSegment(rest.slice(0, -'/_catalog'.length), 'name');
    await catalog(ctx, svc, a, registry, fromHost !== undefined, opts, service);
    return;
  }

  for (const { re, family } of ROUTES) {
    const m = re.exec(rest);
    if (!m) continue;
    const t = resolveTarget(m[1]!, fromHost);
    const ref = m[2] === undefined ? '' : decodeReference(m[2]);
    const anyOf = needed(family, method, ref);
    // An unknown registry is reported only to callers who may see the whole deployment; for
    // everyone else it is as forbidden as a registry they cannot access (the access policy's rule).
    const { reg, unknownVisible } = await svc.access.locate(a.principal, t.registry, networkClient(ctx));
    if (reg) ctx.registry = reg.name;
    if (anyOf && !unknownVisible) {
      await authorize(
        ctx,
        svc.auth,
        a,
        { registry: reg, repository: t.repository, urlName: t.urlName, anyOf, scope: scopeFor(t.urlName, anyOf) },
        opts,
        service,
      );
    }
    if (reg) svc.rates.take(reg, a.principal, categoriesOf(method, family));
    // Asked (once) only when something quarantined is met under the registry's quarantine policy.
    const seesQuarantined = async (repository: string) =>
      !!reg && (await svc.auth.grant(a.principal, reg, repository)).actions.has('quarantine_read');
    const viewer = onceViewer(() => seesQuarantined(t.repository));
    // Who the pull policy lets read unsigned images: scanners (quarantine_read) and signers (sign).
    const trustBypass = onceViewer(async () => !!reg && ((await viewer()) || (await mayDo(svc, a, reg, t, 'sign'))));
    if (family === 'referrers') {
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method, ['GET', 'HEAD']);
      return manifests.listReferrers({ ctx, svc, reg, t, viewer }, ref);
    }
    if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${t.registry}" does not exist on this server`);
    const args = { ctx, svc, reg, t, viewer };
    switch (family) {
      case 'manifest':
        if (method === 'GET' || method === 'HEAD') return manifests.getManifest({ ...args, trustBypass }, ref);
        if (method === 'PUT') return manifests.putManifest({ ...args, may: (action) => mayDo(svc, a, reg, t, action) }, ref);
        if (method === 'DELETE') return manifests.deleteManifest(args, ref);
        throw methodNotAllowed(method, ['GET', 'HEAD', 'PUT', 'DELETE']);
      case 'upload-start':
        if (method === 'POST') {
          const canRead = async (repository: string) => (await svc.auth.grant(a.principal, reg, repository)).actions.has('pull');
          return blobs.startUpload({ ...args, canRead, seesQuarantined });
        }
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

/** Authenticates; a failed sign-in answers 401 with the challenge, so clients know where to get a token. */
async function authenticateOrChallenge(ctx: Ctx, svc: Services, service: string, opts: V2Options): Promise<AuthContext> {
  try {
    return await authenticate(ctx, svc.auth, service);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') Object.assign(e.headers, challenge(ctx, opts, service, undefined));
    throw e;
  }
}

/**
 * _catalog. Host-style: the registry's repositories. Path-style: /v2/<registry>/_catalog for one
 * registry, /v2/_catalog for all; names are "<registry>/<repository>", the names clients pull by.
 */
async function catalog(
  ctx: Ctx,
  svc: Services,
  a: AuthContext,
  registry: string | undefined,
  hostStyle: boolean,
  opts: V2Options,
  service: string,
): Promise<void> {
  const q = ctx.url.searchParams;
  const n = parsePageSize(q.get('n'), 1000);
  const last = q.get('last') ?? undefined;
  const path = ctx.url.pathname;
  let items: string[];
  let next: string | undefined;
  if (registry === undefined) {
    // Every registry the caller may list, and only those.
    if (a.principal.kind === 'anonymous')
      throw new RegistryError('UNAUTHORIZED', 'authentication required', { headers: challenge(ctx, opts, service, 'registry:catalog:*') });
    const granted = await catalogScope(svc.auth, a);
    if (granted !== 'all' && granted.length === 0) await authorizeCatalog(ctx, svc.auth, a, undefined, opts, service);
    // On a private listener, only the registries connected there.
    const reach = await svc.access.reachHere(granted);
    ({ items, next } = await svc.repositories.catalogAll(n, last, reach === 'all' ? undefined : reach));
  } else {
    const { reg, unknownVisible } = await svc.access.locate(a.principal, registry, networkClient(ctx));
    if (unknownVisible) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
    await authorizeCatalog(ctx, svc.auth, a, reg, opts, service);
    if (!reg) throw new RegistryError('NAME_UNKNOWN', `registry "${registry}" does not exist on this server`);
    const prefix = hostStyle ? '' : `${registry}/`;
    const strip = last !== undefined && prefix && last.startsWith(prefix) ? last.slice(prefix.length) : last;
    const page = await svc.repositories.catalog(reg, n, strip);
    items = page.items.map((r) => prefix + r);
    next = page.next === undefined ? undefined : prefix + page.next;
  }
  sendJson(ctx, 200, { repositories: items }, next === undefined ? {} : { Link: nextLink(path, n, next) });
}
