import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { MANIFEST_ACCEPT, request, resolveLocation, sha256, type HttpResponse } from '../e2e/helpers.js';

// Pushing and pulling whole images over plain HTTP, request by request, as a client does: for the
// fault tests and the soak, which need to know exactly which step failed and how. Nothing here
// retries; callers decide (a 503 is retryable, a 500 never acceptable).

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export type UploadHow = 'monolithic' | 'chunked' | 'chunked-last-in-put';

export interface PlannedBlob {
  data: Buffer;
  digest: string;
  how: UploadHow;
}

export interface ImagePlan {
  name: string;
  tag: string;
  config: PlannedBlob;
  layers: PlannedBlob[];
  manifest: Buffer;
  manifestDigest: string;
}

const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const HOWS: UploadHow[] = ['monolithic', 'chunked', 'chunked-last-in-put'];

/** An image of a few random layers (each uploaded one of the three ways), a config and its manifest. */
export function planImage(
  name: string,
  tag: string,
  /** shared: layers every such image has too (pushed monolithically). */
  opts: { layers?: [number, number]; minLayerBytes?: number; maxLayerBytes?: number; shared?: Buffer[] } = {},
): ImagePlan {
  const [lo, hi] = opts.layers ?? [1, 3];
  const max = opts.maxLayerBytes ?? 256 * 1024;
  const blob = (data: Buffer, how: UploadHow): PlannedBlob => ({ data, digest: sha256(data), how });
  const config = blob(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') })),
    'monolithic',
  );
  const layers = Array.from({ length: between(lo, hi) }, () =>
    blob(randomBytes(between(opts.minLayerBytes ?? 1, max)), HOWS[between(0, HOWS.length - 1)]!),
  );
  for (const data of opts.shared ?? []) layers.push(blob(data, 'monolithic'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.data.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.data.length })),
    }),
  );
  return { name, tag, config, layers, manifest, manifestDigest: sha256(manifest) };
}

/** A push step that did not succeed: the HTTP answer (status, error code), or the network error when there was none. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
    readonly retryAfter: string | undefined,
    detail: string,
  ) {
    super(`${step}: ${status === undefined ? detail : `HTTP ${status} ${code ?? ''} ${detail}`}`);
    this.name = 'StepError';
  }

  /** Whether a client may retry it: a 503/429, or no answer at all (the node went away). */
  get retryable(): boolean {
    return this.status === undefined || this.status === 503 || this.status === 429;
  }
}

function errorCode(r: HttpResponse): string | undefined {
  try {
    return (JSON.parse(r.body.toString()) as { errors?: { code?: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** Runs one request; StepError unless the status is `want`. */
async function step(
  what: string,
  want: number,
  method: string,
  url: string,
  opts: Parameters<typeof request>[2] = {},
): Promise<HttpResponse> {
  let r: HttpResponse;
  try {
    r = await request(method, url, { timeoutMs: 30_000, ...opts });
    // A blob GET redirected to storage (storage.reads: redirect): follow it as clients do, without
    // the registry's credentials.
    const location = r.headers.location;
    if (method === 'GET' && r.status === 307 && want !== 307 && typeof location === 'string') {
      r = await request('GET', new URL(location, url).toString(), { timeoutMs: 30_000, auth: false });
    }
  } catch (e) {
    throw new StepError(what, undefined, undefined, undefined, (e as Error).message);
  }
  if (r.status !== want) {
    const ra = r.headers['retry-after'];
    throw new StepError(what, r.status, errorCode(r), typeof ra === 'string' ? ra : undefined, r.body.toString().slice(0, 300));
  }
  return r;
}

export interface PushOptions {
  /** Node URLs; each request goes to one picked at random, so sessions move between nodes. */
  bases: string[];
  agent?: http.Agent;
  /** Called after each acknowledged step (tests use it to time a fault). */
  onStep?: (what: string) => void;
}

const pick = (bases: string[]) => bases[Math.floor(Math.random() * bases.length)]!;

/** Pushes one blob the way the plan says; resolves once the registry acknowledged it (201). */
export async function pushPlannedBlob(name: string, b: PlannedBlob, o: PushOptions): Promise<void> {
  const agent = o.agent;
  if (b.how === 'monolithic') {
    await step(`POST ${b.digest}`, 201, 'POST', `${pick(o.bases)}/v2/${name}/blobs/uploads/?digest=${b.digest}`, {
      body: b.data,
      agent,
      headers: { 'content-type': 'application/octet-stream' },
    });
    o.onStep?.('blob');
    return;
  }
  const started = await step(`POST upload`, 202, 'POST', `${pick(o.bases)}/v2/${name}/blobs/uploads/`, { agent });
  let path = new URL(resolveLocation('http://x', started.headers.location)).pathname;
  const tail = b.how === 'chunked-last-in-put' ? Math.min(b.data.length - 1, between(1, 16 * 1024)) : 0;
  let offset = 0;
  while (offset < b.data.length - tail) {
    const end = Math.min(b.data.length - tail, offset + between(16 * 1024, 96 * 1024));
    const r = await step(`PATCH ${offset}-${end - 1} of ${b.digest}`, 202, 'PATCH', `${pick(o.bases)}${path}`, {
      body: b.data.subarray(offset, end),
      agent,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end - 1}` },
    });
    if (r.headers.range !== `0-${end - 1}`)
      throw new StepError(`PATCH ${offset}-${end - 1}`, 202, undefined, undefined, `Range ${r.headers.range}`);
    path = new URL(resolveLocation('http://x', r.headers.location)).pathname;
    offset = end;
    o.onStep?.('chunk');
  }
  const last = b.data.subarray(offset);
  await step(`PUT ${b.digest}`, 201, 'PUT', `${pick(o.bases)}${path}${path.includes('?') ? '&' : '?'}digest=${b.digest}`, {
    agent,
    ...(last.length
      ? { body: last, headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${b.data.length - 1}` } }
      : {}),
  });
  o.onStep?.('blob');
}

/** Pushes every blob, then the manifest under the plan's tag; resolves once the manifest PUT got 201. */
export async function pushPlannedImage(plan: ImagePlan, o: PushOptions): Promise<void> {
  for (const b of [plan.config, ...plan.layers]) await pushPlannedBlob(plan.name, b, o);
  await pushManifestOf(plan, o);
}

export async function pushManifestOf(plan: ImagePlan, o: PushOptions): Promise<void> {
  const r = await step(`PUT manifest ${plan.name}:${plan.tag}`, 201, 'PUT', `${pick(o.bases)}/v2/${plan.name}/manifests/${plan.tag}`, {
    body: plan.manifest,
    agent: o.agent,
    headers: { 'content-type': OCI_MANIFEST },
  });
  if (r.headers['docker-content-digest'] !== plan.manifestDigest)
    throw new StepError('PUT manifest', 201, undefined, undefined, `digest ${String(r.headers['docker-content-digest'])}`);
  o.onStep?.('manifest');
}

/**
 * Pulls the image by tag (or by digest with ref) from `base` and checks the manifest bytes and the
 * sha256 of every blob. Throws StepError on any failed request, Error on wrong content.
 */
export async function pullAndVerify(base: string, plan: ImagePlan, agent?: http.Agent, ref = plan.tag): Promise<void> {
  const m = await step(`GET manifest ${plan.name}:${ref}`, 200, 'GET', `${base}/v2/${plan.name}/manifests/${ref}`, {
    headers: { accept: MANIFEST_ACCEPT },
    agent,
  });
  if (sha256(m.body) !== plan.manifestDigest)
    throw new Error(`${plan.name}:${ref} serves manifest ${sha256(m.body)}, not ${plan.manifestDigest}`);
  for (const b of [plan.config, ...plan.layers]) {
    const r = await step(`GET blob ${b.digest}`, 200, 'GET', `${base}/v2/${plan.name}/blobs/${b.digest}`, { agent });
    if (sha256(r.body) !== b.digest)
      throw new Error(`blob ${b.digest} of ${plan.name} served ${r.body.length} bytes with digest ${sha256(r.body)}`);
  }
}
