import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf } from '../../digest.js';
import { MediaTypes, parseManifest } from '../../manifest.js';
import { cycloneDx } from './cyclonedx.js';
import { jsonBytes, OCI_EMPTY_BLOB, OCI_EMPTY_DESCRIPTOR, SBOM_ARTIFACT_TYPES, sbomReferrerManifest } from './referrer.js';
import { spdx } from './spdx.js';

const IMAGE = { digest: digestOf('image manifest'), mediaType: MediaTypes.ociManifest, size: 1234 };
const CREATED = new Date('2026-12-06T12:34:56.789Z');
const SUBJECT = {
  registry: 'reg.example',
  repository: 'library/debian',
  digest: IMAGE.digest,
  mediaType: IMAGE.mediaType,
  created: CREATED,
  tool: { name: 'berth' as const, version: '0.1.0' },
};

describe('SBOM referrer manifest', () => {
  test('the empty descriptor is the blob {} (image-spec manifest.md)', () => {
    assert.equal(OCI_EMPTY_DESCRIPTOR.digest, digestOf('{}'));
    assert.equal(OCI_EMPTY_DESCRIPTOR.size, 2);
    assert.equal(Buffer.from(OCI_EMPTY_DESCRIPTOR.data, 'base64').toString('utf8'), '{}');
    assert.equal(digestOf(OCI_EMPTY_BLOB), OCI_EMPTY_DESCRIPTOR.digest);
  });

  for (const format of ['cyclonedx', 'spdx'] as const) {
    test(`a ${format} SBOM's manifest parses with our manifest parser as an artifact referring to the image`, () => {
      const doc = format === 'cyclonedx' ? cycloneDx({ packages: [] }, SUBJECT) : spdx({ packages: [] }, SUBJECT);
      const blob = jsonBytes(doc);
      const manifest = sbomReferrerManifest(IMAGE, { digest: digestOf(blob), size: blob.byteLength }, format, {
        created: CREATED,
        generator: 'berth 0.1.0',
        extra: { 'com.example.note': 'hi' },
      });
      const bytes = jsonBytes(manifest);
      const parsed = parseManifest(bytes, MediaTypes.ociManifest);
      assert.equal(parsed.kind, 'manifest');
      assert.equal(parsed.mediaType, MediaTypes.ociManifest);
      // What the referrers API lists it under.
      assert.equal(parsed.artifactType, SBOM_ARTIFACT_TYPES[format]);
      assert.deepEqual(parsed.subject, IMAGE);
      assert.equal(parsed.config?.mediaType, MediaTypes.ociEmpty);
      // The blobs the registry must hold before it accepts the manifest: {} and the document.
      assert.deepEqual(
        parsed.blobs.map((b) => [b.mediaType, b.digest, b.size]),
        [
          [MediaTypes.ociEmpty, digestOf('{}'), 2],
          [SBOM_ARTIFACT_TYPES[format], digestOf(blob), blob.byteLength],
        ],
      );
      assert.deepEqual(parsed.annotations, {
        'com.example.note': 'hi',
        'dev.berth.sbom.format': format === 'cyclonedx' ? 'CycloneDX-1.5' : 'SPDX-2.3',
        'dev.berth.sbom.generator': 'berth 0.1.0',
        'org.opencontainers.image.created': '2026-12-06T12:34:56Z',
      });
      const raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
      assert.equal(raw.schemaVersion, 2);
      assert.deepEqual(raw.config, OCI_EMPTY_DESCRIPTOR);
      assert.equal(raw.layers.length, 1);
      assert.equal(
        raw.layers[0].annotations['org.opencontainers.image.title'],
        format === 'cyclonedx' ? 'sbom.cdx.json' : 'sbom.spdx.json',
      );
      // The same arguments give the same bytes, so pushing again is a no-op.
      const again = sbomReferrerManifest(IMAGE, { digest: digestOf(blob), size: blob.byteLength }, format, {
        created: new Date(CREATED),
        generator: 'berth 0.1.0',
        extra: { 'com.example.note': 'hi' },
      });
      assert.equal(digestOf(jsonBytes(again)), digestOf(bytes));
    });
  }

  test('an index can be the subject; our annotations win over extra ones of the same name', () => {
    const index = { digest: digestOf('index'), mediaType: MediaTypes.ociIndex, size: 99 };
    const m = sbomReferrerManifest(index, { digest: digestOf('sbom'), size: 4 }, 'spdx', {
      created: CREATED,
      generator: 'berth 0.1.0',
      extra: { 'org.opencontainers.image.created': 'yesterday', 'dev.berth.sbom.generator': 'someone else' },
    });
    const parsed = parseManifest(jsonBytes(m), '');
    assert.deepEqual(parsed.subject, index);
    assert.equal(parsed.annotations?.['org.opencontainers.image.created'], '2026-12-06T12:34:56Z');
    assert.equal(parsed.annotations?.['dev.berth.sbom.generator'], 'berth 0.1.0');
    assert.deepEqual(Object.keys(m.annotations), [...Object.keys(m.annotations)].sort());
  });

  test('a wrong subject or blob is refused before anything is pushed', () => {
    const blob = { digest: digestOf('sbom'), size: 4 };
    const opts = { created: CREATED, generator: 'berth 0.1.0' };
    assert.throws(() => sbomReferrerManifest({ ...IMAGE, digest: 'sha256:nothex' }, blob, 'cyclonedx', opts), /subject: .*digest/);
    assert.throws(
      () => sbomReferrerManifest({ ...IMAGE, mediaType: 'application/json' }, blob, 'cyclonedx', opts),
      /not a manifest media type/,
    );
    assert.throws(() => sbomReferrerManifest(IMAGE, { ...blob, size: -1 }, 'cyclonedx', opts), /sbom blob: size/);
    assert.throws(() => sbomReferrerManifest(IMAGE, blob, 'xml' as 'spdx', opts), /unknown SBOM format/);
  });
});
