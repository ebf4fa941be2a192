import { parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

const MANIFEST_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerList]);

export function isManifestMediaType(t: string): boolean {
  return MANIFEST_TYPES.has(t) || INDEX_TYPES.has(t);
}

export function isIndexMediaType(t: string): boolean {
  return INDEX_TYPES.has(t);
}

/** Layers a registry need not hold: OCI non-distributable and Docker foreign layers, or any descriptor with urls. */
function isNonDistributable(d: Descriptor): boolean {
  return (
    d.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    d.mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' ||
    (Array.isArray(d.urls) && d.urls.length > 0)
  );
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: { architecture?: string; os?: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
}

/** What the registry needs to know about a manifest it stores; the raw bytes are kept exactly as pushed. */
export interface ParsedManifest {
  mediaType: string;
  kind: 'manifest' | 'index';
  /** referrers-API artifactType: manifest.artifactType, else config.mediaType; for an index only its own artifactType. */
  artifactType: string | null;
  annotations: Record<string, string> | null;
  subject: Descriptor | null;
  config: Descriptor | null;
  /** Blobs that must be present in the repository (config + distributable layers). */
  blobs: Descriptor[];
  /** Child manifests that must be present in the repository (index entries). */
  manifests: Descriptor[];
}

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError('MANIFEST_INVALID', message, { detail });
}

/**
 * A media type (or artifactType) we may store and index: 1-255 characters (RFC 6838 allows 127 +
 * "/" + 127) and no control characters, which no media type has and PostgreSQL text cannot hold (NUL).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
export function isMediaTypeString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 255 && !CONTROL.test(v);
}

function readDescriptor(raw: unknown, where: string): Descriptor {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    invalid(`${where} must be a descriptor object with mediaType, digest and size`);
  const d = raw as Record<string, unknown>;
  if (!isMediaTypeString(d.mediaType))
    invalid(`${where}.mediaType must be a non-empty string of at most 255 characters without control characters`);
  if (typeof d.digest !== 'string') invalid(`${where}.digest must be a string`);
  try {
    parseDigest(d.digest);
  } catch (e) {
    invalid(`${where}.digest is invalid: ${(e as Error).message}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) invalid(`${where}.size must be a non-negative integer`);
  if (d.artifactType !== undefined && !isMediaTypeString(d.artifactType))
    invalid(`${where}.artifactType must be a string: a media type of at most 255 characters without control characters`);
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== 'string')))
    invalid(`${where}.urls must be an array of strings`);
  if (d.annotations !== undefined) readAnnotations(d.annotations, `${where}.annotations`);
  return d as unknown as Descriptor;
}

function readAnnotations(raw: unknown, where: string): Record<string, string> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) invalid(`${where} must be an object of string values`);
  for (const v of Object.values(raw)) if (typeof v !== 'string') invalid(`${where} values must be strings`);
  return raw as Record<string, string>;
}

/**
 * Parses and validates a pushed manifest. contentType is the request's Content-Type (parameters
 * stripped), or '' when absent. Throws MANIFEST_INVALID with a precise message on any problem.
 */
export function parseManifest(bytes: Uint8Array, contentType: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    invalid(`manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) invalid('manifest must be a JSON object');
  const m = doc as Record<string, unknown>;

  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  if (m.mediaType !== undefined && typeof m.mediaType !== 'string') invalid('mediaType must be a string');
  if (
    m.schemaVersion === 1 ||
    contentType === MediaTypes.dockerSchema1 ||
    contentType === MediaTypes.dockerSchema1Signed ||
    declared === MediaTypes.dockerSchema1 ||
    declared === MediaTypes.dockerSchema1Signed
  ) {
    invalid('Docker image manifest schema 1 is deprecated and not supported: push with a current client (it converts to schema 2 or OCI)');
  }
  if (m.schemaVersion !== 2) invalid(`schemaVersion must be 2, got ${JSON.stringify(m.schemaVersion) ?? 'nothing'}`);

  const hasManifests = m.manifests !== undefined;
  const hasImageFields = m.config !== undefined || m.layers !== undefined;
  if (hasManifests && hasImageFields)
    invalid('a document cannot be both an image index (manifests) and an image manifest (config, layers)');

  const ct = isManifestMediaType(contentType) ? contentType : '';
  if (declared && ct && declared !== ct) {
    invalid(`manifest mediaType "${declared}" does not match the Content-Type header "${contentType}"`);
  }
  let mediaType = declared ?? ct;
  if (!mediaType) {
    if (hasManifests) mediaType = MediaTypes.ociIndex;
    else if (hasImageFields) mediaType = MediaTypes.ociManifest;
    else invalid('cannot tell the manifest type: set mediaType or the Content-Type header');
  }
  if (!isManifestMediaType(mediaType)) {
    invalid(`unsupported manifest media type "${mediaType}": use ${[...MANIFEST_TYPES, ...INDEX_TYPES].join(', ')}`);
  }
  // Docker media types require the mediaType field (schema 2 spec); OCI makes it optional.
  if ((mediaType === MediaTypes.dockerManifest || mediaType === MediaTypes.dockerList) && !declared) {
    invalid(`a Docker ${mediaType === MediaTypes.dockerList ? 'manifest list' : 'schema 2 manifest'} must carry its mediaType field`);
  }

  if (m.artifactType !== undefined && !isMediaTypeString(m.artifactType))
    invalid('artifactType must be a non-empty string of at most 255 characters without control characters');
  const annotations = m.annotations === undefined ? null : readAnnotations(m.annotations, 'annotations');
  const subject = m.subject === undefined ? null : readDescriptor(m.subject, 'subject');

  if (isIndexMediaType(mediaType)) {
    if (hasImageFields) invalid('an image index must not have config or layers');
    if (!Array.isArray(m.manifests)) invalid('an image index must have a manifests array');
    const manifests = (m.manifests as unknown[]).map((d, i) => readDescriptor(d, `manifests[${i}]`));
    return {
      mediaType,
      kind: 'index',
      artifactType: m.artifactType ?? null,
      annotations,
      subject,
      config: null,
      blobs: [],
      manifests,
    };
  }
  if (hasManifests) invalid('an image manifest must not have a manifests array');
  const config = readDescriptor(m.config, 'config');
  if (m.layers !== undefined && !Array.isArray(m.layers)) invalid('layers must be an array');
  const layers = ((m.layers as unknown[] | undefined) ?? []).map((d, i) => readDescriptor(d, `layers[${i}]`));
  if (mediaType === MediaTypes.dockerManifest && m.layers === undefined) invalid('a Docker schema 2 manifest must have a layers array');
  const blobs = [config, ...layers.filter((l) => !isNonDistributable(l))];
  return {
    mediaType,
    kind: 'manifest',
    artifactType: m.artifactType ?? config.mediaType,
    annotations,
    subject,
    config,
    blobs,
    manifests: [],
  };
}
