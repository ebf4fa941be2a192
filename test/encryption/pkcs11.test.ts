import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeyUnwrapError } from '../../src/storage/encryption/keys.js';
import {
  keyProviderFor,
  KeyProviderConfigError,
  KeyUriError,
  type KeyProvidersConfig,
} from '../../src/storage/encryption/providers/index.js';
import { parsePkcs11Uri } from '../../src/storage/encryption/providers/pkcs11.js';
import { requireTool, run } from '../e2e/helpers.js';
import { IN_CI } from '../helpers/backends.js';
import { removeDir, tempDir } from '../helpers/berth-process.js';
import { providerContract } from './contract.js';
import { loadPkcs11js, makeSoftHsm, TokenAdmin, type SoftHsm } from './softhsm.js';

// PKCS#11 through keyProviderFor and pkcs11js, against a SoftHSM2 token made for this run: AES-256
// keys in the token encrypt the DEK with CKM_AES_GCM. The provider loads a pass-through module in
// front of SoftHSM that can be made to hang; revocation clears the keys' CKA_ENCRYPT/CKA_DECRYPT.

const tools = requireTool('softhsm2-util', 'cc');
const pk = loadPkcs11js();
if (!pk && IN_CI) throw new Error('CI=true: needs the pkcs11js package');
const skip = tools.skip ?? (pk ? undefined : 'needs the pkcs11js package');

const TOKEN = 'berth-test';
let dir = '';
let hsm: SoftHsm;
let admin: TokenAdmin;
let providers: KeyProvidersConfig = {};
let version = 1;

before(() => {
  if (skip) return;
  dir = tempDir('pkcs11');
  hsm = makeSoftHsm(dir, TOKEN);
  admin = new TokenAdmin(pk, hsm);
  admin.generateAes('berth', 1);
  admin.generateAes('other', 1);
  providers = { pkcs11: { module: hsm.hangModule, pinFile: hsm.pinFile } };
});
after(() => {
  if (hsm) rmSync(hsm.hangFile, { force: true });
  removeDir(dir);
});

const make = (uri: string, timeoutMs = 15_000, p: KeyProvidersConfig = providers) => keyProviderFor(uri, { timeoutMs, providers: p });
const hex = (n: number) => n.toString(16).padStart(2, '0');

describe('PKCS#11 key provider (SoftHSM2)', { skip }, () => {
  providerContract('pkcs11', () => ({
    provider: (timeoutMs) => make(`pkcs11:token=${TOKEN};object=berth`, timeoutMs),
    otherKey: () => make(`pkcs11:token=${TOKEN};object=other`),
    unreachable: () => make('pkcs11:token=unplugged;object=berth'),
    revoke: () => Promise.resolve(admin.setUsable('berth', false)),
    restore: () => Promise.resolve(admin.setUsable('berth', true)),
    hang: () => Promise.resolve(writeFileSync(hsm.hangFile, '')),
    unhang: () => Promise.resolve(rmSync(hsm.hangFile, { force: true })),
    get currentVersion() {
      return `aes-gcm:${hex(version)}`;
    },
    rotate: () => {
      version += 1;
      admin.generateAes('berth', version);
      return Promise.resolve(`aes-gcm:${hex(version)}`);
    },
    secrets: [hsm.pin],
  }));

  test('id= in the URI pins one key version, whatever is newer', async () => {
    const pinned = make(`pkcs11:token=${TOKEN};object=berth;id=%01`);
    const dek = randomBytes(32);
    const { wrapped, keyVersion } = await pinned.wrap(dek);
    assert.equal(keyVersion, 'aes-gcm:01');
    assert.deepEqual(await make(`pkcs11:token=${TOKEN};object=berth`).unwrap(wrapped, keyVersion), dek);
  });

  test('a wrong PIN is a refusal, offered to the token once (no lockout by retries), in a process of its own', async () => {
    // Another process: in this one the administrator's session has logged the token in already.
    const wrongPin = path.join(dir, 'wrong-pin');
    writeFileSync(wrongPin, 'not-the-pin\n');
    const index = new URL('../../src/storage/encryption/providers/index.js', import.meta.url).href;
    const script = `
      const { keyProviderFor } = await import(${JSON.stringify(index)});
      const p = keyProviderFor('pkcs11:token=${TOKEN};object=berth', { timeoutMs: 15000, providers: { pkcs11: { module: ${JSON.stringify(hsm.hangModule)}, pinFile: ${JSON.stringify(wrongPin)} } } });
      for (let i = 0; i < 2; i++) await p.wrap(Buffer.alloc(32)).then(() => console.log('wrapped'), (e) => console.log(e.name + ': ' + e.message));`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { env: { SOFTHSM2_CONF: hsm.conf } });
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout + r.stderr);
    assert.match(lines[0]!, /^KeyUnwrapError: .*CKR_PIN_INCORRECT/);
    assert.match(lines[1]!, /^KeyUnwrapError: .*refused the PIN .*not tried again until the file changes/);
    assert.ok(!r.stdout.includes('not-the-pin') && !r.stdout.includes(hsm.pin));
  });

  test('a label with no key in the token is a refusal naming the label', async () => {
    await assert.rejects(
      make(`pkcs11:token=${TOKEN};object=nothing`).wrap(randomBytes(32)),
      (e: unknown) => e instanceof KeyUnwrapError && /nothing/.test(e.message),
    );
  });

  test('URIs: RFC 7512 attributes, percent-encoded; no PIN or module in the URI (and never echoed)', () => {
    assert.deepEqual(parsePkcs11Uri('pkcs11:token=My%20HSM;object=kek;id=%0a%ff'), {
      token: 'My HSM',
      object: 'kek',
      id: Buffer.from([0x0a, 0xff]),
    });
    assert.deepEqual(parsePkcs11Uri('pkcs11:object=kek;token=t;type=secret-key'), { token: 't', object: 'kek' });
    for (const bad of [
      'pkcs11:token=t;object=kek?pin-value=123456',
      'pkcs11:token=t;object=kek?module-path=/usr/lib/x.so',
      'pkcs11:token=t',
      'pkcs11:object=kek',
      'pkcs11:token=t;object=kek;type=private',
      'pkcs11:token=t;object=kek;pin=1',
      'pkcs11:token=t;object=%zz',
    ])
      assert.throws(
        () => make(bad),
        (e: unknown) => e instanceof KeyUriError && !e.message.includes('123456'),
        bad,
      );
    assert.throws(
      () => make(`pkcs11:token=${TOKEN};object=berth`, 5000, { pkcs11: { module: hsm.hangModule } }),
      (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('pinFile'),
    );
    assert.throws(
      () => make(`pkcs11:token=${TOKEN};object=berth`, 5000, { pkcs11: { module: `${dir}/missing.so`, pinFile: hsm.pinFile } }),
      (e: unknown) => e instanceof KeyProviderConfigError && e.message.includes('missing.so'),
    );
  });
});
