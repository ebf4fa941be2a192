import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A tiny upstream registry for import tests: serves manifests and blobs from memory, read-only,
// anonymous. It can send blobs slowly (resume tests) or send other bytes than a blob's digest
// promises (hostile tests). Not a registry: only what an importer reads.

export interface FakeImage {
  manifest: Buffer;
  mediaType: string;
  digest: string;
  blobs: Map<string, Buffer>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI image of a config and layers of the given sizes (random bytes). */
export function makeImage(layerSizes: number[], seed = Math.random().toString(36)): FakeImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed, rootfs: { type: 'layers', diff_ids: [] } }));
  const layers = layerSizes.map((n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4096) b.writeUInt32LE((Math.random() * 0xffffffff) >>> 0, i);
    b.write(seed, 0);
    return b;
  });
  const blobs = new Map<string, Buffer>([[sha(config), config], ...layers.map((l) => [sha(l), l] as [string, Buffer])]);
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
    }),
  );
  return { manifest, mediaType, digest: sha(manifest), blobs };
}

export interface FakeUpstreamOptions {
  /** Bytes per second for blob bodies (0 = full speed). */
  bytesPerSecond?: number;
  /** Blobs whose body is replaced by other bytes of the same length. */
  corrupt?: Set<string>;
  /** Require HTTP Basic with these credentials (challenge: Basic). */
  basicAuth?: { username: string; password: string };
  /** Answer blob GETs with a 307 to this base URL (a storage host), as registries on object storage do. */
  redirectBlobsTo?: string;
  /** The first GET of each blob sends this many bytes, then the connection breaks (resume tests). */
  breakBlobsAfter?: number;
  /** Ignore Range headers and always send whole blobs (as some storage does). */
  ignoreRange?: boolean;
  /** Challenge every request without a Bearer token with this token realm (a hostile upstream points it elsewhere). */
  bearerRealm?: string;
}

export class FakeUpstream {
  readonly repos = new Map<
    string,
    { tags: Map<string, string>; manifests: Map<string, { bytes: Buffer; mediaType: string }>; blobs: Map<string, Buffer> }
  >();
  /** Blob GETs served, by digest (to prove what a resumed import fetched again). */
  readonly blobGets = new Map<string, number>();
  /** The Range header of every blob GET, in order (undefined when none was sent). */
  readonly ranges: (string | undefined)[] = [];
  /** The Authorization header of every request, in order (undefined when none was sent). */
  readonly authorizations: (string | undefined)[] = [];
  private server!: http.Server;
  host = '';

  constructor(readonly opts: FakeUpstreamOptions = {}) {}

  add(repo: string, tag: string, img: FakeImage): void {
    const r = this.repos.get(repo) ?? { tags: new Map(), manifests: new Map(), blobs: new Map() };
    this.repos.set(repo, r);
    r.tags.set(tag, img.digest);
    r.manifests.set(img.digest, { bytes: img.manifest, mediaType: img.mediaType });
    for (const [d, b] of img.blobs) r.blobs.set(d, b);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.host;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    this.authorizations.push(req.headers.authorization);
    const ba = this.opts.basicAuth;
    if (ba && req.headers.authorization !== `Basic ${Buffer.from(`${ba.username}:${ba.password}`).toString('base64')}`) {
      return void res
        .writeHead(401, { 'WWW-Authenticate': 'Basic realm="fake"' })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}');
    }
    if (this.opts.bearerRealm && !req.headers.authorization?.startsWith('Bearer ')) {
      return void res
        .writeHead(401, { 'WWW-Authenticate': `Bearer realm="${this.opts.bearerRealm}",service="fake"` })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}');
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') return void res.end('{}');
    const m = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(url.pathname);
    const repo = m && this.repos.get(m[1]!);
    if (!m || !repo) return void res.writeHead(404).end('{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}');
    const [, , kind, ref] = m;
    if (kind === 'referrers') return void res.writeHead(404).end();
    if (kind === 'manifests') {
      const digest = repo.tags.get(ref!) ?? ref!;
      const man = repo.manifests.get(digest);
      if (!man) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
      res.writeHead(200, { 'Content-Type': man.mediaType, 'Docker-Content-Digest': digest, 'Content-Length': man.bytes.length });
      return void res.end(req.method === 'HEAD' ? undefined : man.bytes);
    }
    let blob = repo.blobs.get(ref!);
    if (!blob) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}');
    if (this.opts.redirectBlobsTo) return void res.writeHead(307, { Location: `${this.opts.redirectBlobsTo}${url.pathname}` }).end();
    this.blobGets.set(ref!, (this.blobGets.get(ref!) ?? 0) + 1);
    this.ranges.push(req.headers.range);
    if (this.opts.corrupt?.has(ref!)) blob = Buffer.from(blob.map((b) => b ^ 0xff));
    const cut = this.opts.breakBlobsAfter;
    if (cut !== undefined && this.blobGets.get(ref!) === 1 && cut < blob.length) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length });
      res.write(blob.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.opts.ignoreRange) {
      const from = Number(range[1]);
      const part = blob.subarray(from);
      res.writeHead(206, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': part.length,
        'Content-Range': `bytes ${from}-${blob.length - 1}/${blob.length}`,
      });
      return void res.end(part);
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length });
    const rate = this.opts.bytesPerSecond ?? 0;
    if (!rate) return void res.end(blob);
    // Slow: 20 slices a second.
    const slice = Math.max(1, Math.floor(rate / 20));
    let off = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(blob.subarray(off, off + slice));
      off += slice;
      if (off >= blob.length) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.on('close', () => clearInterval(timer));
  }
}
