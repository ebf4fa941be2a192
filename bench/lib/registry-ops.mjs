// The OCI distribution operations the scenarios time: blob uploads (monolithic and chunked), blob
// pulls, manifest PUT/GET/HEAD and paged listings, each checking what the spec promises (status,
// Location, Docker-Content-Digest, sizes). Test data is random, so nothing compresses or dedupes.
import { createHash, randomBytes } from 'node:crypto';
import { failure, json, nextPage } from './client.mjs';

export const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const BINARY = { 'Content-Type': 'application/octet-stream' };

export const repoScope = (repo) => `repository:${repo}:pull,push`;
export const CATALOG_SCOPE = 'registry:catalog:*';

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return `sha256:${h.digest('hex')}`;
};

/**
 * Makes distinct random blobs of one size cheaply: every blob is one shared random body followed
 * by its own 16 random bytes, and its digest continues a hash of the body computed once
 * (Hash.copy()), so a 64 MiB blob costs a 16-byte hash update, not a 64 MiB one.
 */
export class BlobMaker {
  constructor() {
    this.bodies = new Map(); // size -> { body, hashed }
  }

  make(size) {
    const tailSize = Math.min(16, size);
    let b = this.bodies.get(size);
    if (!b) {
      const body = randomBytes(size - tailSize);
      b = { body, hashed: createHash('sha256').update(body) };
      this.bodies.set(size, b);
    }
    const tail = randomBytes(tailSize);
    return { size, parts: [b.body, tail], digest: `sha256:${b.hashed.copy().update(tail).digest('hex')}` };
  }
}

/** A blob whose bytes are given (configs), as the uploads take it. */
export const blobOf = (bytes) => ({ size: bytes.length, parts: [bytes], digest: sha256(bytes) });

/** The bytes [from, to) of a blob's parts, as views (no copy). */
function slice(parts, from, to) {
  const out = [];
  let at = 0;
  for (const p of parts) {
    const lo = Math.max(from, at);
    const hi = Math.min(to, at + p.length);
    if (lo < hi) out.push(p.subarray(lo - at, hi - at));
    at += p.length;
  }
  return out;
}

function location(res) {
  const loc = res.headers.location;
  if (!loc) throw failure(res, `HTTP ${res.status} without a Location header`);
  return new URL(loc, res.url).href;
}

function withDigest(loc, digest) {
  const u = new URL(loc);
  u.searchParams.set('digest', digest);
  return u.href;
}

function checkDigest(res, digest) {
  const got = res.headers['docker-content-digest'];
  if (got !== digest) throw failure(res, `Docker-Content-Digest is ${got ?? '(missing)'}, expected ${digest}`);
}

async function startUpload(client, repo) {
  const res = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { scope: repoScope(repo), expect: [202] });
  return location(res);
}

/** POST, then the whole blob in one PUT ?digest=. */
export async function pushMonolithic(client, repo, blob) {
  const loc = await startUpload(client, repo);
  const res = await client.request('PUT', withDigest(loc, blob.digest), {
    scope: repoScope(repo),
    headers: BINARY,
    body: blob.parts,
    expect: [201],
  });
  checkDigest(res, blob.digest);
}

/** POST, PATCHes of chunkSize with Content-Range, then an empty PUT ?digest=. */
export async function pushChunked(client, repo, blob, chunkSize) {
  let loc = await startUpload(client, repo);
  for (let from = 0; from < blob.size; from += chunkSize) {
    const to = Math.min(blob.size, from + chunkSize);
    const res = await client.request('PATCH', loc, {
      scope: repoScope(repo),
      headers: { ...BINARY, 'Content-Range': `${from}-${to - 1}` },
      body: slice(blob.parts, from, to),
      expect: [202],
    });
    loc = location(res);
  }
  const res = await client.request('PUT', withDigest(loc, blob.digest), { scope: repoScope(repo), body: [], expect: [201] });
  checkDigest(res, blob.digest);
}

export async function pullBlob(client, repo, blob) {
  const res = await client.request('GET', `/v2/${repo}/blobs/${blob.digest}`, { scope: repoScope(repo), follow: true });
  if (res.bytes !== blob.size) throw failure(res, `blob body has ${res.bytes} bytes, expected ${blob.size}`);
}

/** An OCI image manifest over a config and layers, made distinct by an annotation. */
export function imageManifest(config, layers, id) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
      annotations: { 'org.berth.bench.id': id },
    }),
  );
  return { bytes, size: bytes.length, digest: sha256(bytes) };
}

/** Pushes a small config and one layer of layerSize to repo; returns them for manifests to use. */
export async function pushImageBlobs(client, repo, blobs, layerSize, id) {
  const layer = blobs.make(layerSize);
  const config = blobOf(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, id })),
  );
  await pushMonolithic(client, repo, config);
  await pushMonolithic(client, repo, layer);
  return { config, layer };
}

export async function putManifest(client, repo, ref, manifest) {
  const res = await client.request('PUT', `/v2/${repo}/manifests/${ref}`, {
    scope: repoScope(repo),
    headers: { 'Content-Type': OCI_MANIFEST },
    body: [manifest.bytes],
    expect: [201],
  });
  checkDigest(res, manifest.digest);
}

export async function getManifest(client, repo, ref, manifest) {
  const res = await client.request('GET', `/v2/${repo}/manifests/${ref}`, { scope: repoScope(repo), headers: { Accept: OCI_MANIFEST } });
  if (res.bytes !== manifest.size) throw failure(res, `manifest body has ${res.bytes} bytes, expected ${manifest.size}`);
  checkDigest(res, manifest.digest);
}

export async function headManifest(client, repo, manifest) {
  const res = await client.request('HEAD', `/v2/${repo}/manifests/${manifest.digest}`, {
    scope: repoScope(repo),
    headers: { Accept: OCI_MANIFEST },
  });
  if (Number(res.headers['content-length']) !== manifest.size) {
    throw failure(res, `HEAD says Content-Length ${res.headers['content-length']}, expected ${manifest.size}`);
  }
}

/** Follows Link rel="next" from path; returns every page's `field` array, concatenated, and the page count. */
export async function walkPages(client, path, scope, field) {
  const items = [];
  let pages = 0;
  let url = path;
  while (url) {
    const res = await client.request('GET', url, { scope, keep: true });
    const list = json(res)[field];
    if (!Array.isArray(list)) throw failure(res, `the response has no "${field}" array`);
    items.push(...list);
    if (++pages > 10_000) throw failure(res, 'the Link pages never end');
    url = nextPage(res);
  }
  return { items, pages };
}
