import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { basicAuthHeader as basic, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import type { RegistryView } from '../src/services/content/registries.js';
import type {
  AdminCredentialsView,
  AnonymousPullView,
  LoginEventView,
  RoleAssignmentView,
  ScopeMapView,
  ServicePrincipalView,
  TokenPasswordView,
  TokenView,
  UserView,
} from '../src/services/identity/views.js';

// The identity-management API (/api/users, /api/service-principals, /api/role-assignments,
// /api/registries/<r>/{tokens,scope-maps,credentials,anonymous-pull}, /api/audit/logins) on both
// metadata backends: happy paths, refusals, secrets shown once, strict bodies, powers, and end
// to end that what is created authenticates on /v2 with exactly the rights granted.

const OWNER_PASSWORD = 'identity-api-owner-password';
const OWNER = basic('admin', OWNER_PASSWORD);

/** An answer: its status, its body (parsed when it is JSON, of the shape T the test expects), its headers. */
interface Res<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** A listing: { value, nextLink }. */
interface List<T> {
  value: T[];
  nextLink?: string;
}

/** An error answer; D is the detail the test reads. */
interface Errors<D = unknown> {
  errors: { code: string; message: string; detail: D }[];
}

/** A user as the API shows it; password only in the answer that generated it. */
type UserAnswer = UserView & { password?: string };
/** A service principal's new secret (create-for-rbac, credential reset), shown once. */
interface SpSecret {
  appId: string;
  password: string;
  tenant: string;
}
type NewServicePrincipal = SpSecret & { displayName: string; roleAssignment?: RoleAssignmentView };
/** A token's regenerated passwords, values shown once. */
interface NewTokenPasswords {
  username: string;
  passwords: TokenPasswordView[];
}

let seq = 0;
const uniq = (prefix: string) => `${prefix}${process.pid % 1000}x${++seq}${randomBytes(2).toString('hex')}`;

for (const backend of BACKENDS) {
  describe(`identity management API on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;

    async function api<T = unknown>(method: string, path: string, body?: unknown, auth: string | null = OWNER): Promise<Res<T>> {
      const headers: Record<string, string> = {};
      if (auth) headers.Authorization = auth;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await t.fetch(`${t.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed as T, headers: res.headers };
    }

    function expect<T>(r: Res<T>, status: number, code?: string): Res<T> {
      assert.equal(r.status, status, `expected ${status}${code ? ` ${code}` : ''}, got ${r.status}: ${JSON.stringify(r.body)}`);
      if (code) assert.equal((r.body as Partial<Errors> | null | undefined)?.errors?.[0]?.code, code, JSON.stringify(r.body));
      return r;
    }

    async function v2(
      method: string,
      path: string,
      auth: string | null,
      body?: Buffer,
      headers: Record<string, string> = {},
    ): Promise<Response> {
      return t.fetch(`${t.url}/v2/${path}`, { method, body, headers: { ...headers, ...(auth ? { Authorization: auth } : {}) } });
    }

    const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

    /** Pushes a one-layer image as `auth`; returns the manifest PUT status (201 on success). */
    async function push(reg: string, repo: string, auth: string | null, tag = 'v1'): Promise<number> {
      const layer = randomBytes(64);
      const config = Buffer.from('{}');
      for (const b of [layer, config]) {
        const r = await v2('POST', `${reg}/${repo}/blobs/uploads/?digest=${digest(b)}`, auth, b, {
          'Content-Type': 'application/octet-stream',
        });
        if (r.status !== 201) {
          await r.arrayBuffer();
          return r.status;
        }
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length }],
        }),
      );
      const m = await v2('PUT', `${reg}/${repo}/manifests/${tag}`, auth, manifest, {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      });
      await m.arrayBuffer();
      return m.status;
    }

    /** GET a manifest as `auth`; returns the status. */
    async function pull(reg: string, repo: string, auth: string | null, tag = 'v1'): Promise<number> {
      const r = await v2('GET', `${reg}/${repo}/manifests/${tag}`, auth, undefined, {
        Accept: 'application/vnd.oci.image.manifest.v1+json',
      });
      await r.arrayBuffer();
      return r.status;
    }

    async function newUser(password = 'user-password-123'): Promise<{ name: string; auth: string }> {
      const name = uniq('user');
      expect(await api('POST', '/api/users', { name, password }), 201);
      return { name, auth: basic(name, password) };
    }

    async function assign(assignee: string, role: string, scope: string): Promise<string> {
      const r = await api<RoleAssignmentView>('POST', '/api/role-assignments', { assignee, role, scope });
      assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
      return r.body.id;
    }

    async function newRegistry(sku: 'Basic' | 'Standard' | 'Premium' = 'Basic'): Promise<string> {
      const name = uniq('reg').replace(/[^a-z0-9]/g, '');
      expect(await api('POST', '/api/registries', { name, sku }), 201);
      return name;
    }

    before(async () => {
      t = await startTestApp(backend, { auth: { adminPassword: OWNER_PASSWORD, throttle: { perSource: 100_000, perIdentity: 100_000 } } });
    });
    after(async () => t?.close());

    // ---------------------------------------------------------------- users

    test('users: create (chosen or generated password, shown once), list, show, duplicate and invalid names', async () => {
      const name = uniq('alice.dev@');
      const created = expect(await api<UserAnswer>('POST', '/api/users', { name, password: 'correct horse battery' }), 201);
      assert.equal(created.body.name, name);
      assert.equal(created.body.enabled, true);
      assert.equal(created.body.password, undefined, 'a chosen password is never echoed');
      assert.equal(created.headers.get('location'), `/api/users/${encodeURIComponent(name)}`);

      const gen = expect(await api<UserView & { password: string }>('POST', '/api/users', { name: uniq('bob') }), 201);
      assert.equal(typeof gen.body.password, 'string');
      assert.ok(gen.body.password.length >= 32);
      const shown = expect(await api<UserAnswer>('GET', `/api/users/${gen.body.name}`), 200);
      assert.equal(shown.body.password, undefined);
      assert.ok(!JSON.stringify(shown.body).includes(gen.body.password));
      // The generated password works.
      expect(await api('GET', `/api/users/${gen.body.name}`, undefined, basic(gen.body.name, gen.body.password)), 200);

      const list = expect(await api<List<UserView>>('GET', '/api/users'), 200);
      const names = list.body.value.map((u: { name: string }) => u.name);
      assert.ok(names.includes('admin') && names.includes(name));
      assert.ok(!JSON.stringify(list.body).includes('scrypt'), 'no password hashes in views');

      expect(await api('POST', '/api/users', { name: name.toUpperCase(), password: 'another password' }), 409, 'CONFLICT');
      for (const bad of ['ab', 'x'.repeat(65), 'has space', 'semi;colon', 'back\\slash', '0f8fad5b-d9cb-469f-a165-70867728950e']) {
        expect(await api('POST', '/api/users', { name: bad, password: 'long enough password' }), 400, 'REQUEST_INVALID');
      }
      expect(await api('POST', '/api/users', { name: uniq('carol'), password: 'short' }), 400, 'REQUEST_INVALID');
      expect(await api('GET', '/api/users/nosuchuser'), 404, 'RESOURCE_UNKNOWN');
    });

    test('strict bodies: unknown fields are refused, not ignored', async () => {
      const r = expect(
        await api<Errors<{ unknownFields: string[] }>>('POST', '/api/users', {
          name: uniq('mass'),
          password: 'long enough password',
          enabled: true,
          role: 'Owner',
        }),
        400,
        'REQUEST_INVALID',
      );
      assert.match(r.body.errors[0]!.message, /unknown field/);
      assert.deepEqual(r.body.errors[0]!.detail.unknownFields.sort(), ['enabled', 'role']);
      const u = await newUser();
      expect(await api('PATCH', `/api/users/${u.name}`, { isAdmin: true }), 400, 'REQUEST_INVALID');
      expect(
        await api('POST', '/api/role-assignments', { assignee: u.name, role: 'Reader', scope: '/', principalType: 'User' }),
        400,
        'REQUEST_INVALID',
      );
      const reg = await newRegistry();
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, { name: 'tokenmass', scopeMap: '_repositories_pull', passwords: [] }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', `/api/registries/${reg}/scope-maps`, {
          name: 'mapmass',
          actions: ['repositories/a/content/read'],
          type: 'SystemDefined',
        }),
        400,
        'REQUEST_INVALID',
      );
      expect(await api('PATCH', `/api/registries/${reg}`, { name: 'renamed' }), 400, 'REQUEST_INVALID');
      expect(await api('POST', `/api/registries/${reg}/credentials/renew`, { name: 'password', value: 'chosen' }), 400, 'REQUEST_INVALID');
      expect(
        await api('POST', '/api/service-principals', { displayName: 'x', appId: '0f8fad5b-d9cb-469f-a165-70867728950e' }),
        400,
        'REQUEST_INVALID',
      );
      expect(await api('POST', '/api/users', '[1,2]'), 400, 'REQUEST_INVALID');
      expect(await api('POST', '/api/users', '{"name":'), 400, 'REQUEST_INVALID');
      expect(await api('GET', '/api/role-assignments?assigne=x'), 400, 'REQUEST_INVALID');
    });

    test('users: password change, disable and enable, delete; the old credentials stop working at once', async () => {
      const u = await newUser('first-password-1');
      expect(await api('GET', `/api/users/${u.name}`, undefined, u.auth), 200);
      // Changing one's own password needs no role; changing someone else's does.
      const other = await newUser();
      expect(await api('PATCH', `/api/users/${other.name}`, { password: 'hijacked-password' }, u.auth), 403, 'DENIED');
      expect(await api('PATCH', `/api/users/${u.name}`, { enabled: false }, u.auth), 403, 'DENIED');
      expect(await api('PATCH', `/api/users/${u.name}`, { password: 'second-password-2' }, u.auth), 200);
      expect(await api('GET', `/api/users/${u.name}`, undefined, u.auth), 401, 'UNAUTHORIZED');
      const auth2 = basic(u.name, 'second-password-2');
      expect(await api('GET', `/api/users/${u.name}`, undefined, auth2), 200);

      const off = expect(await api<UserAnswer>('PATCH', `/api/users/${u.name}`, { enabled: false }), 200);
      assert.equal(off.body.enabled, false);
      expect(await api('GET', `/api/users/${u.name}`, undefined, auth2), 401, 'UNAUTHORIZED');
      expect(await api('PATCH', `/api/users/${u.name}`, { enabled: true }), 200);
      expect(await api('GET', `/api/users/${u.name}`, undefined, auth2), 200);
      expect(await api('PATCH', `/api/users/${u.name}`, {}), 400, 'REQUEST_INVALID');
      expect(await api('PATCH', `/api/users/${u.name}`, { enabled: 'no' }), 400, 'REQUEST_INVALID');

      expect(await api('DELETE', `/api/users/${u.name}`), 204);
      expect(await api('GET', `/api/users/${u.name}`, undefined, auth2), 401, 'UNAUTHORIZED');
      expect(await api('GET', `/api/users/${u.name}`), 404, 'RESOURCE_UNKNOWN');
      expect(await api('DELETE', `/api/users/${u.name}`), 404, 'RESOURCE_UNKNOWN');
    });

    test('the last Owner at "/" cannot be deleted, disabled or lose the role; with a second Owner it can', async () => {
      expect(await api('DELETE', '/api/users/admin'), 409, 'CONFLICT');
      expect(await api('PATCH', '/api/users/admin', { enabled: false }), 409, 'CONFLICT');
      const owners = expect(await api<List<RoleAssignmentView>>('GET', '/api/role-assignments?assignee=admin&role=Owner&scope=/'), 200).body
        .value;
      assert.equal(owners.length, 1);
      expect(await api('DELETE', `/api/role-assignments/${owners[0]!.id}`), 409, 'CONFLICT');
      // A second owner: now admin's assignment could go (we do not, the suite needs admin), but the
      // second owner's can, since admin remains.
      const second = await newUser();
      const id = await assign(second.name, 'Owner', '/');
      expect(await api('GET', '/api/users', undefined, second.auth), 200);
      expect(await api('DELETE', `/api/role-assignments/${id}`, undefined, second.auth), 204);
      expect(await api('GET', '/api/users', undefined, second.auth), 403, 'DENIED');
    });

    // ---------------------------------------------------------------- role assignments and powers

    test('role assignments: create (az shape), idempotent, list with filters, delete; bad roles and scopes refused', async () => {
      const reg = await newRegistry();
      const u = await newUser();
      const r = expect(
        await api<RoleAssignmentView>('POST', '/api/role-assignments', { assignee: u.name, role: 'acrpull', scope: `/registries/${reg}` }),
        201,
      );
      assert.deepEqual(Object.keys(r.body).sort(), [
        'createdOn',
        'id',
        'name',
        'principalName',
        'principalType',
        'roleDefinitionName',
        'scope',
      ]);
      assert.equal(r.body.principalName, u.name);
      assert.equal(r.body.principalType, 'User');
      assert.equal(r.body.roleDefinitionName, 'AcrPull');
      assert.equal(r.body.scope, `/registries/${reg}`);
      const again = expect(
        await api<RoleAssignmentView>('POST', '/api/role-assignments', { assignee: u.name, role: 'AcrPull', scope: `/registries/${reg}` }),
        200,
      );
      assert.equal(again.body.id, r.body.id);
      const repoScoped = expect(
        await api<RoleAssignmentView>('POST', '/api/role-assignments', {
          assignee: u.name,
          role: 'Container Registry Repository Writer',
          scope: `/registries/${reg}/repositories/team/*`,
        }),
        201,
      );
      assert.equal(repoScoped.body.scope, `/registries/${reg}/repositories/team/*`);

      const mine = expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${u.name}`), 200).body.value;
      assert.equal(mine.length, 2);
      assert.equal(
        expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${u.name}&role=AcrPull`), 200).body.value.length,
        1,
      );
      assert.equal(
        expect(
          await api<List<RoleAssignmentView>>(
            'GET',
            `/api/role-assignments?scope=${encodeURIComponent(`/registries/${reg}/repositories/team/*`)}`,
          ),
          200,
        ).body.value.length,
        1,
      );
      expect(await api('GET', `/api/role-assignments/${r.body.id}`), 200);

      expect(await api('POST', '/api/role-assignments', { assignee: u.name, role: 'SuperUser', scope: '/' }), 400, 'REQUEST_INVALID');
      expect(
        await api('POST', '/api/role-assignments', {
          assignee: u.name,
          role: 'Container Registry Repository Catalog Lister',
          scope: `/registries/${reg}/repositories/team/*`,
        }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', '/api/role-assignments', { assignee: u.name, role: 'Owner', scope: `/registries/${reg}/repositories/app` }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', '/api/role-assignments', { assignee: u.name, role: 'AcrPull', scope: `/registries/${reg}/repositories/team*` }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', '/api/role-assignments', { assignee: u.name, role: 'AcrPull', scope: '/subscriptions/x' }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', '/api/role-assignments', { assignee: u.name, role: 'AcrPull', scope: '/registries/nosuchregistry9' }),
        404,
        'REGISTRY_UNKNOWN',
      );
      expect(
        await api('POST', '/api/role-assignments', { assignee: 'nobody-here', role: 'AcrPull', scope: `/registries/${reg}` }),
        404,
        'RESOURCE_UNKNOWN',
      );
      expect(
        await api('POST', '/api/role-assignments', {
          assignee: '0f8fad5b-d9cb-469f-a165-70867728950e',
          role: 'AcrPull',
          scope: `/registries/${reg}`,
        }),
        404,
        'RESOURCE_UNKNOWN',
      );

      expect(await api('DELETE', `/api/role-assignments/${r.body.id}`), 204);
      expect(await api('DELETE', `/api/role-assignments/${r.body.id}`), 404, 'RESOURCE_UNKNOWN');
      expect(await api('GET', `/api/role-assignments/${r.body.id}`), 404, 'RESOURCE_UNKNOWN');
      assert.equal(
        expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${u.name}`), 200).body.value.length,
        1,
      );
    });

    test('filters treat "_", "%" and "\\" literally: they are not wildcards', async () => {
      const reg = await newRegistry();
      const base = uniq('wc');
      const a = `${base}_1`;
      const b = `${base}x1`;
      for (const name of [a, b]) {
        expect(await api('POST', '/api/users', { name, password: 'long enough password' }), 201);
        await assign(name, 'AcrPull', `/registries/${reg}`);
      }
      const only = expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${encodeURIComponent(a)}`), 200).body
        .value;
      assert.deepEqual(
        only.map((x: { principalName: string }) => x.principalName),
        [a],
      );
      for (const pattern of [`${base}%`, `${base}%1`, `${base}\\_1`, `${base}_%`, '%', '_']) {
        assert.deepEqual(
          expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${encodeURIComponent(pattern)}`), 200).body
            .value,
          [],
          pattern,
        );
      }
      // The scope filter too: "%" is not a repository pattern at all, "_" matches only itself.
      expect(
        await api('GET', `/api/role-assignments?scope=${encodeURIComponent(`/registries/${reg}/repositories/%`)}`),
        400,
        'REQUEST_INVALID',
      );
      await assign(a, 'AcrPush', `/registries/${reg}/repositories/a_b`);
      assert.equal(
        expect(
          await api<List<RoleAssignmentView>>(
            'GET',
            `/api/role-assignments?scope=${encodeURIComponent(`/registries/${reg}/repositories/a_b`)}`,
          ),
          200,
        ).body.value.length,
        1,
      );
      assert.deepEqual(
        expect(
          await api<List<RoleAssignmentView>>(
            'GET',
            `/api/role-assignments?scope=${encodeURIComponent(`/registries/${reg}/repositories/axb`)}`,
          ),
          200,
        ).body.value,
        [],
      );
      // Audit identity filter.
      await api('GET', '/api/users', undefined, basic(a, 'wrong password!!'));
      const hits = expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?identity=${encodeURIComponent(a)}`), 200).body.value;
      assert.ok(hits.length >= 1);
      for (const pattern of [`${base}%`, `${base}_1`.replace('_', '\\_'), '%', `${base}_`]) {
        assert.deepEqual(
          expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?identity=${encodeURIComponent(pattern)}`), 200).body.value,
          [],
          pattern,
        );
      }
    });

    test('powers: a Reader reads but cannot create tokens, scope maps or assignments; registry Owner stays in its registry', async () => {
      const reg = await newRegistry();
      const otherReg = await newRegistry();
      const reader = await newUser();
      await assign(reader.name, 'Reader', `/registries/${reg}`);
      expect(await api('GET', `/api/registries/${reg}`, undefined, reader.auth), 200);
      expect(await api('GET', `/api/registries/${reg}/tokens`, undefined, reader.auth), 200);
      expect(await api('GET', `/api/registries/${reg}/scope-maps`, undefined, reader.auth), 200);
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, { name: 'readertoken', scopeMap: '_repositories_pull' }, reader.auth),
        403,
        'DENIED',
      );
      expect(
        await api(
          'POST',
          `/api/registries/${reg}/scope-maps`,
          { name: 'readermap', actions: ['repositories/a/content/read'] },
          reader.auth,
        ),
        403,
        'DENIED',
      );
      expect(await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: true }, reader.auth), 403, 'DENIED');
      expect(await api('GET', `/api/registries/${reg}/credentials`, undefined, reader.auth), 403, 'DENIED');
      expect(
        await api('POST', '/api/role-assignments', { assignee: reader.name, role: 'Owner', scope: `/registries/${reg}` }, reader.auth),
        403,
        'DENIED',
      );
      expect(await api('POST', '/api/users', { name: uniq('evil'), password: 'long enough password' }, reader.auth), 403, 'DENIED');
      expect(await api('GET', '/api/users', undefined, reader.auth), 403, 'DENIED');
      expect(await api('GET', `/api/registries/${otherReg}/tokens`, undefined, reader.auth), 403, 'DENIED');
      expect(await api('GET', '/api/audit/logins', undefined, reader.auth), 403, 'DENIED');
      expect(await api('GET', `/api/audit/logins?registry=${reg}`, undefined, reader.auth), 200);
      // A Reader sees the assignments of its registry and its own.
      const seen = expect(await api<List<RoleAssignmentView>>('GET', '/api/role-assignments', undefined, reader.auth), 200).body.value;
      assert.ok(seen.every((a: { scope: string }) => a.scope.startsWith(`/registries/${reg}`)));

      const owner = await newUser();
      await assign(owner.name, 'Owner', `/registries/${reg}`);
      const tok = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, { name: 'ownertoken', scopeMap: '_repositories_pull' }, owner.auth),
        201,
      );
      assert.equal(tok.body.credentials.passwords.length, 2);
      expect(
        await api('POST', `/api/registries/${otherReg}/tokens`, { name: 'ownertoken', scopeMap: '_repositories_pull' }, owner.auth),
        403,
        'DENIED',
      );
      const helper = await newUser();
      expect(
        await api('POST', '/api/role-assignments', { assignee: helper.name, role: 'AcrPush', scope: `/registries/${reg}` }, owner.auth),
        201,
      );
      expect(
        await api(
          'POST',
          '/api/role-assignments',
          { assignee: helper.name, role: 'AcrPush', scope: `/registries/${otherReg}` },
          owner.auth,
        ),
        403,
        'DENIED',
      );
      expect(await api('POST', '/api/role-assignments', { assignee: helper.name, role: 'Owner', scope: '/' }, owner.auth), 403, 'DENIED');
      // Contributor writes but cannot assign roles.
      const contributor = await newUser();
      await assign(contributor.name, 'Contributor', `/registries/${reg}`);
      expect(
        await api(
          'POST',
          `/api/registries/${reg}/scope-maps`,
          { name: 'contribmap', actions: ['repositories/a/content/read'] },
          contributor.auth,
        ),
        201,
      );
      expect(
        await api(
          'POST',
          '/api/role-assignments',
          { assignee: helper.name, role: 'AcrPull', scope: `/registries/${reg}` },
          contributor.auth,
        ),
        403,
        'DENIED',
      );
      // Unknown registries look like forbidden ones to callers without deployment read.
      expect(await api('GET', '/api/registries/nosuchregistry7/tokens', undefined, reader.auth), 403, 'DENIED');
      expect(await api('GET', '/api/registries/nosuchregistry7/tokens'), 404, 'REGISTRY_UNKNOWN');
      // No credentials at all.
      expect(await api('GET', '/api/users', undefined, null), 401, 'UNAUTHORIZED');
    });

    // ---------------------------------------------------------------- service principals

    test('service principals: create-for-rbac with a repository-prefix scope; the secret pulls exactly there', async () => {
      const reg = await newRegistry();
      assert.equal(await push(reg, 'team/app', OWNER), 201);
      assert.equal(await push(reg, 'other/app', OWNER), 201);
      const sp = expect(
        await api<NewServicePrincipal>('POST', '/api/service-principals', {
          displayName: 'ci-puller',
          role: 'AcrPull',
          scopes: `${reg}/team/*`,
        }),
        201,
      );
      assert.deepEqual(Object.keys(sp.body).sort(), ['appId', 'displayName', 'password', 'roleAssignment', 'tenant']);
      assert.equal(sp.body.tenant, 'berth');
      assert.match(sp.body.appId, /^[0-9a-f-]{36}$/);
      assert.equal(sp.body.roleAssignment!.scope, `/registries/${reg}/repositories/team/*`);
      const auth = basic(sp.body.appId, sp.body.password);
      assert.equal(await pull(reg, 'team/app', auth), 200);
      assert.equal(await pull(reg, 'other/app', auth), 403);
      assert.equal(await push(reg, 'team/app', auth, 'v2'), 403);

      const shown = expect(await api<ServicePrincipalView>('GET', `/api/service-principals/${sp.body.appId}`), 200);
      assert.equal(shown.body.displayName, 'ci-puller');
      assert.equal(shown.body.passwordCredentials.length, 1);
      assert.equal(shown.body.passwordCredentials[0]!.hint, sp.body.password.slice(-4));
      const exp = Date.parse(shown.body.passwordCredentials[0]!.endDateTime!) - Date.now();
      assert.ok(exp > 360 * 86_400_000 && exp < 370 * 86_400_000, 'default expiry is one year');
      assert.ok(!JSON.stringify(shown.body).includes(sp.body.password));
      assert.ok(
        expect(await api<List<ServicePrincipalView>>('GET', '/api/service-principals'), 200).body.value.some(
          (s: { appId: string }) => s.appId === sp.body.appId,
        ),
      );

      // Reset without append: the old secret stops working; with append both work.
      const reset = expect(await api<SpSecret>('POST', `/api/service-principals/${sp.body.appId}/credentials`, { years: 2 }), 200);
      assert.notEqual(reset.body.password, sp.body.password);
      assert.equal(await pull(reg, 'team/app', auth), 401);
      const auth2 = basic(sp.body.appId, reset.body.password);
      assert.equal(await pull(reg, 'team/app', auth2), 200);
      const appended = expect(await api<SpSecret>('POST', `/api/service-principals/${sp.body.appId}/credentials`, { append: true }), 200);
      assert.equal(await pull(reg, 'team/app', auth2), 200);
      assert.equal(await pull(reg, 'team/app', basic(sp.body.appId, appended.body.password)), 200);
      assert.equal(
        expect(await api<ServicePrincipalView>('GET', `/api/service-principals/${sp.body.appId}`), 200).body.passwordCredentials.length,
        2,
      );
      expect(await api('POST', `/api/service-principals/${sp.body.appId}/credentials`, { years: 0 }), 400, 'REQUEST_INVALID');

      // A push SP for the whole registry.
      const pusher = expect(
        await api<NewServicePrincipal>('POST', '/api/service-principals', {
          displayName: 'ci-pusher',
          role: 'AcrPush',
          scopes: `/registries/${reg}`,
          years: 3,
        }),
        201,
      );
      assert.equal(await push(reg, 'any/thing', basic(pusher.body.appId, pusher.body.password)), 201);

      expect(await api('DELETE', `/api/service-principals/${sp.body.appId}`), 204);
      assert.equal(await pull(reg, 'team/app', auth2), 401);
      expect(await api('GET', `/api/service-principals/${sp.body.appId}`), 404, 'RESOURCE_UNKNOWN');
      assert.equal(
        expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${sp.body.appId}`), 200).body.value.length,
        0,
      );
      expect(await api('POST', '/api/service-principals', { displayName: 'x', role: 'AcrPull' }), 400, 'REQUEST_INVALID');
      expect(await api('POST', '/api/service-principals', { displayName: '' }), 400, 'REQUEST_INVALID');
      expect(await api('GET', '/api/service-principals/not-a-uuid'), 404, 'RESOURCE_UNKNOWN');
    });

    test('service principals: a registry Owner manages SPs of its registry only', async () => {
      const reg = await newRegistry();
      const otherReg = await newRegistry();
      const owner = await newUser();
      await assign(owner.name, 'Owner', `/registries/${reg}`);
      const sp = expect(
        await api<NewServicePrincipal>(
          'POST',
          '/api/service-principals',
          { displayName: 'mine', role: 'AcrPull', scopes: reg },
          owner.auth,
        ),
        201,
      );
      expect(
        await api('POST', '/api/service-principals', { displayName: 'theirs', role: 'AcrPull', scopes: otherReg }, owner.auth),
        403,
        'DENIED',
      );
      expect(await api('POST', '/api/service-principals', { displayName: 'bare' }, owner.auth), 403, 'DENIED');
      const foreign = expect(
        await api<NewServicePrincipal>('POST', '/api/service-principals', { displayName: 'foreign', role: 'AcrPull', scopes: otherReg }),
        201,
      );
      const visible = expect(
        await api<List<ServicePrincipalView>>('GET', '/api/service-principals', undefined, owner.auth),
        200,
      ).body.value.map((s: { appId: string }) => s.appId);
      assert.ok(visible.includes(sp.body.appId));
      assert.ok(!visible.includes(foreign.body.appId));
      expect(await api('POST', `/api/service-principals/${foreign.body.appId}/credentials`, {}, owner.auth), 403, 'DENIED');
      expect(await api('DELETE', `/api/service-principals/${foreign.body.appId}`, undefined, owner.auth), 403, 'DENIED');
      expect(await api('POST', `/api/service-principals/${sp.body.appId}/credentials`, {}, owner.auth), 200);
      expect(await api('DELETE', `/api/service-principals/${sp.body.appId}`, undefined, owner.auth), 204);
    });

    // ---------------------------------------------------------------- admin user

    test('admin user: enable creates two passwords; both sign in to that registry only; renew and disable cut the old ones', async () => {
      const reg = await newRegistry();
      const otherReg = await newRegistry();
      assert.equal(await push(otherReg, 'app', OWNER), 201);
      expect(await api('GET', `/api/registries/${reg}/credentials`), 400, 'REQUEST_INVALID');
      const on = expect(await api<RegistryView>('PATCH', `/api/registries/${reg}`, { adminUserEnabled: true }), 200);
      assert.equal(on.body.adminUserEnabled, true);
      assert.equal(on.body.anonymousPullEnabled, false);
      assert.equal(expect(await api<RegistryView>('GET', `/api/registries/${reg}`), 200).body.adminUserEnabled, true);
      const creds = expect(await api<AdminCredentialsView>('GET', `/api/registries/${reg}/credentials`), 200).body;
      assert.equal(creds.username, reg);
      assert.deepEqual(
        creds.passwords.map((x: { name: string }) => x.name),
        ['password', 'password2'],
      );
      const [p1, p2] = creds.passwords.map((x: { value: string }) => x.value) as [string, string];
      assert.notEqual(p1, p2);
      // Shown again, unchanged (ACR keeps admin passwords retrievable).
      assert.deepEqual(expect(await api<AdminCredentialsView>('GET', `/api/registries/${reg}/credentials`), 200).body, creds);
      assert.equal(await push(reg, 'app', basic(reg, p1)), 201);
      assert.equal(await pull(reg, 'app', basic(reg, p2)), 200);
      assert.equal(await pull(reg, 'app', basic(reg.toUpperCase(), p2)), 200);
      assert.equal(await pull(otherReg, 'app', basic(reg, p1)), 403);
      // The admin user has no management powers.
      expect(await api('GET', `/api/registries/${reg}/tokens`, undefined, basic(reg, p1)), 403, 'DENIED');

      const renewed = expect(
        await api<AdminCredentialsView>('POST', `/api/registries/${reg}/credentials/renew`, { name: 'password' }),
        200,
      ).body;
      const np1 = renewed.passwords.find((x: { name: string }) => x.name === 'password')!.value;
      assert.notEqual(np1, p1);
      assert.equal(renewed.passwords.find((x: { name: string }) => x.name === 'password2')!.value, p2);
      assert.equal(await pull(reg, 'app', basic(reg, p1)), 401);
      assert.equal(await pull(reg, 'app', basic(reg, np1)), 200);
      expect(await api('POST', `/api/registries/${reg}/credentials/renew`, { name: 'password3' }), 400, 'REQUEST_INVALID');

      expect(await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: false }), 200);
      assert.equal(await pull(reg, 'app', basic(reg, np1)), 401);
      assert.equal(await pull(reg, 'app', basic(reg, p2)), 401);
      expect(await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: 'yes' }), 400, 'REQUEST_INVALID');
    });

    // ---------------------------------------------------------------- anonymous pull

    test('anonymous pull: registry-wide on Standard and Premium only; per repository on any tier', async () => {
      const basicReg = await newRegistry('Basic');
      const std = await newRegistry('Standard');
      assert.equal(await push(basicReg, 'pub/app', OWNER), 201);
      assert.equal(await push(basicReg, 'private/app', OWNER), 201);
      assert.equal(await push(std, 'app', OWNER), 201);

      const refused = expect(
        await api<Errors>('PATCH', `/api/registries/${basicReg}`, { anonymousPullEnabled: true }),
        400,
        'REQUEST_INVALID',
      );
      assert.match(refused.body.errors[0]!.message, /Standard and Premium/);
      assert.equal(await pull(std, 'app', null), 401);
      const on = expect(await api<RegistryView>('PATCH', `/api/registries/${std}`, { anonymousPullEnabled: true }), 200);
      assert.equal(on.body.anonymousPullEnabled, true);
      assert.equal(await pull(std, 'app', null), 200);
      assert.equal(await push(std, 'app', null, 'anon'), 401);
      expect(await api('PATCH', `/api/registries/${std}`, { sku: 'Basic' }), 400, 'REQUEST_INVALID');
      expect(await api('PATCH', `/api/registries/${std}`, { anonymousPullEnabled: false }), 200);
      assert.equal(await pull(std, 'app', null), 401);
      // Upgrade and enable in one request.
      expect(await api('PATCH', `/api/registries/${basicReg}`, { sku: 'Premium', anonymousPullEnabled: true }), 200);
      expect(await api('PATCH', `/api/registries/${basicReg}`, { sku: 'Basic', anonymousPullEnabled: false }), 200);

      // Per repository, on Basic.
      const rule = expect(await api<AnonymousPullView>('PUT', `/api/registries/${basicReg}/anonymous-pull/pub/*`), 200);
      assert.deepEqual(
        rule.body.repositories.map((r: { repository: string }) => r.repository),
        ['pub/*'],
      );
      assert.equal(await pull(basicReg, 'pub/app', null), 200);
      assert.equal(await pull(basicReg, 'private/app', null), 401);
      assert.equal(await push(basicReg, 'pub/app', null, 'anon'), 401);
      expect(await api('PUT', `/api/registries/${basicReg}/anonymous-pull/*`), 400, 'REQUEST_INVALID');
      expect(await api('PUT', `/api/registries/${basicReg}/anonymous-pull/Bad_Name`), 400);
      expect(await api('PUT', `/api/registries/${basicReg}/anonymous-pull/pub/*`, { enabled: true }), 400, 'REQUEST_INVALID');
      const list = expect(await api<AnonymousPullView>('GET', `/api/registries/${basicReg}/anonymous-pull`), 200).body;
      assert.equal(list.anonymousPullEnabled, false);
      expect(await api('DELETE', `/api/registries/${basicReg}/anonymous-pull/pub/*`), 200);
      assert.equal(await pull(basicReg, 'pub/app', null), 401);
      // A Reader cannot open repositories.
      const reader = await newUser();
      await assign(reader.name, 'Reader', `/registries/${basicReg}`);
      expect(await api('PUT', `/api/registries/${basicReg}/anonymous-pull/pub/*`, undefined, reader.auth), 403, 'DENIED');
    });

    // ---------------------------------------------------------------- scope maps

    test('scope maps: system maps listed and immutable; create, update (add/remove), show, in-use refusal, delete', async () => {
      const reg = await newRegistry();
      const list = expect(await api<List<ScopeMapView>>('GET', `/api/registries/${reg}/scope-maps`), 200).body.value;
      assert.deepEqual(
        list.map((m: { name: string; type: string }) => `${m.name}:${m.type}`),
        ['_repositories_admin:SystemDefined', '_repositories_pull:SystemDefined', '_repositories_push:SystemDefined'],
      );
      const pullMap = expect(await api<ScopeMapView>('GET', `/api/registries/${reg}/scope-maps/_repositories_pull`), 200).body;
      assert.deepEqual(pullMap.actions, ['repositories/*/content/read']);
      for (const sys of ['_repositories_admin', '_repositories_pull', '_REPOSITORIES_PUSH']) {
        expect(await api('PATCH', `/api/registries/${reg}/scope-maps/${sys}`, { description: 'mine now' }), 400, 'REQUEST_INVALID');
        expect(await api('DELETE', `/api/registries/${reg}/scope-maps/${sys}`), 400, 'REQUEST_INVALID');
      }
      expect(
        await api('POST', `/api/registries/${reg}/scope-maps`, { name: '_repositories_pull', actions: ['repositories/a/content/read'] }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', `/api/registries/${reg}/scope-maps`, { name: '_mine_here', actions: ['repositories/a/content/read'] }),
        400,
        'REQUEST_INVALID',
      );

      const created = expect(
        await api<ScopeMapView>('POST', `/api/registries/${reg}/scope-maps`, {
          name: 'team-map_1',
          description: 'Sample scope map',
          actions: [
            'repositories/samples/hello-world/content/write',
            'repositories/samples/hello-world/content/read',
            'repositories/samples/hello-world/content/read',
          ],
        }),
        201,
      ).body;
      assert.equal(created.type, 'UserDefined');
      assert.deepEqual(created.actions, [
        'repositories/samples/hello-world/content/write',
        'repositories/samples/hello-world/content/read',
      ]);
      expect(
        await api('POST', `/api/registries/${reg}/scope-maps`, { name: 'TEAM-MAP_1', actions: ['repositories/a/content/read'] }),
        409,
        'CONFLICT',
      );
      for (const bad of ['abcd', 'x'.repeat(51), 'has space', 'per%cent', 'dot.map']) {
        expect(
          await api('POST', `/api/registries/${reg}/scope-maps`, { name: bad, actions: ['repositories/a/content/read'] }),
          400,
          'REQUEST_INVALID',
        );
      }
      for (const actions of [
        [],
        ['repositories/a/content/execute'],
        ['repository/a/content/read'],
        ['repositories/a*/content/read'],
        ['repositories/A/content/read'],
        'repositories/a/content/read',
        [42],
      ]) {
        expect(await api('POST', `/api/registries/${reg}/scope-maps`, { name: 'badactions', actions }), 400, 'REQUEST_INVALID');
      }
      const updated = expect(
        await api<ScopeMapView>('PATCH', `/api/registries/${reg}/scope-maps/team-map_1`, {
          addActions: ['repositories/samples/nginx/content/write', 'repositories/samples/nginx/content/read'],
          removeActions: ['repositories/samples/hello-world/content/write'],
        }),
        200,
      ).body;
      assert.deepEqual(updated.actions, [
        'repositories/samples/hello-world/content/read',
        'repositories/samples/nginx/content/write',
        'repositories/samples/nginx/content/read',
      ]);
      expect(
        await api('PATCH', `/api/registries/${reg}/scope-maps/team-map_1`, { removeActions: ['repositories/samples/none/content/read'] }),
        400,
        'REQUEST_INVALID',
      );
      expect(await api('PATCH', `/api/registries/${reg}/scope-maps/team-map_1`, { actions: [] }), 400, 'REQUEST_INVALID');
      expect(await api('PATCH', `/api/registries/${reg}/scope-maps/team-map_1`, { description: 'd'.repeat(257) }), 400, 'REQUEST_INVALID');
      assert.equal(
        expect(await api<ScopeMapView>('PATCH', `/api/registries/${reg}/scope-maps/team-map_1`, { description: 'changed' }), 200).body
          .description,
        'changed',
      );
      assert.equal(expect(await api<ScopeMapView>('GET', `/api/registries/${reg}/scope-maps/TEAM-map_1`), 200).body.name, 'team-map_1');

      expect(await api('POST', `/api/registries/${reg}/tokens`, { name: 'uses-map', scopeMap: 'team-map_1', noPasswords: true }), 201);
      expect(await api('POST', `/api/registries/${reg}/tokens`, { name: 'uses-map2', scopeMap: 'Team-Map_1', noPasswords: true }), 201);
      const inUse = expect(await api<Errors>('DELETE', `/api/registries/${reg}/scope-maps/team-map_1`), 409, 'CONFLICT');
      assert.match(inUse.body.errors[0]!.message, /uses-map, uses-map2|uses-map2, uses-map/);
      expect(await api('DELETE', `/api/registries/${reg}/tokens/uses-map`), 204);
      expect(await api('DELETE', `/api/registries/${reg}/tokens/uses-map2`), 204);
      expect(await api('DELETE', `/api/registries/${reg}/scope-maps/team-map_1`), 204);
      expect(await api('GET', `/api/registries/${reg}/scope-maps/team-map_1`), 404, 'RESOURCE_UNKNOWN');
      expect(await api('DELETE', `/api/registries/${reg}/scope-maps/team-map_1`), 404, 'RESOURCE_UNKNOWN');
    });

    // ---------------------------------------------------------------- tokens

    test('tokens: create with repositories (scope map made), passwords shown once, and exactly the granted rights on /v2', async () => {
      const reg = await newRegistry();
      assert.equal(await push(reg, 'samples/hello-world', OWNER), 201);
      assert.equal(await push(reg, 'samples/nginx', OWNER), 201);
      const tok = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, {
          name: 'MyToken',
          actions: ['repositories/samples/hello-world/content/read'],
        }),
        201,
      ).body;
      assert.equal(tok.scopeMapName, 'MyToken-scope-map');
      assert.equal(tok.status, 'enabled');
      assert.equal(tok.credentials.username, 'MyToken');
      assert.deepEqual(
        tok.credentials.passwords.map((x: { name: string }) => x.name),
        ['password1', 'password2'],
      );
      for (const pw of tok.credentials.passwords) {
        assert.equal(typeof pw.value, 'string');
        assert.equal(pw.expiry, null);
      }
      const [pw1, pw2] = tok.credentials.passwords.map((x) => x.value) as [string, string];
      const shown = expect(await api<TokenView>('GET', `/api/registries/${reg}/tokens/mytoken`), 200).body;
      assert.equal(shown.credentials.passwords.length, 2);
      assert.ok(shown.credentials.passwords.every((x: { value?: string }) => x.value === undefined));
      assert.ok(!JSON.stringify(shown).includes(pw1) && !JSON.stringify(shown).includes(pw2));
      const listed = expect(await api<List<TokenView>>('GET', `/api/registries/${reg}/tokens`), 200).body.value;
      assert.ok(!JSON.stringify(listed).includes(pw1));
      assert.ok(
        expect(await api<ScopeMapView>('GET', `/api/registries/${reg}/scope-maps/MyToken-scope-map`), 200).body.actions.includes(
          'repositories/samples/hello-world/content/read',
        ),
      );

      const a1 = basic('MyToken', pw1);
      assert.equal(await pull(reg, 'samples/hello-world', a1), 200);
      assert.equal(await pull(reg, 'samples/hello-world', basic('mytoken', pw2)), 200);
      assert.equal(await pull(reg, 'samples/nginx', a1), 403);
      assert.equal(await push(reg, 'samples/hello-world', a1, 'v2'), 403);
      const tags = await v2('GET', `${reg}/samples/nginx/tags/list`, a1);
      assert.equal(tags.status, 403, 'no tags of a repository outside the scope map');
      await tags.arrayBuffer();
      // No management powers for tokens.
      expect(await api('GET', `/api/registries/${reg}/tokens`, undefined, a1), 403, 'DENIED');

      // Scope-map changes apply at once.
      expect(
        await api('PATCH', `/api/registries/${reg}/scope-maps/MyToken-scope-map`, {
          addActions: ['repositories/samples/hello-world/content/write', 'repositories/samples/nginx/content/read'],
        }),
        200,
      );
      assert.equal(await push(reg, 'samples/hello-world', a1, 'v2'), 201);
      assert.equal(await pull(reg, 'samples/nginx', a1), 200);
      // Another scope map: the system pull map.
      expect(await api('PATCH', `/api/registries/${reg}/tokens/MyToken`, { scopeMap: '_repositories_pull' }), 200);
      assert.equal(await push(reg, 'samples/hello-world', a1, 'v3'), 403);
      assert.equal(await pull(reg, 'samples/nginx', a1), 200);
      expect(await api('PATCH', `/api/registries/${reg}/tokens/MyToken`, { scopeMap: 'no-such-map' }), 404, 'RESOURCE_UNKNOWN');

      // Disable, enable.
      assert.equal(
        expect(await api<TokenView>('PATCH', `/api/registries/${reg}/tokens/MyToken`, { status: 'disabled' }), 200).body.status,
        'disabled',
      );
      assert.equal(await pull(reg, 'samples/nginx', a1), 401);
      expect(await api('PATCH', `/api/registries/${reg}/tokens/MyToken`, { status: 'enabled' }), 200);
      assert.equal(await pull(reg, 'samples/nginx', a1), 200);
      expect(await api('PATCH', `/api/registries/${reg}/tokens/MyToken`, { status: 'paused' }), 400, 'REQUEST_INVALID');

      // Regenerate password1 only: old password1 stops, password2 keeps working.
      const gen = expect(
        await api<NewTokenPasswords>('POST', `/api/registries/${reg}/tokens/MyToken/credentials`, {
          password1: true,
          expirationInDays: 30,
        }),
        200,
      ).body;
      assert.deepEqual(
        gen.passwords.map((x: { name: string }) => x.name),
        ['password1'],
      );
      const exp = Date.parse(gen.passwords[0]!.expiry!) - Date.now();
      assert.ok(exp > 29 * 86_400_000 && exp <= 30 * 86_400_000);
      assert.equal(await pull(reg, 'samples/nginx', a1), 401);
      assert.equal(await pull(reg, 'samples/nginx', basic('MyToken', gen.passwords[0]!.value!)), 200);
      assert.equal(await pull(reg, 'samples/nginx', basic('MyToken', pw2)), 200);
      // Delete password2.
      expect(await api('DELETE', `/api/registries/${reg}/tokens/MyToken/credentials/password2`), 204);
      assert.equal(await pull(reg, 'samples/nginx', basic('MyToken', pw2)), 401);
      assert.equal(expect(await api<TokenView>('GET', `/api/registries/${reg}/tokens/MyToken`), 200).body.credentials.passwords.length, 1);
      expect(await api('DELETE', `/api/registries/${reg}/tokens/MyToken/credentials/password3`), 400, 'REQUEST_INVALID');
      // A token's password is for that token name only.
      assert.equal(await pull(reg, 'samples/nginx', basic('OtherName', gen.passwords[0]!.value!)), 401);

      expect(await api('DELETE', `/api/registries/${reg}/tokens/MyToken`), 204);
      assert.equal(await pull(reg, 'samples/nginx', basic('MyToken', gen.passwords[0]!.value!)), 401);
      expect(await api('GET', `/api/registries/${reg}/tokens/MyToken`), 404, 'RESOURCE_UNKNOWN');
      // Its scope map stays (as in ACR) and can now be deleted.
      expect(await api('DELETE', `/api/registries/${reg}/scope-maps/MyToken-scope-map`), 204);
    });

    test('tokens: names, duplicates, expiry, no passwords, disabled at creation, expired passwords refused', async () => {
      const reg = await newRegistry();
      assert.equal(await push(reg, 'app', OWNER), 201);
      for (const bad of ['tok', 'x'.repeat(51), 'has space', 'pct%token', 'back\\slash', 'dot.token']) {
        expect(await api('POST', `/api/registries/${reg}/tokens`, { name: bad, scopeMap: '_repositories_pull' }), 400, 'REQUEST_INVALID');
      }
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, { name: 'under_score-1', scopeMap: '_repositories_pull', noPasswords: true }),
        201,
      );
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, { name: 'UNDER_SCORE-1', scopeMap: '_repositories_pull' }),
        409,
        'CONFLICT',
      );
      expect(await api('POST', `/api/registries/${reg}/tokens`, { name: 'nomapgiven' }), 400, 'REQUEST_INVALID');
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, {
          name: 'bothgiven',
          scopeMap: '_repositories_pull',
          actions: ['repositories/a/content/read'],
        }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, {
          name: 'pastexpiry',
          scopeMap: '_repositories_pull',
          expiration: '2001-01-01T00:00:00Z',
        }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, {
          name: 'twoexpiry',
          scopeMap: '_repositories_pull',
          expiration: '2099-01-01T00:00:00Z',
          expirationInDays: 3,
        }),
        400,
        'REQUEST_INVALID',
      );
      expect(
        await api('POST', `/api/registries/${reg}/tokens`, { name: 'zerodays', scopeMap: '_repositories_pull', expirationInDays: 0 }),
        400,
        'REQUEST_INVALID',
      );
      expect(await api('POST', `/api/registries/${reg}/tokens`, { name: 'unknownmap', scopeMap: 'nosuchmap' }), 404, 'RESOURCE_UNKNOWN');

      const none = expect(await api<TokenView>('GET', `/api/registries/${reg}/tokens/under_score-1`), 200).body;
      assert.deepEqual(none.credentials.passwords, []);
      const dated = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, {
          name: 'dated-token',
          scopeMap: '_repositories_pull',
          expiration: '2099-06-01T00:00:00Z',
        }),
        201,
      ).body;
      assert.ok(dated.credentials.passwords.every((x) => x.expiry === '2099-06-01T00:00:00.000Z'));

      const off = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, {
          name: 'born-disabled',
          scopeMap: '_repositories_admin',
          status: 'disabled',
        }),
        201,
      ).body;
      assert.equal(await pull(reg, 'app', basic('born-disabled', off.credentials.passwords[0]!.value!)), 401);

      // A password past its expiry is refused (set in the store: the API refuses past dates).
      const ok = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, { name: 'soon-expired', scopeMap: '_repositories_pull' }),
        201,
      ).body;
      const auth = basic('soon-expired', ok.credentials.passwords[0]!.value!);
      assert.equal(await pull(reg, 'app', auth), 200);
      const store = t.app.services.auth.store;
      const row = (await store.token((await t.app.services.registries.find(reg))!.id, 'soon-expired'))!;
      await store.db
        .updateTable('secrets')
        .set({ expires_at: '2001-01-01T00:00:00.000Z' })
        .where('owner_type', '=', 'token')
        .where('owner_id', '=', row.id)
        .execute();
      t.app.services.auth.forget();
      assert.equal(await pull(reg, 'app', auth), 401);
    });

    // ---------------------------------------------------------------- re-created identities

    test('a deleted and re-created registry inherits no tokens, scope maps, assignments or admin passwords', async () => {
      const reg = await newRegistry('Standard');
      const u = await newUser();
      await assign(u.name, 'AcrPush', `/registries/${reg}`);
      const tok = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, { name: 'old-token', actions: ['repositories/app/content/read'] }),
        201,
      ).body;
      expect(await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: true, anonymousPullEnabled: true }), 200);
      const creds = expect(await api<AdminCredentialsView>('GET', `/api/registries/${reg}/credentials`), 200).body;
      expect(await api('PUT', `/api/registries/${reg}/anonymous-pull/app`), 200);
      assert.equal(await push(reg, 'app', u.auth), 201);

      const store = t.app.services.auth.store;
      const oldReg = (await t.app.services.registries.find(reg))!;
      const oldToken = (await store.token(oldReg.id, 'old-token'))!;
      assert.equal((await store.secretsOf('token', oldToken.id)).length, 2);
      assert.equal((await store.secretsOf('admin', oldReg.id)).length, 2);
      expect(await api('DELETE', `/api/registries/${reg}`), 204);
      // Its passwords are gone with it.
      assert.deepEqual(await store.secretsOf('token', oldToken.id), []);
      assert.deepEqual(await store.secretsOf('admin', oldReg.id), []);
      expect(await api('POST', '/api/registries', { name: reg, sku: 'Standard' }), 201);
      assert.equal(await push(reg, 'app', OWNER), 201);

      const fresh = expect(await api<RegistryView>('GET', `/api/registries/${reg}`), 200).body;
      assert.equal(fresh.adminUserEnabled, false);
      assert.equal(fresh.anonymousPullEnabled, false);
      assert.deepEqual(expect(await api<List<TokenView>>('GET', `/api/registries/${reg}/tokens`), 200).body.value, []);
      assert.equal(expect(await api<List<ScopeMapView>>('GET', `/api/registries/${reg}/scope-maps`), 200).body.value.length, 3);
      assert.deepEqual(expect(await api<AnonymousPullView>('GET', `/api/registries/${reg}/anonymous-pull`), 200).body.repositories, []);
      assert.deepEqual(expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${u.name}`), 200).body.value, []);
      assert.equal(await push(reg, 'app', u.auth, 'v2'), 403);
      assert.equal(await pull(reg, 'app', basic('old-token', tok.credentials.passwords[0]!.value!)), 401);
      assert.equal(await pull(reg, 'app', basic(reg, creds.passwords[0]!.value)), 401);
      assert.equal(await pull(reg, 'app', null), 401);
      // Enabling the admin user again makes new passwords.
      expect(await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: true }), 200);
      const again = expect(await api<AdminCredentialsView>('GET', `/api/registries/${reg}/credentials`), 200).body;
      assert.notEqual(again.passwords[0]!.value, creds.passwords[0]!.value);
    });

    test('a deleted and re-created user inherits no role assignments', async () => {
      const reg = await newRegistry();
      const name = uniq('phoenix');
      expect(await api('POST', '/api/users', { name, password: 'first-life-password' }), 201);
      await assign(name, 'Reader', `/registries/${reg}`);
      expect(await api('GET', `/api/registries/${reg}`, undefined, basic(name, 'first-life-password')), 200);
      expect(await api('DELETE', `/api/users/${name}`), 204);
      expect(await api('POST', '/api/users', { name, password: 'second-life-password' }), 201);
      expect(await api('GET', `/api/registries/${reg}`, undefined, basic(name, 'second-life-password')), 403, 'DENIED');
      assert.deepEqual(expect(await api<List<RoleAssignmentView>>('GET', `/api/role-assignments?assignee=${name}`), 200).body.value, []);
    });

    // ---------------------------------------------------------------- audit

    test('audit: login events with ACR fields, filters, paging and JSON lines; needs read', async () => {
      const name = uniq('audited');
      expect(await api('POST', '/api/users', { name, password: 'audited-password' }), 201);
      for (let i = 0; i < 3; i++) expect(await api('GET', '/api/users', undefined, basic(name, `wrong-password-${i}`)), 401);
      const r = expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?identity=${name}&result=Denied&since=1h`), 200).body;
      assert.equal(r.value.length, 3);
      const e = r.value[0]!;
      for (const k of [
        'time',
        'identity',
        'identityType',
        'jwtId',
        'callerIpAddress',
        'userAgent',
        'operation',
        'resultType',
        'resultDescription',
        'status',
        'durationMs',
        'registry',
      ])
        assert.ok(k in e, k);
      assert.equal(e.identity, name);
      assert.equal(e.resultType, 'Denied');
      assert.equal(e.status, 401);
      assert.ok(r.value[0]!.id > r.value[1]!.id, 'newest first');
      assert.deepEqual(
        expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?identity=${name}&result=Granted`), 200).body.value,
        [],
      );
      assert.deepEqual(
        expect(
          await api<List<LoginEventView>>(
            'GET',
            `/api/audit/logins?identity=${name}&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
          ),
          200,
        ).body.value,
        [],
      );

      const page1 = expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?identity=${name}&top=2`), 200).body;
      assert.equal(page1.value.length, 2);
      assert.ok(page1.nextLink);
      const page2 = expect(await api<List<LoginEventView>>('GET', page1.nextLink), 200).body;
      assert.equal(page2.value.length, 1);
      assert.equal(page2.nextLink, undefined);

      const res = await t.fetch(`${t.url}/api/audit/logins?identity=${name}&format=jsonl`, { headers: { Authorization: OWNER } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /ndjson/);
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.equal(lines[0].identity, name);

      for (const q of ['since=yesterday', 'top=0', 'top=x', 'result=Maybe', 'format=xml', 'before=-1']) {
        expect(await api('GET', `/api/audit/logins?${q}`), 400, 'REQUEST_INVALID');
      }
      expect(await api('GET', '/api/audit/logins?registry=nosuchregistry5'), 404, 'REGISTRY_UNKNOWN');

      // Sign-ins of a registry's tokens and admin user, and token requests about one registry, are that registry's events.
      const reg = await newRegistry();
      const other = await newRegistry();
      const tok = expect(
        await api<TokenView>('POST', `/api/registries/${reg}/tokens`, { name: 'audit-token', scopeMap: '_repositories_pull' }),
        201,
      ).body;
      const tokAuth = basic('audit-token', tok.credentials.passwords[0]!.value!);
      assert.equal(await pull(reg, 'nothing/here', tokAuth), 404);
      const q = new URLSearchParams({ service: t.host, scope: `repository:${reg}/app:pull` });
      const issued = await t.fetch(`${t.url}/oauth2/token?${q}`, { headers: { Authorization: OWNER } });
      assert.equal(issued.status, 200);
      await issued.arrayBuffer();
      const ofReg = expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?registry=${reg}`), 200).body.value;
      assert.ok(ofReg.some((x: { identity: string; identityType: string }) => x.identity === 'audit-token' && x.identityType === 'Token'));
      assert.ok(ofReg.some((x: { identity: string; operation: string }) => x.identity === 'admin' && x.operation === 'token'));
      assert.ok(ofReg.every((x) => x.registry === reg));
      assert.deepEqual(expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?registry=${other}`), 200).body.value, []);
      const regReader = await newUser();
      await assign(regReader.name, 'Reader', `/registries/${reg}`);
      assert.ok(
        expect(await api<List<LoginEventView>>('GET', `/api/audit/logins?registry=${reg}`, undefined, regReader.auth), 200).body.value
          .length >= 2,
      );
      expect(await api('GET', `/api/audit/logins?registry=${other}`, undefined, regReader.auth), 403, 'DENIED');
      expect(await api('GET', '/api/audit/logins', undefined, basic(name, 'audited-password')), 403, 'DENIED');
    });

    // ---------------------------------------------------------------- routing

    test('routing: unknown sub-resources are 404, wrong methods 405; repository routes still belong to the registry API', async () => {
      const reg = await newRegistry();
      assert.equal(await push(reg, 'tokens', OWNER), 201, 'a repository may be called "tokens"');
      expect(await api('GET', `/api/registries/${reg}/repositories/tokens`), 200);
      expect(await api('GET', `/api/registries/${reg}/tokens/abcde/bogus`), 404, 'NOT_FOUND');
      expect(await api('GET', '/api/users/a/b'), 404, 'NOT_FOUND');
      expect(await api('GET', '/api/audit'), 404, 'NOT_FOUND');
      const r = expect(await api('PUT', '/api/users'), 405, 'METHOD_NOT_ALLOWED');
      assert.equal(r.headers.get('allow'), 'GET, POST');
      expect(await api('POST', `/api/registries/${reg}/credentials`), 405, 'METHOD_NOT_ALLOWED');
      expect(await api('PATCH', '/api/role-assignments/x'), 405, 'METHOD_NOT_ALLOWED');
      expect(await api('GET', `/api/registries/${reg}`), 200);
    });
  });
}
