import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, adminAuthHeader, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import {
  imageIndex,
  imageManifest,
  manifestBytes,
  MT,
  randomBlob,
  sha256,
  uniqueRepo,
  type Blob,
  type PushedImage,
  type V2,
} from './helpers/oci.js';
import { withRegistry } from './helpers/with-image.js';

// imageSize as ACR reports it, wherever Berth reports it: an image is its manifest, config and
// layers; an index is its own bytes and its children's image sizes (docs/api.md).

/** What an image's imageSize must be: the manifest's bytes, its config and its layers. */
const imageOf = (i: PushedImage) => i.size + i.config.size + i.layers.reduce((n, l) => n + l.size, 0);
const descriptor = (i: { mediaType: string; digest: string; size: number }) => ({ mediaType: i.mediaType, digest: i.digest, size: i.size });

/** An image of these layers (pushed first), with a config of its own. */
async function pushWith(v2: V2, name: string, tag: string, layers: Blob[]): Promise<PushedImage> {
  const config = await v2.pushBlob(name, randomBlob(80));
  for (const l of layers) await v2.pushBlob(name, l);
  const manifest = imageManifest(
    descriptor({ mediaType: MT.ociConfig, ...config }),
    layers.map((l) => descriptor({ mediaType: MT.ociLayer, ...l })),
  );
  const bytes = manifestBytes(manifest);
  const response = await v2.putManifest(name, tag, bytes, MT.ociManifest);
  assert.equal(response.status, 201);
  return { manifest, bytes, digest: sha256(bytes), size: bytes.length, config, layers, mediaType: MT.ociManifest, response };
}

for (const backend of BACKENDS) {
  describe(`imageSize (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;

    before(async () => {
      ({ t, v2, reg } = await withRegistry(backend));
    });
    after(async () => {
      await t?.close();
    });

    const get = async (path: string) => {
      const res = await t.fetch(`${t.url}${path}`, { headers: { Authorization: adminAuthHeader() } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return JSON.parse(text);
    };
    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
    /** imageSize of each manifest, as each listing reports it: /acr/v1 list and show, /api list, the CLI. */
    async function everywhere(repo: string): Promise<Record<string, number>> {
      const acrList = (await get(`/acr/v1/${reg}/${repo}/_manifests`)).manifests as { digest: string; imageSize: number }[];
      const apiList = (await get(`/api/registries/${reg}/repositories/${repo}/_manifests`)).value as {
        digest: string;
        imageSize: number;
      }[];
      const cli = await berth(['repository', 'show-manifests', '-n', reg, '--repository', repo, '--detail', '-o', 'json']);
      assert.equal(cli.code, 0, cli.stderr);
      const cliList = JSON.parse(cli.stdout) as { digest: string; imageSize: number }[];
      const out: Record<string, number> = {};
      for (const m of acrList) {
        out[m.digest] = m.imageSize;
        assert.equal((await get(`/acr/v1/${reg}/${repo}/_manifests/${m.digest}`)).manifest.imageSize, m.imageSize, '/acr/v1 show');
        assert.equal(apiList.find((x) => x.digest === m.digest)?.imageSize, m.imageSize, '/api listing');
        assert.equal(cliList.find((x) => x.digest === m.digest)?.imageSize, m.imageSize, 'show-manifests --detail');
      }
      assert.equal(apiList.length, acrList.length);
      return out;
    }

    test('an image is its manifest, config and layers; an index is its bytes and its children, nested ones too', async () => {
      const repo = uniqueRepo('size');
      const name = `${reg}/${repo}`;
      const shared = await v2.pushBlob(name, randomBlob(4096));
      const amd = await v2.pushImage(name, 'amd', { layers: 2 });
      const arm = await pushWith(v2, name, 'arm', [shared, randomBlob(300)]);
      const armAgain = await pushWith(v2, name, 'arm2', [shared]);
      assert.ok(imageOf(amd) > amd.size + 1000, 'the layers count, not just the manifest');

      // An index before its children is refused, so children are always there when it is stored.
      const early = manifestBytes(imageIndex([{ mediaType: MT.ociManifest, digest: sha256('not pushed'), size: 10 }]));
      const refused = await v2.putManifest(name, 'early', early, MT.ociIndex);
      assert.equal(refused.status, 400);
      assert.equal((await refused.json()).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');

      const inner = manifestBytes(imageIndex([descriptor(arm), descriptor(armAgain)]));
      assert.equal((await v2.putManifest(name, 'inner', inner, MT.ociIndex)).status, 201);
      const innerDesc = { mediaType: MT.ociIndex, digest: sha256(inner), size: inner.length };
      const outer = manifestBytes(imageIndex([descriptor(amd), innerDesc]));
      assert.equal((await v2.putManifest(name, 'multi', outer, MT.ociIndex)).status, 201);

      const sizes = await everywhere(repo);
      assert.equal(sizes[amd.digest], imageOf(amd));
      assert.equal(sizes[arm.digest], imageOf(arm));
      // The shared layer counts once per child, as each child's own size counts it.
      assert.equal(sizes[innerDesc.digest], inner.length + imageOf(arm) + imageOf(armAgain));
      assert.equal(sizes[sha256(outer)], outer.length + imageOf(amd) + inner.length + imageOf(arm) + imageOf(armAgain));

      // A child deleted after its index no longer counts.
      assert.equal((await v2.fetch(`${name}/manifests/${armAgain.digest}`, { method: 'DELETE' })).status, 202);
      const after = await everywhere(repo);
      assert.equal(after[innerDesc.digest], inner.length + imageOf(arm));
      assert.equal(after[sha256(outer)], outer.length + imageOf(amd) + inner.length + imageOf(arm));
      const shown = await berth(['repository', 'show', '-n', reg, '--image', `${repo}@${amd.digest}`, '-o', 'json']);
      assert.equal(JSON.parse(shown.stdout).manifest.imageSize, imageOf(amd), 'repository show --image');
    });

    test('a soft-deleted image and index keep their image size in the recycle bin listing', async () => {
      const policy = await t.fetch(`${t.url}/api/registries/${reg}/softDeletePolicy`, {
        method: 'PATCH',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ status: 'enabled', retentionDays: 7 }),
      });
      assert.equal(policy.status, 200, await policy.text());
      const repo = uniqueRepo('binsize');
      const name = `${reg}/${repo}`;
      const a = await v2.pushImage(name, 'a', { layers: 2 });
      const b = await v2.pushImage(name, 'b');
      const index = manifestBytes(imageIndex([descriptor(a), descriptor(b)]));
      assert.equal((await v2.putManifest(name, 'ix', index, MT.ociIndex)).status, 201);
      for (const d of [sha256(index), a.digest]) assert.equal((await v2.fetch(`${name}/manifests/${d}`, { method: 'DELETE' })).status, 202);
      const deleted = (await get(`/api/registries/${reg}/repositories/${repo}/_deleted`)).value as { digest: string; imageSize: number }[];
      const size = (d: string) => deleted.find((e) => e.digest === d)?.imageSize;
      assert.equal(size(a.digest), imageOf(a), 'a deleted image: manifest, config and layers');
      // Its children: a is in the bin too, b is still live.
      assert.equal(size(sha256(index)), index.length + imageOf(a) + imageOf(b), 'a deleted index: its bytes and its children');
    });
  });
}
