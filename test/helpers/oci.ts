import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { adminAuthHeader } from './credentials.js';
import type { FetchLike, Init } from './inject.js';

// Small helpers for the /v2 conformance tests: HTTP against a running Berth (through a socket or
// in process, see inject.ts), nothing internal.

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Codes a /v2 error body may carry: the OCI list plus the Docker v2 codes OCI does not name. */
export const V2_ERROR_CODES = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'TAG_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'RANGE_INVALID',
]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export interface Blob {
  data: Buffer;
  digest: string;
  size: number;
}

export function blobOf(data: Buffer | string): Blob {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { data: b, digest: sha256(b), size: b.length };
}

export function randomBlob(size = 256): Blob {
  return blobOf(randomBytes(size));
}

let seq = 0;
/** A repository name unique within this test process (valid OCI name component). */
export function uniqueRepo(prefix = 'repo'): string {
  return `${prefix}${process.pid}-${++seq}`;
}

export type { Init, FetchLike } from './inject.js';

export interface V2Options {
  /**
   * The Authorization header value sent with every request that does not set its own:
   * the owner's Basic credentials by default (adminAuthHeader()), null to send none.
   */
  authorization?: string | null;
  /** How requests are sent: the global fetch by default, or a TestApp's in-process fetch. */
  fetch?: FetchLike;
}

/**
 * Adds `authorization` to headers unless they already carry an Authorization header (any case).
 * `authorization` null or false: headers are returned as they are.
 */
export function withAuth(headers: RequestInit['headers'] | undefined, authorization: string | null | false = adminAuthHeader()): Headers {
  const h = new Headers(headers);
  if (authorization && !h.has('authorization')) h.set('Authorization', authorization);
  return h;
}

/**
 * fetch, with the owner's credentials unless init carries an Authorization header or auth is
 * false/null; through `via` (e.g. a TestApp's in-process fetch) when given.
 */
export function authFetch(
  url: string | URL,
  init: Init = {},
  auth: string | null | false = adminAuthHeader(),
  via: FetchLike = fetch as FetchLike,
): Promise<Response> {
  return via(url, { ...init, headers: withAuth(init.headers, auth) });
}

/**
 * A client for one server's /v2 API that checks every response carries the API version header.
 * Sends the owner's Basic credentials unless told otherwise (opts.authorization, or an
 * Authorization header on one request).
 */
export class V2 {
  readonly authorization: string | null;
  private readonly send: FetchLike;

  constructor(
    readonly base: string,
    opts: V2Options = {},
  ) {
    this.authorization = opts.authorization === undefined ? adminAuthHeader() : opts.authorization;
    this.send = opts.fetch ?? (fetch as FetchLike);
  }

  /** path is relative to /v2/ (e.g. "reg/app/tags/list") or absolute (e.g. "/v2/" or a Location header). */
  async fetch(path: string, init: Init = {}): Promise<Response> {
    const url = path.startsWith('http') ? path : path.startsWith('/') ? `${this.base}${path}` : `${this.base}/v2/${path}`;
    const res = await this.send(url, { ...init, headers: withAuth(init.headers, this.authorization) });
    assert.equal(
      res.headers.get('docker-distribution-api-version'),
      'registry/2.0',
      `${init.method ?? 'GET'} ${path}: Docker-Distribution-API-Version missing`,
    );
    return res;
  }

  /** Pushes a blob with a single POST ?digest= (or POST then PUT); returns its descriptor data. */
  async pushBlob(name: string, blob: Blob | Buffer | string, how: 'post' | 'post-put' = 'post'): Promise<Blob> {
    const b = isBlob(blob) ? blob : blobOf(blob);
    if (how === 'post') {
      const res = await this.fetch(`${name}/blobs/uploads/?digest=${b.digest}`, {
        method: 'POST',
        body: b.data,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(res.status, 201, `push blob: ${await res.text()}`);
      return b;
    }
    const loc = await this.startUpload(name);
    const res = await this.fetch(withQuery(loc, `digest=${b.digest}`), {
      method: 'PUT',
      body: b.data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 201, `push blob: ${await res.text()}`);
    return b;
  }

  /** POST /blobs/uploads/ and returns the Location of the new session. */
  async startUpload(name: string, query = ''): Promise<string> {
    const res = await this.fetch(`${name}/blobs/uploads/${query ? `?${query}` : ''}`, {
      method: 'POST',
      headers: { 'Content-Length': '0' },
    });
    assert.equal(res.status, 202, `start upload: ${await res.text()}`);
    const loc = res.headers.get('location');
    assert.ok(loc, 'POST /blobs/uploads/ must return a Location');
    return loc;
  }

  async putManifest(name: string, ref: string, manifest: unknown, contentType?: string, query = ''): Promise<Response> {
    const bytes = manifestBytes(manifest);
    const ct = contentType ?? mediaTypeOf(manifest) ?? MT.ociManifest;
    return this.fetch(`${name}/manifests/${ref}${query ? `?${query}` : ''}`, {
      method: 'PUT',
      body: bytes,
      headers: { 'Content-Type': ct },
    });
  }

  /** Pushes config + layers + an image manifest under ref; returns what a test needs to pull it back. */
  async pushImage(name: string, ref: string, opts: ImageOptions = {}): Promise<PushedImage> {
    const config = await this.pushBlob(name, opts.config ?? randomBlob(64));
    const layers: Blob[] = [];
    for (let i = 0; i < (opts.layers ?? 1); i++) layers.push(await this.pushBlob(name, randomBlob(512)));
    const docker = opts.docker === true;
    const manifest = imageManifest(
      { mediaType: opts.configMediaType ?? (docker ? MT.dockerConfig : MT.ociConfig), digest: config.digest, size: config.size },
      layers.map((l) => ({ mediaType: docker ? MT.dockerLayer : MT.ociLayer, digest: l.digest, size: l.size })),
      { docker, subject: opts.subject, artifactType: opts.artifactType, annotations: opts.annotations },
    );
    const bytes = manifestBytes(manifest);
    const res = await this.putManifest(name, ref, bytes, docker ? MT.dockerManifest : MT.ociManifest);
    assert.equal(res.status, 201, `push manifest: ${await res.text()}`);
    return {
      manifest,
      bytes,
      digest: sha256(bytes),
      size: bytes.length,
      config,
      layers,
      mediaType: docker ? MT.dockerManifest : MT.ociManifest,
      response: res,
    };
  }
}

export interface ImageOptions {
  layers?: number;
  config?: Blob;
  configMediaType?: string;
  docker?: boolean;
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface PushedImage {
  manifest: Record<string, unknown>;
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
  config: Blob;
  layers: Blob[];
  response: Response;
}

function isBlob(x: unknown): x is Blob {
  return typeof x === 'object' && x !== null && 'digest' in x && 'data' in x;
}

export function withQuery(location: string, query: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}${query}`;
}

export function manifestBytes(m: unknown): Buffer {
  if (Buffer.isBuffer(m)) return m;
  if (typeof m === 'string') return Buffer.from(m);
  return Buffer.from(JSON.stringify(m));
}

function mediaTypeOf(m: unknown): string | undefined {
  if (Buffer.isBuffer(m) || typeof m === 'string') return undefined;
  const t = (m as { mediaType?: unknown }).mediaType;
  return typeof t === 'string' ? t : undefined;
}

export function imageManifest(
  config: Descriptor,
  layers: Descriptor[],
  opts: { docker?: boolean; subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: opts.docker ? MT.dockerManifest : MT.ociManifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config,
    layers,
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
}

export function imageIndex(
  manifests: Descriptor[],
  opts: { docker?: boolean; subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: opts.docker ? MT.dockerList : MT.ociIndex,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    manifests,
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
}

/** Asserts an error response: status, JSON body {errors:[{code,message}]}, a known code. Returns the first error. */
export async function expectError(
  res: Response,
  status: number,
  code: string | string[],
): Promise<{ code: string; message: string; detail?: unknown }> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${String(code)}, got ${res.status}: ${text}`);
  return checkErrorBody(text, code, res.headers.get('content-type'));
}

export function checkErrorBody(
  text: string,
  code: string | string[],
  contentType: string | null | undefined,
): { code: string; message: string; detail?: unknown } {
  assert.match(contentType ?? '', /^application\/json/, `error Content-Type: ${contentType}`);
  let body: { errors?: { code: string; message: string; detail?: unknown }[] };
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text}`);
  }
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `error body must have errors[]: ${text}`);
  for (const e of body.errors) {
    assert.ok(V2_ERROR_CODES.has(e.code), `unknown error code ${e.code}`);
    assert.equal(typeof e.message, 'string');
  }
  const want = Array.isArray(code) ? code : [code];
  assert.ok(
    want.includes(body.errors[0]!.code),
    `expected code ${want.join('|')}, got ${body.errors[0]!.code}: ${body.errors[0]!.message}`,
  );
  return body.errors[0]!;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json(): unknown;
}

/**
 * A request through node:http, for what fetch cannot express: raw paths (fetch resolves ".." and
 * "%2e"), a Host header, a Content-Length that disagrees with the body. Sends the owner's
 * credentials unless headers carry an Authorization header or opts.auth is false (or another value).
 */
export function rawRequest(
  base: string,
  opts: { method?: string; path: string; headers?: Record<string, string | number>; body?: Buffer | string; auth?: string | false },
): Promise<RawResponse> {
  const u = new URL(base);
  const headers: Record<string, string | number> = { ...opts.headers };
  const auth = opts.auth ?? adminAuthHeader();
  if (auth && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) headers['Authorization'] = auth;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: () => body.toString('utf8'),
            json: () => JSON.parse(body.toString('utf8')),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Checks an error answer from rawRequest like expectError does for fetch. */
export function expectRawError(res: RawResponse, status: number, code: string | string[]): { code: string; message: string } {
  assert.equal(res.status, status, `expected ${status} ${String(code)}, got ${res.status}: ${res.text()}`);
  assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  return checkErrorBody(res.text(), code, res.headers['content-type']);
}

/**
 * Inserts `Authorization: <auth>` after the request line of a raw HTTP/1.1 request whose header
 * block (up to the first blank line, or all of data when there is none yet) has no Authorization
 * header. Data without a complete request line is returned as it is.
 */
export function withAuthLine(data: Buffer | string, auth: string = adminAuthHeader()): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end < 0 ? buf.length : end).toString('latin1');
  if (/\r\nauthorization:/i.test(head)) return buf;
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return buf;
  return Buffer.concat([buf.subarray(0, eol + 2), Buffer.from(`Authorization: ${auth}\r\n`, 'latin1'), buf.subarray(eol + 2)]);
}

/**
 * Writes raw bytes on a TCP socket and returns whatever the server sends before it closes (or
 * until `waitMs` of silence). For what node:http refuses to send (NUL, a body longer or shorter
 * than its Content-Length). `then`: written after `data`, the last part only once the server has
 * answered (so a body longer than its Content-Length cannot race the answer to the request).
 * The owner's credentials are inserted after the request line of `data` when it has no
 * Authorization header (opts.auth: other credentials, or false for none).
 */
export function rawSocket(
  base: string,
  data: Buffer | string,
  opts: { endAfterWrite?: boolean; waitMs?: number; then?: Buffer[]; auth?: string | false } = {},
): Promise<string> {
  const u = new URL(base);
  const auth = opts.auth ?? adminAuthHeader();
  if (auth) data = withAuthLine(data, auth);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const then = [...(opts.then ?? [])];
    const late = then.length > 1 ? then.pop() : undefined;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, opts.waitMs ?? 2000);
    };
    sock.on('connect', () => {
      sock.write(data);
      for (const p of then) sock.write(p);
      if (opts.endAfterWrite && !late) sock.end();
      arm();
    });
    let sentLate = false;
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (late && !sentLate && Buffer.concat(chunks).includes('\r\n\r\n')) {
        sentLate = true;
        sock.write(late);
      }
      arm();
    });
    sock.on('close', done);
    sock.on('error', (e) => (chunks.length ? done() : reject(e)));
  });
}

/** Parses "HTTP/1.1 400 ..." from a raw response; 0 when there is none. */
export function rawStatus(response: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return m ? Number(m[1]) : 0;
}
