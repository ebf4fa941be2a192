import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from '../src/services/policy/rates.js';
import { adminAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { expectError, MT, type V2 } from './helpers/oci.js';

// Request-rate limits (FEATURES.md §1.2): 429 TOOMANYREQUESTS with a Retry-After that counts down.
// With rateMultiplier 0.006 a Basic/Standard registry allows 60 reads a minute, 30 per identity.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('rate limiter: buckets refill continuously, refusals cost nothing, identities and registries are separate', () => {
  let now = 0;
  const rl = new RateLimiter({ enabled: true, multiplier: 0.006 }, () => now);
  const reg = {
    id: 1,
    name: 'reg',
    sku: 'Basic',
    admin_enabled: 0,
    anonymous_pull_enabled: 0,
    quarantine_enabled: 0,
    location: null,
    created_at: '',
    updated_at: '',
    public_network_access: 'Enabled',
    network_default_action: 'Allow',
    network_ip_rules: '[]',
    network_bypass: 'AzureServices',
    data_endpoint_enabled: 0,
  };
  const alice = { kind: 'user' as const, id: 1, name: 'alice' };
  const bob = { kind: 'user' as const, id: 2, name: 'bob' };
  for (let i = 0; i < 6; i++) rl.take(reg, alice, ['write']);
  const e = (() => {
    try {
      rl.take(reg, alice, ['write']);
    } catch (x) {
      return x as { code: string; headers: Record<string, string> };
    }
    return undefined;
  })();
  assert.equal(e?.code, 'TOOMANYREQUESTS');
  assert.equal(e?.headers['Retry-After'], '10'); // 6 a minute: one every 10 s
  rl.take(reg, bob, ['write']);
  now += 5_000;
  const again = (() => {
    try {
      rl.take(reg, alice, ['write']);
    } catch (x) {
      return x as { headers: Record<string, string> };
    }
    return undefined;
  })();
  assert.equal(again?.headers['Retry-After'], '5');
  now += 5_000;
  rl.take(reg, alice, ['write']);
  new RateLimiter({ enabled: false, multiplier: 0.000001 }).take(reg, alice, ['write']);
});

for (const backend of BACKENDS) {
  describe(`request-rate limits on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;

    before(async () => {
      t = await startTestApp(backend, { limits: { rateLimits: true, rateMultiplier: 0.006 } });
      v2 = t.v2();
    });
    after(async () => {
      await t?.close();
    });

    test('429 TOOMANYREQUESTS with a Retry-After that counts down, then success; anonymous is another identity of the same registry', async () => {
      const reg = await t.createRegistry(undefined, 'Standard');
      const img = await v2.pushImage(`${reg}/app`, 'v1');
      const get = (auth = true) =>
        t.fetch(`${t.url}/v2/${reg}/app/manifests/v1`, {
          headers: { Accept: MT.ociManifest, ...(auth ? { Authorization: adminAuthHeader() } : {}) },
        });
      let ok = 0;
      let refused: Response | undefined;
      for (let i = 0; i < 40 && !refused; i++) {
        const res = await get();
        if (res.status === 429) refused = res;
        else {
          assert.equal(res.status, 200);
          ok++;
          await res.arrayBuffer();
        }
      }
      assert.ok(refused, 'throttled within 40 reads');
      assert.equal(ok, 30);
      const first = Number(refused.headers.get('retry-after'));
      const err = await expectError(refused, 429, 'TOOMANYREQUESTS');
      assert.match(err.message, /allows 30 per minute/);
      assert.ok(first >= 1 && first <= 2, `Retry-After ${first}`);

      await sleep(1100);
      const second = await get();
      assert.equal(second.status, 429);
      const later = Number(second.headers.get('retry-after'));
      assert.ok(later < first, `Retry-After went from ${first} to ${later}`);

      // Another identity (anonymous pull) still has its own allowance within the registry's 60.
      const enable = await t.fetch(`${t.url}/api/registries/${reg}`, {
        method: 'PATCH',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ anonymousPullEnabled: true }),
      });
      assert.equal(enable.status, 200);
      const anon = await get(false);
      assert.equal(anon.status, 200, await anon.clone().text());
      assert.equal(await anon.text(), img.bytes.toString());

      await sleep(later * 1000 + 100);
      const done = await get();
      assert.equal(done.status, 200);
    });
  });
}
