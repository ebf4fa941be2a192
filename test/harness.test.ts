import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { authFetch } from './helpers/oci.js';

for (const backend of BACKENDS) {
  describe(`harness on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(backend);
    });
    after(async () => {
      await t?.close();
    });

    test('/v2/ answers with the API version header', async () => {
      const res = await authFetch(`${t.url}/v2/`, {}, undefined, t.fetch);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    });

    test('a registry created through the service is listed by the API', async () => {
      const name = await t.createRegistry();
      const res = await authFetch(`${t.url}/api/registries`, {}, undefined, t.fetch);
      const body = (await res.json()) as { value: { name: string }[] };
      assert.ok(body.value.some((r) => r.name === name));
    });
  });
}
