import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { azuriteMissing } from './helpers/azurite.js';
import { backendGate, IN_CI } from './helpers/backends.js';
import { AzureCluster } from './helpers/cluster.js';
import { rangeEnd, request, resolveLocation, sha256, waitFor, withAuthHeader, type HttpResponse } from './e2e/helpers.js';
import { planImage, pullAndVerify, pushManifestOf, pushPlannedBlob } from './helpers/image-push.js';

// A storage outage in the middle of a push, on the real topology (`berth serve --storage azure` on
// PostgreSQL): Azurite is stopped while an image is half pushed and started again on the same data
// and port. What clients rely on: during the outage every answer is a retryable 503 UNAVAILABLE
// with Retry-After (never a 500), nothing half-uploaded becomes visible, /readyz says not ready,
// and once the storage is back the same upload session (and a fresh push) completes and pulls
// back intact.

const gate = IN_CI ? await backendGate('postgres') : azuriteMissing() ? { skip: azuriteMissing() } : await backendGate('postgres');

function assertUnavailable(r: HttpResponse, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${r.body.toString()}`);
  if (r.body.length) assert.equal((JSON.parse(r.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAVAILABLE', what);
  assert.match(String(r.headers['retry-after']), /^\d+$/, `${what}: Retry-After`);
}

/** A PATCH whose body is sent in two parts: the second only when finish() is called. */
function streamingPatch(url: string, data: Buffer, start: number): { firstPartSent: Promise<void>; finish(): Promise<HttpResponse> } {
  const cut = Math.floor(data.length / 2);
  const req = http.request(url, {
    method: 'PATCH',
    agent: false,
    headers: withAuthHeader({
      'content-type': 'application/octet-stream',
      'content-range': `${start}-${start + data.length - 1}`,
      'content-length': data.length,
    }),
  });
  const answered = new Promise<HttpResponse>((resolve, reject) => {
    req.on('response', (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined); // awaited by finish()
  const firstPartSent = new Promise<void>((resolve) => req.write(data.subarray(0, cut), () => resolve()));
  return {
    firstPartSent,
    finish: () => {
      req.end(data.subarray(cut));
      return answered;
    },
  };
}

const withDigest = (url: string, digest: string) => `${url}${url.includes('?') ? '&' : '?'}digest=${digest}`;

describe('Azure storage stopped and restarted mid-push', gate, () => {
  let cluster: AzureCluster;
  let reg: string;
  before(async () => {
    // proxy: the blob GET below must reach storage through Berth (redirected reads never touch it).
    cluster = await AzureCluster.start({ nodes: 1, env: { BERTH_STORAGE_READS: 'proxy' } });
    reg = await cluster.createRegistry(`outage${randomBytes(3).toString('hex')}`);
  });
  after(async () => {
    await cluster?.stop();
  });

  test('clients get 503 UNAVAILABLE during the outage, nothing half-written is visible, and the retried push succeeds', async () => {
    const base = cluster.node(0).url;
    const o = { bases: [base] };
    const name = `${reg}/app`;
    const plan = planImage(name, 'v1', { layers: [2, 2], minLayerBytes: 64 * 1024 });
    // Before the outage: the config and the first layer are in.
    await pushPlannedBlob(name, { ...plan.config, how: 'monolithic' }, o);
    await pushPlannedBlob(name, { ...plan.layers[0]!, how: 'monolithic' }, o);
    // The second layer is half uploaded: one chunk acknowledged.
    const chunked = plan.layers[1]!;
    const half = Math.floor(chunked.data.length / 2);
    const started = await request('POST', `${base}/v2/${name}/blobs/uploads/`);
    assert.equal(started.status, 202);
    let session = resolveLocation(base, started.headers.location);
    const first = await request('PATCH', session, {
      body: chunked.data.subarray(0, half),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` },
    });
    assert.equal(first.status, 202, first.body.toString());
    session = resolveLocation(base, first.headers.location);
    const extra = randomBytes(100 * 1024); // pushed monolithically during the outage

    // A chunk is streaming when the storage goes away: its request fails retryably too.
    const inflight = streamingPatch(session, chunked.data.subarray(half), half);
    await inflight.firstPartSent;
    await cluster.azurite.halt();
    assertUnavailable(await inflight.finish(), 'PATCH streaming when the storage went away');

    // Every storage-touching request answers 503 UNAVAILABLE with Retry-After.
    const rest = chunked.data.subarray(half);
    const patch = await request('PATCH', session, {
      body: rest,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${half}-${chunked.data.length - 1}` },
    });
    assertUnavailable(patch, 'PATCH during the outage');
    const put = await request('PUT', withDigest(session, chunked.digest), {
      body: rest,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${half}-${chunked.data.length - 1}` },
    });
    assertUnavailable(put, 'closing PUT during the outage');
    const mono = await request('POST', `${base}/v2/${name}/blobs/uploads/?digest=${sha256(extra)}`, {
      body: extra,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assertUnavailable(mono, 'monolithic POST during the outage');
    const read = await request('GET', `${base}/v2/${name}/blobs/${plan.layers[0]!.digest}`);
    assertUnavailable(read, 'blob GET during the outage');
    const ready = await request('GET', `${base}/readyz`, { auth: false });
    assert.equal(ready.status, 503, `readyz during the outage: ${ready.body.toString()}`);

    // Nothing whose upload did not complete is visible; the session still stands at the acknowledged offset.
    for (const d of [chunked.digest, sha256(extra)]) {
      const head = await request('HEAD', `${base}/v2/${name}/blobs/${d}`);
      assert.equal(head.status, 404, `HEAD ${d} during the outage`);
    }
    const status = await request('GET', session);
    assert.equal(status.status, 204);
    assert.equal(rangeEnd(status.headers.range), half);
    // The manifest cannot be accepted while a layer is missing (400, never 500).
    const early = await request('PUT', `${base}/v2/${name}/manifests/v1`, {
      body: plan.manifest,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(early.status, 400, early.body.toString());

    await cluster.azurite.restart();
    await waitFor(
      'readyz after the storage returns',
      async () => (await request('GET', `${base}/readyz`, { auth: false })).status === 200,
      20_000,
      200,
    );

    // Still invisible until its upload completes; then the retried requests succeed.
    assert.equal((await request('HEAD', `${base}/v2/${name}/blobs/${chunked.digest}`)).status, 404);
    const retried = await request('PUT', withDigest(session, chunked.digest), {
      body: rest,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${half}-${chunked.data.length - 1}` },
    });
    assert.equal(retried.status, 201, retried.body.toString());
    await pushPlannedBlob(name, { data: extra, digest: sha256(extra), how: 'chunked' }, o);
    await pushManifestOf(plan, o);
    await pullAndVerify(base, plan);
    const back = await request('GET', `${base}/v2/${name}/blobs/${sha256(extra)}`);
    assert.equal(back.status, 200);
    assert.equal(sha256(back.body), sha256(extra));
  });
});
