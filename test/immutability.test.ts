import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { globToRegExp } from '../src/services/policy/immutability.js';
import { ADMIN_PASSWORD, adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { expectError, MT, uniqueRepo, type V2 } from './helpers/oci.js';

// Immutability policies: write-once tags by repository glob and tag glob. Overwrite, untag,
// manifest delete and repository delete of a matching tag are refused with 403 DENIED naming
// the policy; the same digest may be pushed again; tags outside the globs are free.

test('globs: * stays within a path segment, ** crosses, ? is one character', () => {
  assert.ok(globToRegExp('prod/**').test('prod/app'));
  assert.ok(globToRegExp('prod/**').test('prod/team/app'));
  assert.ok(!globToRegExp('prod/**').test('production/app'));
  assert.ok(globToRegExp('prod/*').test('prod/app'));
  assert.ok(!globToRegExp('prod/*').test('prod/team/app'));
  assert.ok(globToRegExp('v*').test('v1.0'));
  assert.ok(!globToRegExp('v*').test('latest'));
  assert.ok(globToRegExp('v?.0').test('v1.0'));
  assert.ok(!globToRegExp('v1.0').test('v1x0'), '"." is literal');
  assert.ok(globToRegExp('**').test('a/b/c'));
});

for (const backend of BACKENDS) {
  describe(`immutability (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);

    before(async () => {
      t = await startTestApp(backend);
      v2 = t.v2();
      reg = await t.createRegistry();
      const add = await berth(['immutability', 'add', '-r', reg, '--name', 'release-tags', '--repository', 'prod/**', '--tag', 'v*']);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(JSON.parse(add.stdout).name, 'release-tags');
    });
    after(async () => {
      await t?.close();
    });

    test('overwriting an immutable tag is refused, naming the policy; the same digest is fine', async () => {
      const name = `${reg}/prod/${uniqueRepo('app')}`;
      const first = await v2.pushImage(name, 'v1.0');
      const again = await v2.putManifest(name, 'v1.0', first.bytes, MT.ociManifest);
      assert.equal(again.status, 201, await again.text());
      const other = await v2.pushImage(name, 'scratch');
      const res = await v2.putManifest(name, 'v1.0', other.bytes, MT.ociManifest);
      const e = await expectError(res, 403, 'DENIED');
      assert.match(
        e.message,
        /tag v1\.0 in prod\/.* is immutable \(policy "release-tags": repository prod\/\*\*, tag v\*\); push a new tag instead/,
      );
      // still pointing at the first image
      const head = await v2.fetch(`${name}/manifests/v1.0`, { method: 'HEAD', headers: { Accept: MT.ociManifest } });
      assert.equal(head.headers.get('docker-content-digest'), first.digest);
    });

    test('tags outside the globs are free', async () => {
      const prod = `${reg}/prod/${uniqueRepo('app')}`;
      const a = await v2.pushImage(prod, 'latest');
      const b = await v2.pushImage(prod, 'other');
      assert.equal((await v2.putManifest(prod, 'latest', b.bytes, MT.ociManifest)).status, 201, 'latest does not match v*');
      const dev = `${reg}/dev/${uniqueRepo('app')}`;
      await v2.pushImage(dev, 'v1');
      const c = await v2.pushImage(dev, 'v2');
      assert.equal((await v2.putManifest(dev, 'v1', c.bytes, MT.ociManifest)).status, 201, 'dev/ is outside prod/**');
      const del = await v2.fetch(`${dev}/manifests/v1`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      assert.ok(a.digest);
    });

    test('untag, manifest delete and repository delete of an immutable tag are refused', async () => {
      const repo = `prod/${uniqueRepo('app')}`;
      const name = `${reg}/${repo}`;
      const img = await v2.pushImage(name, 'v2.0');
      await expectError(await v2.fetch(`${name}/manifests/v2.0`, { method: 'DELETE' }), 403, 'DENIED');
      const e = await expectError(await v2.fetch(`${name}/manifests/${img.digest}`, { method: 'DELETE' }), 403, 'DENIED');
      assert.match(e.message, /cannot be deleted \(policy "release-tags"/);
      await expectError(await v2.fetch(`/acr/v1/${reg}/${repo}/_tags/v2.0`, { method: 'DELETE' }), 403, 'DENIED');
      await expectError(await v2.fetch(`/acr/v1/${reg}/${repo}`, { method: 'DELETE' }), 403, 'DENIED');
      const api = await t.fetch(`${t.url}/api/registries/${reg}/repositories/${repo}`, {
        method: 'DELETE',
        headers: { Authorization: adminAuthHeader() },
      });
      await expectError(api, 403, 'DENIED');
      // a mutable tag of the same manifest can still be untagged
      assert.equal((await v2.putManifest(name, 'candidate', img.bytes, MT.ociManifest)).status, 201);
      assert.equal((await v2.fetch(`${name}/manifests/candidate`, { method: 'DELETE' })).status, 202);
    });

    test('policies CRUD through the CLI; removing a policy frees its tags', async () => {
      const dup = await berth(['immutability', 'add', '-r', reg, '--name', 'release-tags', '--tag', 'x']);
      assert.notEqual(dup.code, 0);
      assert.match(dup.stderr, /already exists/);
      const bad = await berth(['immutability', 'add', '-r', reg, '--name', 'bad', '--tag', 'v[0-9]']);
      assert.notEqual(bad.code, 0);
      const all = await berth(['immutability', 'add', '-r', reg, '--name', 'everything']);
      assert.equal(all.code, 0, all.stderr);
      assert.deepEqual(JSON.parse(all.stdout), { ...JSON.parse(all.stdout), repository: '**', tag: '*' });
      const list = JSON.parse((await berth(['immutability', 'list', '-r', reg])).stdout) as { name: string }[];
      assert.deepEqual(
        list.map((p) => p.name),
        ['everything', 'release-tags'],
      );
      const name = `${reg}/${uniqueRepo('any')}`;
      await v2.pushImage(name, 'latest');
      const other = await v2.pushImage(name, 'x');
      const e = await expectError(await v2.putManifest(name, 'latest', other.bytes, MT.ociManifest), 403, 'DENIED');
      assert.match(e.message, /policy "everything": repository \*\*, tag \*/);
      const show = await berth(['immutability', 'show', '-r', reg, '--name', 'everything']);
      assert.equal(JSON.parse(show.stdout).name, 'everything');
      const rm = await berth(['immutability', 'remove', '-r', reg, '--name', 'everything']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(
        (await v2.putManifest(name, 'latest', other.bytes, MT.ociManifest)).status,
        201,
        'a policy removed on this node is forgotten at once',
      );
      const gone = await berth(['immutability', 'remove', '-r', reg, '--name', 'everything']);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /does not exist/);
    });
  });
}
