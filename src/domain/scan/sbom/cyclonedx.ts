// CycloneDX 1.5 JSON (https://cyclonedx.org/docs/1.5/json/) of an image's inventory, written by
// hand: the document is small and a library would add dependencies for no gain.
import type { ImageInventory } from '../types.js';
import { digestHash, documentUuid, isoSeconds, prepareInventory, type SbomPackage, type SbomSubject } from './common.js';
import { parseLicense, spdxExpression } from './licenses.js';
import { ociPurl } from './purl.js';

export interface CycloneDxProperty {
  name: string;
  value: string;
}

export type CycloneDxLicenses = { license: { id: string } | { name: string } }[] | [{ expression: string }];

export interface CycloneDxComponent {
  type: 'container' | 'operating-system' | 'library' | 'application';
  'bom-ref': string;
  name: string;
  version?: string;
  description?: string;
  hashes?: { alg: 'SHA-256' | 'SHA-512'; content: string }[];
  licenses?: CycloneDxLicenses;
  purl?: string;
  properties?: CycloneDxProperty[];
}

export interface CycloneDxBom {
  bomFormat: 'CycloneDX';
  specVersion: '1.5';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: { type: 'application'; name: string; version: string }[] };
    component: CycloneDxComponent;
  };
  components: CycloneDxComponent[];
}

/** The bom-ref of the image (metadata.component): its purl, unique in the document by construction. */
export const imageBomRef = (subject: SbomSubject): string => ociPurl(subject.registry, subject.repository, subject.digest, subject.tag);
/** The bom-ref of a package: from its identity, so stable across regenerations. */
export const packageBomRef = (p: SbomPackage): string => `package-${p.id}`;
export const OS_BOM_REF = 'operating-system';

/**
 * A package's declared licenses: one `expression` when they form a compound SPDX expression,
 * else one entry each, `id` for an identifier on the SPDX list and `name` for anything else
 * (the schema allows a list of licenses or a single expression, never both).
 */
function licensesOf(licenses: readonly string[]): CycloneDxLicenses | undefined {
  if (licenses.length === 0) return undefined;
  const parsed = licenses.map((l) => ({ l, p: parseLicense(l) }));
  if (parsed.some(({ p }) => p && !p.simpleId)) {
    const all = spdxExpression(licenses);
    if (all) return [{ expression: all }];
  }
  return parsed.map(({ l, p }) => ({ license: p?.simpleId ? { id: p.expression } : { name: l } }));
}

function packageComponent(p: SbomPackage): CycloneDxComponent {
  const properties: CycloneDxProperty[] = [
    { name: 'berth:ecosystem', value: p.ecosystem },
    { name: 'berth:layer', value: p.layer },
    { name: 'berth:path', value: p.path },
  ];
  if (p.source) {
    properties.push({ name: 'berth:source:name', value: p.source.name }, { name: 'berth:source:version', value: p.source.version });
  }
  const licenses = licensesOf(p.licenses);
  // Every package is a library: the inventory does not say which one is the image's application.
  return {
    type: 'library',
    'bom-ref': packageBomRef(p),
    name: p.name || 'unnamed',
    ...(p.version ? { version: p.version } : {}),
    ...(licenses ? { licenses } : {}),
    purl: p.purl,
    properties,
  };
}

/** The image's inventory as a CycloneDX 1.5 BOM; the same input gives the same document. */
export function cycloneDx(inventory: ImageInventory, subject: SbomSubject): CycloneDxBom {
  const prepared = prepareInventory(inventory);
  const hash = digestHash(subject.digest);
  const imageProperties: CycloneDxProperty[] = [
    { name: 'berth:registry', value: subject.registry },
    { name: 'berth:repository', value: subject.repository },
    { name: 'berth:mediaType', value: subject.mediaType },
  ];
  if (subject.tag) imageProperties.push({ name: 'berth:tag', value: subject.tag });
  const image: CycloneDxComponent = {
    type: 'container',
    'bom-ref': imageBomRef(subject),
    name: `${subject.registry}/${subject.repository}`,
    version: subject.digest,
    ...(hash ? { hashes: [{ alg: hash.algorithm === 'sha256' ? 'SHA-256' : 'SHA-512', content: hash.hex }] } : {}),
    purl: imageBomRef(subject),
    properties: imageProperties,
  };
  const components: CycloneDxComponent[] = [];
  const os = prepared.os;
  if (os) {
    components.push({
      type: 'operating-system',
      'bom-ref': OS_BOM_REF,
      name: os.id || 'unknown',
      ...(os.versionId ? { version: os.versionId } : {}),
      ...(os.prettyName ? { description: os.prettyName } : {}),
      ...(os.versionCodename ? { properties: [{ name: 'berth:os:codename', value: os.versionCodename }] } : {}),
    });
  }
  for (const p of prepared.packages) components.push(packageComponent(p));
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${documentUuid('cyclonedx', subject.digest, prepared.fingerprint)}`,
    version: 1,
    metadata: {
      timestamp: isoSeconds(subject.created),
      tools: { components: [{ type: 'application', name: subject.tool.name, version: subject.tool.version }] },
      component: image,
    },
    components,
  };
}
