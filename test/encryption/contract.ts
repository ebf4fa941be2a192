import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import {
  KeyProviderTimeoutError,
  KeyProviderUnavailableError,
  KeyUnwrapError,
  type KeyProvider,
} from '../../src/storage/encryption/keys.js';

// The contract every key provider keeps, whatever is behind it: what the registry's encryption
// (create, rotate-key, revocation, restarts) relies on. Each provider's test file runs it against
// its real or faithfully faked service, with every provider made by keyProviderFor.

export interface ContractHarness {
  /** The key under test, through keyProviderFor, bounded by timeoutMs (default: a generous bound). */
  provider(timeoutMs?: number): KeyProvider;
  /** Another key of the same kind (same service, same credentials). */
  otherKey(): KeyProvider;
  /** The same kind of key at a place that does not answer (nothing listening, token absent). */
  unreachable(): KeyProvider;
  /** Take away Berth's access to the key (policy, permission, key usage), and give it back. */
  revoke(): Promise<void>;
  restore(): Promise<void>;
  /** Make the service stop answering (and answer again). */
  hang(): Promise<void>;
  unhang(): Promise<void>;
  /** The key's version a wrap uses now, and a rotation of the key: its new version. */
  currentVersion: string;
  rotate(): Promise<string>;
  /** Secrets the provider was configured with: no error message may contain them. */
  secrets: string[];
}

export function providerContract(name: string, h: () => ContractHarness): void {
  describe(`${name}: the key provider contract`, () => {
    const messages: string[] = [];
    /** assert.rejects with an error class, keeping the message for the secrets check. */
    const rejects = async (p: Promise<unknown>, cls: new (...a: never[]) => Error, what: string) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof cls, `${what}: expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
        messages.push(e.message);
        return true;
      });
    };
    after(async () => {
      await h().unhang();
      await h().restore();
    });

    test('wraps and unwraps a data key; the wrapped form is not the key', async () => {
      const p = h().provider();
      const dek = randomBytes(32);
      const { wrapped, keyVersion } = await p.wrap(dek);
      assert.equal(keyVersion, h().currentVersion);
      assert.equal(wrapped.includes(dek), false);
      assert.deepEqual(await p.unwrap(wrapped, keyVersion), dek);
      // and again with a provider made anew (a restart)
      assert.deepEqual(await h().provider().unwrap(wrapped, keyVersion), dek);
    });

    test('another key, a damaged wrapped key or an unknown version: KeyUnwrapError', async () => {
      const p = h().provider();
      const other = await h().otherKey().wrap(randomBytes(32));
      await rejects(p.unwrap(other.wrapped, other.keyVersion), KeyUnwrapError, 'wrapped by another key');
      const mine = await p.wrap(randomBytes(32));
      const damaged = Buffer.from(mine.wrapped);
      damaged[damaged.length - 1]! ^= 0x01;
      await rejects(p.unwrap(damaged, mine.keyVersion), KeyUnwrapError, 'damaged');
      await rejects(p.unwrap(mine.wrapped, 'no-such-version'), KeyUnwrapError, 'unknown version');
      // the provider still works after refusals
      assert.equal((await p.unwrap(mine.wrapped, mine.keyVersion)).length, 32);
    });

    test('revoked: unwrap and wrap refuse with KeyUnwrapError; restored: the same wrapped key unwraps again', async () => {
      const p = h().provider();
      const dek = randomBytes(32);
      const { wrapped, keyVersion } = await p.wrap(dek);
      await h().revoke();
      try {
        await rejects(p.unwrap(wrapped, keyVersion), KeyUnwrapError, 'unwrap while revoked');
        await rejects(h().provider().unwrap(wrapped, keyVersion), KeyUnwrapError, 'unwrap while revoked, new provider');
        await rejects(p.wrap(randomBytes(32)), KeyUnwrapError, 'wrap while revoked');
      } finally {
        await h().restore();
      }
      assert.deepEqual(await p.unwrap(wrapped, keyVersion), dek);
    });

    test('unreachable: KeyProviderUnavailableError', async () => {
      const p = h().unreachable();
      await rejects(p.wrap(randomBytes(32)), KeyProviderUnavailableError, 'wrap');
      await rejects(p.unwrap(randomBytes(60), h().currentVersion), KeyProviderUnavailableError, 'unwrap');
    });

    test('a service that stops answering: KeyProviderTimeoutError at the bound, and it recovers', async () => {
      // wrapped without a tight bound: only the calls made while it hangs are timed
      const { wrapped, keyVersion } = await h().provider().wrap(randomBytes(32));
      const p = h().provider(500);
      await h().hang();
      try {
        await assert.rejects(
          p.unwrap(wrapped, keyVersion),
          (e: unknown) => e instanceof KeyProviderTimeoutError && e.ms === 500 && e.op === 'unwrap',
        );
        await assert.rejects(p.wrap(randomBytes(32)), (e: unknown) => e instanceof KeyProviderTimeoutError && e.op === 'wrap');
      } finally {
        await h().unhang();
      }
      assert.equal((await h().provider().unwrap(wrapped, keyVersion)).length, 32);
    });

    test('rotation: a key wrapped under the old version still unwraps; a new wrap uses the new version', async () => {
      const p = h().provider();
      const dek = randomBytes(32);
      const old = await p.wrap(dek);
      const before = h().currentVersion;
      assert.equal(old.keyVersion, before);
      const next = await h().rotate();
      assert.notEqual(next, before);
      assert.deepEqual(await p.unwrap(old.wrapped, old.keyVersion), dek);
      // rewrap (rotate-key): the same DEK under the new version, both forms unwrap
      const rewrapped = await p.wrap(dek);
      assert.equal(rewrapped.keyVersion, next);
      assert.deepEqual(await h().provider().unwrap(rewrapped.wrapped, rewrapped.keyVersion), dek);
      assert.deepEqual(await h().provider().unwrap(old.wrapped, old.keyVersion), dek);
    });

    test('no error message carries a secret', () => {
      assert.ok(messages.length >= 8, `errors were collected (${messages.length})`);
      for (const m of messages) for (const s of h().secrets) assert.equal(m.includes(s), false, `a message carries a secret: ${m}`);
    });
  });
}
