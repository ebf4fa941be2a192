import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, basicAuthHeader as basic, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';

// The root catalog (/v2/_catalog, path-style) lists the repositories of every registry the caller
// may list. Who may list which registry comes from the caller's own grants (a deployment-wide role:
// all; registry-scoped roles: those registries; a registry's admin user: its registry), never from
// a walk over every registry, and a deployment-wide grant is carried in a token as "all", so a
// catalog token does not grow with the number of registries.

for (const backend of BACKENDS) {
  describe(`root catalog reach on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    const regs: string[] = [];
    const owner = adminAuthHeader();

    async function api(method: string, path: string, body?: unknown): Promise<Response> {
      const res = await t.fetch(`${t.url}${path}`, {
        method,
        headers: { Authorization: owner, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
      return res;
    }

    async function catalog(auth: string): Promise<{ status: number; repositories: string[] }> {
      const res = await t.fetch(`${t.url}/v2/_catalog?n=1000`, { headers: { Authorization: auth } });
      const body = res.ok ? ((await res.json()) as { repositories: string[] }) : { repositories: [] };
      return { status: res.status, repositories: body.repositories };
    }

    async function catalogToken(auth: string): Promise<string> {
      const res = await t.fetch(`${t.url}/oauth2/token?service=${encodeURIComponent(t.host)}&scope=registry:catalog:*`, {
        headers: { Authorization: auth },
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { token: string }).token;
    }

    const claims = (token: string) =>
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        access: { actions: string[]; rid: number[]; all?: true }[];
      };

    before(async () => {
      t = await startTestApp(backend);
      const v2 = t.v2();
      for (const name of ['reacha', 'reachb', 'reachc']) {
        regs.push(await t.createRegistry(`${name}${process.pid}`, 'Standard'));
        await v2.pushImage(`${regs.at(-1)}/app`, 'v1');
      }
      const [a, b] = regs;
      for (const [user, role, scope] of [
        ['reach.everything', 'Reader', '/'],
        ['reach.one', 'Reader', `/registries/${a}`],
        ['reach.repo', 'AcrPull', `/registries/${b}/repositories/app`],
      ] as const) {
        await api('POST', '/api/users', { name: user, password: `${user}-password-1` });
        await api('POST', '/api/role-assignments', { assignee: user, role, scope });
      }
    });
    after(() => t?.close());

    test('a deployment-wide Reader lists every registry; its token says "all" and stays small as registries are added', async () => {
      const auth = basic('reach.everything', 'reach.everything-password-1');
      const live = await catalog(auth);
      assert.equal(live.status, 200);
      for (const r of regs) assert.ok(live.repositories.includes(`${r}/app`), `${r}/app listed`);
      const before = await catalogToken(auth);
      assert.deepEqual(claims(before).access[0], { type: 'registry', name: 'catalog', actions: ['*'], rid: [], all: true });
      for (let i = 0; i < 40; i++) await t.createRegistry(`reachmore${i}x${process.pid}`);
      const later = await catalogToken(auth);
      assert.ok(Math.abs(later.length - before.length) < 8, `token grew from ${before.length} to ${later.length} characters`);
      // The token lists the same repositories as the live check.
      const viaToken = await catalog(`Bearer ${later}`);
      assert.deepEqual(viaToken.repositories, (await catalog(auth)).repositories);
    });

    test("a registry-scoped Reader lists only that registry's repositories, live and through a token", async () => {
      const auth = basic('reach.one', 'reach.one-password-1');
      assert.deepEqual((await catalog(auth)).repositories, [`${regs[0]}/app`]);
      const token = await catalogToken(auth);
      const entry = claims(token).access[0]!;
      assert.equal(entry.all, undefined);
      assert.equal(entry.rid.length, 1);
      assert.deepEqual((await catalog(`Bearer ${token}`)).repositories, [`${regs[0]}/app`]);
    });

    test("a repository-scoped role and a registry's admin user: no catalog, and only its own registry", async () => {
      assert.equal((await catalog(basic('reach.repo', 'reach.repo-password-1'))).status, 403);
      const c = regs[2]!;
      await api('PATCH', `/api/registries/${c}`, { adminUserEnabled: true });
      const shown = (await (await api('GET', `/api/registries/${c}/credentials`)).json()) as {
        username: string;
        passwords: { value: string }[];
      };
      assert.deepEqual((await catalog(basic(shown.username, shown.passwords[0]!.value))).repositories, [`${c}/app`]);
      await api('PATCH', `/api/registries/${c}`, { adminUserEnabled: false });
      assert.equal((await catalog(basic(shown.username, shown.passwords[0]!.value))).status, 401);
    });
  });
}
