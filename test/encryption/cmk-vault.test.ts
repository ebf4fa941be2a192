import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { sha256 } from '../helpers/oci.js';
import { requireTool } from '../e2e/helpers.js';
import { FakeVault } from './fake-vault.js';
import { selfSignedCert } from '../helpers/tls.js';

// A registry whose customer-managed key is in Vault transit (the in-process fake, over HTTPS with
// a throwaway CA trusted through storage.encryption.providers.vault.caFile): created, rotated in
// Vault and re-wrapped, refused while Vault denies the key (403), answered 503 while Vault hangs
// (the key's state is left alone), and served again when Vault answers.

const tool = requireTool('openssl');

describe('a customer-managed key in Vault transit', tool, () => {
  const vault = new FakeVault();
  let dir = '';
  let t: TestApp;
  before(async () => {
    dir = tempDir('cmk-vault');
    const tls = selfSignedCert(dir);
    await vault.start(tls);
    vault.createKey('berth');
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, vault.token + '\n', { mode: 0o600 });
    t = await startTestApp('sqlite', {
      storage: { encryption: { keyCacheSeconds: 1, providerTimeoutSeconds: 2, providers: { vault: { tokenFile, caFile: tls.caFile } } } },
    });
  });
  after(async () => {
    await t?.close();
    vault.hanging = false;
    await vault.stop();
    removeDir(dir);
  });

  const api = async (method: string, p: string, body?: unknown) => {
    const res = await t.fetch(p, {
      method,
      headers: { Authorization: adminAuthHeader(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { errors?: { code: string; message: string }[] } };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('create, push, rotate in Vault and re-wrap, revoke, hang, restore', async () => {
    const made = await api('POST', '/api/registries', {
      name: 'vaultreg',
      sku: 'Premium',
      encryption: { keyVaultProperties: { keyIdentifier: vault.uri('berth') } },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const v2 = t.v2();
    const img = await v2.pushImage('vaultreg/app', 'v1');
    const layer = img.layers[0]!;
    const pull = async () => v2.fetch(`vaultreg/app/blobs/${layer.digest}`);

    let shown = await api('GET', '/api/registries/vaultreg/encryption');
    assert.equal((shown.body.keyVaultProperties as Record<string, string>).versionedKeyIdentifier, `${vault.uri('berth')}#version=1`);
    vault.rotate('berth');
    shown = await api('POST', '/api/registries/vaultreg/encryption/rotate-key', {});
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal((shown.body.keyVaultProperties as Record<string, string>).versionedKeyIdentifier, `${vault.uri('berth')}#version=2`);

    vault.revoked = true;
    await sleep(1200);
    const refused = await pull();
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /inaccessible/);
    shown = await api('GET', '/api/registries/vaultreg/encryption');
    assert.equal(shown.body.keyState, 'Inaccessible');
    assert.match(String(shown.body.keyStateReason), /permission denied|refused/);

    // A hung Vault is an outage, not a revocation: 503 with Retry-After, within the time bound.
    vault.revoked = false;
    vault.hanging = true;
    await sleep(1200);
    const hung = await pull();
    assert.equal(hung.status, 503);
    assert.ok(hung.headers.get('retry-after'));
    vault.hanging = false;

    await sleep(1200);
    const back = await pull();
    assert.equal(back.status, 200);
    assert.equal(sha256(Buffer.from(await back.arrayBuffer())), layer.digest);
    assert.equal((await api('GET', '/api/registries/vaultreg/encryption')).body.keyState, 'Accessible');
  });
});
