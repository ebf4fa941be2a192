// An SBOM stored as an OCI 1.1 referrer of the image it describes: an artifact manifest whose
// subject is the image, so the referrers API (and `oras discover`) lists it under the image.
// Shape per image-spec manifest.md "Guidelines for Artifact Usage": artifactType set, config the
// empty descriptor, the document itself the single layer.
import { parseDigest } from '../../digest.js';
import { isManifestMediaType, MediaTypes } from '../../manifest.js';
import { isoSeconds } from './common.js';

export const SBOM_ARTIFACT_TYPES = {
  cyclonedx: 'application/vnd.cyclonedx+json',
  spdx: 'application/spdx+json',
} as const;

export type SbomFormat = keyof typeof SBOM_ARTIFACT_TYPES;

/** Which version of each format we write (the dev.berth.sbom.format annotation). */
export const SBOM_FORMAT_VERSIONS: Record<SbomFormat, string> = { cyclonedx: 'CycloneDX-1.5', spdx: 'SPDX-2.3' };

/** image-spec's empty descriptor: the blob `{}`. A registry must hold this blob like any other. */
export const OCI_EMPTY_DESCRIPTOR = {
  mediaType: MediaTypes.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
} as const;

/** The bytes of the empty blob, to push before the manifest. */
export const OCI_EMPTY_BLOB: Uint8Array = Buffer.from('{}', 'utf8');

export const SBOM_ANNOTATIONS = {
  created: 'org.opencontainers.image.created',
  generator: 'dev.berth.sbom.generator',
  format: 'dev.berth.sbom.format',
  title: 'org.opencontainers.image.title',
} as const;

const FILE_NAMES: Record<SbomFormat, string> = { cyclonedx: 'sbom.cdx.json', spdx: 'sbom.spdx.json' };

export interface SbomReferrerAnnotations {
  created: Date;
  /** Who generated the SBOM, e.g. `berth 1.4.0`. */
  generator: string;
  /** More manifest annotations; the ones above take precedence over keys of the same name. */
  extra?: Record<string, string>;
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  data?: string;
  annotations?: Record<string, string>;
}

export interface SbomReferrerManifest {
  schemaVersion: 2;
  mediaType: typeof MediaTypes.ociManifest;
  artifactType: (typeof SBOM_ARTIFACT_TYPES)[SbomFormat];
  config: typeof OCI_EMPTY_DESCRIPTOR;
  layers: [OciDescriptor];
  subject: OciDescriptor;
  annotations: Record<string, string>;
}

function checkDescriptor(what: string, d: { digest: string; size: number }): void {
  try {
    parseDigest(d.digest);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw new Error(`${what}: size must be a non-negative integer, got ${d.size}`);
}

/**
 * The manifest that attaches an SBOM blob (already pushed: its digest and size) to the image
 * `subject` (a manifest or index). Annotations are written in key order, so the same arguments
 * give the same bytes and so the same manifest digest.
 */
export function sbomReferrerManifest(
  subject: { digest: string; mediaType: string; size: number },
  sbomBlob: { digest: string; size: number },
  format: SbomFormat,
  annotations: SbomReferrerAnnotations,
): SbomReferrerManifest {
  checkDescriptor('subject', subject);
  checkDescriptor('sbom blob', sbomBlob);
  if (!isManifestMediaType(subject.mediaType)) throw new Error(`subject: "${subject.mediaType}" is not a manifest media type`);
  const artifactType = SBOM_ARTIFACT_TYPES[format];
  if (!artifactType) throw new Error(`unknown SBOM format "${String(format)}"`);
  const all: Record<string, string> = {
    ...annotations.extra,
    [SBOM_ANNOTATIONS.created]: isoSeconds(annotations.created),
    [SBOM_ANNOTATIONS.generator]: annotations.generator,
    [SBOM_ANNOTATIONS.format]: SBOM_FORMAT_VERSIONS[format],
  };
  const sorted = Object.fromEntries(
    Object.keys(all)
      .sort()
      .map((k) => [k, all[k]!]),
  );
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType,
    config: OCI_EMPTY_DESCRIPTOR,
    layers: [
      {
        mediaType: artifactType,
        digest: sbomBlob.digest,
        size: sbomBlob.size,
        annotations: { [SBOM_ANNOTATIONS.title]: FILE_NAMES[format] },
      },
    ],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: sorted,
  };
}

/** A document or manifest as the bytes to push: compact UTF-8 JSON, in the objects' own key order. */
export function jsonBytes(doc: object): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}
