import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOf } from './digest.js';
import { RegistryError } from './errors.js';
import { isIndexMediaType, isManifestMediaType, MediaTypes, parseManifest, type ParsedManifest } from './manifest.js';

const d = (s: string) => digestOf(s);
const CONFIG = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('config'), size: 6 };
const LAYER = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('layer'), size: 5 };
const DOCKER_CONFIG = { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('config'), size: 6 };
const DOCKER_LAYER = { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('layer'), size: 5 };
const CHILD = { mediaType: MediaTypes.ociManifest, digest: d('child'), size: 100, platform: { architecture: 'amd64', os: 'linux' } };

const bytes = (doc: unknown) => new TextEncoder().encode(typeof doc === 'string' ? doc : JSON.stringify(doc));
const parse = (doc: unknown, contentType = '') => parseManifest(bytes(doc), contentType);

function invalid(doc: unknown, contentType: string, message: RegExp): void {
  assert.throws(
    () => parse(doc, contentType),
    (e: unknown) => {
      assert.ok(e instanceof RegistryError, `RegistryError, got ${String(e)}`);
      assert.equal(e.code, 'MANIFEST_INVALID');
      assert.equal(e.status, 400);
      assert.match(e.message, message);
      return true;
    },
  );
}

const ociImage = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: CONFIG,
  layers: [LAYER],
  ...extra,
});
const ociIndex = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociIndex,
  manifests: [CHILD],
  ...extra,
});

describe('media type helpers', () => {
  test('manifest and index types', () => {
    for (const t of [MediaTypes.ociManifest, MediaTypes.dockerManifest, MediaTypes.ociIndex, MediaTypes.dockerList])
      assert.equal(isManifestMediaType(t), true, t);
    assert.equal(isManifestMediaType(MediaTypes.dockerSchema1), false);
    assert.equal(isManifestMediaType('application/json'), false);
    assert.equal(isIndexMediaType(MediaTypes.ociIndex), true);
    assert.equal(isIndexMediaType(MediaTypes.dockerList), true);
    assert.equal(isIndexMediaType(MediaTypes.ociManifest), false);
  });
});

describe('parseManifest: accepted documents', () => {
  test('OCI image manifest', () => {
    const p: ParsedManifest = parse(
      ociImage({ annotations: { 'org.opencontainers.image.created': '2024-01-01' } }),
      MediaTypes.ociManifest,
    );
    assert.equal(p.mediaType, MediaTypes.ociManifest);
    assert.equal(p.kind, 'manifest');
    assert.deepEqual(p.config, CONFIG);
    assert.deepEqual(p.blobs, [CONFIG, LAYER]);
    assert.deepEqual(p.manifests, []);
    assert.equal(p.subject, null);
    assert.deepEqual(p.annotations, { 'org.opencontainers.image.created': '2024-01-01' });
    assert.equal(p.artifactType, CONFIG.mediaType, 'artifactType falls back to config.mediaType');
  });

  test('Docker schema 2 manifest', () => {
    const p = parse(
      { schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: DOCKER_CONFIG, layers: [DOCKER_LAYER] },
      MediaTypes.dockerManifest,
    );
    assert.equal(p.mediaType, MediaTypes.dockerManifest);
    assert.equal(p.kind, 'manifest');
    assert.deepEqual(p.blobs, [DOCKER_CONFIG, DOCKER_LAYER]);
    assert.equal(p.annotations, null);
  });

  test('OCI image index', () => {
    const p = parse(ociIndex(), MediaTypes.ociIndex);
    assert.equal(p.mediaType, MediaTypes.ociIndex);
    assert.equal(p.kind, 'index');
    assert.deepEqual(p.manifests, [CHILD]);
    assert.deepEqual(p.blobs, []);
    assert.equal(p.config, null);
    assert.equal(p.artifactType, null, 'an index without artifactType has none (no config to fall back on)');
  });

  test('an empty index is valid', () => {
    const p = parse({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
    assert.equal(p.kind, 'index');
    assert.deepEqual(p.manifests, []);
  });

  test('Docker manifest list', () => {
    const child = { ...CHILD, mediaType: MediaTypes.dockerManifest };
    const p = parse({ schemaVersion: 2, mediaType: MediaTypes.dockerList, manifests: [child] }, MediaTypes.dockerList);
    assert.equal(p.mediaType, MediaTypes.dockerList);
    assert.equal(p.kind, 'index');
    assert.deepEqual(p.manifests, [child]);
  });

  test('OCI artifact: artifactType, empty config, subject', () => {
    const empty = { mediaType: MediaTypes.ociEmpty, digest: d('{}'), size: 2 };
    const subject = { mediaType: MediaTypes.ociManifest, digest: d('subject'), size: 500 };
    const sbom = { mediaType: 'application/spdx+json', digest: d('sbom'), size: 4 };
    const p = parse({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: 'application/spdx+json',
      config: empty,
      layers: [sbom],
      subject,
    });
    assert.equal(p.artifactType, 'application/spdx+json');
    assert.deepEqual(p.subject, subject);
    assert.deepEqual(p.blobs, [empty, sbom]);
  });

  test('artifactType falls back to the config media type (referrers API)', () => {
    const cfg = { mediaType: 'application/vnd.cncf.notary.signature', digest: d('sig-config'), size: 2 };
    const p = parse({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg, layers: [] });
    assert.equal(p.artifactType, 'application/vnd.cncf.notary.signature');
  });

  test('an index may carry artifactType and subject', () => {
    const subject = { mediaType: MediaTypes.ociManifest, digest: d('subject'), size: 500 };
    const p = parse(ociIndex({ artifactType: 'application/vnd.example.bundle', subject }));
    assert.equal(p.artifactType, 'application/vnd.example.bundle');
    assert.deepEqual(p.subject, subject);
  });

  test('OCI layers may be omitted (config only)', () => {
    const p = parse({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: CONFIG });
    assert.deepEqual(p.blobs, [CONFIG]);
  });

  test('non-distributable and foreign layers, and layers with urls, are not required blobs', () => {
    const nondist = { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: d('nd'), size: 1 };
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: d('foreign'),
      size: 1,
      urls: ['https://example.com/x'],
    };
    const withUrls = { ...LAYER, digest: d('remote'), urls: ['https://example.com/y'] };
    const emptyUrls = { ...LAYER, digest: d('local'), urls: [] };
    const p = parse(ociImage({ layers: [LAYER, nondist, foreign, withUrls, emptyUrls] }));
    assert.deepEqual(
      p.blobs.map((b) => b.digest),
      [CONFIG.digest, LAYER.digest, emptyUrls.digest],
    );
    const docker = parse({
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: DOCKER_CONFIG,
      layers: [DOCKER_LAYER, foreign],
    });
    assert.deepEqual(
      docker.blobs.map((b) => b.digest),
      [DOCKER_CONFIG.digest, DOCKER_LAYER.digest],
    );
  });

  test('descriptors may have sha512 digests and size 0', () => {
    const layer = { mediaType: LAYER.mediaType, digest: digestOf('', 'sha512'), size: 0 };
    const p = parse(ociImage({ layers: [layer] }));
    assert.deepEqual(p.blobs[1], layer);
  });

  test('accepts a Uint8Array that is a view into a larger buffer', () => {
    const doc = bytes(ociImage());
    const big = new Uint8Array(doc.length + 20);
    big.set(doc, 10);
    const p = parseManifest(big.subarray(10, 10 + doc.length), '');
    assert.equal(p.kind, 'manifest');
  });
});

describe('parseManifest: mediaType and Content-Type', () => {
  test('Content-Type supplies the type when the document has no mediaType (OCI)', () => {
    const { mediaType: _m, ...noType } = ociImage();
    assert.equal(parse(noType, MediaTypes.ociManifest).mediaType, MediaTypes.ociManifest);
    const { mediaType: _i, ...noTypeIndex } = ociIndex();
    assert.equal(parse(noTypeIndex, MediaTypes.ociIndex).mediaType, MediaTypes.ociIndex);
  });

  test('without either, the type is inferred from the fields', () => {
    const { mediaType: _m, ...noType } = ociImage();
    assert.equal(parse(noType).mediaType, MediaTypes.ociManifest);
    const { mediaType: _i, ...noTypeIndex } = ociIndex();
    assert.equal(parse(noTypeIndex).kind, 'index');
    assert.equal(parse(noTypeIndex).mediaType, MediaTypes.ociIndex);
  });

  test('a Content-Type that is not a manifest type is ignored', () => {
    assert.equal(parse(ociImage(), 'application/json').mediaType, MediaTypes.ociManifest);
    assert.equal(parse(ociImage(), 'application/octet-stream').mediaType, MediaTypes.ociManifest);
  });

  test('mediaType and Content-Type must agree', () => {
    invalid(ociImage(), MediaTypes.dockerManifest, /does not match the Content-Type/);
    invalid(ociImage(), MediaTypes.ociIndex, /does not match the Content-Type/);
    invalid(ociIndex(), MediaTypes.ociManifest, /does not match the Content-Type/);
  });

  test('the document type must match the declared kind', () => {
    const { mediaType: _m, ...noType } = ociImage();
    invalid(noType, MediaTypes.ociIndex, /image index must not have config or layers/);
    const { mediaType: _i, ...noTypeIndex } = ociIndex();
    invalid(noTypeIndex, MediaTypes.ociManifest, /image manifest must not have a manifests array/);
  });

  test('cannot tell the type from an empty document', () => {
    invalid({ schemaVersion: 2 }, '', /cannot tell the manifest type/);
  });

  test('unsupported declared media types are refused', () => {
    invalid(
      ociImage({ mediaType: 'application/vnd.example+json' }),
      '',
      /unsupported manifest media type "application\/vnd.example\+json"/,
    );
  });

  test('Docker types need the mediaType field', () => {
    const { mediaType: _m, ...noType } = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: DOCKER_CONFIG,
      layers: [DOCKER_LAYER],
    };
    invalid(noType, MediaTypes.dockerManifest, /Docker schema 2 manifest must carry its mediaType/);
    invalid({ schemaVersion: 2, manifests: [] }, MediaTypes.dockerList, /Docker manifest list must carry its mediaType/);
  });

  test('Docker schema 2 needs layers', () => {
    invalid({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: DOCKER_CONFIG }, '', /must have a layers array/);
  });
});

describe('parseManifest: refusals', () => {
  test('not JSON, or not an object', () => {
    invalid('{not json', '', /not valid JSON/);
    invalid('', '', /not valid JSON/);
    invalid('[]', '', /must be a JSON object/);
    invalid('null', '', /must be a JSON object/);
    invalid('"x"', '', /must be a JSON object/);
  });

  test('Docker schema 1 is refused by schemaVersion, mediaType or Content-Type', () => {
    invalid({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }, '', /schema 1 is deprecated/);
    invalid(ociImage(), MediaTypes.dockerSchema1, /schema 1 is deprecated/);
    invalid(ociImage(), MediaTypes.dockerSchema1Signed, /schema 1 is deprecated/);
    invalid(ociImage({ mediaType: MediaTypes.dockerSchema1 }), '', /schema 1 is deprecated/);
    invalid(ociImage({ mediaType: MediaTypes.dockerSchema1Signed }), '', /schema 1 is deprecated/);
  });

  test('schemaVersion must be 2', () => {
    invalid(ociImage({ schemaVersion: 3 }), '', /schemaVersion must be 2, got 3/);
    invalid(ociImage({ schemaVersion: '2' }), '', /schemaVersion must be 2, got "2"/);
    const { schemaVersion: _s, ...none } = ociImage();
    invalid(none, '', /schemaVersion must be 2, got nothing/);
  });

  test('mediaType must be a string', () => {
    invalid(ociImage({ mediaType: 5 }), '', /mediaType must be a string/);
  });

  test('a document cannot be both an index and a manifest', () => {
    invalid(ociImage({ manifests: [CHILD] }), '', /both an image index .* and an image manifest/);
    invalid(ociIndex({ config: CONFIG }), '', /both an image index/);
    invalid(ociIndex({ layers: [] }), '', /both an image index/);
  });

  test('an index needs a manifests array', () => {
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociIndex }, '', /must have a manifests array/);
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: {} }, '', /must have a manifests array/);
  });

  test('an image manifest needs a config descriptor', () => {
    invalid({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, layers: [LAYER] }, '', /config must be a descriptor object/);
    invalid(ociImage({ config: [] }), '', /config must be a descriptor object/);
    invalid(ociImage({ config: 'sha256:x' }), '', /config must be a descriptor object/);
  });

  test('layers must be an array', () => {
    invalid(ociImage({ layers: LAYER }), '', /layers must be an array/);
  });

  test('descriptor fields are validated, and the message says where', () => {
    invalid(ociImage({ layers: [{ ...LAYER, mediaType: undefined }] }), '', /layers\[0\]\.mediaType must be a non-empty string/);
    invalid(ociImage({ layers: [{ ...LAYER, mediaType: '' }] }), '', /layers\[0\]\.mediaType/);
    invalid(ociImage({ layers: [{ ...LAYER, mediaType: 'x'.repeat(256) }] }), '', /at most 255/);
    invalid(ociImage({ layers: [LAYER, { ...LAYER, digest: 5 }] }), '', /layers\[1\]\.digest must be a string/);
    invalid(ociImage({ layers: [{ ...LAYER, digest: 'sha256:abc' }] }), '', /layers\[0\]\.digest is invalid: .*64 lowercase hex/);
    invalid(ociImage({ layers: [{ ...LAYER, digest: `md5:${'a'.repeat(32)}` }] }), '', /layers\[0\]\.digest is invalid/);
    invalid(ociImage({ layers: [{ ...LAYER, size: -1 }] }), '', /layers\[0\]\.size must be a non-negative integer/);
    invalid(ociImage({ layers: [{ ...LAYER, size: 1.5 }] }), '', /size must be a non-negative integer/);
    invalid(ociImage({ layers: [{ ...LAYER, size: '5' }] }), '', /size must be a non-negative integer/);
    invalid(ociImage({ layers: [{ ...LAYER, size: 2 ** 60 }] }), '', /size must be a non-negative integer/);
    invalid(ociImage({ layers: [{ ...LAYER, artifactType: 5 }] }), '', /layers\[0\]\.artifactType must be a string/);
    invalid(ociImage({ layers: [{ ...LAYER, urls: 'https://x' }] }), '', /layers\[0\]\.urls must be an array of strings/);
    invalid(ociImage({ layers: [{ ...LAYER, urls: [5] }] }), '', /urls must be an array of strings/);
    invalid(ociImage({ layers: [{ ...LAYER, annotations: { a: 1 } }] }), '', /layers\[0\]\.annotations values must be strings/);
    invalid(ociImage({ layers: [null] }), '', /layers\[0\] must be a descriptor object/);
    invalid(ociIndex({ manifests: [{ ...CHILD, digest: 'nope' }] }), '', /manifests\[0\]\.digest is invalid/);
    invalid(ociImage({ config: { ...CONFIG, size: null } }), '', /config\.size/);
  });

  test('annotations must map strings to strings', () => {
    invalid(ociImage({ annotations: [] }), '', /annotations must be an object of string values/);
    invalid(ociImage({ annotations: null }), '', /annotations must be an object/);
    invalid(ociImage({ annotations: { a: true } }), '', /annotations values must be strings/);
  });

  test('artifactType must be a non-empty string', () => {
    invalid(ociImage({ artifactType: '' }), '', /artifactType must be a non-empty string/);
    invalid(ociImage({ artifactType: 7 }), '', /artifactType must be a non-empty string/);
  });

  test('subject must be a descriptor', () => {
    invalid(ociImage({ subject: 'sha256:abc' }), '', /subject must be a descriptor object/);
    invalid(ociImage({ subject: { mediaType: MediaTypes.ociManifest, digest: 'x', size: 1 } }), '', /subject\.digest is invalid/);
  });

  test('the error is a RegistryError with MANIFEST_INVALID and detail slot', () => {
    try {
      parse('{', '');
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.info.status, 400);
      assert.equal(e.name, 'RegistryError');
    }
  });
});
