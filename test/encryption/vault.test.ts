import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
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
import { FakeVault } from './fake-vault.js';
import { selfSignedCert } from '../helpers/tls.js';

// Vault transit through keyProviderFor, against an in-process Vault transit over HTTPS (a
// throwaway certificate trusted through storage.encryption.providers.vault.caFile).

const tool = requireTool('openssl');
const vault = new FakeVault();
let dir = '';
let providers: KeyProvidersConfig = {};
let closedPort = 0;

before(async () => {
  if (tool.skip) return;
  dir = tempDir('vault');
  const tls = selfSignedCert(dir);
  await vault.start(tls);
  vault.createKey('berth');
  vault.createKey('other');
  vault.namespace = 'team-a';
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, vault.token + '\n', { mode: 0o600 });
  providers = { vault: { tokenFile, namespace: 'team-a', caFile: tls.caFile } };
  closedPort = await freePort();
});
after(async () => {
  await vault.stop();
  removeDir(dir);
});

const make = (uri: string, timeoutMs = 15_000, p: KeyProvidersConfig = providers) => keyProviderFor(uri, { timeoutMs, providers: p });

describe('Vault transit key provider', { skip: tool.skip }, () => {
  providerContract('vault', () => ({
    provider: (timeoutMs) => make(vault.uri('berth'), timeoutMs),
    otherKey: () => make(vault.uri('other')),
    unreachable: () => make(`vault+https://127.0.0.1:${closedPort}/transit/keys/berth`),
    revoke: () => Promise.resolve(void (vault.revoked = true)),
    restore: () => Promise.resolve(void (vault.revoked = false)),
    hang: () => Promise.resolve(void (vault.hanging = true)),
    unhang: () => Promise.resolve(vault.release()),
    get currentVersion() {
      return String(vault.keys.get('berth')!.versions.length);
    },
    rotate: () => Promise.resolve(String(vault.rotate('berth'))),
    secrets: [vault.token],
  }));

  test('sends the token and the namespace; the token file is read again on each call (a renewed token is used)', async () => {
    const p = make(vault.uri('berth'));
    const { wrapped, keyVersion } = await p.wrap(randomBytes(32));
    const last = vault.seen[vault.seen.length - 1]!;
    assert.equal(last['x-vault-token'], vault.token);
    assert.equal(last['x-vault-namespace'], 'team-a');
    const old = vault.token;
    vault.token = `hvs.${randomBytes(18).toString('base64url')}`;
    try {
      await assert.rejects(
        p.unwrap(wrapped, keyVersion),
        (e: unknown) => e instanceof KeyUnwrapError && /HTTP 403: permission denied/.test(e.message),
      );
      writeFileSync(providers.vault!.tokenFile!, vault.token);
      assert.equal((await p.unwrap(wrapped, keyVersion)).length, 32);
    } finally {
      vault.token = old;
      writeFileSync(providers.vault!.tokenFile!, old);
    }
  });

  test('a token file gone at call time is unavailability naming the file, not a refusal', async () => {
    const tokenFile = path.join(dir, 'token-gone');
    writeFileSync(tokenFile, vault.token);
    const p = make(vault.uri('berth'), 5000, { vault: { ...providers.vault, tokenFile } });
    rmSync(tokenFile);
    await assert.rejects(
      p.wrap(randomBytes(32)),
      (e: unknown) => e instanceof KeyProviderUnavailableError && e.message.includes(tokenFile),
    );
  });

  test('sealed (503) and rate-limited (429) are unavailable, not refusals', async () => {
    const p = make(vault.uri('berth'));
    for (const status of [503, 429, 500]) {
      vault.failWith = status;
      try {
        await assert.rejects(
          p.wrap(randomBytes(32)),
          (e: unknown) => e instanceof KeyProviderUnavailableError && e.message.includes(`HTTP ${status}`),
        );
      } finally {
        vault.failWith = undefined;
      }
    }
  });

  test('a version below min_decryption_version is refused as Vault refuses it', async () => {
    const p = make(vault.uri('other'));
    const { wrapped, keyVersion } = await p.wrap(randomBytes(32));
    vault.rotate('other');
    vault.keys.get('other')!.minDecryptionVersion = 2;
    await assert.rejects(
      p.unwrap(wrapped, keyVersion),
      (e: unknown) => e instanceof KeyUnwrapError && /disallowed by policy/.test(e.message),
    );
  });

  test('a wrong mount or an unknown key name is a refusal', async () => {
    await assert.rejects(make(`vault+https://127.0.0.1:${vault.port}/kms/keys/berth`).wrap(randomBytes(32)), KeyUnwrapError);
    await assert.rejects(make(vault.uri('missing')).unwrap(randomBytes(44), '1'), KeyUnwrapError);
  });

  test('without caFile the self-signed Vault is not trusted', async () => {
    const p = make(vault.uri('berth'), 5000, { vault: { ...providers.vault, caFile: '' } });
    await assert.rejects(
      p.wrap(randomBytes(32)),
      (e: unknown) => e instanceof KeyProviderUnavailableError && /certificate/.test(e.message),
    );
  });

  test('URIs: credentials, queries and bad paths are refused; a missing token is a configuration error that names the setting', () => {
    for (const bad of [
      `vault+https://root:${vault.token}@127.0.0.1:8200/transit/keys/berth`,
      'vault+https://127.0.0.1:8200/transit/keys/berth?token=x',
      'vault+https://127.0.0.1:8200/transit/berth',
      'vault+https://127.0.0.1:8200/keys/berth',
      'vault+https://127.0.0.1:8200/transit/keys/',
      'vault+https://127.0.0.1:8200/transit/keys/a/b',
    ])
      assert.throws(
        () => make(bad),
        (e: unknown) => e instanceof KeyUriError && !e.message.includes(vault.token),
        bad,
      );
    assert.throws(
      () => make(vault.uri('berth'), 5000, {}),
      (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('storage.encryption.providers.vault.tokenFile'),
    );
    assert.throws(
      () => make(vault.uri('berth'), 5000, { vault: { tokenFile: path.join(dir, 'no-such-file') } }),
      (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('no-such-file'),
    );
    // a mount path of several segments is fine
    assert.equal(
      make(`vault+http://vault.internal:8200/kms/transit/keys/berth-1`).id,
      'vault+http://vault.internal:8200/kms/transit/keys/berth-1',
    );
  });
});
