import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../src/auth/crypto.js';
import { adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';

// auth.passwordHashCost: new password hashes use the configured cost; every stored hash is
// checked with the parameters it recorded, so a deployment whose cost changed keeps signing in
// users whose passwords were set before.

const scryptN = (stored: string) => Number(stored.split('$')[1]);

for (const cost of [10, 15]) {
  const other = cost === 10 ? 15 : 10;
  describe(`auth.passwordHashCost ${cost}`, await backendGate('sqlite'), () => {
    let t: TestApp;

    before(async () => {
      t = await startTestApp('sqlite', { auth: { passwordHashCost: cost } });
    });
    after(async () => { await t?.close(); });

    const status = async (auth: string) => (await t.fetch('/v2/', { headers: { Authorization: auth } })).status;

    test(`the owner and users made through the API are hashed with N=2^${cost}`, async () => {
      const store = t.app.services.auth.store;
      assert.equal(scryptN((await store.userByName('admin'))!.password_hash), 2 ** cost);
      const res = await t.fetch('/api/users', {
        method: 'POST', headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `made-at-${cost}`, password: 'made-through-the-api-1' }),
      });
      assert.equal(res.status, 201, await res.text());
      assert.equal(scryptN((await store.userByName(`made-at-${cost}`))!.password_hash), 2 ** cost);
      assert.equal(await status(basicAuthHeader(`made-at-${cost}`, 'made-through-the-api-1')), 200);
    });

    test(`a password hashed at cost ${other} still signs in, with the parameters it was stored with`, async () => {
      const name = `stored-at-${other}`;
      await t.app.services.auth.store.createUser(name, await hashPassword('set-at-another-cost-1', other));
      assert.equal(await status(basicAuthHeader(name, 'set-at-another-cost-2')), 401);
      assert.equal(await status(basicAuthHeader(name, 'set-at-another-cost-1')), 200);
      // Not rehashed on sign-in: the stored hash keeps the cost it was made with.
      assert.equal(scryptN((await t.app.services.auth.store.userByName(name))!.password_hash), 2 ** other);
    });
  });
}
