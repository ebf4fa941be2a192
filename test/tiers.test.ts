import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerManifestCommands } from '../src/cli/commands/manifest.js';
import { registerRegistryCommands } from '../src/cli/commands/registry.js';
import { registerRepositoryCommands } from '../src/cli/commands/repository.js';
import { storedUsage, computedUsage } from '../src/meta/usage.js';
import { TIERS } from '../src/services/policy/tiers.js';
import { ADMIN_PASSWORD, adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { expectError, imageManifest, manifestBytes, MT, randomBlob, type V2 } from './helpers/oci.js';

// Tiers: storage quotas enforced on push (nothing visible after a refusal), show-usage, SKU downgrade rules.

for (const backend of BACKENDS) {
  describe(`tiers and quotas on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;

    before(async () => {
      t = await startTestApp(backend);
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    const api = (method: string, path: string, body?: unknown) =>
      t.fetch(`${t.url}/api/registries/${path}`, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    /** Runs a berth CLI command in this process; returns its JSON output. */
    async function berth(args: string[]): Promise<unknown> {
      let out = '';
      const program = new Command('berth').exitOverride();
      registerRegistryCommands(program);
      registerRepositoryCommands(program);
      registerManifestCommands(program);
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be restored as is, and called only with .call(process.stdout)
      const write = process.stdout.write;
      process.stdout.write = (chunk: unknown, ...rest: unknown[]) => {
        if (typeof chunk === 'string') {
          out += chunk;
          return true;
        }
        return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
      };
      try {
        await program.parseAsync([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD], { from: 'user' });
      } finally {
        process.stdout.write = write;
      }
      return out.trim() ? JSON.parse(out) : undefined;
    }

    test('a registry quota refuses the blob that would exceed it, with DENIED naming quota, limit and use; nothing becomes visible', async () => {
      const reg = await t.createRegistry();
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      const used = (await storedUsage(t.app.meta.db, (await t.app.services.registries.get(reg)).id)).registry;
      assert.equal((await api('PUT', `${reg}/quota`, { storageQuotaBytes: used + 300 })).status, 200);

      const big = randomBlob(1000);
      const res = await v2.fetch(`${reg}/app/blobs/uploads/?digest=${big.digest}`, {
        method: 'POST',
        body: big.data,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      const err = await expectError(res, 403, 'DENIED');
      assert.match(err.message, new RegExp(`storage quota of registry ${reg}.*limit .*${used + 300} bytes.*in use .*${used} bytes`));
      assert.equal((await v2.fetch(`${reg}/app/blobs/${big.digest}`, { method: 'HEAD' })).status, 404);
      // A chunked upload is refused too, and so is a mount into another repository of another registry's content.
      const loc = await v2.startUpload(`${reg}/other`);
      const put = await v2.fetch(`${loc}${loc.includes('?') ? '&' : '?'}digest=${big.digest}`, {
        method: 'PUT',
        body: big.data,
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      await expectError(put, 403, 'DENIED');

      // Content already in the registry costs nothing: pushing the same layer to another repository is fine.
      await v2.pushBlob(`${reg}/other`, img.layers[0]!);
      // A small blob fits; then a manifest that would exceed the quota is refused and its tag never appears.
      const small = await v2.pushBlob(`${reg}/app`, randomBlob(250));
      const m = manifestBytes(
        imageManifest(
          { mediaType: MT.ociConfig, digest: img.config.digest, size: img.config.size },
          [{ mediaType: MT.ociLayer, digest: small.digest, size: small.size }],
          { annotations: { pad: 'x'.repeat(200) } },
        ),
      );
      await expectError(await v2.putManifest(`${reg}/app`, 'v2', m, MT.ociManifest), 403, 'DENIED');
      assert.equal((await v2.fetch(`${reg}/app/manifests/v2`, { method: 'HEAD', headers: { Accept: MT.ociManifest } })).status, 404);
      const id = (await t.app.services.registries.get(reg)).id;
      assert.deepEqual(await storedUsage(t.app.meta.db, id), await computedUsage(t.app.meta.db, id));

      // Removing the quota lets the push through.
      assert.equal((await api('PUT', `${reg}/quota`, { storageQuotaBytes: null })).status, 200);
      assert.equal((await v2.putManifest(`${reg}/app`, 'v2', m, MT.ociManifest)).status, 201);
    });

    test('a repository quota (berth repository set-quota) refuses pushes and mounts into that repository only', async () => {
      const reg = await t.createRegistry();
      await v2.pushImage(`${reg}/small`, 'v1');
      const shared = await v2.pushBlob(`${reg}/big`, randomBlob(2000));
      const out = (await berth(['repository', 'set-quota', '-n', reg, '--repository', 'small', '--storage-quota-mb', '0.001'])) as {
        currentValue: number;
        limit: number;
      };
      assert.equal(out.limit, Math.round(0.001 * 1024 * 1024));
      assert.ok(out.currentValue > 0);
      const mount = await v2.fetch(`${reg}/small/blobs/uploads/?mount=${shared.digest}&from=${reg}/big`, {
        method: 'POST',
        headers: { 'Content-Length': '0' },
      });
      const err = await expectError(mount, 403, 'DENIED');
      assert.match(err.message, /storage quota of repository small/);
      assert.equal((await v2.fetch(`${reg}/small/blobs/${shared.digest}`, { method: 'HEAD' })).status, 404);
      // Other repositories are unaffected.
      await v2.pushBlob(`${reg}/big`, randomBlob(3000));
      const usage = (await berth(['repository', 'show-usage', '-n', reg, '--repository', 'small'])) as {
        repository: string;
        limit: number;
      };
      assert.equal(usage.repository, 'small');
      assert.equal((await api('PUT', `${reg}/repositories/nothere/_quota`, { storageQuotaBytes: 5 })).status, 404);
      assert.equal((await api('PUT', `${reg}/repositories/small/_quota`, { storageQuotaBytes: -1 })).status, 400);
    });

    test('show-usage: az acr show-usage shape, via the API and the CLI; berth update --storage-quota-gb sets the Size limit', async () => {
      const reg = await t.createRegistry(undefined, 'Standard');
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      const res = await api('GET', `${reg}/usages`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { value: { name: string; currentValue: number; limit: number; unit: string }[] };
      const by = Object.fromEntries(body.value.map((v) => [v.name, v]));
      for (const n of ['Size', 'Webhooks', 'Geo-replications', 'Tokens', 'ScopeMaps']) assert.ok(by[n], `${n} is listed`);
      assert.deepEqual(by.Size, {
        name: 'Size',
        currentValue: img.config.size + img.layers[0]!.size + img.size,
        limit: TIERS.Standard.maxStorageBytes,
        unit: 'Bytes',
      });
      assert.equal(by.Webhooks!.limit, 10);
      assert.equal(by.Tokens!.limit, 500);
      assert.equal(by['Geo-replications']!.limit, 0);

      await berth(['update', '-n', reg, '--storage-quota-gb', '2']);
      const cli = (await berth(['show-usage', '-n', reg])) as typeof body;
      assert.equal(cli.value.find((v) => v.name === 'Size')!.limit, 2 * 1024 ** 3);
      await berth(['update', '-n', reg, '--storage-quota-gb', 'none']);
      assert.equal(
        ((await berth(['show-usage', '-n', reg])) as typeof body).value.find((v) => v.name === 'Size')!.limit,
        TIERS.Standard.maxStorageBytes,
      );

      const premium = await t.createRegistry(undefined, 'Premium');
      const p = (await (await api('GET', `${premium}/usages`)).json()) as typeof body;
      assert.equal(p.value.find((v) => v.name === 'Geo-replications')!.limit, -1);
      // Reader is needed: no credentials, no usage.
      assert.equal((await t.fetch(`${t.url}/api/registries/${reg}/usages`)).status, 401);
    });

    test('a downgrade is refused while the registry uses what the lower tier lacks, saying which', async () => {
      const reg = await t.createRegistry(undefined, 'Premium');
      const id = (await t.app.services.registries.get(reg)).id;
      const ts = new Date().toISOString();
      await t.app.meta.db
        .insertInto('scope_maps')
        .values({ registry_id: id, name: 'm', name_key: 'm', description: '', actions: '[]', created_at: ts, updated_at: ts })
        .execute();
      await t.app.meta.db
        .insertInto('tokens')
        .values(
          Array.from({ length: 101 }, (_, i) => ({
            registry_id: id,
            name: `tok${i}`,
            name_key: `tok${i}`,
            scope_map: 'm',
            status: 'enabled',
            created_at: ts,
            updated_at: ts,
          })),
        )
        .execute();
      await t.app.meta.db
        .insertInto('registry_usage')
        .values({ registry_id: id, bytes: 50 * 1024 ** 4, quota_bytes: null })
        .onConflict((oc) => oc.column('registry_id').doUpdateSet({ bytes: 50 * 1024 ** 4 }))
        .execute();

      const toBasic = await api('PATCH', reg, { sku: 'Basic' });
      assert.equal(toBasic.status, 409);
      const e = ((await toBasic.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
      assert.equal(e.code, 'CONFLICT');
      assert.match(e.message, /cannot move from Premium to Basic/);
      assert.match(e.message, /101 tokens and Basic allows 100/);
      assert.match(e.message, /stores 50\.0 TiB .* Basic allows at most 40\.0 TiB/);
      assert.equal((await t.app.services.registries.get(reg)).sku, 'Premium');

      await t.app.meta.db.deleteFrom('tokens').where('registry_id', '=', id).where('name', '=', 'tok0').execute();
      const msg = ((await (await api('PATCH', reg, { sku: 'Standard' })).json()) as { errors: { message: string }[] }).errors[0]!.message;
      assert.doesNotMatch(msg, /tokens/);
      assert.match(msg, /Standard allows at most 40\.0 TiB/);

      // Anonymous pull is a Standard feature: a Standard registry with it enabled cannot become Basic.
      const std = await t.createRegistry(undefined, 'Standard');
      assert.equal((await api('PATCH', std, { anonymousPullEnabled: true })).status, 200);
      const r = await api('PATCH', std, { sku: 'Basic' });
      assert.equal(r.status, 400);
      assert.match(((await r.json()) as { errors: { message: string }[] }).errors[0]!.message, /anonymous pull/);
      // Webhooks beyond the lower tier's count, and the retention policy (Premium), block a downgrade too.
      const prem = await t.createRegistry(undefined, 'Premium');
      const premId = (await t.app.services.registries.get(prem)).id;
      await t.app.meta.db
        .insertInto('webhooks')
        .values(
          Array.from({ length: 3 }, (_, i) => ({
            registry_id: premId,
            name: `hook${i}`,
            name_key: `hook${i}`,
            uri: 'https://example.com/hook',
            actions: '["push"]',
            scope: '',
            headers: '{}',
            status: 'enabled',
            format: 'acr',
            secret: 'x',
            created_at: ts,
            updated_at: ts,
          })),
        )
        .execute();
      await t.app.meta.db
        .insertInto('retention_policies')
        .values({ registry_id: premId, status: 'enabled', days: 7, type: 'UntaggedManifests', enabled_at: ts, updated_at: ts })
        .execute();
      const down = ((await (await api('PATCH', prem, { sku: 'Basic' })).json()) as { errors: { message: string }[] }).errors[0]!.message;
      assert.match(down, /3 webhooks and Basic allows 2/);
      const hooks = ((await (await api('GET', `${prem}/usages`)).json()) as { value: { name: string; currentValue: number }[] }).value;
      assert.equal(hooks.find((u) => u.name === 'Webhooks')?.currentValue, 3, 'show-usage counts the webhooks');
      assert.match(down, /retention policy for untagged manifests is enabled, a Premium feature/);
      // Upgrades and fitting downgrades are free.
      assert.equal((await api('PATCH', std, { sku: 'Premium' })).status, 200);
      assert.equal((await api('PATCH', std, { anonymousPullEnabled: false })).status, 200);
      assert.equal((await api('PATCH', std, { sku: 'Basic' })).status, 200);
    });
  });
}
