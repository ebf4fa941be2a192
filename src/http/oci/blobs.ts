import { RegistryError } from '../../domain/errors.js';
import type { ByteRange } from '../../domain/byte-range.js';
import type { Registry } from '../../domain/registry.js';
import type { QuarantineViewer, Services } from '../../services/index.js';
import { rangeHeader } from '../../services/content/uploads.js';
import { contentLength, hasBody, send, type Ctx } from '../context.js';
import { sendPositional } from './send-body.js';
import type { OciTarget } from './target.js';

// Blob pull, push, mount and delete (distribution-spec "Pulling blobs", "Pushing blobs", "Deleting blobs").

/** viewer: whether the caller sees quarantined content of the repository (services/content/manifests.ts). */
type Args = { ctx: Ctx; svc: Services; reg: Registry; t: OciTarget; viewer?: QuarantineViewer };

/** Parses "bytes=a-b", "bytes=a-", "bytes=-n" against a size; undefined = serve it all (also for multi-range). */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined | 'unsatisfiable' {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined; // syntactically invalid: ignore (RFC 9110 14.1.1)
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

export async function getBlob({ ctx, svc, reg, t, viewer }: Args, digest: string): Promise<void> {
  ctx.route = 'blobs';
  await serveBlob(ctx, svc, reg, t.repository, digest, viewer, true);
}

/**
 * A blob GET or HEAD, once the caller may read it: the login server's (`redirect`: it may send the
 * client to the data endpoint or to storage) and the data endpoint's (it serves the bytes itself).
 */
export async function serveBlob(
  ctx: Ctx,
  svc: Services,
  reg: Registry,
  repository: string,
  digest: string,
  viewer: QuarantineViewer | undefined,
  redirect: boolean,
): Promise<void> {
  const head = ctx.req.method === 'HEAD';
  const base = await svc.blobs.stat(reg, repository, digest, viewer);
  const range = parseRange(ctx.req.headers.range, base.size);
  const headers: Record<string, string | number> = {
    'Docker-Content-Digest': base.digest,
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: `"${base.digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
  if (range === 'unsatisfiable') {
    throw new RegistryError('RANGE_INVALID', `range ${ctx.req.headers.range} is outside the blob's ${base.size} bytes`, {
      headers: { 'Content-Range': `bytes */${base.size}` },
    });
  }
  if (head) {
    send(ctx, 200, { ...headers, 'Content-Length': base.size });
    return;
  }
  // The registry's data endpoint, or storage.reads: redirect. Authorization and the link check
  // are done; the client follows the 307 with its Range (if any), and the data endpoint or
  // storage answers 200 or 206 itself. The URL expires, so the redirect must not be cached.
  const location = redirect ? await svc.blobs.readUrl(base, { reg, repository }) : undefined;
  if (location) {
    send(ctx, 307, { Location: location, 'Docker-Content-Digest': base.digest, 'Cache-Control': 'no-store' });
    return;
  }
  const body = await svc.blobs.open(reg, repository, base, range);
  const status = range ? 206 : 200;
  const length = range ? range.end - range.start + 1 : body.size;
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${body.size}`;
  ctx.res.writeHead(status, { ...headers, 'Content-Length': length });
  if (Buffer.isBuffer(body.stream)) {
    ctx.res.end(body.stream);
    return;
  }
  if ('reader' in body.stream) {
    await sendPositional(ctx.res, body.stream);
    return;
  }
  const stream = body.stream;
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    ctx.res.on('close', () => {
      stream.destroy();
      resolve();
    });
    ctx.res.on('finish', resolve);
    stream.pipe(ctx.res);
  });
}

export async function deleteBlob({ ctx, svc, reg, t }: Args, digest: string): Promise<void> {
  ctx.route = 'blobs';
  await svc.blobs.delete(reg, t.repository, digest);
  send(ctx, 202, {});
}

function uploadLocation(t: OciTarget, id: string): string {
  return `/v2/${t.urlName}/blobs/uploads/${id}`;
}

function blobCreated(ctx: Ctx, t: OciTarget, digest: string): void {
  send(ctx, 201, { Location: `/v2/${t.urlName}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

function parseContentRange(ctx: Ctx): { start: number; end: number } | undefined {
  const raw = ctx.req.headers['content-range'];
  if (raw === undefined) return undefined;
  // distribution-spec: ^[0-9]+-[0-9]+$ ; some clients send the RFC form "bytes a-b/*".
  const m = /^(?:bytes )?(\d{1,15})-(\d{1,15})(?:\/(?:\*|\d+))?$/.exec(raw.trim());
  if (!m)
    throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range "${raw.slice(0, 40)}" is not of the form <start>-<end>`, { status: 416 });
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** POST /blobs/uploads/: mount, monolithic (?digest=), or start a session. */
export async function startUpload({
  ctx,
  svc,
  reg,
  t,
  canRead,
  seesQuarantined,
}: Args & {
  canRead: (repository: string) => Promise<boolean>;
  seesQuarantined: (repository: string) => Promise<boolean>;
}): Promise<void> {
  ctx.route = 'uploads';
  const q = ctx.url.searchParams;
  const mount = q.get('mount');
  if (mount !== null) {
    const from = q.get('from') ?? undefined;
    // A `from` in another registry (path-style "<registry>/<repo>") is never mounted across registries.
    const fromRepo = from === undefined ? undefined : crossName(t, from);
    const mounted = fromRepo === null ? null : await svc.blobs.mount(reg, t.repository, mount, fromRepo, canRead, seesQuarantined);
    if (mounted) {
      blobCreated(ctx, t, mounted.digest);
      return;
    }
  }
  const digest = q.get('digest');
  if (digest !== null) {
    const out = await svc.uploads.monolithic(reg, t.repository, digest, { body: ctx.req, contentLength: contentLength(ctx) });
    blobCreated(ctx, t, out.digest);
    return;
  }
  const up = await svc.uploads.start(reg, t.repository, q.get('digest-algorithm') ?? undefined);
  send(ctx, 202, { Location: uploadLocation(t, up.id), Range: rangeHeader(0), 'Docker-Upload-UUID': up.id });
}

/** Maps a `from` name of the URL's addressing style to a repository of the same registry, or null. */
function crossName(t: OciTarget, from: string): string | null {
  if (t.urlName === t.repository) return from; // host-style: names are repositories
  const prefix = `${t.registry}/`;
  return from.toLowerCase().startsWith(prefix.toLowerCase()) ? from.slice(prefix.length) : null;
}

export async function uploadStatus({ ctx, svc, reg, t }: Args, id: string): Promise<void> {
  ctx.route = 'uploads';
  const st = await svc.uploads.status(reg, t.repository, id);
  send(ctx, 204, { Location: uploadLocation(t, id), Range: rangeHeader(st.offset), 'Docker-Upload-UUID': id });
}

export async function patchUpload({ ctx, svc, reg, t }: Args, id: string): Promise<void> {
  ctx.route = 'uploads';
  try {
    const st = await svc.uploads.append(reg, t.repository, id, {
      body: ctx.req,
      contentLength: contentLength(ctx),
      range: parseContentRange(ctx),
    });
    send(ctx, 202, { Location: uploadLocation(t, id), Range: rangeHeader(st.offset), 'Docker-Upload-UUID': id });
  } catch (e) {
    throw withLocation(e, t, id);
  }
}

export async function putUpload({ ctx, svc, reg, t }: Args, id: string): Promise<void> {
  ctx.route = 'uploads';
  const digest = ctx.url.searchParams.get('digest');
  if (digest === null) {
    throw new RegistryError('DIGEST_INVALID', 'closing an upload needs ?digest=<digest of the whole blob>');
  }
  try {
    const chunk = hasBody(ctx) ? { body: ctx.req, contentLength: contentLength(ctx), range: parseContentRange(ctx) } : undefined;
    const out = await svc.uploads.finish(reg, t.repository, id, digest, chunk);
    blobCreated(ctx, t, out.digest);
  } catch (e) {
    throw withLocation(e, t, id);
  }
}

export async function cancelUpload({ ctx, svc, reg, t }: Args, id: string): Promise<void> {
  ctx.route = 'uploads';
  await svc.uploads.cancel(reg, t.repository, id);
  send(ctx, 204, {});
}

/** A 416 tells the client where the upload stands: add the session's Location. */
function withLocation(e: unknown, t: OciTarget, id: string): unknown {
  if (e instanceof RegistryError && e.status === 416) e.headers.Location = uploadLocation(t, id);
  return e;
}
