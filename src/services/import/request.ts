import { isDigest, parseDigest } from '../../domain/digest.js';
import { RegistryError } from '../../domain/errors.js';
import { isValidRepositoryName, isValidTag } from '../../domain/reference.js';
import { isLoopbackHost } from '../../config/config.js';

// The importImage request (ACR's body shape) parsed and checked; pure, no I/O.
//   { source: { registryUri, sourceImage, credentials: { username, password } },
//     targetTags: ["repo:tag"], untaggedTargetRepositories: ["repo"], mode: "NoForce" | "Force" }

export interface ImportTarget {
  repository: string;
  /** Absent: the manifest is imported by digest, untagged. */
  tag?: string;
}

export interface ParsedImport {
  /** host[:port] */
  host: string;
  repository: string;
  /** A tag or a digest. */
  reference: string;
  targets: ImportTarget[];
  force: boolean;
  credentials?: { username: string; password: string };
}

const EXAMPLE =
  'use REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST, e.g. registry.example.com/library/nginx:1.27 or localhost:5000/app@sha256:<64 hex digits>';
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const bad = (message: string) => new RegistryError('REQUEST_INVALID', message);

/** "repo:tag" | "repo@digest" | "repo" (then latest). */
function splitImage(image: string, what: string): { repository: string; reference: string } {
  const at = image.indexOf('@');
  let repository: string;
  let reference: string;
  if (at >= 0) {
    repository = image.slice(0, at);
    reference = image.slice(at + 1);
    try {
      reference = parseDigest(reference).value;
    } catch {
      throw bad(`${what} "${clip(image)}" has no valid digest after "@"; ${EXAMPLE}`);
    }
  } else {
    const slash = image.lastIndexOf('/');
    const colon = image.lastIndexOf(':');
    repository = colon > slash ? image.slice(0, colon) : image;
    reference = colon > slash ? image.slice(colon + 1) : 'latest';
    if (!isValidTag(reference)) throw bad(`${what} "${clip(image)}" has an invalid tag "${clip(reference)}"; ${EXAMPLE}`);
  }
  if (!isValidRepositoryName(repository))
    throw bad(`${what} "${clip(image)}" has an invalid repository name "${clip(repository)}"; ${EXAMPLE}`);
  return { repository, reference };
}

/** A full reference "host[:port]/repo:tag": the first component must look like a host (a dot, a port, or localhost). */
export function splitSource(source: string): { host: string; image: string } {
  const slash = source.indexOf('/');
  const first = slash > 0 ? source.slice(0, slash) : '';
  if (!first || !(first.includes('.') || first.includes(':') || first === 'localhost') || !HOST.test(first)) {
    throw bad(`"${clip(source)}" does not start with a registry host; ${EXAMPLE}`);
  }
  return { host: first, image: source.slice(slash + 1) };
}

function normalizeHost(raw: string): string {
  const h = raw.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  if (!HOST.test(h))
    throw bad(`"${clip(raw)}" is not a registry host: give host or host:port, e.g. registry.example.com or localhost:5000`);
  const port = /:(\d+)$/.exec(h);
  if (port && Number(port[1]) > 65535) throw bad(`"${clip(raw)}" has a port above 65535`);
  // Docker Hub's API host, and its implicit library/ namespace.
  return /^(docker\.io|index\.docker\.io)$/i.test(h) ? 'registry-1.docker.io' : h.toLowerCase();
}

const obj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function strings(v: unknown, key: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(`"${key}" must be an array of strings`);
  return v as string[];
}

export function parseImportRequest(body: Record<string, unknown>): ParsedImport {
  const allowed = ['source', 'targetTags', 'untaggedTargetRepositories', 'mode'];
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw bad(`unknown field "${clip(k)}"; allowed: ${allowed.join(', ')}`);
  const source = body.source;
  if (!obj(source)) throw bad(`give "source": { "registryUri": "registry.example.com", "sourceImage": "library/nginx:1.27" }`);
  for (const k of Object.keys(source))
    if (!['registryUri', 'sourceImage', 'credentials'].includes(k))
      throw bad(`unknown field "source.${clip(k)}"; allowed: registryUri, sourceImage, credentials`);
  if (typeof source.sourceImage !== 'string' || !source.sourceImage)
    throw bad(`give "source.sourceImage" (REPOSITORY:TAG or REPOSITORY@DIGEST); ${EXAMPLE}`);
  if (source.registryUri !== undefined && typeof source.registryUri !== 'string') throw bad('"source.registryUri" must be a string');
  let hostRaw = source.registryUri;
  let image = source.sourceImage;
  if (!hostRaw) ({ host: hostRaw, image } = splitSource(image));
  const host = normalizeHost(hostRaw);
  const { reference, ...named } = splitImage(image, 'source image');
  let { repository } = named;
  if (host === 'registry-1.docker.io' && !repository.includes('/')) repository = `library/${repository}`;

  let credentials: ParsedImport['credentials'];
  if (source.credentials !== undefined && source.credentials !== null) {
    const c = source.credentials;
    if (!obj(c) || typeof c.username !== 'string' || typeof c.password !== 'string')
      throw bad('"source.credentials" must be { "username": "...", "password": "..." }');
    if (c.username || c.password) credentials = { username: c.username, password: c.password };
  }

  const mode = body.mode ?? 'NoForce';
  if (mode !== 'NoForce' && mode !== 'Force')
    throw bad('"mode" is "NoForce" (default: an existing target tag fails the import) or "Force" (overwrite target tags)');

  const targets: ImportTarget[] = [];
  for (const t of strings(body.targetTags, 'targetTags')) {
    const { repository: r, reference: ref } = splitImage(t, 'target tag');
    if (isDigest(ref) || !t.slice(t.lastIndexOf('/') + 1).includes(':'))
      throw bad(`target tag "${clip(t)}" must be REPOSITORY:TAG, e.g. app:1.0`);
    targets.push({ repository: r, tag: ref });
  }
  for (const r of strings(body.untaggedTargetRepositories, 'untaggedTargetRepositories')) {
    if (!isValidRepositoryName(r)) throw bad(`"${clip(r)}" in untaggedTargetRepositories is not a valid repository name`);
    targets.push({ repository: r });
  }
  // ACR's default: the source's repository and tag (untagged when imported by digest).
  if (targets.length === 0) targets.push(isDigest(reference) ? { repository } : { repository, tag: reference });
  const seen = new Set<string>();
  const unique = targets.filter((t) => {
    const k = `${t.repository}:${t.tag ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (unique.length > 50) throw bad(`at most 50 targets per import, got ${unique.length}`);
  return { host, repository, reference, targets: unique, force: mode === 'Force', credentials };
}

/** "host/repo:tag" or "host/repo@digest". */
export function sourceText(p: { host: string; repository: string; reference: string }): string {
  return `${p.host}/${p.repository}${isDigest(p.reference) ? '@' : ':'}${p.reference}`;
}

/**
 * Does host[:port] name this deployment: its public URL, its listen address (a loopback or
 * wildcard listener also through any loopback name), a <registry>.<domain> host, or the Host the
 * caller reached it at? Default ports (80, 443) are the same as none.
 */
export function isThisDeployment(host: string, self: { listen: string; publicUrl: string; domain: string }, reachedAt?: string): boolean {
  const norm = (h: string) => h.toLowerCase().replace(/:(80|443)$/, '');
  const split = (h: string) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(norm(h))!;
    return { name: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] };
  };
  const same = (h: string) => norm(h) === norm(host);
  if (reachedAt && same(reachedAt)) return true;
  if (self.publicUrl && same(new URL(self.publicUrl).host)) return true;
  const src = split(host);
  if (self.domain) {
    const d = split(self.domain);
    if ((src.name === d.name || src.name.endsWith(`.${d.name}`)) && src.port === d.port) return true;
  }
  const l = split(self.listen);
  if (src.port !== l.port) return false;
  return src.name === l.name || (isLoopbackHost(src.name) && (isLoopbackHost(l.name) || l.name === '0.0.0.0' || l.name === '::'));
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
