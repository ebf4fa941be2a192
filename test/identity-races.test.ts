import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Principal } from '../src/auth/service.js';
import { RegistryError } from '../src/domain/errors.js';
import { LastOwnerError } from '../src/meta/access-store.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';

// Two changes fired at once that each pass the identity rules alone but not together: removing
// the last two Owners at "/" (one must be refused, 409 CONFLICT) and creating the same role
// assignment twice (one row; the second caller gets the first's assignment, created: false).
// The store enforces both, so every round must end the same way whichever change wins.

const ROUNDS = 4;

let seq = 0;
const uniq = (prefix: string) => `${prefix}${process.pid % 1000}x${++seq}${randomBytes(2).toString('hex')}`;

for (const backend of BACKENDS) {
  describe(`identity races on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let admin: Principal;
    const store = () => t.app.services.auth.store;
    const ids = () => t.app.services.identities;

    /** A user straight in the store (no slow password hash: these users never log in). */
    async function newUser(): Promise<{ id: number; name: string }> {
      const u = await store().createUser(uniq('racer'), 'not-a-hash');
      assert.ok(u);
      return { id: u.id, name: u.name };
    }

    async function makeOwner(type: 'user' | 'sp', id: number): Promise<string> {
      return (
        await store().addRoleAssignment({ principal_type: type, principal_id: id, role: 'Owner', registry_id: null, repository: null })
      ).id;
    }

    /** Owners at "/" that still count: enabled users and existing service principals. */
    async function activeOwners(): Promise<string[]> {
      const out: string[] = [];
      for (const a of await store().deploymentOwners()) {
        if (a.principal_type === 'user' && (await store().userById(a.principal_id))?.enabled) out.push(a.id);
        if (a.principal_type === 'sp' && (await store().spById(a.principal_id))) out.push(a.id);
      }
      return out;
    }

    /** Exactly one of two racing changes succeeded; the other failed with `isLoserError`. */
    function oneWins(results: PromiseSettledResult<unknown>[], isLoserError: (e: unknown) => boolean): number {
      const won = results.findIndex((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(lost.length, 1, `exactly one change must be refused, got: ${results.map((r) => r.status).join(', ')}`);
      assert.ok(isLoserError(lost[0]!.reason), `unexpected error: ${String(lost[0]!.reason)}`);
      return won;
    }

    const isConflict = (e: unknown) => e instanceof RegistryError && e.code === 'CONFLICT' && /last Owner/.test(e.message);

    before(async () => {
      t = await startTestApp(backend);
      const row = (await store().userByName('admin'))!;
      admin = { kind: 'user', id: row.id, name: row.name };
    });
    after(async () => t?.close());

    test('disabling the last two Owners at once: one is refused with CONFLICT, one Owner remains', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const second = await newUser();
        await makeOwner('user', second.id);
        assert.equal((await activeOwners()).length, 2);
        const results = await Promise.allSettled([
          ids().users.updateUser(admin, 'admin', { enabled: false }),
          ids().users.updateUser(admin, second.name, { enabled: false }),
        ]);
        oneWins(results, isConflict);
        assert.equal((await activeOwners()).length, 1, `round ${round}: exactly one enabled Owner remains`);
        await ids().users.updateUser(admin, 'admin', { enabled: true });
        await ids().users.deleteUser(admin, second.name);
      }
    });

    test('deleting one Owner while disabling the other: one is refused with CONFLICT, one Owner remains', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const second = await newUser();
        await makeOwner('user', second.id);
        const results = await Promise.allSettled([
          ids().users.deleteUser(admin, second.name),
          ids().users.updateUser(admin, 'admin', { enabled: false }),
        ]);
        const won = oneWins(results, isConflict);
        assert.equal((await activeOwners()).length, 1, `round ${round}: exactly one enabled Owner remains`);
        if (won === 1) {
          await ids().users.updateUser(admin, 'admin', { enabled: true });
          await ids().users.deleteUser(admin, second.name);
        }
      }
    });

    test('deleting the last two Owner assignments at once in the store: one is refused, one remains', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const adminOwner = (await store().deploymentOwners()).find((a) => a.principal_type === 'user' && a.principal_id === admin.id)!.id;
        const sp = await store().createServicePrincipal(uniq('racer-sp'));
        const spOwner = await makeOwner('sp', sp.id);
        const results = await Promise.allSettled([store().deleteRoleAssignment(adminOwner), store().deleteRoleAssignment(spOwner)]);
        const won = oneWins(results, (e) => e instanceof LastOwnerError);
        assert.equal((await activeOwners()).length, 1, `round ${round}: exactly one Owner remains`);
        if (won === 0) await makeOwner('user', admin.id);
        await store().deleteServicePrincipal(sp.id);
      }
    });

    test('the same role assignment created twice at once is stored once; the second caller gets it with created: false', async () => {
      const reg = await t.createRegistry();
      for (let round = 0; round < ROUNDS; round++) {
        const u = await newUser();
        const input = { assignee: u.name, role: 'AcrPush', scope: `/registries/${reg}` };
        const [a, b] = await Promise.all([
          ids().roleAssignments.createRoleAssignment(admin, input),
          ids().roleAssignments.createRoleAssignment(admin, input),
        ]);
        assert.deepEqual([a.created, b.created].sort(), [false, true], `round ${round}: exactly one call creates it`);
        assert.equal(a.assignment.id, b.assignment.id);
        assert.equal((await store().assignmentsOf('user', u.id)).length, 1, `round ${round}: one assignment stored`);
      }
    });

    test('the same role assignment added twice at once in the store is stored once', async () => {
      const registry = (await t.app.services.registries.find(await t.createRegistry()))!;
      for (let round = 0; round < ROUNDS; round++) {
        const u = await newUser();
        const a = { principal_type: 'user', principal_id: u.id, role: 'AcrPull', registry_id: registry.id, repository: 'team/*' };
        const [x, y] = await Promise.all([store().addRoleAssignment(a), store().addRoleAssignment(a)]);
        assert.equal(x.id, y.id, `round ${round}: both calls return the one stored assignment`);
        assert.equal((await store().assignmentsOf('user', u.id)).length, 1, `round ${round}: one assignment stored`);
      }
    });
  });
}
