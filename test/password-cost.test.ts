import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../src/auth/crypto.js';
import { adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';

// auth.passwordHashCost: new password hashes use the configured cost; every stored hash is
// checked with the parameters it recorded, so a deployment whose cost changed keeps signing in
// users whose passwords were set before. (Each hash at cost 15 is slow: as few as possible here.)

const scryptN = (stored: string) => Number(stored.split('$')[1]);

function deployment(cost: number): { t: () => TestApp } {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('sqlite', { auth: { passwordHashCost: cost } });
  });
  after(async () => {
    await t?.close();
  });
  return { t: () => t };
}

async function signIn(t: TestApp, user: string, password: string): Promise<number> {
  return (await t.fetch('/v2/', { headers: { Authorization: basicAuthHeader(user, password) } })).status;
}

async function storedN(t: TestApp, user: string): Promise<number> {
  return scryptN((await t.app.services.auth.store.userByName(user))!.password_hash);
}

/** A user whose password hash was made at `cost`, whatever the deployment's setting. */
async function userHashedAt(t: TestApp, name: string, password: string, cost: number): Promise<void> {
  await t.app.services.auth.store.createUser(name, await hashPassword(password, cost));
}

describe('auth.passwordHashCost 10 (the floor)', await backendGate('sqlite'), () => {
  const d = deployment(10);

  test('the owner and users made through the API are hashed with N=2^10', async () => {
    const t = d.t();
    assert.equal(await storedN(t, 'admin'), 2 ** 10);
    const res = await t.fetch('/api/users', {
      method: 'POST',
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'made-at-10', password: 'made-through-the-api-1' }),
    });
    assert.equal(res.status, 201, await res.text());
    assert.equal(await storedN(t, 'made-at-10'), 2 ** 10);
    assert.equal(await signIn(t, 'made-at-10', 'made-through-the-api-1'), 200);
  });

  test('a password hashed at 15 still signs in, checked with its own parameters, and is not rehashed', async () => {
    const t = d.t();
    await userHashedAt(t, 'stored-at-15', 'set-at-another-cost-1', 15);
    assert.equal(await signIn(t, 'stored-at-15', 'set-at-another-cost-2'), 401);
    assert.equal(await signIn(t, 'stored-at-15', 'set-at-another-cost-1'), 200);
    assert.equal(await storedN(t, 'stored-at-15'), 2 ** 15);
  });
});

describe('auth.passwordHashCost 15 (the default)', await backendGate('sqlite'), () => {
  const d = deployment(15);

  test('the owner is hashed with N=2^15', async () => {
    assert.equal(await storedN(d.t(), 'admin'), 2 ** 15);
  });

  test('a password hashed at 10 still signs in, checked with its own parameters, and is not rehashed', async () => {
    const t = d.t();
    await userHashedAt(t, 'stored-at-10', 'set-at-another-cost-1', 10);
    assert.equal(await signIn(t, 'stored-at-10', 'set-at-another-cost-2'), 401);
    assert.equal(await signIn(t, 'stored-at-10', 'set-at-another-cost-1'), 200);
    assert.equal(await storedN(t, 'stored-at-10'), 2 ** 10);
  });
});
