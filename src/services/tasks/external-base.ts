import { isLoopbackHost } from '../../config/config.js';
import { Upstream } from '../import/upstream.js';

// The digest a tag of an image outside this deployment has now (for base-image triggers on
// Docker Hub, another registry, …), asked the way an import asks: the registry's token flow, the
// egress rules, credentials only to the registry's own realm.

export interface ExternalBaseOptions {
  allowPrivate: boolean;
  insecureRegistries: readonly string[];
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxRedirects: number;
  manifestMaxBytes: number;
}

/** host, repository and tag of a reference as docker reads it (no host: Docker Hub, library/ for one-part names). */
export function splitReference(image: string): { host: string; repository: string; tag: string } {
  const noDigest = image.split('@')[0]!;
  const parts = noDigest.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : 'registry-1.docker.io';
  let rest = hasHost ? parts.slice(1).join('/') : noDigest;
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!hasHost && !rest.includes('/')) rest = `library/${rest}`;
  return { host: host === 'docker.io' ? 'registry-1.docker.io' : host, repository: rest, tag };
}

export async function externalDigest(
  image: string,
  credentials: { username: string; password: string } | undefined,
  o: ExternalBaseOptions,
): Promise<string> {
  const ref = splitReference(image);
  const up = new Upstream({
    host: ref.host,
    repository: ref.repository,
    credentials,
    insecure: isLoopbackHost(ref.host.replace(/:\d+$/, '')) || o.insecureRegistries.includes(ref.host),
    allowPrivate: o.allowPrivate,
    connectTimeoutMs: o.connectTimeoutMs,
    idleTimeoutMs: o.idleTimeoutMs,
    maxRedirects: o.maxRedirects,
    manifestMaxBytes: o.manifestMaxBytes,
  });
  return (await up.manifest(ref.tag)).digest;
}
