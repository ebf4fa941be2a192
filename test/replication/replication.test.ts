import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../../src/app.js';
import { parseDigest } from '../../src/domain/digest.js';
import { KyselyGcStore } from '../../src/meta/gc.js';
import { silentLogger } from '../../src/observability/logger.js';
import { DEFAULT_GC, GcService } from '../../src/services/lifecycle/gc.js';
import { FsDriver } from '../../src/storage/drivers/fs.js';
import { blobKey } from '../../src/storage/paths.js';
import { testConfig } from '../helpers/app.js';
import { backendGate, freshMetadataUrl } from '../helpers/backends.js';
import { adminAuthHeader } from '../helpers/credentials.js';
import { adminApi, inProcessFetch, type FetchLike } from '../helpers/inject.js';
import { randomBlob, V2, type PushedImage } from '../helpers/oci.js';

// Geo-replication on one machine: two regions (westeurope, eastus), one node each in this process,
// one PostgreSQL schema, one fs blob store per region. Metadata is global, so a push in one
// region is visible in the other at once; bytes are copied by the other region's node, verified,
// and until then read through from the region that has them.

const REGIONS = ['westeurope', 'eastus'] as const;

interface Node {
  app: App;
  fetch: FetchLike;
  v2: V2;
  api<T = Record<string, unknown>>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
}

describe('geo-replication between two regions', await backendGate('postgres'), () => {
  const dirs: string[] = [];
  const roots: Record<string, string> = {};
  let drop: () => Promise<void> = async () => {};
  const nodes: Record<string, Node> = {};
  const received: { body: Record<string, unknown>; hook: string }[] = [];
  let receiver: http.Server;
  let hookUrl = '';

  const blobFile = (region: string, digest: string) => path.join(roots[region]!, blobKey(parseDigest(digest)));

  async function startNode(region: string, metadataUrl: string, extra: Record<string, unknown> = {}): Promise<Node> {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `berth-geo-${region}-`));
    dirs.push(dataDir);
    const config = testConfig({
      dataDir,
      metadata: { url: metadataUrl },
      // Clear stores: this suite reads and damages the stored bytes directly (encrypted regions: encrypted.test.ts).
      regions: REGIONS.map((name, i) => ({
        name,
        url: `http://127.0.0.1:${1 + i}`,
        storage: { driver: 'fs', path: roots[name], encryption: { enabled: false } },
      })),
      region,
      jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      egress: { allowPrivate: true },
      gc: { enabled: false },
      ...extra,
    });
    const app = await startApp(config, silentLogger);
    const fetch = inProcessFetch(app.http.server, app.url);
    return {
      app,
      fetch,
      v2: new V2(app.url, { fetch }),
      api: adminApi(fetch, app.url),
    };
  }

  before(async () => {
    for (const r of REGIONS) {
      roots[r] = mkdtempSync(path.join(os.tmpdir(), `berth-geo-store-${r}-`));
      dirs.push(roots[r]);
    }
    const meta = await freshMetadataUrl('postgres');
    drop = meta.drop;
    // One at a time: the first migrates the schema.
    nodes.westeurope = await startNode('westeurope', meta.url);
    nodes.eastus = await startNode('eastus', meta.url);
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ hook: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
  });

  after(async () => {
    for (const n of Object.values(nodes)) await n.app.close();
    await new Promise((r) => receiver?.close(r));
    await drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const west = () => nodes.westeurope!;
  const east = () => nodes.eastus!;

  async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function premium(name: string): Promise<void> {
    const r = await west().api('POST', '/api/registries', { name, sku: 'Premium', location: 'westeurope' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.location, 'westeurope');
  }

  const replica = async (node: Node, reg: string, loc: string) =>
    (await node.api<Record<string, unknown> & { status: Record<string, unknown> }>('GET', `/api/registries/${reg}/replications/${loc}`))
      .body;

  async function pullAll(node: Node, name: string, img: PushedImage): Promise<void> {
    const m = await node.v2.fetch(`${name}/manifests/${img.digest}`, { headers: { Accept: img.mediaType } });
    assert.equal(m.status, 200, `manifest in ${node.app.config.region}`);
    assert.deepEqual(Buffer.from(await m.arrayBuffer()), img.bytes);
    for (const b of [img.config, ...img.layers]) {
      const res = await node.v2.fetch(`${name}/blobs/${b.digest}`);
      assert.equal(res.status, 200, `blob ${b.digest} in ${node.app.config.region}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), b.data);
    }
  }

  test('regions: listed, and a replica is refused where it cannot be made', async () => {
    const regions = await west().api<{ value: { name: string }[]; serving: string }>('GET', '/api/regions');
    assert.deepEqual(
      regions.body.value.map((r) => r.name),
      ['westeurope', 'eastus'],
    );
    assert.equal(regions.body.serving, 'westeurope');
    assert.equal((await east().api('GET', '/api/regions')).body.serving, 'eastus');

    await west().api('POST', '/api/registries', { name: 'geobasic', sku: 'Basic' });
    let r = await west().api<{ errors: { code: string; message: string }[] }>('POST', '/api/registries/geobasic/replications', {
      location: 'eastus',
    });
    assert.equal(r.status, 400);
    assert.match(r.body.errors[0]!.message, /Premium/);

    await premium('geobad');
    r = await west().api('POST', '/api/registries/geobad/replications', { location: 'mars' });
    assert.equal(r.status, 400);
    assert.match(r.body.errors[0]!.message, /region "mars" is not declared.*westeurope, eastus/);
    r = await west().api('POST', '/api/registries/geobad/replications', { location: 'westeurope' });
    assert.equal(r.status, 409, 'the home region is no replica');
    r = await west().api('DELETE', '/api/registries/geobad/replications/westeurope');
    assert.equal(r.status, 400);
    assert.match(r.body.errors[0]!.message, /home region/);
    r = await west().api('DELETE', '/api/registries/geobad/replications/eastus');
    assert.equal(r.status, 404);
    r = await west().api('POST', '/api/registries', { name: 'geobad2', sku: 'Premium', location: 'atlantis' });
    assert.equal(r.status, 400);
    assert.equal((await west().api('POST', '/api/registries/geobad/replications', { location: 'eastus' })).status, 201);
    assert.equal((await west().api('POST', '/api/registries/geobad/replications', { location: 'eastus' })).status, 409);
    // Leaving Premium with a replica is refused, as ACR does.
    r = await west().api('PATCH', '/api/registries/geobad', { sku: 'Standard' });
    assert.equal(r.status, 409);
    assert.match(JSON.stringify(r.body), /geo-replica/);
    const list = await west().api<{ value: { location: string; home: boolean }[] }>('GET', '/api/registries/geobad/replications');
    assert.deepEqual(
      list.body.value.map((v) => [v.location, v.home]),
      [
        ['westeurope', true],
        ['eastus', false],
      ],
    );
    assert.equal((await west().api('DELETE', '/api/registries/geobad/replications/eastus')).status, 204);
    // PUT (ACR's verb) creates, then updates.
    assert.equal((await west().api('PUT', '/api/registries/geobad/replications/eastus', { regionEndpointEnabled: true })).status, 201);
    const put = await west().api('PUT', '/api/registries/geobad/replications/eastus', { regionEndpointEnabled: false });
    assert.equal(put.status, 200);
    assert.equal((put.body as { status: { displayStatus: string } }).status.displayStatus, 'Disabled');
    assert.equal(
      (await west().api('PUT', '/api/registries/geobad/replications/westeurope', {})).status,
      409,
      'the home region is no replica',
    );
    assert.equal((await west().api('DELETE', '/api/registries/geobad/replications/eastus')).status, 204);
  });

  test('a push in one region is pullable in the other at once, then copied there and verified', async () => {
    await premium('geoone');
    assert.equal((await west().api('POST', '/api/registries/geoone/replications', { location: 'eastus' })).status, 201);
    const hook = await west().api('POST', '/api/registries/geoone/webhooks', {
      name: 'easthook',
      serviceUri: `${hookUrl}/east`,
      actions: ['push'],
      location: 'eastus',
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    assert.equal(hook.body.location, 'eastus');
    await west().api('POST', '/api/registries/geoone/webhooks', { name: 'homehook', serviceUri: `${hookUrl}/home`, actions: ['push'] });

    const img = await west().v2.pushImage('geoone/app', 'v1', { layers: 2 });
    // Never "manifest unknown" in the other region: metadata is one database.
    await pullAll(east(), 'geoone/app', img);
    await until('eastus Ready', async () => (await replica(west(), 'geoone', 'eastus')).status.displayStatus === 'Ready');
    const shown = await replica(east(), 'geoone', 'eastus');
    assert.equal(shown.lagSeconds, 0);
    assert.equal(shown.pendingBlobs, 0);
    for (const b of [img.config, ...img.layers]) {
      assert.deepEqual(readFileSync(blobFile('eastus', b.digest)), b.data, 'the copy in eastus has the same bytes');
      assert.ok(existsSync(blobFile('westeurope', b.digest)));
    }
    // Per-manifest status on /acr/v1.
    const attrs = await west().fetch(`${west().app.url}/acr/v1/geoone/app/_manifests/${img.digest}`, {
      headers: { Authorization: adminAuthHeader() },
    });
    const body = (await attrs.json()) as { manifest: { replicationStatus?: { location: string; status: string }[] } };
    assert.deepEqual(body.manifest.replicationStatus, [
      { location: 'westeurope', status: 'Ready' },
      { location: 'eastus', status: 'Ready' },
    ]);
    // The per-replica webhook fires once, for eastus; the home one once, for the push itself.
    await until('webhooks', () =>
      Promise.resolve(received.filter((r) => r.hook === '/east').length === 1 && received.some((r) => r.hook === '/home')),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.filter((r) => r.hook === '/east').length, 1);
    assert.equal(received.filter((r) => r.hook === '/home').length, 1);
    const ev = received.find((r) => r.hook === '/east')!.body as { action: string; target: { digest: string; tag: string } };
    assert.equal(ev.action, 'push');
    assert.equal(ev.target.digest, img.digest);
    assert.equal(ev.target.tag, 'v1');
  });

  test('a replica made after the push is backfilled', async () => {
    await premium('geoback');
    const img = await west().v2.pushImage('geoback/app', 'v1', { layers: 1 });
    assert.equal((await west().api('POST', '/api/registries/geoback/replications', { location: 'eastus' })).status, 201);
    await until('eastus backfilled', async () =>
      [img.config, ...img.layers].every((b) => existsSync(blobFile('eastus', b.digest))) &&
      (await replica(west(), 'geoback', 'eastus')).status.displayStatus === 'Ready'
        ? true
        : undefined,
    );
  });

  test('a damaged copy is detected by digest, never served whole, and fetched again', async () => {
    await premium('geotamper');
    await west().api('POST', '/api/registries/geotamper/replications', { location: 'eastus' });
    const layer = randomBlob(64 * 1024);
    const img = await west().v2.pushImage('geotamper/app', 'v1', { layers: 0, config: layer });
    await until('copied', async () => (await replica(west(), 'geotamper', 'eastus')).status.displayStatus === 'Ready');
    const file = blobFile('eastus', layer.digest);
    const bad = Buffer.from(layer.data);
    bad[100] = bad[100]! ^ 0xff;
    writeFileSync(file, bad);
    // The damaged read fails (the client sees a broken transfer, never all the wrong bytes)...
    const failed = await east()
      .v2.fetch(`geotamper/app/blobs/${layer.digest}`)
      .then(async (res) => Buffer.from(await res.arrayBuffer()))
      .then(
        (buf) => buf,
        (e: unknown) => e as Error,
      );
    if (Buffer.isBuffer(failed)) assert.notDeepEqual(failed, bad, 'the damaged bytes were never served whole');
    // ...the copy is dropped, and the next read is whole and right (from westeurope, then copied back).
    await until('the damaged copy is dropped', () => Promise.resolve(!existsSync(file) || !readFileSync(file).equals(bad)));
    const res = await east().v2.fetch(`geotamper/app/blobs/${layer.digest}`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), layer.data);
    await until('read repair', () => Promise.resolve(existsSync(file) && readFileSync(file).equals(layer.data)));
    void img;
  });

  test('a damaged source is caught on copy: never copied, dropped from its region, and a push of the same content heals both', async () => {
    await premium('geosrc');
    const layer = randomBlob(32 * 1024);
    const img = await west().v2.pushImage('geosrc/app', 'v1', { layers: 0, config: layer });
    const westFile = blobFile('westeurope', layer.digest);
    const bad = Buffer.from(layer.data);
    bad[7] = bad[7]! ^ 0x01;
    writeFileSync(westFile, bad);
    // The backfill's copy reads westeurope's damaged bytes, refuses them, and drops that copy.
    assert.equal((await west().api('POST', '/api/registries/geosrc/replications', { location: 'eastus' })).status, 201);
    await until('the damaged source is dropped', () => Promise.resolve(!existsSync(westFile)));
    assert.equal(existsSync(blobFile('eastus', layer.digest)), false, 'nothing damaged reached eastus');
    const shown = await replica(west(), 'geosrc', 'eastus');
    assert.equal(shown.status.displayStatus, 'Syncing', 'the image waits for an intact copy');
    const gone = await west().v2.fetch(`geosrc/app/blobs/${layer.digest}`);
    assert.equal(gone.status, 404, 'no region has an intact copy: unknown, never wrong bytes');
    assert.match(((await gone.json()) as { errors: { message: string }[] }).errors[0]!.message, /push it again/);
    // The client pushes the same content again: westeurope has it whole, and the waiting copy job (retried) completes.
    await west().v2.pushBlob('geosrc/app', layer);
    await until('eastus Ready', async () => (await replica(west(), 'geosrc', 'eastus')).status.displayStatus === 'Ready', 30_000);
    assert.deepEqual(readFileSync(blobFile('eastus', layer.digest)), layer.data);
    await pullAll(east(), 'geosrc/app', img);
  });

  test('garbage collection deletes a blob in every region', async () => {
    await premium('geogc');
    await west().api('POST', '/api/registries/geogc/replications', { location: 'eastus' });
    const img = await west().v2.pushImage('geogc/app', 'v1', { layers: 1 });
    await until('copied', async () => (await replica(west(), 'geogc', 'eastus')).status.displayStatus === 'Ready');
    const layer = img.layers[0]!;
    assert.ok(existsSync(blobFile('eastus', layer.digest)) && existsSync(blobFile('westeurope', layer.digest)));
    const del = await west().v2.fetch(`geogc/app/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    let later = new Date();
    const gc = new GcService(
      west().app.meta,
      new KyselyGcStore(west().app.meta.db, west().app.meta.dialect),
      west().app.storage,
      west().app.services.manifests,
      { ...DEFAULT_GC, gracePeriodSeconds: 60 },
      silentLogger,
      () => later,
    );
    gc.sweepStores = REGIONS.map((r) => new FsDriver(roots[r]!));
    for (let i = 0; i < 4; i++) {
      later = new Date(later.getTime() + 86400_000);
      await gc.run();
    }
    assert.equal(existsSync(blobFile('westeurope', layer.digest)), false);
    assert.equal(existsSync(blobFile('eastus', layer.digest)), false);
  });
});
