// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/) of an image's inventory: the image as a
// CONTAINER package that CONTAINS the operating system and every installed package.
import type { ImageInventory } from '../types.js';
import { digestHash, documentUuid, isoSeconds, prepareInventory, type SbomPackage, type SbomSubject } from './common.js';
import { spdxExpression } from './licenses.js';
import { encodePurlComponent, ociPurl } from './purl.js';

const NOASSERTION = 'NOASSERTION';

export interface SpdxPackage {
  name: string;
  SPDXID: string;
  versionInfo?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums?: { algorithm: 'SHA256' | 'SHA512'; checksumValue: string }[];
  sourceInfo?: string;
  licenseConcluded: string;
  licenseDeclared: string;
  licenseComments?: string;
  copyrightText: string;
  description?: string;
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
  primaryPackagePurpose: 'CONTAINER' | 'OPERATING_SYSTEM' | 'LIBRARY';
  annotations?: { annotationDate: string; annotationType: 'OTHER'; annotator: string; comment: string }[];
}

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  relationships: SpdxRelationship[];
}

/**
 * Text as an SPDX idstring part: only letters, digits, "." and "-" (SPDX 2.3 section 3.2), runs of
 * anything else as one "-", at most `max` characters, never empty.
 */
export function spdxIdPart(s: string, max = 64): string {
  const t = s
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return t || 'x';
}

/** Hands out SPDXIDs, adding -2, -3... where two would collide. */
class SpdxIds {
  private readonly used = new Set<string>(['SPDXRef-DOCUMENT']);
  take(wanted: string): string {
    let id = wanted;
    for (let i = 2; this.used.has(id); i++) id = `${wanted}-${i}`;
    this.used.add(id);
    return id;
  }
}

function packageOf(
  p: SbomPackage,
  spdxId: string,
  annotate: (comment: string) => NonNullable<SpdxPackage['annotations']>[number],
): SpdxPackage {
  const declared = spdxExpression(p.licenses);
  const facts = [`berth:ecosystem=${p.ecosystem}`, `berth:layer=${p.layer}`, `berth:path=${p.path}`];
  if (p.source) facts.push(`berth:source:name=${p.source.name}`, `berth:source:version=${p.source.version}`);
  return {
    name: p.name || 'unnamed',
    SPDXID: spdxId,
    ...(p.version ? { versionInfo: p.version } : {}),
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    ...(p.source ? { sourceInfo: `built from source package ${p.source.name} ${p.source.version}` } : {}),
    // We read what the package declares; nobody concluded anything.
    licenseConcluded: NOASSERTION,
    licenseDeclared: declared ?? NOASSERTION,
    ...(!declared && p.licenses.length > 0 ? { licenseComments: `declared, not an SPDX expression: ${p.licenses.join('; ')}` } : {}),
    copyrightText: NOASSERTION,
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
    primaryPackagePurpose: 'LIBRARY',
    // Where in the image it was found has no SPDX field of its own: one annotation, a line per fact.
    annotations: [annotate(facts.join('\n'))],
  };
}

// A login server: host[:port], path-style registries adding /name segments.
const LOGIN_SERVER = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?(?:\/[A-Za-z0-9._-]+)*$/;

/**
 * The document's namespace: a URI under the registry that names the image and ends in the
 * document's deterministic UUID, so the same image and inventory give the same namespace
 * (percent-encoded, so free of "#", which SPDX forbids there). A registry that is not a plain
 * login server gets `urn:uuid:` instead, which is just as unique and stable.
 */
export function spdxNamespace(subject: SbomSubject, uuid: string): string {
  if (!LOGIN_SERVER.test(subject.registry)) return `urn:uuid:${uuid}`;
  const repo = subject.repository
    .split('/')
    // "." and ".." would be resolved away by URI normalization: encode them.
    .map((s) => (s === '.' || s === '..' ? s.replace(/\./g, '%2E') : encodePurlComponent(s)))
    .join('/');
  return `https://${subject.registry}/${repo}/sbom/spdx/${encodePurlComponent(subject.digest, ':')}/${uuid}`;
}

/** The image's inventory as an SPDX 2.3 document; the same input gives the same document. */
export function spdx(inventory: ImageInventory, subject: SbomSubject): SpdxDocument {
  const prepared = prepareInventory(inventory);
  const created = isoSeconds(subject.created);
  const tool = `Tool: ${subject.tool.name}-${subject.tool.version}`;
  const annotate = (comment: string) => ({ annotationDate: created, annotationType: 'OTHER' as const, annotator: tool, comment });
  const ids = new SpdxIds();
  const hash = digestHash(subject.digest);

  const imageId = ids.take(`SPDXRef-Image-${spdxIdPart(subject.repository.split('/').pop() ?? '')}`);
  const packages: SpdxPackage[] = [
    {
      name: `${subject.registry}/${subject.repository}`,
      SPDXID: imageId,
      versionInfo: subject.digest,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(hash ? { checksums: [{ algorithm: hash.algorithm === 'sha256' ? 'SHA256' : 'SHA512', checksumValue: hash.hex }] } : {}),
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: ociPurl(subject.registry, subject.repository, subject.digest, subject.tag),
        },
      ],
      primaryPackagePurpose: 'CONTAINER',
      annotations: [annotate(`berth:mediaType=${subject.mediaType}${subject.tag ? `\nberth:tag=${subject.tag}` : ''}`)],
    },
  ];
  const relationships: SpdxRelationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
  ];
  const contains = (id: string) => relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });

  const os = prepared.os;
  if (os) {
    const osId = ids.take(`SPDXRef-OperatingSystem-${spdxIdPart(os.id)}`);
    packages.push({
      name: os.id || 'unknown',
      SPDXID: osId,
      ...(os.versionId ? { versionInfo: os.versionId } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      ...(os.prettyName ? { description: os.prettyName } : {}),
      primaryPackagePurpose: 'OPERATING_SYSTEM',
      ...(os.versionCodename ? { annotations: [annotate(`berth:os:codename=${os.versionCodename}`)] } : {}),
    });
    contains(osId);
  }
  for (const p of prepared.packages) {
    const id = ids.take(`SPDXRef-Package-${spdxIdPart(p.ecosystem, 32)}-${spdxIdPart(p.name)}-${p.id}`);
    packages.push(packageOf(p, id, annotate));
    contains(id);
  }

  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.registry}/${subject.repository}@${subject.digest}`,
    documentNamespace: spdxNamespace(subject, documentUuid('spdx', subject.digest, prepared.fingerprint)),
    creationInfo: { created, creators: [tool] },
    packages,
    relationships,
  };
}
