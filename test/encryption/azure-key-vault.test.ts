import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeyProviderUnavailableError, KeyUnwrapError } from '../../src/storage/encryption/keys.js';
import {
  keyProviderFor,
  KeyProviderConfigError,
  KeyUriError,
  type KeyProvidersConfig,
} from '../../src/storage/encryption/providers/index.js';
import { requireTool } from '../e2e/helpers.js';
import { freePort, removeDir, tempDir } from '../helpers/berth-process.js';
import { providerContract } from './contract.js';
import { FakeKeyVault } from './fake-key-vault.js';
import { selfSignedCert } from '../helpers/tls.js';

// Azure Key Vault through keyProviderFor and the real SDK (@azure/keyvault-keys, @azure/identity
// with a service principal's client secret), against an in-process Key Vault and token endpoint
// over HTTPS: the SDK gets a 401 Bearer challenge first, asks the authority
// (storage.encryption.providers.azureKeyVault.authorityHost) for a token, then wraps and unwraps
// with RSA-OAEP-256. The throwaway certificate is trusted through ...azureKeyVault.caFile.

const tool = requireTool('openssl');
const kv = new FakeKeyVault();
let dir = '';
let providers: KeyProvidersConfig = {};
let closedPort = 0;

before(async () => {
  if (tool.skip) return;
  dir = tempDir('azkv');
  const tls = selfSignedCert(dir);
  await kv.start(tls);
  kv.createKey('berth');
  kv.createKey('other');
  const clientSecretFile = path.join(dir, 'client-secret');
  writeFileSync(clientSecretFile, kv.clientSecret + '\n', { mode: 0o600 });
  providers = {
    azureKeyVault: {
      tenantId: kv.tenant,
      clientId: kv.clientId,
      clientSecretFile,
      authorityHost: kv.url,
      caFile: tls.caFile,
      // The fake's host (127.0.0.1) is not under the challenge's resource (vault.azure.net).
      verifyChallengeResource: false,
    },
  };
  closedPort = await freePort();
});
after(async () => {
  await kv.stop();
  removeDir(dir);
});

const make = (uri: string, timeoutMs = 15_000, p: KeyProvidersConfig = providers) => keyProviderFor(uri, { timeoutMs, providers: p });

describe('Azure Key Vault key provider', { skip: tool.skip }, () => {
  providerContract('azure key vault', () => ({
    provider: (timeoutMs) => make(`${kv.url}/keys/berth`, timeoutMs),
    otherKey: () => make(`${kv.url}/keys/other`),
    unreachable: () => make(`https://127.0.0.1:${closedPort}/keys/berth`),
    revoke: () => Promise.resolve(void (kv.revoked = true)),
    restore: () => Promise.resolve(void (kv.revoked = false)),
    hang: () => Promise.resolve(void (kv.hanging = true)),
    unhang: () => Promise.resolve(kv.release()),
    get currentVersion() {
      return kv.current('berth');
    },
    rotate: () => Promise.resolve(kv.rotate('berth')),
    secrets: [kv.clientSecret],
  }));

  test('the SDK met the Bearer challenge, then came back with a token', () => {
    const first = kv.seen.find((s) => s.path.startsWith('/keys/'));
    assert.equal(first?.bearer, false);
    assert.ok(kv.seen.some((s) => s.path === `/${kv.tenant}/oauth2/v2.0/token`));
    assert.ok(kv.seen.some((s) => s.path.endsWith('/unwrapkey') && s.bearer));
  });

  test('a versioned key identifier wraps with that version only, even after a rotation', async () => {
    const pinned = kv.current('other');
    const p = make(`${kv.url}/keys/other/${pinned}`);
    kv.rotate('other');
    const dek = randomBytes(32);
    const { wrapped, keyVersion } = await p.wrap(dek);
    assert.equal(keyVersion, pinned);
    assert.deepEqual(await make(`${kv.url}/keys/other`).unwrap(wrapped, keyVersion), dek);
  });

  test('throttled (429) and 503 are unavailable, after the SDK retried', async () => {
    const p = make(`${kv.url}/keys/berth`);
    const { wrapped, keyVersion } = await p.wrap(randomBytes(32));
    for (const status of [429, 503]) {
      kv.failWith = status;
      try {
        await assert.rejects(
          p.unwrap(wrapped, keyVersion),
          (e: unknown) => e instanceof KeyProviderUnavailableError && e.message.includes(`HTTP ${status}`),
        );
      } finally {
        kv.failWith = undefined;
      }
    }
  });

  test('a wrong client secret is a refusal that does not show the secret', async () => {
    const wrong = path.join(dir, 'wrong-secret');
    const secret = `secret~${randomBytes(18).toString('base64url')}`;
    writeFileSync(wrong, secret);
    const p = make(`${kv.url}/keys/berth`, 15_000, { azureKeyVault: { ...providers.azureKeyVault, clientSecretFile: wrong } });
    await assert.rejects(p.wrap(randomBytes(32)), (e: unknown) => {
      assert.ok(e instanceof KeyUnwrapError, `${(e as Error).name}: ${(e as Error).message}`);
      assert.equal(e.message.includes(secret), false);
      return true;
    });
  });

  test('URIs and configuration: only Key Vault key identifiers; a client secret needs its tenant and client', () => {
    for (const bad of [
      'https://myvault.vault.azure.net/secrets/berth',
      'https://myvault.vault.azure.net/keys/',
      'https://myvault.vault.azure.net/keys/berth/v1/extra',
      'https://myvault.vault.azure.net/keys/berth?api-version=7.4',
      'https://user:pw@myvault.vault.azure.net/keys/berth',
    ])
      assert.throws(
        () => make(bad),
        (e: unknown) => e instanceof KeyUriError && !e.message.includes('pw@'),
        bad,
      );
    assert.throws(
      () =>
        make('https://myvault.vault.azure.net/keys/berth', 5000, {
          azureKeyVault: { clientSecretFile: providers.azureKeyVault!.clientSecretFile },
        }),
      (e: unknown) => e instanceof KeyProviderConfigError && /tenantId and \.clientId/.test(e.message),
    );
    // Without a client secret: DefaultAzureCredential (managed or workload identity), made on first use.
    assert.equal(make('https://myvault.vault.azure.net/keys/berth', 5000, {}).id, 'https://myvault.vault.azure.net/keys/berth');
  });
});
