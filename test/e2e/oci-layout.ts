import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pushBlob, pushManifest, sha256 } from './helpers.js';

// Tiny OCI images written by hand into an OCI image layout directory (image-spec "image-layout"),
// so the clients have something to copy without any network: a gzipped tar layer, a config, a
// manifest, and optionally an index over several platforms.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/** A ustar archive of regular files (mode 0644, mtime 0). */
export function tar(files: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, raw] of Object.entries(files)) {
    const content = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
    const h = Buffer.alloc(512);
    const field = (off: number, len: number, value: string) => h.write(value, off, len, 'ascii');
    const octal = (off: number, len: number, n: number) => field(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
    h.write(name, 0, 100, 'utf8');
    octal(100, 8, 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, content.length);
    octal(136, 12, 0);
    h.fill(0x20, 148, 156); // checksum field counts as spaces
    field(156, 1, '0');
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    field(265, 32, 'root');
    field(297, 32, 'root');
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    parts.push(h, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Reads the regular files of a ustar archive (enough for archives written by tar() or by buildah). */
export function untar(archive: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let off = 0;
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, b: number) => h.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
    const prefix = str(345, 500);
    const name = (prefix ? `${prefix}/` : '') + str(0, 100);
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const type = str(156, 157);
    off += 512;
    if (type === '0' || type === '') out[name.replace(/^\.\//, '')] = archive.subarray(off, off + size);
    off += Math.ceil(size / 512) * 512;
  }
  return out;
}

export class OciLayout {
  readonly blobs = new Map<string, Buffer>();
  private readonly types = new Map<string, string>();
  private readonly refs: { name: string; desc: Descriptor }[] = [];

  constructor(readonly dir: string) {}

  addBlob(bytes: Buffer, mediaType: string): Descriptor {
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    this.types.set(digest, mediaType);
    return { mediaType, digest, size: bytes.length };
  }

  /** A single-platform image holding `files` (plus a random file, so every image is distinct). */
  addImage(
    opts: { files?: Record<string, string | Buffer>; architecture?: string; os?: string; variant?: string; label?: string } = {},
  ): Descriptor {
    const architecture = opts.architecture ?? 'amd64';
    const os = opts.os ?? 'linux';
    const layerTar = tar({ 'nonce.txt': randomBytes(16).toString('hex'), ...opts.files });
    const layer = this.addBlob(gzipSync(layerTar), OCI_LAYER_GZIP);
    const config = this.addBlob(
      Buffer.from(
        JSON.stringify({
          architecture,
          os,
          ...(opts.variant ? { variant: opts.variant } : {}),
          config: { Labels: { 'berth.e2e': opts.label ?? 'yes' } },
          rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
          history: [{ created_by: 'berth e2e test' }],
        }),
      ),
      OCI_CONFIG,
    );
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
    const d = this.addBlob(manifest, OCI_MANIFEST);
    return { ...d, platform: { architecture, os, ...(opts.variant ? { variant: opts.variant } : {}) } };
  }

  /** An image index over platform manifests already added. */
  addIndex(manifests: Descriptor[]): Descriptor {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    return this.addBlob(bytes, OCI_INDEX);
  }

  /** Names a manifest or index in the layout's index.json (skopeo's oci:DIR:NAME). */
  tag(name: string, desc: Descriptor): void {
    this.refs.push({ name, desc });
  }

  write(): this {
    mkdirSync(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    for (const [digest, bytes] of this.blobs) writeFileSync(path.join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
    const manifests = this.refs.map(({ name, desc }) => ({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: name } }));
    writeFileSync(path.join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    return this;
  }

  bytes(d: Descriptor | string): Buffer {
    const digest = typeof d === 'string' ? d : d.digest;
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest} in ${this.dir}`);
    return b;
  }

  /** True for manifests and indexes (served from /manifests/), false for config and layer blobs. */
  isManifest(digest: string): boolean {
    const t = this.types.get(digest);
    return t === OCI_MANIFEST || t === OCI_INDEX;
  }

  /** The blob and manifest digests an image (or index, recursively) consists of. */
  closure(d: Descriptor | string): string[] {
    const digest = typeof d === 'string' ? d : d.digest;
    const doc = JSON.parse(this.bytes(digest).toString()) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (doc.manifests) return [digest, ...doc.manifests.flatMap((m) => this.closure(m))];
    return [digest, doc.config!.digest, ...doc.layers!.map((l) => l.digest)];
  }
}

/** What a layout written by someone else (e.g. skopeo) names: ref name -> descriptor. */
export function readLayoutRefs(dir: string): Map<string, Descriptor> {
  const idx = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const out = new Map<string, Descriptor>();
  for (const m of idx.manifests) out.set(m.annotations?.[REF_NAME] ?? '', m);
  return out;
}

/** A blob of a layout on disk, verified against its digest. */
export function readLayoutBlob(dir: string, digest: string): Buffer {
  const bytes = readFileSync(path.join(dir, 'blobs', ...digest.split(':')));
  if (sha256(bytes) !== digest) throw new Error(`blob ${digest} in ${dir} does not match its digest`);
  return bytes;
}

/** Pushes an image or index of a layout over plain HTTP (blobs first, then children, then the top manifest under `ref`). */
export async function pushImage(
  base: string,
  name: string,
  layout: OciLayout,
  desc: Descriptor,
  ref: string = desc.digest,
): Promise<string> {
  const bytes = layout.bytes(desc);
  const doc = JSON.parse(bytes.toString()) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (doc.manifests) {
    for (const m of doc.manifests) await pushImage(base, name, layout, m);
  } else {
    for (const b of [doc.config!, ...doc.layers!]) await pushBlob(base, name, layout.bytes(b));
  }
  return pushManifest(base, name, ref, bytes, desc.mediaType);
}
