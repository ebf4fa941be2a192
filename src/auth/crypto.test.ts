import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashPassword, PASSWORD_HASH_COST, verifyPassword } from './crypto.js';

// Password hashes carry their own scrypt parameters: the configured cost applies to new hashes
// only, and verification always uses what the hash recorded.

const params = (stored: string) => {
  const [alg, N, r, p] = stored.split('$');
  return { alg, N: Number(N), r: Number(r), p: Number(p) };
};

describe('password hash cost', () => {
  test('the default is 15 (N=2^15, r=8, p=1), the strength before the cost was configurable', async () => {
    assert.equal(PASSWORD_HASH_COST.default, 15);
    assert.deepEqual(params(await hashPassword('correct horse battery')), { alg: 'scrypt', N: 2 ** 15, r: 8, p: 1 });
  });

  test('a hash records N=2^cost', async () => {
    assert.equal(params(await hashPassword('correct horse battery', 10)).N, 2 ** 10);
    assert.equal(params(await hashPassword('correct horse battery', 11)).N, 2 ** 11);
  });

  test('verification uses the parameters stored with the hash, whatever cost made it', async () => {
    for (const cost of [10, 11, 12]) {
      const stored = await hashPassword('correct horse battery', cost);
      assert.equal(await verifyPassword('correct horse battery', stored), true, `cost ${cost}`);
      assert.equal(await verifyPassword('correct horse battery!', stored), false, `cost ${cost}, wrong password`);
    }
  });

  test('a hash whose recorded N was altered no longer verifies', async () => {
    const stored = await hashPassword('correct horse battery', 10);
    assert.equal(await verifyPassword('correct horse battery', stored.replace(/^scrypt\$1024\$/, 'scrypt$2048$')), false);
  });

  test('costs below the floor or above the ceiling are refused', async () => {
    for (const cost of [PASSWORD_HASH_COST.min - 1, PASSWORD_HASH_COST.max + 1, 12.5, Number.NaN]) {
      await assert.rejects(hashPassword('correct horse battery', cost), RangeError, String(cost));
    }
  });
});
