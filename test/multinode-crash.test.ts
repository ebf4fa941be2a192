import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { azuriteMissing } from './helpers/azurite.js';
import { backendGate, IN_CI } from './helpers/backends.js';
import { AzureCluster } from './helpers/cluster.js';
import { getBlob, MANIFEST_ACCEPT, rangeEnd, request, resolveLocation, sha256 } from './e2e/helpers.js';
import { planImage, pullAndVerify, pushPlannedImage, StepError, type ImagePlan } from './helpers/image-push.js';

// Two real `berth serve` nodes on one PostgreSQL schema and one Azurite container take 50
// concurrent image pushes, each request sent to either node; node A is SIGKILLed half-way. What
// users rely on: every push the registry acknowledged (manifest PUT 201) pulls back intact from
// node B, every push that failed succeeds when retried on node B, an upload session node A
// started continues on node B, and no tag ends up pointing at a missing blob.

const gate = IN_CI ? await backendGate('postgres') : azuriteMissing() ? { skip: azuriteMissing() } : await backendGate('postgres');

const PUSHES = 50;
const CONCURRENCY = PUSHES; // all at once
/** Node A dies once this many pushes were acknowledged. */
const KILL_AFTER = 10;

describe('SIGKILL of a node during 50 concurrent pushes across two nodes', gate, () => {
  let cluster: AzureCluster;
  let reg: string;
  before(async () => {
    cluster = await AzureCluster.start({ nodes: 2 });
    reg = await cluster.createRegistry(`crash${randomBytes(3).toString('hex')}`);
  });
  after(async () => {
    await cluster?.stop();
  });

  test('acknowledged pushes pull back intact from the survivor, failed ones succeed on retry, no tag is dangling', async (t) => {
    const a = cluster.node(0);
    const b = cluster.node(1);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
    const live = [a.url, b.url];
    const plans: ImagePlan[] = Array.from({ length: PUSHES }, (_, i) =>
      planImage(`${reg}/img${i}`, `v${i}`, { layers: [1, 3], maxLayerBytes: 192 * 1024 }),
    );
    const acked: ImagePlan[] = [];
    const failed: { plan: ImagePlan; error: StepError | Error }[] = [];
    const unexpected: string[] = [];

    // An upload session node A starts, with one chunk acknowledged, to be finished on node B after A dies.
    const carried = randomBytes(200 * 1024);
    const carriedName = `${reg}/carried`;
    const opened = await request('POST', `${a.url}/v2/${carriedName}/blobs/uploads/`);
    assert.equal(opened.status, 202);
    const firstChunk = await request('PATCH', resolveLocation(a.url, opened.headers.location), {
      body: carried.subarray(0, 120 * 1024),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${120 * 1024 - 1}` },
    });
    assert.equal(firstChunk.status, 202, firstChunk.body.toString());
    const carriedPath = new URL(resolveLocation(a.url, firstChunk.headers.location)).pathname;

    let killed: Promise<unknown> | undefined;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < PUSHES; i = next++) {
        const plan = plans[i]!;
        try {
          await pushPlannedImage(plan, { bases: live, agent });
          acked.push(plan);
          if (acked.length === KILL_AFTER && !killed) {
            // Clients stop sending to node A once it is gone (as a load balancer would), but requests already in flight die with it.
            killed = a.stop('SIGKILL');
            live.splice(0, 1);
          }
        } catch (e) {
          failed.push({ plan, error: e as Error });
          // Acceptable: a retryable 503, or a connection lost to the dead node. Never a 500 or a 4xx on a well-formed push.
          const acceptable = e instanceof StepError && (e.status === 503 || (e.status === undefined && killed !== undefined));
          if (!acceptable) unexpected.push(`${plan.name}: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.ok(killed, `node A was killed (after ${acked.length} acknowledged pushes)`);
    await killed;
    assert.equal((await a.exited).signal, 'SIGKILL');
    agent.destroy();
    assert.deepEqual(unexpected, [], 'no push failed in a way a client cannot retry');
    assert.ok(acked.length >= KILL_AFTER && acked.length + failed.length === PUSHES, `${acked.length} acked, ${failed.length} failed`);

    t.diagnostic(`${acked.length} pushes acknowledged, ${failed.length} failed when node A died`);
    // Every acknowledged push pulls back intact from node B.
    for (const plan of acked) await pullAndVerify(b.url, plan);
    // Every failed push succeeds when retried on node B.
    for (const { plan } of failed) {
      await pushPlannedImage(plan, { bases: [b.url] });
      await pullAndVerify(b.url, plan);
    }

    // The session node A started continues on node B at the offset A acknowledged.
    const status = await request('GET', `${b.url}${carriedPath}`);
    assert.equal(status.status, 204, status.body.toString());
    assert.equal(rangeEnd(status.headers.range), 120 * 1024);
    const closed = await request('PUT', `${b.url}${carriedPath}${carriedPath.includes('?') ? '&' : '?'}digest=${sha256(carried)}`, {
      body: carried.subarray(120 * 1024),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${120 * 1024}-${carried.length - 1}` },
    });
    assert.equal(closed.status, 201, closed.body.toString());
    const back = await getBlob(b.url, carriedName, sha256(carried));
    assert.equal(sha256(back.body), sha256(carried));

    // No tag points at a missing blob: every tag of every repository resolves, and every blob it names is served intact.
    for (const plan of plans) {
      const tags = await request('GET', `${b.url}/v2/${plan.name}/tags/list`);
      assert.equal(tags.status, 200, tags.body.toString());
      for (const tag of (JSON.parse(tags.body.toString()) as { tags: string[] }).tags) {
        const m = await request('GET', `${b.url}/v2/${plan.name}/manifests/${tag}`, { headers: { accept: MANIFEST_ACCEPT } });
        assert.equal(m.status, 200);
        const manifest = JSON.parse(m.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
        for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
          const blob = await getBlob(b.url, plan.name, d);
          assert.equal(blob.status, 200, `${plan.name}:${tag} names ${d}: HTTP ${blob.status}`);
          assert.equal(sha256(blob.body), d);
        }
      }
    }
  });
});
