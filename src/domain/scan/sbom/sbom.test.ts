import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PackageURL } from 'packageurl-js';
import { digestOf } from '../../digest.js';
import type { ImageInventory, InstalledPackage } from '../types.js';
import { documentUuid, prepareInventory, SBOM_UUID_NAMESPACE, uuidV5, type SbomSubject } from './common.js';
import { cycloneDx } from './cyclonedx.js';
import { spdx } from './spdx.js';

// Structural validators for the parts of the CycloneDX 1.5 JSON schema (bom-1.5.schema.json) and
// the SPDX 2.3 JSON schema (spdx-schema.json) that our documents use: required fields, enums,
// patterns, closed property sets (both schemas forbid unknown properties), and the rules the
// schemas cannot say (unique bom-refs and SPDXIDs, relationships that point at something).

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the documents are read as JSON and checked field by field
type Json = any;
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(where: string, o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) assert.ok(allowed.includes(k), `${where}: property "${k}" is not in the schema`);
}

// RFC 3339 date-time (JSON schema "date-time").
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A purl as purl-spec defines it, checked two ways: packageurl-js must parse it, and it must hold
 * only URI characters with valid %XX escapes of UTF-8 (a raw space, quote or non-ASCII letter is
 * an unencoded character, whatever a lenient parser makes of it).
 */
function assertPurl(where: string, purl: unknown): PackageURL {
  assert.equal(typeof purl, 'string', `${where}: purl is a string`);
  const s = purl as string;
  assert.match(s, /^pkg:[a-z][a-z0-9.+-]*\//, `${where}: purl scheme and type: ${s}`);
  assert.match(s, /^[A-Za-z0-9._~%:/@?#=&+!$'()*,;-]+$/, `${where}: purl holds only URI characters: ${s}`);
  assert.doesNotMatch(s, /%(?![0-9A-F]{2})/i, `${where}: purl escapes are %XX: ${s}`);
  assert.doesNotThrow(() => decodeURIComponent(s), `${where}: purl escapes decode as UTF-8: ${s}`);
  let parsed: PackageURL | undefined;
  assert.doesNotThrow(() => (parsed = PackageURL.fromString(s)), `${where}: packageurl-js parses ${s}`);
  assert.ok(parsed!.name.length > 0, `${where}: purl has a name`);
  return parsed!;
}

const CDX_ROOT = [
  '$schema',
  'bomFormat',
  'specVersion',
  'serialNumber',
  'version',
  'metadata',
  'components',
  'services',
  'externalReferences',
  'dependencies',
  'compositions',
  'properties',
  'vulnerabilities',
  'annotations',
  'formulation',
  'signature',
];
const CDX_METADATA = ['timestamp', 'lifecycles', 'tools', 'authors', 'component', 'manufacture', 'supplier', 'licenses', 'properties'];
const CDX_COMPONENT = [
  'type',
  'mime-type',
  'bom-ref',
  'supplier',
  'author',
  'publisher',
  'group',
  'name',
  'version',
  'description',
  'scope',
  'hashes',
  'licenses',
  'copyright',
  'cpe',
  'purl',
  'swid',
  'modified',
  'pedigree',
  'externalReferences',
  'properties',
  'components',
  'evidence',
  'releaseNotes',
  'modelCard',
  'data',
  'signature',
];
const CDX_TYPES = [
  'application',
  'framework',
  'library',
  'container',
  'platform',
  'operating-system',
  'device',
  'device-driver',
  'firmware',
  'file',
  'machine-learning-model',
  'data',
];
const CDX_HASH_ALGS = [
  'MD5',
  'SHA-1',
  'SHA-256',
  'SHA-384',
  'SHA-512',
  'SHA3-256',
  'SHA3-384',
  'SHA3-512',
  'BLAKE2b-256',
  'BLAKE2b-384',
  'BLAKE2b-512',
  'BLAKE3',
];

function validateCdxComponent(where: string, c: Json, refs: Set<string>): void {
  assert.ok(isObject(c), `${where} is an object`);
  onlyKeys(where, c, CDX_COMPONENT);
  assert.ok(CDX_TYPES.includes(c.type), `${where}.type "${c.type}" is in the enum`);
  assert.equal(typeof c.name, 'string', `${where}.name is required`);
  assert.ok(c.name.length > 0, `${where}.name is not empty`);
  if (c.version !== undefined) assert.equal(typeof c.version, 'string');
  if (c['bom-ref'] !== undefined) {
    assert.equal(typeof c['bom-ref'], 'string');
    assert.ok(!refs.has(c['bom-ref']), `${where}: bom-ref "${c['bom-ref']}" is unique`);
    refs.add(c['bom-ref']);
  }
  if (c.purl !== undefined) assertPurl(where, c.purl);
  for (const h of c.hashes ?? []) {
    onlyKeys(`${where}.hashes`, h, ['alg', 'content']);
    assert.ok(CDX_HASH_ALGS.includes(h.alg));
    assert.match(h.content, /^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$/);
  }
  if (c.licenses !== undefined) {
    assert.ok(Array.isArray(c.licenses) && c.licenses.length > 0, `${where}.licenses is a non-empty array`);
    if (c.licenses.some((l: Json) => 'expression' in l)) {
      // oneOf: a single expression, nothing beside it.
      assert.equal(c.licenses.length, 1, `${where}.licenses: an expression stands alone`);
      onlyKeys(`${where}.licenses[0]`, c.licenses[0], ['expression', 'bom-ref']);
      assert.equal(typeof c.licenses[0].expression, 'string');
    } else {
      for (const l of c.licenses) {
        onlyKeys(`${where}.licenses[]`, l, ['license']);
        const lic = l.license;
        onlyKeys(`${where}.licenses[].license`, lic, ['bom-ref', 'id', 'name', 'licensing', 'text', 'url', 'properties']);
        assert.ok('id' in lic !== 'name' in lic, `${where}: a license has an id or a name, not both`);
        if ('id' in lic) assert.match(lic.id, /^[A-Za-z0-9.+-]+$/, `${where}: license id "${lic.id}" looks like an SPDX id`);
        else assert.equal(typeof lic.name, 'string');
      }
    }
  }
  for (const p of c.properties ?? []) {
    onlyKeys(`${where}.properties[]`, p, ['name', 'value']);
    assert.equal(typeof p.name, 'string');
    assert.equal(typeof p.value, 'string');
  }
}

function validateCycloneDx(bom: Json): void {
  assert.ok(isObject(bom));
  onlyKeys('bom', bom, CDX_ROOT);
  assert.equal(bom.bomFormat, 'CycloneDX');
  assert.equal(bom.specVersion, '1.5');
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  // And a real RFC 9562 UUID: version 5, the RFC variant.
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(Number.isInteger(bom.version) && bom.version >= 1);
  onlyKeys('metadata', bom.metadata, CDX_METADATA);
  assert.match(bom.metadata.timestamp, DATE_TIME);
  // 1.5's tools object form (the array form is deprecated).
  assert.ok(isObject(bom.metadata.tools), 'metadata.tools is the 1.5 object form');
  onlyKeys('metadata.tools', bom.metadata.tools, ['components', 'services']);
  const refs = new Set<string>();
  bom.metadata.tools.components.forEach((c: Json, i: number) => validateCdxComponent(`metadata.tools.components[${i}]`, c, new Set()));
  validateCdxComponent('metadata.component', bom.metadata.component, refs);
  assert.ok(Array.isArray(bom.components));
  bom.components.forEach((c: Json, i: number) => validateCdxComponent(`components[${i}]`, c, refs));
  for (const d of bom.dependencies ?? []) {
    assert.ok(refs.has(d.ref), `dependency ref ${d.ref} exists`);
    for (const x of d.dependsOn ?? []) assert.ok(refs.has(x), `dependsOn ${x} exists`);
  }
}

const SPDX_ROOT = [
  '$schema',
  'SPDXID',
  'annotations',
  'comment',
  'creationInfo',
  'dataLicense',
  'documentDescribes',
  'documentNamespace',
  'externalDocumentRefs',
  'files',
  'hasExtractedLicensingInfos',
  'name',
  'packages',
  'relationships',
  'snippets',
  'spdxVersion',
];
const SPDX_PACKAGE = [
  'SPDXID',
  'annotations',
  'attributionTexts',
  'builtDate',
  'checksums',
  'comment',
  'copyrightText',
  'description',
  'downloadLocation',
  'externalRefs',
  'filesAnalyzed',
  'hasFiles',
  'homepage',
  'licenseComments',
  'licenseConcluded',
  'licenseDeclared',
  'licenseInfoFromFiles',
  'name',
  'originator',
  'packageFileName',
  'packageVerificationCode',
  'primaryPackagePurpose',
  'releaseDate',
  'sourceInfo',
  'summary',
  'supplier',
  'validUntilDate',
  'versionInfo',
];
const SPDX_PURPOSES = [
  'OTHER',
  'INSTALL',
  'ARCHIVE',
  'FIRMWARE',
  'APPLICATION',
  'FRAMEWORK',
  'LIBRARY',
  'CONTAINER',
  'SOURCE',
  'DEVICE',
  'OPERATING_SYSTEM',
  'FILE',
];
const SPDX_REF_CATEGORIES = ['OTHER', 'PERSISTENT-ID', 'SECURITY', 'PACKAGE-MANAGER'];
const SPDX_RELATIONSHIPS = ['DESCRIBES', 'DESCRIBED_BY', 'CONTAINS', 'CONTAINED_BY', 'DEPENDS_ON', 'DEPENDENCY_OF', 'OTHER'];
const SPDX_ID = /^SPDXRef-[a-zA-Z0-9.-]+$/;
const ACTOR = /^(Person|Organization|Tool): .+/;
// An SPDX license expression's shape (the ids themselves are checked by licenses.test.ts).
function assertLicenseField(where: string, v: unknown): void {
  assert.equal(typeof v, 'string', `${where} is a string`);
  const s = v as string;
  if (s === 'NOASSERTION' || s === 'NONE') return;
  let depth = 0;
  for (const t of s.match(/\(|\)|[^\s()]+/g) ?? []) {
    if (t === '(') depth++;
    else if (t === ')') assert.ok(--depth >= 0, `${where}: balanced parentheses in "${s}"`);
    else if (!['AND', 'OR', 'WITH'].includes(t)) assert.match(t, /^[A-Za-z0-9.-]+\+?$/, `${where}: "${t}" is a license or exception id`);
  }
  assert.equal(depth, 0, `${where}: balanced parentheses in "${s}"`);
}

function validateSpdx(doc: Json): void {
  assert.ok(isObject(doc));
  onlyKeys('document', doc, SPDX_ROOT);
  assert.equal(doc.spdxVersion, 'SPDX-2.3');
  assert.equal(doc.dataLicense, 'CC0-1.0');
  assert.equal(doc.SPDXID, 'SPDXRef-DOCUMENT');
  assert.equal(typeof doc.name, 'string');
  assert.ok(doc.name.length > 0);
  // An absolute URI without "#" (SPDX 2.3 section 6.5).
  assert.equal(typeof doc.documentNamespace, 'string');
  assert.doesNotThrow(() => new URL(doc.documentNamespace));
  assert.ok(!doc.documentNamespace.includes('#'));
  assert.match(doc.documentNamespace, /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9._~%:/@!$&'()*+,;=-]+$/, 'namespace is URI characters only');
  onlyKeys('creationInfo', doc.creationInfo, ['comment', 'created', 'creators', 'licenseListVersion']);
  // SPDX requires YYYY-MM-DDThh:mm:ssZ exactly.
  assert.match(doc.creationInfo.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.ok(doc.creationInfo.creators.length >= 1);
  for (const c of doc.creationInfo.creators) assert.match(c, ACTOR);

  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const [i, p] of (doc.packages as Json[]).entries()) {
    const where = `packages[${i}]`;
    onlyKeys(where, p, SPDX_PACKAGE);
    assert.match(p.SPDXID, SPDX_ID, `${where}.SPDXID`);
    assert.ok(!ids.has(p.SPDXID), `${where}: SPDXID ${p.SPDXID} is unique`);
    ids.add(p.SPDXID);
    assert.equal(typeof p.name, 'string');
    assert.ok(p.name.length > 0);
    assert.equal(typeof p.downloadLocation, 'string', `${where}.downloadLocation is required`);
    if (p.versionInfo !== undefined) assert.equal(typeof p.versionInfo, 'string');
    assert.equal(p.filesAnalyzed, false, `${where}: no files analyzed, so no verification code is needed`);
    assertLicenseField(`${where}.licenseConcluded`, p.licenseConcluded);
    assertLicenseField(`${where}.licenseDeclared`, p.licenseDeclared);
    if (p.primaryPackagePurpose !== undefined) assert.ok(SPDX_PURPOSES.includes(p.primaryPackagePurpose));
    for (const c of p.checksums ?? []) {
      onlyKeys(`${where}.checksums[]`, c, ['algorithm', 'checksumValue']);
      assert.ok(['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'MD5'].includes(c.algorithm));
      assert.match(c.checksumValue, /^[0-9a-f]+$/);
    }
    for (const r of p.externalRefs ?? []) {
      onlyKeys(`${where}.externalRefs[]`, r, ['comment', 'referenceCategory', 'referenceLocator', 'referenceType']);
      assert.ok(SPDX_REF_CATEGORIES.includes(r.referenceCategory));
      assert.equal(typeof r.referenceLocator, 'string');
      if (r.referenceType === 'purl') {
        assert.equal(r.referenceCategory, 'PACKAGE-MANAGER');
        assertPurl(`${where}.externalRefs[]`, r.referenceLocator);
      }
    }
    for (const a of p.annotations ?? []) {
      onlyKeys(`${where}.annotations[]`, a, ['annotationDate', 'annotationType', 'annotator', 'comment']);
      assert.match(a.annotationDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.ok(['REVIEW', 'OTHER'].includes(a.annotationType));
      assert.match(a.annotator, ACTOR);
      assert.equal(typeof a.comment, 'string');
    }
  }
  const contained = new Set<string>();
  let describes = 0;
  for (const r of doc.relationships as Json[]) {
    onlyKeys('relationships[]', r, ['comment', 'relatedSpdxElement', 'relationshipType', 'spdxElementId']);
    assert.ok(SPDX_RELATIONSHIPS.includes(r.relationshipType), r.relationshipType);
    assert.ok(ids.has(r.spdxElementId), `relationship from ${r.spdxElementId} points at an element`);
    assert.ok(ids.has(r.relatedSpdxElement), `relationship to ${r.relatedSpdxElement} points at an element`);
    if (r.relationshipType === 'DESCRIBES' && r.spdxElementId === 'SPDXRef-DOCUMENT') describes++;
    if (r.relationshipType === 'CONTAINS') contained.add(r.relatedSpdxElement);
  }
  assert.equal(describes, 1, 'the document DESCRIBES one element: the image');
  // Every package but the image is contained in it.
  assert.equal(contained.size, doc.packages.length - 1);
}

// --- fixtures -------------------------------------------------------------------------------

const LAYER1 = digestOf('layer one');
const LAYER2 = digestOf('layer two');
const IMAGE_DIGEST = digestOf('image manifest');

const SUBJECT: SbomSubject = {
  registry: '127.0.0.1:5000/myreg',
  repository: 'team/app',
  digest: IMAGE_DIGEST,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  tag: 'v1.2',
  created: new Date('2026-12-06T12:34:56.789Z'),
  tool: { name: 'berth', version: '0.1.0' },
};

const deb = (name: string, version: string, source?: [string, string], licenses?: string[]): InstalledPackage => ({
  ecosystem: 'Debian',
  name,
  version,
  ...(source ? { source: { name: source[0], version: source[1] } } : {}),
  purl: `pkg:deb/debian/${name}@${encodeURIComponent(version)}?arch=amd64&distro=debian-12`,
  layer: LAYER1,
  path: 'var/lib/dpkg/status',
  ...(licenses ? { licenses } : {}),
});

/** A Debian image with an app layer: what the inventory analyzers produce for it. */
function debianInventory(): ImageInventory {
  return {
    os: { id: 'debian', versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    packages: [
      deb('bash', '5.2.15-2+b7', ['bash', '5.2.15-2'], ['GPL-3.0-or-later']),
      deb('bsdutils', '1:2.38.1-5+deb12u3', ['util-linux', '2.38.1-5+deb12u3'], ['GPL-2+', 'BSD-4-clause', 'public-domain']),
      deb('libcom-err2', '1.47.0-2+b2', ['e2fsprogs', '1.47.0-2']),
      deb('zlib1g', '1:1.2.13.dfsg-1', ['zlib', '1:1.2.13.dfsg-1'], ['Zlib']),
      {
        ecosystem: 'npm',
        name: 'lodash',
        version: '4.17.15',
        purl: 'pkg:npm/lodash@4.17.15',
        layer: LAYER2,
        path: 'app/node_modules/lodash/package.json',
        licenses: ['MIT'],
      },
      {
        ecosystem: 'npm',
        name: '@types/node',
        version: '20.1.0',
        purl: 'pkg:npm/%40types/node@20.1.0',
        layer: LAYER2,
        path: 'app/node_modules/@types/node/package.json',
        licenses: ['MIT'],
      },
      {
        ecosystem: 'PyPI',
        name: 'urllib3',
        version: '1.26.4',
        purl: 'pkg:pypi/urllib3@1.26.4',
        layer: LAYER2,
        path: 'usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA',
        licenses: ['MIT OR Apache-2.0'],
      },
      {
        ecosystem: 'Maven',
        name: 'org.apache.logging.log4j:log4j-core',
        version: '2.14.1',
        purl: 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1',
        layer: LAYER2,
        path: 'app/lib/app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar',
        licenses: ['Apache-2.0'],
      },
      {
        ecosystem: 'Go',
        name: 'golang.org/x/net',
        version: 'v0.7.0',
        purl: 'pkg:golang/golang.org/x/net@v0.7.0',
        layer: LAYER2,
        path: 'usr/local/bin/server',
      },
    ],
  };
}

const json = (v: unknown) => JSON.stringify(v);
const shuffled = <T>(xs: readonly T[]): T[] => [...xs].reverse();

describe('CycloneDX 1.5', () => {
  test('a Debian image with an app layer gives a valid BOM', () => {
    const bom: Json = cycloneDx(debianInventory(), SUBJECT);
    validateCycloneDx(bom);
    assert.equal(bom.version, 1);
    assert.equal(bom.metadata.timestamp, '2026-12-06T12:34:56Z');
    assert.deepEqual(bom.metadata.tools, { components: [{ type: 'application', name: 'berth', version: '0.1.0' }] });
    const image = bom.metadata.component;
    assert.equal(image.type, 'container');
    assert.equal(image.name, '127.0.0.1:5000/myreg/team/app');
    assert.equal(image.version, IMAGE_DIGEST);
    assert.equal(image.purl, `pkg:oci/app@sha256%3A${IMAGE_DIGEST.slice(7)}?repository_url=127.0.0.1%3A5000/myreg/team/app&tag=v1.2`);
    const parsed = PackageURL.fromString(image.purl);
    assert.equal(parsed.version, IMAGE_DIGEST);
    assert.equal(parsed.qualifiers?.repository_url, '127.0.0.1:5000/myreg/team/app');
    assert.deepEqual(image.hashes, [{ alg: 'SHA-256', content: IMAGE_DIGEST.slice(7) }]);

    const [os, ...pkgs] = bom.components;
    assert.deepEqual(os, {
      type: 'operating-system',
      'bom-ref': 'operating-system',
      name: 'debian',
      version: '12',
      description: 'Debian GNU/Linux 12 (bookworm)',
      properties: [{ name: 'berth:os:codename', value: 'bookworm' }],
    });
    assert.equal(pkgs.length, 9);
    // Ordered by ecosystem, then name.
    assert.deepEqual(
      pkgs.map((c: Json) => `${c.properties[0].value}/${c.name}`),
      [
        'Debian/bash',
        'Debian/bsdutils',
        'Debian/libcom-err2',
        'Debian/zlib1g',
        'Go/golang.org/x/net',
        'Maven/org.apache.logging.log4j:log4j-core',
        'PyPI/urllib3',
        'npm/@types/node',
        'npm/lodash',
      ],
    );
    const bsdutils = pkgs.find((c: Json) => c.name === 'bsdutils');
    assert.equal(bsdutils.type, 'library');
    assert.equal(bsdutils.version, '1:2.38.1-5+deb12u3');
    assert.equal(bsdutils.purl, 'pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12');
    assert.deepEqual(bsdutils.properties, [
      { name: 'berth:ecosystem', value: 'Debian' },
      { name: 'berth:layer', value: LAYER1 },
      { name: 'berth:path', value: 'var/lib/dpkg/status' },
      { name: 'berth:source:name', value: 'util-linux' },
      { name: 'berth:source:version', value: '2.38.1-5+deb12u3' },
    ]);
    // Debian's names are not SPDX ids: passed on as names, never guessed into ids.
    assert.deepEqual(bsdutils.licenses, [
      { license: { name: 'GPL-2+' } },
      { license: { id: 'BSD-4-Clause' } },
      { license: { name: 'public-domain' } },
    ]);
    assert.deepEqual(pkgs.find((c: Json) => c.name === 'bash').licenses, [{ license: { id: 'GPL-3.0-or-later' } }]);
    assert.deepEqual(pkgs.find((c: Json) => c.name === 'urllib3').licenses, [{ expression: 'MIT OR Apache-2.0' }]);
    assert.equal(pkgs.find((c: Json) => c.name === 'libcom-err2').licenses, undefined);
    const jar = pkgs.find((c: Json) => c.properties[0].value === 'Maven');
    assert.equal(jar.properties.find((p: Json) => p.name === 'berth:path').value, 'app/lib/app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar');
    assert.equal(jar.properties.find((p: Json) => p.name === 'berth:layer').value, LAYER2);
    assert.equal(pkgs.find((c: Json) => c.name === '@types/node').purl, 'pkg:npm/%40types/node@20.1.0');
  });

  test('an image without os-release or packages is still a valid BOM', () => {
    const bom: Json = cycloneDx({ packages: [] }, { ...SUBJECT, tag: undefined });
    validateCycloneDx(bom);
    assert.deepEqual(bom.components, []);
    assert.ok(!bom.metadata.component.purl.includes('tag='));
    assert.ok(!bom.metadata.component.properties.some((p: Json) => p.name === 'berth:tag'));
  });

  test('a sha512 image digest is hashed as SHA-512', () => {
    const digest = digestOf('x', 'sha512');
    const bom: Json = cycloneDx({ packages: [] }, { ...SUBJECT, digest });
    validateCycloneDx(bom);
    assert.deepEqual(bom.metadata.component.hashes, [{ alg: 'SHA-512', content: digest.slice(7) }]);
  });
});

describe('SPDX 2.3', () => {
  test('a Debian image with an app layer gives a valid document', () => {
    const doc: Json = spdx(debianInventory(), SUBJECT);
    validateSpdx(doc);
    assert.equal(doc.name, `127.0.0.1:5000/myreg/team/app@${IMAGE_DIGEST}`);
    assert.deepEqual(doc.creationInfo, { created: '2026-12-06T12:34:56Z', creators: ['Tool: berth-0.1.0'] });
    assert.match(
      doc.documentNamespace,
      new RegExp(
        `^https://127\\.0\\.0\\.1:5000/myreg/team/app/sbom/spdx/sha256:${IMAGE_DIGEST.slice(7)}/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`,
      ),
    );
    const [image, os, ...pkgs] = doc.packages;
    assert.equal(image.SPDXID, 'SPDXRef-Image-app');
    assert.equal(image.primaryPackagePurpose, 'CONTAINER');
    assert.equal(image.versionInfo, IMAGE_DIGEST);
    assert.deepEqual(image.checksums, [{ algorithm: 'SHA256', checksumValue: IMAGE_DIGEST.slice(7) }]);
    assert.equal(image.externalRefs[0].referenceLocator.slice(0, 19), 'pkg:oci/app@sha256%');
    assert.equal(os.SPDXID, 'SPDXRef-OperatingSystem-debian');
    // The JSON schema's spelling (the tag-value format writes OPERATING-SYSTEM).
    assert.equal(os.primaryPackagePurpose, 'OPERATING_SYSTEM');
    assert.equal(os.versionInfo, '12');
    assert.equal(pkgs.length, 9);
    assert.deepEqual(doc.relationships[0], {
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: image.SPDXID,
    });
    assert.deepEqual(
      doc.relationships.slice(1).map((r: Json) => [r.spdxElementId, r.relationshipType, r.relatedSpdxElement]),
      [os, ...pkgs].map((p: Json) => [image.SPDXID, 'CONTAINS', p.SPDXID]),
    );

    const bsdutils = pkgs.find((p: Json) => p.name === 'bsdutils');
    assert.match(bsdutils.SPDXID, /^SPDXRef-Package-Debian-bsdutils-[0-9a-f]{16}$/);
    assert.equal(bsdutils.versionInfo, '1:2.38.1-5+deb12u3');
    assert.equal(bsdutils.downloadLocation, 'NOASSERTION');
    assert.equal(bsdutils.licenseConcluded, 'NOASSERTION');
    // "GPL-2+" is Debian's name, not an SPDX expression.
    assert.equal(bsdutils.licenseDeclared, 'NOASSERTION');
    assert.equal(bsdutils.licenseComments, 'declared, not an SPDX expression: GPL-2+; BSD-4-clause; public-domain');
    assert.equal(bsdutils.sourceInfo, 'built from source package util-linux 2.38.1-5+deb12u3');
    assert.deepEqual(bsdutils.externalRefs, [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: 'pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12',
      },
    ]);
    assert.deepEqual(bsdutils.annotations, [
      {
        annotationDate: '2026-12-06T12:34:56Z',
        annotationType: 'OTHER',
        annotator: 'Tool: berth-0.1.0',
        comment: `berth:ecosystem=Debian\nberth:layer=${LAYER1}\nberth:path=var/lib/dpkg/status\nberth:source:name=util-linux\nberth:source:version=2.38.1-5+deb12u3`,
      },
    ]);
    assert.equal(pkgs.find((p: Json) => p.name === 'bash').licenseDeclared, 'GPL-3.0-or-later');
    assert.equal(pkgs.find((p: Json) => p.name === 'urllib3').licenseDeclared, 'MIT OR Apache-2.0');
    assert.equal(pkgs.find((p: Json) => p.name === 'zlib1g').licenseDeclared, 'Zlib');
    assert.match(pkgs.find((p: Json) => p.name === '@types/node').SPDXID, /^SPDXRef-Package-npm-types-node-[0-9a-f]{16}$/);
    assert.match(
      pkgs.find((p: Json) => p.name === 'org.apache.logging.log4j:log4j-core').SPDXID,
      /^SPDXRef-Package-Maven-org.apache.logging.log4j-log4j-core-[0-9a-f]{16}$/,
    );
  });

  test('an image without os-release or packages is still a valid document', () => {
    const doc: Json = spdx({ packages: [] }, SUBJECT);
    validateSpdx(doc);
    assert.equal(doc.packages.length, 1);
    assert.equal(doc.relationships.length, 1);
  });

  test('a hostile registry, repository and tag still give a URI namespace and a valid image id', () => {
    const subject = { ...SUBJECT, registry: 'reg #1?x= é', repository: 'a b/ü#?/..', tag: 'x#y' };
    const doc: Json = spdx(debianInventory(), subject);
    validateSpdx(doc);
    assert.match(doc.documentNamespace, /^urn:uuid:[0-9a-f-]{36}$/);
    const repoOnly: Json = spdx(debianInventory(), { ...subject, registry: SUBJECT.registry });
    validateSpdx(repoOnly);
    assert.ok(
      repoOnly.documentNamespace.startsWith('https://127.0.0.1:5000/myreg/a%20b/%C3%BC%23%3F/%2E%2E/sbom/spdx/'),
      repoOnly.documentNamespace,
    );
    const bom: Json = cycloneDx(debianInventory(), subject);
    validateCycloneDx(bom);
    assert.equal(PackageURL.fromString(bom.metadata.component.purl).qualifiers?.tag, 'x#y');
  });
});

describe('determinism', () => {
  test('the same input gives byte-identical documents, whatever order the packages come in', () => {
    const a = debianInventory();
    const b = { ...debianInventory(), packages: shuffled(debianInventory().packages) };
    assert.equal(json(cycloneDx(a, SUBJECT)), json(cycloneDx(b, SUBJECT)));
    assert.equal(json(spdx(a, SUBJECT)), json(spdx(b, SUBJECT)));
    assert.equal(json(cycloneDx(a, SUBJECT)), json(cycloneDx(debianInventory(), { ...SUBJECT, created: new Date(SUBJECT.created) })));
  });

  test('the serial number and namespace follow the image and the inventory, not the time', () => {
    const base: Json = cycloneDx(debianInventory(), SUBJECT);
    const later: Json = cycloneDx(debianInventory(), { ...SUBJECT, created: new Date('2027-01-01T00:00:00Z') });
    assert.equal(later.serialNumber, base.serialNumber);
    const other: Json = cycloneDx(debianInventory(), { ...SUBJECT, digest: digestOf('another image') });
    assert.notEqual(other.serialNumber, base.serialNumber);
    const fewer = debianInventory();
    fewer.packages.pop();
    assert.notEqual((cycloneDx(fewer, SUBJECT) as Json).serialNumber, base.serialNumber);
    const relicensed = debianInventory();
    relicensed.packages[0]!.licenses = ['MIT'];
    assert.notEqual((cycloneDx(relicensed, SUBJECT) as Json).serialNumber, base.serialNumber);
    // The documented derivation.
    const { fingerprint } = prepareInventory(debianInventory());
    assert.equal(base.serialNumber, `urn:uuid:${documentUuid('cyclonedx', IMAGE_DIGEST, fingerprint)}`);
    assert.ok((spdx(debianInventory(), SUBJECT) as Json).documentNamespace.endsWith(`/${documentUuid('spdx', IMAGE_DIGEST, fingerprint)}`));
  });

  test('a package keeps its bom-ref and SPDXID when other packages come or go', () => {
    const all: Json = cycloneDx(debianInventory(), SUBJECT);
    const some = debianInventory();
    some.packages = some.packages.filter((p) => p.ecosystem !== 'Debian');
    const fewer: Json = cycloneDx(some, SUBJECT);
    const ref = (bom: Json, name: string) => bom.components.find((c: Json) => c.name === name)['bom-ref'];
    assert.equal(ref(fewer, 'lodash'), ref(all, 'lodash'));
    const sid = (doc: Json, name: string) => doc.packages.find((p: Json) => p.name === name).SPDXID;
    assert.equal(sid(spdx(some, SUBJECT), 'lodash'), sid(spdx(debianInventory(), SUBJECT), 'lodash'));
  });

  test('uuidV5 is RFC 9562 version 5', () => {
    // Python's documented example: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org').
    assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
    assert.equal(uuidV5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'urn:berth:sbom'), SBOM_UUID_NAMESPACE);
  });
});

describe('hostile packages', () => {
  const HOSTILE_NAMES = [
    'quote"d\'name',
    'ünïcødé-名前-😀',
    'a/b/c',
    '@scope/name@1',
    'q?x=1#frag',
    '%41%zz%',
    'space name\ttab\nnewline',
    '\u0000nul\u001b[31m',
    'lone\uD800surrogate\uDFFF',
    '',
    'x'.repeat(5000),
    '../../etc/passwd',
    'SPDXRef-DOCUMENT',
    'AND',
  ];
  const HOSTILE_VERSIONS = ['1.0"', '1:2.3-4+b1~rc1', 'v/1', '@?#&=', 'é', '', '9'.repeat(3000), '\uDC00'];

  /** Packages whose purls the analyzers built properly (packageurl-js) and ones whose purls are broken. */
  function hostileInventory(): ImageInventory {
    const packages: InstalledPackage[] = [];
    HOSTILE_NAMES.forEach((name, i) => {
      const version = HOSTILE_VERSIONS[i % HOSTILE_VERSIONS.length]!;
      let purl: string;
      try {
        purl = new PackageURL('npm', null, name || 'x', version || undefined).toString();
      } catch {
        purl = `pkg:npm/${name}@${version}`;
      }
      const base = {
        ecosystem: 'npm',
        name,
        version,
        layer: LAYER2,
        path: `app/node_modules/${name}/package.json`,
        licenses: [name, 'MIT'],
      };
      packages.push({ ...base, purl });
      packages.push({ ...base, ecosystem: 'Debian', source: { name, version }, purl: `pkg:deb/debian/${name}@${version}` });
      packages.push({ ...base, ecosystem: 'Ünknown ecosystem/"', purl: name });
    });
    return { os: { id: 'evil" os/#?', versionId: '"1"', prettyName: '\u0000' }, packages };
  }

  test('give valid documents: purls, bom-refs and SPDXIDs all well formed and unique', () => {
    const inventory = hostileInventory();
    const bom: Json = cycloneDx(inventory, SUBJECT);
    validateCycloneDx(bom);
    const doc: Json = spdx(inventory, SUBJECT);
    validateSpdx(doc);
    // Nothing was lost: one component per distinct package, plus the OS.
    const distinct = new Set(inventory.packages.map((p) => json([p.ecosystem, p.name, p.version, p.purl, p.source])));
    assert.equal(bom.components.length, distinct.size + 1);
    assert.equal(doc.packages.length, distinct.size + 2);
    // Bounded ids, even for a 5,000-character name.
    for (const p of doc.packages) assert.ok(p.SPDXID.length <= 160, p.SPDXID);
    // JSON that parses back to the same thing, with well-formed UTF-8 throughout.
    for (const d of [bom, doc]) {
      const text = json(d);
      assert.deepEqual(JSON.parse(text), d);
      assert.equal(Buffer.from(text, 'utf8').toString('utf8'), text);
    }
  });

  test('a purl the analyzers built is kept as it is; a broken one becomes pkg:generic that decodes to the package', () => {
    const mk = (name: string, version: string, purl: string): InstalledPackage => ({
      ecosystem: 'npm',
      name,
      version,
      purl,
      layer: LAYER2,
      path: 'p',
    });
    const kept = [
      mk('@scope/na me', '1.0.0 ?', new PackageURL('npm', '@scope', 'na me', '1.0.0 ?').toString()),
      mk("a'b", '1', "pkg:npm/a'b@1"),
      mk('名前', '1', new PackageURL('npm', null, '名前', '1').toString()),
      mk('curl', '7.88.1-10+deb12u5', 'pkg:deb/debian/curl@7.88.1-10+deb12u5?arch=amd64&distro=debian-12'),
    ];
    const broken = [
      mk('a b', '1', 'pkg:npm/a b@1'),
      mk('名前', '2', 'pkg:npm/名前@2'),
      mk('x', '1.0"', 'pkg:npm/x@1.0"'),
      mk('y', '1', 'pkg:npm/y@1#%zz'),
      mk('z', '1', 'pkg:npm/z@'),
      mk('n', '1', 'n'),
      mk('', '', ''),
      mk('lone\uD800', '1', 'pkg:npm/lone%ED%A0%80@1'),
    ];
    const bom: Json = cycloneDx({ packages: [...kept, ...broken] }, SUBJECT);
    validateCycloneDx(bom);
    const byId = (p: InstalledPackage) =>
      bom.components.find(
        (c: Json) => c.version === (p.version || undefined) && c.name === (p.name.replace(/[\uD800-\uDFFF]/g, '\uFFFD') || 'unnamed'),
      );
    for (const p of kept) assert.equal(byId(p).purl, p.purl, p.purl);
    for (const p of broken) {
      const purl = assertPurl(p.purl, byId(p).purl);
      assert.equal(purl.type, 'generic', p.purl);
      assert.equal(purl.name, p.name.replace(/[\uD800-\uDFFF]/g, '\uFFFD') || 'unnamed');
      assert.equal(purl.version ?? '', p.version);
    }
  });

  test('packages that differ only in their licenses get distinct ids; exact repeats are dropped', () => {
    const p = debianInventory().packages[0]!;
    const inventory: ImageInventory = {
      packages: [
        p,
        { ...p },
        { ...p, licenses: ['MIT'] },
        { ...p, licenses: [] },
        { ...p, licenses: ['a', 'b'] },
        { ...p, licenses: ['a\nb'] },
      ],
    };
    const bom: Json = cycloneDx(inventory, SUBJECT);
    validateCycloneDx(bom);
    assert.equal(bom.components.length, 5);
    const refs = bom.components.map((c: Json) => c['bom-ref']);
    assert.deepEqual(
      refs.slice(1),
      [2, 3, 4, 5].map((i) => `${refs[0]}-${i}`),
    );
    validateSpdx(spdx(inventory, SUBJECT));
  });

  test('packages whose names sanitize alike still get unique SPDXIDs', () => {
    const mk = (name: string): InstalledPackage => ({
      ecosystem: 'npm',
      name,
      version: '1',
      purl: new PackageURL('npm', null, name, '1').toString(),
      layer: LAYER2,
      path: name,
    });
    const inventory: ImageInventory = { packages: ['a/b', 'a?b', 'a b', 'a--b', 'a#b'].map(mk) };
    const doc: Json = spdx(inventory, SUBJECT);
    validateSpdx(doc);
    const ids = doc.packages.slice(1).map((p: Json) => p.SPDXID);
    for (const id of ids) assert.match(id, /^SPDXRef-Package-npm-a-+b-[0-9a-f]{16}$/);
    assert.equal(new Set(ids).size, 5);
  });
});
