import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../../src/app.js';
import { ConfigError } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { testConfig } from '../helpers/app.js';
import { backendGate, freshMetadataUrl } from '../helpers/backends.js';
import { adminAuthHeader } from '../helpers/credentials.js';
import { adminApi, inProcessFetch } from '../helpers/inject.js';
import { blobOf, V2, type PushedImage } from '../helpers/oci.js';

// Geo-replication with encryption at rest (docs/storage.md#encryption-at-rest): two regions
// (westeurope, eastus), one node each in this process, one PostgreSQL schema, one fs store per
// region. Every region's store is sealed with the deployment's one data key; a copy reads
// plaintext from the source, checks the digest and seals it anew into the target. A registry with
// a customer-managed key is sealed with its own key in both regions, and its key's revocation
// refuses it in both. A clear two-region deployment that turns encryption on is migrated by one
// job per region.

const REGIONS = ['westeurope', 'eastus'] as const;
type RegionName = (typeof REGIONS)[number];
const MARKER = Buffer.from('BERTH-GEO-SEALED-PLAINTEXT ');

interface Node {
  app: App;
  v2: V2;
  api<T = Record<string, unknown>>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** A blob whose plaintext is easy to find in raw files (the marker) and spans two segments. */
function secretBlob() {
  return blobOf(Buffer.concat([Buffer.from(MARKER.toString().repeat(20_000)), randomBytes(700_000)]));
}

function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Two regions over one metadata schema; nodes can be restarted with other storage settings. */
class Deployment {
  readonly dirs: string[] = [];
  readonly roots = {} as Record<RegionName, string>;
  readonly nodes = {} as Record<RegionName, Node>;
  metadataUrl = '';
  private dropMeta: () => Promise<void> = async () => {};

  async init(): Promise<void> {
    for (const r of REGIONS) this.roots[r] = this.dir(`berth-geoenc-store-${r}-`);
    const meta = await freshMetadataUrl('postgres');
    this.metadataUrl = meta.url;
    this.dropMeta = meta.drop;
  }

  dir(prefix: string): string {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  config(region: RegionName, encryption: Record<string, unknown>) {
    return testConfig({
      dataDir: this.dir(`berth-geoenc-${region}-`),
      metadata: { url: this.metadataUrl },
      regions: REGIONS.map((name, i) => ({
        name,
        url: `http://127.0.0.1:${1 + i}`,
        storage: { driver: 'fs', path: this.roots[name], encryption },
      })),
      region,
      jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      gc: { enabled: false, gracePeriodSeconds: 0 },
    });
  }

  /** Both nodes, one at a time (the first migrates the schema). */
  async start(encryption: Record<string, unknown> = {}): Promise<void> {
    for (const r of REGIONS) {
      const app = await startApp(this.config(r, encryption), silentLogger);
      const fetch = inProcessFetch(app.http.server, app.url);
      this.nodes[r] = {
        app,
        v2: new V2(app.url, { fetch }),
        api: adminApi(fetch, app.url),
      };
    }
  }

  async stop(): Promise<void> {
    for (const r of REGIONS) {
      await this.nodes[r]?.app.close();
      delete (this.nodes as Partial<Record<RegionName, Node>>)[r];
    }
  }

  async cleanup(): Promise<void> {
    await this.stop();
    await this.dropMeta();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }

  /** The stored files of a region holding this blob's hex (any layout: direct, prefixed, a domain). */
  filesOf(region: RegionName, digest: string): string[] {
    return allFiles(this.roots[region]).filter((f) => f.endsWith(digest.slice(7)) && f.includes(`${path.sep}blobs${path.sep}`));
  }

  /** No stored file of the region holds the marker or a slice of the blob. */
  assertSealed(region: RegionName, blob: { data: Buffer }): void {
    const probe = blob.data.subarray(blob.data.length - 4096, blob.data.length - 4064);
    for (const f of allFiles(this.roots[region])) {
      const bytes = readFileSync(f);
      assert.ok(!bytes.includes(MARKER), `${f} holds plaintext`);
      assert.ok(!bytes.includes(probe), `${f} holds a slice of the blob`);
    }
  }

  async premium(name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const r = await this.nodes.westeurope.api('POST', '/api/registries', { name, sku: 'Premium', location: 'westeurope', ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }

  async replicate(name: string): Promise<void> {
    const r = await this.nodes.westeurope.api('POST', `/api/registries/${name}/replications`, { location: 'eastus' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }

  async ready(name: string): Promise<void> {
    await until(`${name} Ready in eastus`, async () => {
      const r = await this.nodes.westeurope.api<{ status: { displayStatus: string } }>(
        'GET',
        `/api/registries/${name}/replications/eastus`,
      );
      return r.body.status.displayStatus === 'Ready';
    });
  }

  async pullAll(region: RegionName, repo: string, img: PushedImage): Promise<void> {
    const node = this.nodes[region];
    const m = await node.v2.fetch(`${repo}/manifests/${img.digest}`, { headers: { Accept: img.mediaType } });
    assert.equal(m.status, 200, `manifest in ${region}`);
    for (const b of [img.config, ...img.layers]) {
      const res = await node.v2.fetch(`${repo}/blobs/${b.digest}`);
      assert.equal(res.status, 200, `blob ${b.digest} in ${region}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), b.data, `the bytes of ${b.digest} in ${region}`);
    }
  }
}

describe('geo-replication with encryption at rest', await backendGate('postgres'), () => {
  const d = new Deployment();
  const keys = mkdtempSync(path.join(os.tmpdir(), 'berth-geoenc-keys-'));
  before(async () => {
    await d.init();
    // keyCacheSeconds 1: a revoked customer-managed key is noticed within a second.
    await d.start({ keyCacheSeconds: 1 });
  });
  after(async () => {
    await d.cleanup();
    rmSync(keys, { recursive: true, force: true });
  });

  test('on by default in every region: pushed in one, replicated, pulled exact from the other; no plaintext in either store', async () => {
    for (const r of REGIONS) {
      const st = await d.nodes[r].app.services.storageEncryption.status();
      assert.equal(st.atRest, 'berth-managed', r);
      assert.deepEqual(
        st.regions?.map((x) => x.name),
        [...REGIONS],
      );
    }
    await d.premium('geoenc');
    await d.replicate('geoenc');
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('geoenc/app', 'v1', { config: secret, layers: 1 });
    await d.ready('geoenc');
    await d.pullAll('eastus', 'geoenc/app', img);
    for (const r of REGIONS) {
      assert.equal(d.filesOf(r, secret.digest).length, 1, `one sealed copy in ${r}`);
      d.assertSealed(r, secret);
    }
    // Each region sealed the content itself (its own salt): the copy is other ciphertext.
    const [west] = d.filesOf('westeurope', secret.digest);
    const [east] = d.filesOf('eastus', secret.digest);
    assert.notDeepEqual(readFileSync(west!).subarray(0, 64), readFileSync(east!).subarray(0, 64));
  });

  test('read repair: a copy missing or damaged in a region is read from the other, verified, and sealed there again', async () => {
    await d.premium('georepair');
    await d.replicate('georepair');
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('georepair/app', 'v1', { config: secret, layers: 1 });
    await d.ready('georepair');
    const [east] = d.filesOf('eastus', secret.digest);
    // Gone from eastus's store: the pull there is served from westeurope, and eastus gets its copy back.
    unlinkSync(east!);
    await d.pullAll('eastus', 'georepair/app', img);
    await until('repaired after a loss', () => Promise.resolve(d.filesOf('eastus', secret.digest).length === 1));
    // Damaged in eastus (one flipped byte of ciphertext): the integrity check refuses it, the copy
    // is dropped, and the next pull is whole again.
    const again = await until('the repaired copy', () => Promise.resolve(d.filesOf('eastus', secret.digest)[0]));
    const bytes = readFileSync(again);
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(again, bytes);
    const bad = await d.nodes.eastus.v2.fetch(`georepair/app/blobs/${secret.digest}`).then(
      async (res) => (res.status === 200 ? Buffer.from(await res.arrayBuffer()) : undefined),
      () => undefined,
    );
    assert.ok(bad === undefined || !bad.equals(secret.data), 'a damaged copy is never served whole');
    await until('the damaged copy is replaced', async () => {
      const [f] = d.filesOf('eastus', secret.digest);
      if (!f || readFileSync(f).equals(bytes)) {
        // Each pull that meets it drops it or repairs it; ask again.
        await d.nodes.eastus.v2.fetch(`georepair/app/blobs/${secret.digest}`).then(
          (r) => r.arrayBuffer().catch(() => undefined),
          () => undefined,
        );
        return false;
      }
      return true;
    });
    await d.pullAll('eastus', 'georepair/app', img);
    d.assertSealed('eastus', secret);
  });

  test('a registry with a customer-managed key: sealed with its key in both regions; revoking it refuses both, restoring serves both', async () => {
    const keyFile = path.join(keys, 'cmk');
    const content = randomBytes(32).toString('base64');
    writeFileSync(keyFile, content + '\n', { mode: 0o600 });
    await d.premium('geocmk', { encryption: { keyVaultProperties: { keyIdentifier: pathToFileURL(keyFile).href } } });
    await d.replicate('geocmk');
    const regId = (await d.nodes.westeurope.app.services.registries.get('geocmk')).id;
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('geocmk/app', 'v1', { config: secret, layers: 1 });
    await d.ready('geocmk');
    await d.pullAll('eastus', 'geocmk/app', img);
    for (const r of REGIONS) {
      const files = d.filesOf(r, secret.digest);
      assert.equal(files.length, 1, `${r}: ${files.join(', ')}`);
      assert.ok(
        path.relative(d.roots[r], files[0]!).startsWith(path.join('domains', String(regId), 'blobs')),
        `${r}: the copy is in the registry's domain`,
      );
      d.assertSealed(r, secret);
    }

    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    for (const r of REGIONS)
      await until(`refused in ${r}`, async () => (await d.nodes[r].v2.fetch(`geocmk/app/blobs/${secret.digest}`)).status === 403);
    for (const r of REGIONS) {
      const m = await d.nodes[r].v2.fetch(`geocmk/app/manifests/v1`, { headers: { Accept: img.mediaType } });
      assert.equal(m.status, 403, `the registry is refused whole in ${r}`);
    }
    writeFileSync(keyFile, content + '\n', { mode: 0o600 });
    for (const r of REGIONS)
      await until(`served again in ${r}`, async () => (await d.nodes[r].v2.fetch(`geocmk/app/blobs/${secret.digest}`)).status === 200);
    for (const r of REGIONS) await d.pullAll(r, 'geocmk/app', img);
  });

  test('a customer-managed key registry read-repairs through its domain', async () => {
    const keyFile = path.join(keys, 'cmk2');
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    await d.premium('geocmkrep', { encryption: { keyVaultProperties: { keyIdentifier: pathToFileURL(keyFile).href } } });
    await d.replicate('geocmkrep');
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('geocmkrep/app', 'v1', { config: secret, layers: 1 });
    await d.ready('geocmkrep');
    const [east] = d.filesOf('eastus', secret.digest);
    unlinkSync(east!);
    await d.pullAll('eastus', 'geocmkrep/app', img);
    const back = await until('repaired in the domain', () => Promise.resolve(d.filesOf('eastus', secret.digest)[0]));
    assert.ok(path.relative(d.roots.eastus, back).startsWith('domains'), back);
    d.assertSealed('eastus', secret);
  });

  test("garbage collection removes a customer-managed key registry's unlinked copies in every region", async () => {
    const keyFile = path.join(keys, 'cmk3');
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    await d.premium('geocmkgc', { encryption: { keyVaultProperties: { keyIdentifier: pathToFileURL(keyFile).href } } });
    await d.replicate('geocmkgc');
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('geocmkgc/app', 'v1', { config: secret, layers: 1 });
    await d.ready('geocmkgc');
    for (const r of REGIONS) assert.equal(d.filesOf(r, secret.digest).length, 1, r);
    const del = await d.nodes.westeurope.v2.fetch(`geocmkgc/app/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    // unreferenced links, then unlinked blobs, then their bytes: a few collections with no grace period
    for (let i = 0; i < 3; i++) await d.nodes.westeurope.app.services.gc.run();
    for (const r of REGIONS) assert.deepEqual(d.filesOf(r, secret.digest), [], `collected in ${r}`);
    // Its placements went with the copies: the same content pushed again is replicated again.
    const again = await d.nodes.westeurope.v2.pushImage('geocmkgc/app', 'v2', { config: secret, layers: 1 });
    await d.ready('geocmkgc');
    await d.pullAll('eastus', 'geocmkgc/app', again);
    for (const r of REGIONS) assert.equal(d.filesOf(r, secret.digest).length, 1, r);
  });
});

describe('a clear two-region deployment turning encryption on', await backendGate('postgres'), () => {
  const d = new Deployment();
  before(() => d.init());
  after(() => d.cleanup());

  test('each region is encrypted in place by its own job; content stays pullable in both; it never turns clear again', async () => {
    await d.start({ enabled: false });
    assert.equal((await d.nodes.eastus.app.services.storageEncryption.status()).atRest, 'off');
    await d.premium('geomig');
    await d.replicate('geomig');
    const secret = secretBlob();
    const img = await d.nodes.westeurope.v2.pushImage('geomig/app', 'v1', { config: secret, layers: 2 });
    await d.ready('geomig');
    for (const r of REGIONS) assert.ok(readFileSync(d.filesOf(r, secret.digest)[0]!).includes(MARKER), `clear in ${r} before`);
    await d.stop();

    // Encryption unset: on by default with regions too.
    await d.start();
    for (const r of REGIONS) await d.pullAll(r, 'geomig/app', img);
    await until('both regions migrated', async () => {
      const st = await d.nodes.westeurope.app.services.storageEncryption.status();
      return st.regions?.length === 2 && st.regions.every((x) => x.migration?.state === 'done');
    });
    const st = await d.nodes.eastus.app.services.storageEncryption.status();
    assert.equal(st.migration?.state, 'done');
    for (const x of st.regions!) assert.ok(x.migration!.objectsDone >= 3, `${x.name}: ${JSON.stringify(x.migration)}`);
    for (const r of REGIONS) {
      const files = d.filesOf(r, secret.digest);
      assert.equal(files.length, 1, `${r}: ${files.join(', ')}`);
      assert.ok(path.relative(d.roots[r], files[0]!).startsWith('encrypted'), files[0]);
      d.assertSealed(r, secret);
      await d.pullAll(r, 'geomig/app', img);
    }
    // A push after the migration replicates sealed too.
    const next = secretBlob();
    const img2 = await d.nodes.eastus.v2.pushImage('geomig/app', 'v2', { config: next, layers: 1 });
    await d.ready('geomig');
    await d.pullAll('westeurope', 'geomig/app', img2);
    for (const r of REGIONS) d.assertSealed(r, next);
    await d.stop();

    // Nodes restarted after the migration use the encrypted layout only.
    await d.start();
    for (const r of REGIONS) await d.pullAll(r, 'geomig/app', img);
    await d.stop();
    await assert.rejects(
      () => startApp(d.config('westeurope', { enabled: false }), silentLogger),
      (e: unknown) => e instanceof ConfigError && /cannot turn clear/.test(e.message),
    );
  });
});

describe(
  'an encrypted single-store deployment with a customer-managed key registry that declares regions',
  await backendGate('postgres'),
  () => {
    const d = new Deployment();
    const keys = mkdtempSync(path.join(os.tmpdir(), 'berth-geoenc-keys-'));
    before(() => d.init());
    after(async () => {
      await d.cleanup();
      rmSync(keys, { recursive: true, force: true });
    });

    test('its store becomes the first region’s, sealed as it was; the registry’s own copies are adopted there and replicate', async () => {
      const keyFile = path.join(keys, 'cmk');
      writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
      const single = await startApp(
        testConfig({
          dataDir: d.dir('berth-geoenc-single-'),
          metadata: { url: d.metadataUrl },
          storage: { driver: 'fs', path: d.roots.westeurope },
          gc: { enabled: false },
        }),
        silentLogger,
      );
      const secret = secretBlob();
      let img: PushedImage;
      try {
        const fetch = inProcessFetch(single.http.server, single.url);
        const made = await fetch(`${single.url}/api/registries`, {
          method: 'POST',
          headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
          body: JSON.stringify({
            name: 'geoold',
            sku: 'Premium',
            encryption: { keyVaultProperties: { keyIdentifier: pathToFileURL(keyFile).href } },
          }),
        });
        assert.equal(made.status, 201, await made.text());
        img = await new V2(single.url, { fetch }).pushImage('geoold/app', 'v1', { config: secret, layers: 1 });
      } finally {
        await single.close();
      }

      await d.start();
      for (const r of REGIONS) assert.equal((await d.nodes[r].app.services.storageEncryption.status()).migration, null, r);
      await d.pullAll('westeurope', 'geoold/app', img);
      // What the periodic adoption task does on some node.
      assert.ok((await d.nodes.eastus.app.services.replication.adoptUnplaced()) >= 2);
      await d.replicate('geoold');
      await d.ready('geoold');
      await d.pullAll('eastus', 'geoold/app', img);
      // An image reusing the old blob is complete in the home region at once (its copy is placed there).
      const again = await d.nodes.westeurope.v2.pushImage('geoold/app', 'v2', { config: secret, layers: 1 });
      await until('home Ready', async () => {
        const r = await d.nodes.westeurope.api<{ status: { displayStatus: string } }>(
          'GET',
          '/api/registries/geoold/replications/westeurope',
        );
        return r.body.status.displayStatus === 'Ready';
      });
      await d.ready('geoold');
      await d.pullAll('eastus', 'geoold/app', again);
      for (const r of REGIONS) d.assertSealed(r, secret);
    });
  },
);
