import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { KeyFileError, KeyProviderTimeoutError, KeyUnwrapError, LocalKeyFileProvider, withTimeout, type KeyProvider } from './keys.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content?: string) => {
  const f = path.join(dir, name);
  if (content !== undefined) writeFileSync(f, content);
  return f;
};

describe('local key file provider', () => {
  test('wraps and unwraps a data key; the wrapped form is not the key', async () => {
    const p = new LocalKeyFileProvider(file('a', randomBytes(32).toString('base64') + '\n'));
    const dek = randomBytes(32);
    const { wrapped, keyVersion } = await p.wrap(dek);
    assert.equal(wrapped.length, 40);
    assert.equal(wrapped.includes(dek), false);
    assert.deepEqual(await p.unwrap(wrapped, keyVersion), dek);
  });

  test('another key file cannot unwrap it: KeyUnwrapError names the key', async () => {
    const a = new LocalKeyFileProvider(file('b1', randomBytes(32).toString('base64')));
    const bFile = file('b2', randomBytes(32).toString('base64'));
    const b = new LocalKeyFileProvider(bFile);
    const { wrapped, keyVersion } = await a.wrap(randomBytes(32));
    await assert.rejects(
      () => b.unwrap(wrapped, keyVersion),
      (e: unknown) => e instanceof KeyUnwrapError && e.message.includes(bFile) && e.keyId === `file:${bFile}`,
    );
  });

  test('a missing or malformed file is a KeyFileError naming the file', () => {
    for (const [name, content] of [
      ['missing', undefined],
      ['short', randomBytes(16).toString('base64')],
      ['long', randomBytes(33).toString('base64')],
      ['not base64', 'this is not a key at all, not base64!!'],
      ['empty', ''],
    ] as const) {
      const f = file(`bad-${name.replace(' ', '-')}`, content);
      assert.throws(
        () => new LocalKeyFileProvider(f),
        (e: unknown) => e instanceof KeyFileError && e.file === f && e.message.includes(f),
        name,
      );
    }
  });

  test('created 0600 when missing and told to; then read back as the same key', async () => {
    const f = file('created');
    const p = new LocalKeyFileProvider(f, { create: true });
    assert.equal(statSync(f).mode & 0o777, 0o600);
    const { wrapped, keyVersion } = await p.wrap(Buffer.alloc(32, 7));
    assert.deepEqual(await new LocalKeyFileProvider(f).unwrap(wrapped, keyVersion), Buffer.alloc(32, 7));
  });
});

describe('provider timeouts', () => {
  test('a provider that never answers fails with KeyProviderTimeoutError', async () => {
    const hung: KeyProvider = { id: 'fake:hung', wrap: () => new Promise(() => {}), unwrap: () => new Promise(() => {}) };
    const p = withTimeout(hung, 50);
    await assert.rejects(
      () => p.wrap(randomBytes(32)),
      (e: unknown) => e instanceof KeyProviderTimeoutError && e.message.includes('fake:hung'),
    );
    await assert.rejects(() => p.unwrap(randomBytes(40), '1'), KeyProviderTimeoutError);
  });

  test('answers in time pass through, errors too', async () => {
    const ok = withTimeout(new LocalKeyFileProvider(file('t', randomBytes(32).toString('base64'))), 1000);
    const { wrapped, keyVersion } = await ok.wrap(Buffer.alloc(32, 1));
    assert.deepEqual(await ok.unwrap(wrapped, keyVersion), Buffer.alloc(32, 1));
    await assert.rejects(() => ok.unwrap(randomBytes(40), keyVersion), KeyUnwrapError);
  });
});
