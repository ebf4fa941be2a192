import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { KEY_URI_SCHEMES, keyProviderFor, KeyProviderConfigError, KeyUriError } from './index.js';
import { parseAzureKeyUri } from './azure-key-vault.js';
import { parseVaultUri } from './vault.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-key-uris-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('each scheme has its provider; the provider keeps the URI as its id', async () => {
  const kek = path.join(dir, 'kek');
  writeFileSync(kek, randomBytes(32).toString('base64'));
  const file = keyProviderFor(pathToFileURL(kek).href, { timeoutMs: 1000 });
  const { wrapped, keyVersion } = await file.wrap(Buffer.alloc(32, 1));
  assert.deepEqual(await file.unwrap(wrapped, keyVersion), Buffer.alloc(32, 1));
  const token = path.join(dir, 'token');
  writeFileSync(token, 'hvs.x');
  const providers = { vault: { tokenFile: token } };
  for (const uri of ['vault+https://vault.example:8200/transit/keys/berth', 'https://myvault.vault.azure.net/keys/berth/0123abcd'])
    assert.equal(keyProviderFor(uri, { timeoutMs: 1000, providers }).id, uri);
  assert.deepEqual(KEY_URI_SCHEMES, ['file:', 'vault+https:', 'vault+http:', 'https:', 'pkcs11:']);
});

test('an unknown scheme lists the supported ones, and credentials in a URI are never echoed', () => {
  assert.throws(
    () => keyProviderFor('s3://AKIA:hunter2@bucket/key?sig=abc', { timeoutMs: 1000 }),
    (e: unknown) =>
      e instanceof KeyUriError &&
      e.message.includes('vault+https:, vault+http:, https:, pkcs11:') &&
      !e.message.includes('hunter2') &&
      !e.message.includes('sig=abc'),
  );
  assert.throws(() => keyProviderFor('not a uri', { timeoutMs: 1000 }), KeyUriError);
});

test('a provider without its credentials is a configuration error naming the setting', () => {
  assert.throws(
    () => keyProviderFor('vault+https://vault.example/transit/keys/berth', { timeoutMs: 1000 }),
    (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('storage.encryption.providers.vault'),
  );
  assert.throws(
    () => keyProviderFor('pkcs11:token=t;object=k', { timeoutMs: 1000, providers: {} }),
    (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('storage.encryption.providers.pkcs11.module'),
  );
});

test('Vault and Key Vault URIs parse into their parts', () => {
  assert.deepEqual(parseVaultUri('vault+https://vault.example:8200/kms/transit/keys/berth'), {
    origin: 'https://vault.example:8200',
    protocol: 'https:',
    mount: 'kms/transit',
    name: 'berth',
  });
  assert.deepEqual(parseAzureKeyUri('https://myvault.vault.azure.net/keys/berth'), {
    vaultUrl: 'https://myvault.vault.azure.net',
    name: 'berth',
    version: '',
  });
  assert.equal(
    parseAzureKeyUri('https://myvault.vault.azure.net/keys/berth/78deebed173b48e48f55abf87ed4cf71').version,
    '78deebed173b48e48f55abf87ed4cf71',
  );
});
