import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { backendGate, BACKENDS } from './helpers/backends.js';
import { adminAuthHeader } from './helpers/credentials.js';
import { waitFor } from './e2e/helpers.js';
import { gzLayer } from './helpers/layers.js';
import { blobOf, imageIndex, imageManifest, manifestBytes, MT, sha256, uniqueRepo } from './helpers/oci.js';

// A multi-platform image: each platform's image is scanned and the index reports their findings
// together, each finding once per platform that has it. The data is imported first (scan.mode
// auto), through the management API.

const OS_RELEASE = 'ID=alpine\nVERSION_ID=3.18.4\n';
const apkDb = (version: string) => `P:busybox\nV:${version}\nA:x86_64\no:busybox\nL:GPL-2.0-only\n\n`;
const RECORD = {
  id: 'ALPINE-CVE-2023-42363',
  modified: '2024-06-01T00:00:00Z',
  aliases: ['CVE-2023-42363'],
  summary: 'busybox: use-after-free in awk',
  affected: [
    {
      package: { ecosystem: 'Alpine:v3.18', name: 'busybox' },
      ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.36.1-r6' }] }],
    },
  ],
};

for (const backend of BACKENDS) {
  describe(`scanning an index (${backend})`, async () => {
    const gate = await backendGate(backend);
    let t: TestApp;
    before(async () => {
      if (gate.skip) return;
      t = await startTestApp(backend);
    });
    after(async () => t?.close());

    test('each platform is scanned; the index has their findings, the fixed platform none', { skip: gate.skip }, async () => {
      const imported = await t.fetch(`${t.url}/api/vulndb/imports?source=alpine`, {
        method: 'POST',
        headers: { authorization: adminAuthHeader(), 'content-type': 'application/json' },
        body: JSON.stringify([RECORD]),
      });
      assert.equal(imported.status, 201, await imported.text());

      const reg = await t.createRegistry();
      const name = `${reg}/${uniqueRepo('multi')}`;
      const v2 = t.v2();
      const platforms: { arch: string; busybox: string }[] = [
        { arch: 'amd64', busybox: '1.36.1-r2' }, // affected
        { arch: 'arm64', busybox: '1.36.1-r7' }, // fixed
      ];
      const children = [];
      for (const p of platforms) {
        const layer = await gzLayer([
          { name: 'etc/os-release', data: OS_RELEASE },
          { name: 'lib/apk/db/installed', data: apkDb(p.busybox) },
        ]);
        const config = blobOf(JSON.stringify({ architecture: p.arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
        await v2.pushBlob(name, config);
        await v2.pushBlob(name, blobOf(layer.bytes));
        const bytes = manifestBytes(
          imageManifest({ mediaType: MT.ociConfig, digest: config.digest, size: config.size }, [
            { mediaType: layer.mediaType, digest: layer.digest, size: layer.bytes.length },
          ]),
        );
        assert.equal((await v2.putManifest(name, sha256(bytes), bytes, MT.ociManifest)).status, 201);
        children.push({
          mediaType: MT.ociManifest,
          digest: sha256(bytes),
          size: bytes.length,
          platform: { architecture: p.arch, os: 'linux' },
        });
      }
      const index = manifestBytes(imageIndex(children));
      assert.equal((await v2.putManifest(name, 'v1', index, MT.ociIndex)).status, 201);

      const repo = name.slice(reg.length + 1);
      const scanOf = async (ref: string) => {
        const res = await t.fetch(`${t.url}/api/registries/${reg}/repositories/${repo}/_manifests/${ref}/_scan`, {
          headers: { authorization: adminAuthHeader() },
        });
        assert.equal(res.status, 200);
        return (await res.json()) as { status: string; findings: { id: string; installedVersion: string }[]; summary: { total: number } };
      };
      const indexScan = await waitFor('the index scan', async () => {
        const s = await scanOf('v1');
        return s.status === 'succeeded' ? s : undefined;
      });
      assert.deepEqual(
        indexScan.findings.map((f) => [f.id, f.installedVersion]),
        [['ALPINE-CVE-2023-42363', '1.36.1-r2']],
      );
      const [amd, arm] = [await scanOf(children[0]!.digest), await scanOf(children[1]!.digest)];
      assert.equal(amd.status, 'succeeded');
      assert.equal(amd.summary.total, 1);
      assert.equal(arm.status, 'succeeded');
      assert.equal(arm.summary.total, 0, 'r7 is above the fix r6');
    });
  });
}
