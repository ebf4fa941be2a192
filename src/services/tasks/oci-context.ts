import { createHash } from 'node:crypto';
import { ContextError } from '../../domain/tasks/context.js';
import { parseManifest } from '../../domain/manifest.js';
import { Upstream, UpstreamError } from '../import/upstream.js';
import { extractTarball, type ExtractLimits } from './safe-extract.js';

// A build context stored as an OCI artifact (oci://REGISTRY/REPOSITORY:TAG, as `az acr build`
// takes one): the artifact's tar layer (gzipped or not), fetched with the registry's token flow
// (the run's own credential for this deployment, a task credential for another registry),
// checked against its digest as it streams, and unpacked by the same safe extractor as any other
// context.

/** Layer media types that hold a tar (OCI and Docker layers, and artifacts' own "…tar+gzip" types). */
const TAR_LAYER = /\btar\b/;

export interface OciContextOptions extends ExtractLimits {
  dir: string;
  credentials?: { username: string; password: string };
  insecure: boolean;
  allowPrivate: boolean;
  signal?: AbortSignal;
  onLine: (line: string) => void;
}

export async function fetchOciContext(reference: string, o: OciContextOptions): Promise<void> {
  const slash = reference.indexOf('/');
  const host = reference.slice(0, slash);
  const rest = reference.slice(slash + 1);
  const at = rest.indexOf('@');
  const colon = rest.lastIndexOf(':');
  const [repository, ref] = at >= 0 ? [rest.slice(0, at), rest.slice(at + 1)] : [rest.slice(0, colon), rest.slice(colon + 1)];
  const up = new Upstream({
    host,
    repository,
    credentials: o.credentials,
    insecure: o.insecure,
    allowPrivate: o.allowPrivate,
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    maxRedirects: 3,
    manifestMaxBytes: 4 * 1024 * 1024,
  });
  try {
    const m = await up.manifest(ref);
    const parsed = parseManifest(m.bytes, m.mediaType);
    const layer = parsed.blobs.find((b) => b.digest !== parsed.config?.digest && TAR_LAYER.test(b.mediaType ?? ''));
    if (!layer) throw new ContextError(`the artifact oci://${reference} has no tar layer to use as the build context`);
    o.onLine(`downloading the context oci://${reference} (${layer.digest})`);
    const { body } = await up.blob(layer.digest);
    const want = layer.digest;
    async function* verified() {
      const hash = createHash(want.split(':')[0]!);
      for await (const c of body as AsyncIterable<Buffer>) {
        hash.update(c);
        yield c;
      }
      if (`${want.split(':')[0]}:${hash.digest('hex')}` !== want)
        throw new ContextError(`the context layer of oci://${reference} does not match its digest ${want}`);
    }
    await extractTarball(verified(), o.dir, o, o.signal);
  } catch (e) {
    if (e instanceof UpstreamError) throw new ContextError(`the context oci://${reference} could not be fetched: ${e.message}`);
    throw e;
  }
}
