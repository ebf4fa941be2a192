import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { backendGate, BACKENDS } from '../helpers/backends.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { blobOf, sha256, uniqueRepo } from '../helpers/oci.js';

// Customer-managed keys (docs/storage.md#customer-managed-keys) through a real deployment: a
// Premium registry created with a key file keeps its objects in its own encryption domain, sealed
// with its own data key; revoking the key (replacing or removing the file) makes its content
// unreadable within keyCacheSeconds, restoring it brings the content back, and rotation re-wraps
// the data key so every image stays pullable after the old key is gone.

const keys = tempDir('berth-cmk-keys-');
function keyFile(name: string, content = randomBytes(32).toString('base64')): { file: string; uri: string } {
  const file = path.join(keys, name);
  writeFileSync(file, content + '\n', { mode: 0o600 });
  return { file, uri: pathToFileURL(file).href };
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { errors?: { code: string; message: string }[] };
}

async function api(t: TestApp, method: string, p: string, body?: unknown): Promise<Answer> {
  const res = await t.fetch(p, {
    method,
    headers: { Authorization: adminAuthHeader(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MARKER = 'BERTH-CMK-PLAINTEXT ';

for (const backend of BACKENDS) {
  describe(`customer-managed keys (${backend})`, async () => {
    const gate = await backendGate(backend);
    let t: TestApp;
    before(async () => {
      if (gate.skip) return;
      // gc.enabled false: the test runs collections itself; keys are re-checked every second.
      t = await startTestApp(backend, { storage: { encryption: { keyCacheSeconds: 1 } }, gc: { enabled: false, gracePeriodSeconds: 0 } });
    });
    after(async () => {
      await t?.close();
    });

    const create = (name: string, uri: string, sku = 'Premium') =>
      api(t, 'POST', '/api/registries', { name, sku, encryption: { keyVaultProperties: { keyIdentifier: uri } } });

    test(
      'a registry with its own key: objects sealed in its own domain, no plaintext stored, pulls exact; dedup stays inside the domain',
      gate,
      async () => {
        const k = keyFile(`own-${backend}`);
        const made = await create(`cmkown${backend}`, k.uri);
        assert.equal(made.status, 201, JSON.stringify(made.body));
        const plain = await t.createRegistry(`cmkplain${backend}`, 'Premium');
        const regId = (await t.app.services.registries.get(`cmkown${backend}`)).id;

        const layer = Buffer.concat([Buffer.from(MARKER.repeat(40_000)), randomBytes(1_500_000)]);
        const digest = sha256(layer);
        const v2 = t.v2();
        const repo = `cmkown${backend}/${uniqueRepo('app')}`;
        const pushed = await v2.pushImage(repo, 'v1', { config: blobOf(layer) });
        // the same bytes in a registry without its own key, and in a second repository of the CMK registry (a mount)
        await v2.pushBlob(`${plain}/copy`, blobOf(layer));
        const mount = await v2.fetch(`cmkown${backend}/other/blobs/uploads/?mount=${digest}&from=${repo}`, {
          method: 'POST',
        });
        assert.equal(mount.status, 201, 'mounted within the registry (its domain)');

        const whole = await v2.fetch(`${repo}/blobs/${digest}`);
        assert.equal(whole.status, 200);
        assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), digest);
        const ranged = await v2.fetch(`${repo}/blobs/${digest}`, { headers: { Range: 'bytes=1048570-1048600' } });
        assert.equal(ranged.status, 206);
        assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.subarray(1048570, 1048601));
        const manifest = await v2.fetch(`${repo}/manifests/v1`, { headers: { Accept: pushed.mediaType } });
        assert.equal(manifest.status, 200);

        const root = t.app.config.storage.path;
        const files = allFiles(root);
        const hex = digest.slice(7);
        const copies = files.filter((f) => f.endsWith(hex));
        assert.equal(copies.length, 2, `one copy per domain: ${copies.map((f) => path.relative(root, f)).join(', ')}`);
        const inDomain = copies.find((f) => path.relative(root, f).startsWith(`domains/${regId}/blobs/`));
        assert.ok(inDomain, `the CMK registry's copy is in domains/${regId}/`);
        const sealed = readFileSync(inDomain);
        assert.ok(!sealed.includes(Buffer.from(MARKER)), 'the domain copy is not clear text');
        assert.ok(!sealed.includes(layer.subarray(1_400_000, 1_400_032)), 'nor is its random part');
        const other = copies.find((f) => f !== inDomain)!;
        assert.notDeepEqual(readFileSync(other).subarray(0, 4096), sealed.subarray(0, 4096), 'the two copies are sealed differently');

        const shown = await api(t, 'GET', `/api/registries/cmkown${backend}/encryption`);
        assert.equal(shown.status, 200);
        assert.equal(shown.body.status, 'enabled');
        assert.equal(shown.body.keyState, 'Accessible');
        const kv = shown.body.keyVaultProperties as Record<string, unknown>;
        assert.equal(kv.keyIdentifier, k.uri);
        assert.equal(kv.lastKeyRotationTimestamp, null);
        const plainShown = await api(t, 'GET', `/api/registries/${plain}/encryption`);
        assert.deepEqual(plainShown.body, { status: 'disabled' });
      },
    );

    test(
      'revoking the key makes the content unreadable within the cache time; restoring it brings it back; both are audited',
      gate,
      async () => {
        const content = randomBytes(32).toString('base64');
        const k = keyFile(`revoke-${backend}`, content);
        const name = `cmkrev${backend}`;
        assert.equal((await create(name, k.uri)).status, 201);
        const v2 = t.v2();
        const repo = `${name}/app`;
        const img = await v2.pushImage(repo, 'v1');
        const layer = img.layers[0]!;
        assert.equal((await v2.fetch(`${repo}/blobs/${layer.digest}`)).status, 200);

        // The customer revokes: the key file now holds another key.
        writeFileSync(k.file, randomBytes(32).toString('base64') + '\n');
        await sleep(1200);
        const refused = await v2.fetch(`${repo}/blobs/${layer.digest}`);
        assert.equal(refused.status, 403);
        const err = ((await refused.json()) as Answer['body']).errors![0]!;
        assert.equal(err.code, 'DENIED');
        assert.match(err.message, /customer-managed key that is inaccessible/);
        assert.ok(!err.message.includes(k.file), 'the key file is not named to clients');
        // Pushes are refused too: nothing is written under another key or in clear.
        const push = await v2.fetch(`${repo}/blobs/uploads/`, { method: 'POST' });
        assert.equal(push.status, 403);
        const shown = await api(t, 'GET', `/api/registries/${name}/encryption`);
        assert.equal(shown.body.keyState, 'Inaccessible');
        assert.match(String(shown.body.keyStateReason), /does not match|refused/);

        // Removing the file is a revocation as well.
        rmSync(k.file);
        await sleep(1200);
        assert.equal((await v2.fetch(`${repo}/manifests/v1`)).status, 403);

        // Restored: readable again, with the same bytes.
        writeFileSync(k.file, content + '\n', { mode: 0o600 });
        await sleep(1200);
        const back = await v2.fetch(`${repo}/blobs/${layer.digest}`);
        assert.equal(back.status, 200);
        assert.equal(sha256(Buffer.from(await back.arrayBuffer())), layer.digest);
        assert.equal((await api(t, 'GET', `/api/registries/${name}/encryption`)).body.keyState, 'Accessible');

        // Activity records are written after the response (never in a request's way): poll.
        let ops: string[] = [];
        for (let i = 0; i < 50 && !ops.includes('Berth/registries/encryption/keyRestored/action'); i++) {
          if (i) await sleep(100);
          const log = await api(t, 'GET', `/api/audit/activity?registry=${name}`);
          ops = ((log.body.value as { operationName: string }[]) ?? []).map((e) => e.operationName);
        }
        assert.ok(ops.includes('Berth/registries/encryption/keyInaccessible/action'), ops.join(', '));
        assert.ok(ops.includes('Berth/registries/encryption/keyRestored/action'), ops.join(', '));
        const metrics = await (await t.fetch('/metrics')).text();
        assert.match(metrics, new RegExp(`berth_key_accessible\\{registry="${name}"\\} 1`));
        assert.match(metrics, /berth_key_operations_total\{op="unwrap",outcome="refused"\} [1-9]/);
      },
    );

    test('rotate-key re-wraps the data key: after moving to another key and deleting the old one, every image pulls', gate, async () => {
      const k1 = keyFile(`rot1-${backend}`);
      const k2 = keyFile(`rot2-${backend}`);
      const name = `cmkrot${backend}`;
      assert.equal((await create(name, k1.uri)).status, 201);
      const v2 = t.v2();
      const img = await v2.pushImage(`${name}/app`, 'v1', { layers: 2 });
      const same = await api(t, 'POST', `/api/registries/${name}/encryption/rotate-key`, {});
      assert.equal(same.status, 200, JSON.stringify(same.body));
      assert.ok((same.body.keyVaultProperties as Record<string, unknown>).lastKeyRotationTimestamp);
      const moved = await api(t, 'POST', `/api/registries/${name}/encryption/rotate-key`, { keyIdentifier: k2.uri });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal((moved.body.keyVaultProperties as Record<string, unknown>).keyIdentifier, k2.uri);
      rmSync(k1.file);
      await sleep(1200);
      for (const l of img.layers) {
        const res = await v2.fetch(`${name}/app/blobs/${l.digest}`);
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), l.digest);
      }
      // A key that does not work is refused and changes nothing.
      const bad = await api(t, 'POST', `/api/registries/${name}/encryption/rotate-key`, { keyIdentifier: k1.uri });
      assert.equal(bad.status, 400);
      assert.match(bad.body.errors![0]!.message, /cannot read it/);
      assert.equal(
        ((await api(t, 'GET', `/api/registries/${name}/encryption`)).body.keyVaultProperties as Record<string, unknown>).keyIdentifier,
        k2.uri,
      );
    });

    test('bad keys and non-Premium registries are refused with the reason, and leave no registry behind', gate, async () => {
      const k = keyFile(`bad-${backend}`);
      const cases: [string, string, RegExp][] = [
        ['Standard', k.uri, /Premium feature/],
        ['Premium', pathToFileURL(path.join(keys, 'missing')).href, /cannot read it \(ENOENT\)/],
        ['Premium', keyFile(`garbage-${backend}`, 'not a key').uri, /32 random bytes in base64/],
        ['Premium', 'gopher://example/key', /unsupported scheme gopher:/],
        ['Premium', 'file://host/etc/key', /no host/],
        ['Premium', 'not a uri', /not a URI/],
      ];
      for (const [i, [sku, uri, why]] of cases.entries()) {
        const name = `cmkbad${backend}${i}`;
        const r = await create(name, uri, sku);
        assert.equal(r.status, 400, `${sku} ${uri}: ${JSON.stringify(r.body)}`);
        assert.match(r.body.errors![0]!.message, why);
        assert.equal((await api(t, 'GET', `/api/registries/${name}`)).status, 404, 'no registry was created');
      }
      const malformed = await api(t, 'POST', '/api/registries', {
        name: `cmkbadx${backend}`,
        sku: 'Premium',
        encryption: { keyVaultProperties: {} },
      });
      assert.equal(malformed.status, 400);
      const plain = await t.createRegistry(`cmknokey${backend}`, 'Premium');
      const rot = await api(t, 'POST', `/api/registries/${plain}/encryption/rotate-key`, {});
      assert.equal(rot.status, 400);
      assert.match(rot.body.errors![0]!.message, /no customer-managed key/);
      assert.equal((await create(`cmkdown${backend}`, k.uri)).status, 201);
      const down = await api(t, 'PATCH', `/api/registries/cmkdown${backend}`, { sku: 'Standard' });
      assert.equal(down.status, 400);
      assert.match(down.body.errors![0]!.message, /stays Premium/);
    });

    test("garbage collection removes a domain's copies once unlinked, and everything of a deleted registry", gate, async () => {
      const k = keyFile(`gc-${backend}`);
      const name = `cmkgc${backend}`;
      assert.equal((await create(name, k.uri)).status, 201);
      const regId = (await t.app.services.registries.get(name)).id;
      const v2 = t.v2();
      const img = await v2.pushImage(`${name}/app`, 'v1');
      const root = t.app.config.storage.path;
      const domainFiles = () => allFiles(root).filter((f) => path.relative(root, f).startsWith(`domains/${regId}/`));
      assert.equal(domainFiles().length, 2, 'config and layer');
      assert.equal((await v2.fetch(`${name}/app/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
      // unreferenced links, then unlinked blobs, then their bytes: a few collections with no grace period
      for (let i = 0; i < 3; i++) await t.app.services.gc.run();
      assert.deepEqual(domainFiles(), [], 'the domain copies are gone');

      const img2 = await v2.pushImage(`${name}/app`, 'v2');
      assert.ok(img2);
      assert.equal(domainFiles().length, 2);
      assert.equal((await api(t, 'DELETE', `/api/registries/${name}`)).status, 204);
      await t.app.services.gc.run();
      assert.deepEqual(domainFiles(), [], "a deleted registry's domain is removed");
    });
  });
}

after(() => removeDir(keys));
