import type { Action } from '../../auth/model.js';
import { RegistryError } from '../../domain/errors.js';
import type { ManifestHead } from '../../domain/manifest-head.js';
import type { Registry } from '../../domain/registry.js';
import { parsePageSize, type QuarantineViewer, type Services } from '../../services/index.js';
import { readBody, send, sendJson, type Ctx } from '../context.js';
import type { OciTarget } from './target.js';

// Manifests, tags and referrers (distribution-spec "Pulling manifests", "Pushing Manifests",
// "Content Discovery", "Deleting manifests/tags").

/** viewer: whether the caller sees quarantined manifests of the repository (services/content/manifests.ts). */
type Args = { ctx: Ctx; svc: Services; reg: Registry; t: OciTarget; viewer?: QuarantineViewer };
/** trustBypass: whether the caller reads unsigned images under the pull policy (scanners, signers). */
type GetArgs = Args & { trustBypass?: QuarantineViewer };
/** may: whether the caller holds an action here (push, sign): a signature needs sign or push, an image push. */
type PutArgs = Args & { may: (action: Action) => Promise<boolean> };

/**
 * Does the Accept header admit this media type? No header, or a wildcard, admits everything. The
 * most specific matching range decides, and q=0 means "not acceptable" (RFC 9110 12.5.1).
 */
export function accepts(header: string | string[] | undefined, mediaType: string): boolean {
  if (header === undefined) return true;
  const ranges = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((p) => {
      const [range, ...params] = p.split(';');
      const q = params.map((x) => x.trim().toLowerCase()).find((x) => x.startsWith('q='));
      const weight = q === undefined ? 1 : Number(q.slice(2));
      return { range: range!.trim().toLowerCase(), ok: Number.isNaN(weight) || weight > 0 };
    })
    .filter((r) => r.range);
  if (ranges.length === 0) return true;
  const [type] = mediaType.split('/');
  for (const want of [mediaType, `${type}/*`, '*/*']) {
    const matching = ranges.filter((r) => r.range === want);
    if (matching.length > 0) return matching.some((r) => r.ok);
  }
  return false;
}

export async function getManifest({ ctx, svc, reg, t, viewer, trustBypass }: GetArgs, ref: string): Promise<void> {
  ctx.route = 'manifests';
  const head = ctx.req.method === 'HEAD';
  const m = head ? await svc.manifests.head(reg, t.repository, ref, viewer) : await svc.manifests.get(reg, t.repository, ref, viewer);
  // The pull policy: under an enforcing trust policy an image without a verified signature is refused.
  await svc.trust.assertPullable(reg, t.repository, m, ref, trustBypass);
  if (!accepts(ctx.req.headers.accept, m.media_type)) {
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${ref} is ${m.media_type}, which the request's Accept header does not include`);
  }
  const headers: Record<string, string | number> = {
    'Content-Type': m.media_type,
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
    'Content-Length': m.size,
  };
  if (head) {
    send(ctx, 200, headers);
    return;
  }
  const content = (m as ManifestHead & { content: Uint8Array }).content;
  ctx.res.writeHead(200, headers);
  ctx.res.end(Buffer.isBuffer(content) ? content : Buffer.from(content));
}

export async function putManifest({ ctx, svc, reg, t, may }: PutArgs, ref: string): Promise<void> {
  ctx.route = 'manifests';
  const max = svc.manifests.maxBytes;
  const body = await readBody(
    ctx,
    max,
    () => new RegistryError('MANIFEST_INVALID', `manifest exceeds the limit of ${max} bytes`, { status: 413 }),
  );
  const contentType = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const extraTags = ctx.url.searchParams.getAll('tag');
  if (extraTags.length > 100)
    throw new RegistryError('TAG_INVALID', 'at most 100 tag parameters may be given in one request', { status: 414 });
  const out = await svc.manifests.put(reg, t.repository, ref, body, contentType, extraTags, (parsed, tags) =>
    svc.trust.assertMayPush(reg, t.repository, parsed, tags, may),
  );
  const headers: Record<string, string | string[]> = {
    Location: `/v2/${t.urlName}/manifests/${out.digest}`,
    'Docker-Content-Digest': out.digest,
  };
  if (out.subject) headers['OCI-Subject'] = out.subject;
  // distribution-spec: an OCI-Tag header for each tag accepted from ?tag= parameters.
  if (extraTags.length > 0) headers['OCI-Tag'] = out.tags;
  send(ctx, 201, headers);
}

export async function deleteManifest({ ctx, svc, reg, t }: Args, ref: string): Promise<void> {
  ctx.route = 'manifests';
  await svc.manifests.delete(reg, t.repository, ref);
  send(ctx, 202, {});
}

export function nextLink(path: string, n: number, last: string, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ ...extra, n: String(n), last });
  return `<${path}?${q.toString()}>; rel="next"`;
}

export async function listTags({ ctx, svc, reg, t, viewer }: Args): Promise<void> {
  ctx.route = 'tags';
  const q = ctx.url.searchParams;
  const n = parsePageSize(q.get('n'), 10_000);
  const last = q.get('last') ?? undefined;
  const page = await svc.manifests.tags(reg, t.repository, n, last, viewer);
  const headers: Record<string, string> = {};
  if (page.next !== undefined) headers.Link = nextLink(`/v2/${t.urlName}/tags/list`, n, page.next);
  sendJson(ctx, 200, { name: t.urlName, tags: page.items }, headers);
}

/** reg is undefined for an unknown registry: the spec forbids a 404 here, so it simply has no referrers. */
export async function listReferrers(
  { ctx, svc, reg, t, viewer }: Omit<Args, 'reg'> & { reg: Registry | undefined },
  digest: string,
): Promise<void> {
  ctx.route = 'referrers';
  const q = ctx.url.searchParams;
  const artifactType = q.get('artifactType') ?? undefined;
  const n = parsePageSize(q.get('n'), 1000) || 1000;
  const out = await svc.manifests.referrers(reg, t.repository, digest, artifactType, n, q.get('last') ?? undefined, viewer);
  const headers: Record<string, string> = { 'Content-Type': 'application/vnd.oci.image.index.v1+json' };
  if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
  if (out.next !== undefined)
    headers.Link = nextLink(`/v2/${t.urlName}/referrers/${digest}`, n, out.next, artifactType ? { artifactType } : {});
  send(ctx, 200, headers, JSON.stringify(out.index));
}
