import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../src/app.js';
import { silentLogger } from '../src/observability/logger.js';
import { DEFAULT_GC, GcService } from '../src/services/lifecycle/gc.js';
import { KyselyGcStore } from '../src/meta/gc.js';
import { backendGate, freshMetadataUrl } from './helpers/backends.js';
import { testConfig } from './helpers/app.js';
import { randomBlob, sha256, uniqueRepo, V2, type PushedImage } from './helpers/oci.js';

// Several stateless nodes over one PostgreSQL and one shared storage root: any node can continue
// what another started, and every node sees every write at once.

describe('two nodes on one PostgreSQL', await backendGate('postgres'), () => {
  const nodes: App[] = [];
  let dataDir: string;
  let drop: () => Promise<void>;
  let reg: string;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-multinode-'));
    const meta = await freshMetadataUrl('postgres');
    drop = meta.drop;
    for (let i = 0; i < 2; i++) {
      // Each node has its own data dir (nothing local is shared) but the same storage root.
      const config = testConfig({
        dataDir: path.join(dataDir, `node${i}`),
        metadata: { url: meta.url },
        storage: { path: path.join(dataDir, 'shared-storage') },
      });
      nodes.push(await startApp(config, silentLogger));
    }
    reg = `multi${process.pid}`;
    await nodes[0]!.services.registries.create(reg, 'Premium');
  });

  after(async () => {
    for (const n of nodes) await n.close();
    await drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('an image pushed through node A is pulled through node B', async () => {
    const a = new V2(nodes[0]!.url);
    const b = new V2(nodes[1]!.url);
    const name = `${reg}/${uniqueRepo('app')}`;
    const img = await a.pushImage(name, 'v1', { layers: 2 });
    const res = await b.fetch(`${name}/manifests/v1`, { headers: { Accept: img.mediaType } });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), img.bytes);
    for (const layer of img.layers) {
      const blob = await b.fetch(`${name}/blobs/${layer.digest}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layer.digest);
    }
  });

  test('a chunked upload started on node A continues and completes on node B', async () => {
    const a = new V2(nodes[0]!.url);
    const b = new V2(nodes[1]!.url);
    const name = `${reg}/${uniqueRepo('chunks')}`;
    const blob = randomBlob(300_000);
    const loc = await a.startUpload(name);
    const first = await a.fetch(loc, {
      method: 'PATCH',
      body: blob.data.subarray(0, 100_000),
      headers: { 'Content-Range': '0-99999', 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(first.status, 202);
    // Node B knows the session and its acknowledged range.
    const status = await b.fetch(first.headers.get('location')!);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-99999');
    const second = await b.fetch(status.headers.get('location')!, {
      method: 'PATCH',
      body: blob.data.subarray(100_000),
      headers: { 'Content-Range': `100000-${blob.size - 1}`, 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(second.status, 202);
    const loc2 = second.headers.get('location')!;
    const done = await a.fetch(`${loc2}${loc2.includes('?') ? '&' : '?'}digest=${blob.digest}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    const got = await b.fetch(`${name}/blobs/${blob.digest}`);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.digest);
  });

  test('concurrent pushes of the same tag from both nodes leave one complete manifest', async () => {
    const a = new V2(nodes[0]!.url);
    const b = new V2(nodes[1]!.url);
    const name = `${reg}/${uniqueRepo('race')}`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).pushImage(name, 'latest')));
    const res = await a.fetch(`${name}/manifests/latest`, { headers: { Accept: results[0]!.mediaType } });
    assert.equal(res.status, 200);
    const digest = res.headers.get('docker-content-digest');
    assert.ok(
      results.some((r) => r.digest === digest),
      'the tag points at one of the pushed manifests',
    );
    const tags = (await (await b.fetch(`${name}/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['latest']);
  });

  test('garbage collection on node A while node B pushes: one run at a time, nothing acknowledged lost', async () => {
    const a = new V2(nodes[0]!.url);
    const b = new V2(nodes[1]!.url);
    const name = `${reg}/${uniqueRepo('gc')}`;
    const hot = (n: App) =>
      new GcService(
        n.meta,
        new KyselyGcStore(n.meta.db, n.meta.dialect),
        n.storage,
        n.services.manifests,
        { ...DEFAULT_GC, gracePeriodSeconds: 0 },
        silentLogger,
      );
    // Both nodes start a collection at once: exactly one runs, the other is told it is running.
    const both = await Promise.allSettled([hot(nodes[0]!).run(), hot(nodes[1]!).run()]);
    assert.equal(
      both.filter((r) => r.status === 'fulfilled').length +
        both.filter((r) => r.status === 'rejected' && /already running/.test(String(r.reason))).length,
      2,
    );
    let pushing = true;
    const collector = (async () => {
      let runs = 0;
      while (pushing) {
        await hot(nodes[0]!).runScheduled();
        runs++;
      }
      return runs;
    })();
    const pushed: PushedImage[] = [];
    try {
      for (let i = 0; i < 15; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            pushed.push(await b.pushImage(name, `v${i}`, { layers: 2 }));
            break;
          } catch (e) {
            // Refused (MANIFEST_BLOB_UNKNOWN) when GC took an unreferenced link first: retry, as clients do.
            if (attempt > 5) throw e;
          }
        }
        if (i % 4 === 3) {
          const victim = pushed.shift()!;
          assert.equal((await b.fetch(`${name}/manifests/${victim.digest}`, { method: 'DELETE' })).status, 202);
        }
      }
    } finally {
      pushing = false;
    }
    assert.ok((await collector) >= 1);
    for (const img of pushed) {
      const m = await a.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: img.mediaType } });
      assert.equal(m.status, 200);
      for (const l of [img.config, ...img.layers]) {
        const blob = await a.fetch(`${name}/blobs/${l.digest}`);
        assert.equal(blob.status, 200, `blob ${l.digest}`);
        assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), l.digest);
      }
    }
  });
});
