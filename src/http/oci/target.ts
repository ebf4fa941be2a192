import { RegistryError } from '../../domain/errors.js';
import { assertRepositoryName, isValidRegistryName } from '../../domain/reference.js';

// Where a /v2 request points: which registry and repository, and the name as it appears in URLs
// (needed to build Location and Link headers). Two addressing styles:
//   path-style  HOST/v2/<registry>/<repository>/...   (no DNS needed; the registry is the first component)
//   host-style  <registry>.<domain>/v2/<repository>/... (like name.azurecr.io)

export interface OciTarget {
  registry: string;
  repository: string;
  /** The <name> part of the URL: "<registry>/<repository>" path-style, "<repository>" host-style. */
  urlName: string;
}

/** Decodes one raw URL segment of a name; malformed escapes and control characters are rejected. */
export function decodeSegment(raw: string, what: 'name' | 'reference'): string {
  if (what === 'reference') return decodeReference(raw);
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw invalidName(raw);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(s)) throw invalidName(raw);
  return s;
}

/**
 * Decodes the last segment of a /v2 URL: a tag, a digest or an upload id. A malformed escape is
 * passed on undecoded; the grammar of what the route expects then refuses it with the right code
 * (TAG_INVALID, DIGEST_INVALID, BLOB_UPLOAD_UNKNOWN), none of which admit "%", "\\" or controls.
 */
export function decodeReference(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function invalidName(raw: string): RegistryError {
  return new RegistryError('NAME_INVALID', `invalid repository name "${raw.slice(0, 80)}"`);
}

/**
 * Resolves the raw <name> of a /v2 URL. hostRegistry is set when the Host header named a registry
 * (host-style); otherwise the first path component is the registry.
 */
export function resolveTarget(rawName: string, hostRegistry: string | undefined): OciTarget {
  const name = decodeSegment(rawName, 'name');
  if (hostRegistry !== undefined) {
    assertRepositoryName(name);
    return { registry: hostRegistry, repository: name, urlName: name };
  }
  const slash = name.indexOf('/');
  if (slash < 0) {
    throw new RegistryError(
      'NAME_INVALID',
      `"${name.slice(0, 80)}" names no repository: on this server repositories are addressed as <registry>/<repository>, e.g. ${isValidRegistryName(name) ? name : 'myregistry'}/app`,
    );
  }
  const registry = name.slice(0, slash);
  const repository = name.slice(slash + 1);
  // The full path-style name must itself be a valid OCI name (lowercase registry part included).
  assertRepositoryName(name);
  // Whether the registry exists (its name may not even be a valid one) is for the service to say.
  return { registry, repository, urlName: name };
}

/**
 * The registry a Host header names under the configured domain ("demo.registry.example.com" ->
 * "demo"; a regional endpoint "demo.westeurope.registry.example.com" -> "demo" too).
 */
export function hostRegistry(
  hostHeader: string | undefined,
  domain: string,
  regions: readonly { name: string }[] = [],
): string | undefined {
  if (!domain || !hostHeader) return undefined;
  const host = hostHeader.replace(/:\d+$/, '').toLowerCase();
  const base = domain.replace(/:\d+$/, '').toLowerCase();
  if (!host.endsWith(`.${base}`)) return undefined;
  const label = host.slice(0, -(base.length + 1));
  if (isValidRegistryName(label)) return label;
  // A regional endpoint (geo-replication): <registry>.<region>.<domain>, as ACR's <name>.<region>.geo.azurecr.io.
  const dot = label.indexOf('.');
  const registry = label.slice(0, dot);
  const region = label.slice(dot + 1);
  return dot > 0 && isValidRegistryName(registry) && regions.some((r) => r.name === region) ? registry : undefined;
}
