import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { hashPassword, newSecret, secretHash, signJwt, type SigningKey } from '../src/auth/crypto.js';
import { basicAuthHeader as basic, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { TEST_PASSWORD_HASH_COST } from './helpers/credentials.js';
import type { Init } from './helpers/inject.js';
import { blobOf, randomBlob } from './helpers/oci.js';

// Hostile input against the token service and the checks on /v2: forged, altered, expired and
// misdirected tokens, scopes beyond a grant, mounts from unreadable repositories, catalogs for
// repository-scoped tokens, and identities that were deleted and re-created under the same name.

const OWNER_PASSWORD = 'owner-password-for-hostile-tests';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

for (const backend of BACKENDS) {
  describe(`auth against hostile input on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string;
    let service: string;
    const owner = () => basic('admin', OWNER_PASSWORD);

    async function tokenFor(
      auth: string | undefined,
      scopes: string[],
      svc = service,
    ): Promise<{ status: number; token?: string; body: string }> {
      const q = new URLSearchParams({ service: svc });
      for (const s of scopes) q.append('scope', s);
      const res = await t.fetch(`${t.url}/oauth2/token?${q}`, { headers: auth ? { Authorization: auth } : {} });
      const body = await res.text();
      return { status: res.status, body, token: res.ok ? (JSON.parse(body) as { token: string }).token : undefined };
    }

    function claimsOf(token: string): Record<string, unknown> {
      return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    }

    async function v2(path: string, auth?: string, init: Init = {}): Promise<Response> {
      return t.fetch(`${t.url}/v2/${path}`, { ...init, headers: { ...(auth ? { Authorization: auth } : {}), ...(init.headers ?? {}) } });
    }

    async function push(repo: string, auth: string): Promise<{ digest: string }> {
      const blob = randomBlob(100);
      const r = await v2(`${reg}/${repo}/blobs/uploads/?digest=${blob.digest}`, auth, { method: 'POST', body: blob.data });
      assert.equal(r.status, 201, await r.text());
      const config = blobOf('{}');
      await v2(`${reg}/${repo}/blobs/uploads/?digest=${config.digest}`, auth, { method: 'POST', body: config.data });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blob.digest, size: blob.size }],
        }),
      );
      const m = await v2(`${reg}/${repo}/manifests/v1`, auth, {
        method: 'PUT',
        body: manifest,
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(m.status, 201, await m.text());
      return { digest: blob.digest };
    }

    /** A repository-scoped token made directly in the store (the management API has its own tests). */
    async function makeToken(name: string, actions: string[]): Promise<string> {
      const store = t.app.services.auth.store;
      const registry = (await t.app.services.registries.find(reg))!;
      const map = await store.createScopeMap(registry.id, `${name}map`, '', actions);
      assert.ok(map);
      const tok = await store.createToken(registry.id, name, `${name}map`, 'enabled');
      assert.ok(tok);
      const password = newSecret();
      await store.putSecret({
        owner_type: 'token',
        owner_id: tok.id,
        name: 'password1',
        hash: secretHash(password),
        sealed: null,
        hint: password.slice(-4),
        expires_at: null,
      });
      return password;
    }

    before(async () => {
      t = await startTestApp(backend, { auth: { adminPassword: OWNER_PASSWORD } });
      reg = await t.createRegistry();
      service = t.host;
      await push('team/app', owner());
      await push('secret/vault', owner());
    });
    after(async () => t?.close());

    test('no credentials: /v2/ answers 401 with a Bearer challenge naming realm and service', async () => {
      const res = await v2('');
      assert.equal(res.status, 401);
      const h = res.headers.get('www-authenticate') ?? '';
      assert.match(h, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/oauth2\/token",service="127\.0\.0\.1:\d+"$/);
      const pull = await v2(`${reg}/team/app/manifests/v1`);
      assert.equal(pull.status, 401);
      assert.match(pull.headers.get('www-authenticate') ?? '', new RegExp(`scope="repository:${reg}/team/app:pull"`));
      assert.equal(((await pull.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
    });

    test('unauthenticated callers cannot tell an existing repository from a missing one', async () => {
      const a = await v2(`${reg}/team/app/manifests/v1`);
      const b = await v2(`${reg}/does/not/exist/manifests/v1`);
      const c = await v2(`nosuchregistry1/x/manifests/v1`);
      assert.deepEqual([a.status, b.status, c.status], [401, 401, 401]);
    });

    test('wrong password is refused with 401 on /v2 and at the token endpoint', async () => {
      assert.equal((await v2('', basic('admin', 'nope'))).status, 401);
      assert.equal((await tokenFor(basic('admin', 'nope'), [])).status, 401);
    });

    test('the token endpoint grants the intersection of asked and permitted, without error', async () => {
      const password = await makeToken('pullonly', ['repositories/team/app/content/read']);
      const r = await tokenFor(basic('pullonly', password), [
        `repository:${reg}/team/app:pull,push,delete`,
        `repository:${reg}/secret/vault:pull`,
      ]);
      assert.equal(r.status, 200, r.body);
      const access = claimsOf(r.token!).access as { name: string; actions: string[] }[];
      assert.deepEqual(access.find((a) => a.name === `${reg}/team/app`)?.actions, ['pull']);
      assert.deepEqual(access.find((a) => a.name === `${reg}/secret/vault`)?.actions, []);
      // The token pulls what it was granted, and nothing else.
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${r.token}`)).status, 200);
      const denied = await v2(`${reg}/secret/vault/manifests/v1`, `Bearer ${r.token}`);
      assert.equal(denied.status, 403);
      assert.equal(((await denied.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DENIED');
    });

    test('altered, unsigned, HS256-with-public-key and self-keyed tokens are refused', async () => {
      const good = (await tokenFor(owner(), [`repository:${reg}/secret/vault:pull`])).token!;
      const [h, p] = good.split('.');
      assert.equal((await v2(`${reg}/secret/vault/manifests/v1`, `Bearer ${good}`)).status, 200);

      // 1. Payload changed (more access), signature kept.
      const claims = claimsOf(good);
      const altered = `${h}.${b64({ ...claims, sub: 'user:999999', exp: (claims.exp as number) + 100000 })}.${good.split('.')[2]}`;
      // 2. alg none.
      const none = `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`;
      // 3. HS256 keyed with the server's public key (key confusion).
      const jwks = (await (await t.fetch(`${t.url}/oauth2/jwks`)).json()) as { keys: Record<string, string>[] };
      const pub = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
      const hsHead = b64({ alg: 'HS256', typ: 'JWT', kid: jwks.keys[0]!.kid });
      const hs = `${hsHead}.${p}.${createHmac('sha256', pub).update(`${hsHead}.${p}`).digest('base64url')}`;
      // 4. Our own key, embedded as jwk in the header (CVE-2025-24976 class).
      const mine = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwkHead = b64({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0]!.kid, jwk: mine.publicKey.export({ format: 'jwk' }) });
      const selfSigned = `${jwkHead}.${p}.${sign('sha256', Buffer.from(`${jwkHead}.${p}`), { key: mine.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      // 5. Garbage.
      for (const [what, tok] of [
        ['altered', altered],
        ['none', none],
        ['hs256', hs],
        ['embedded jwk', selfSigned],
        ['garbage', 'a.b.c'],
        ['long', 'x'.repeat(12000)],
      ] as const) {
        const res = await v2(`${reg}/secret/vault/manifests/v1`, `Bearer ${tok}`);
        assert.equal(res.status, 401, `${what} token must be refused`);
      }
      // Past the header size limit the HTTP layer refuses before any parsing.
      assert.equal((await v2(`${reg}/secret/vault/manifests/v1`, `Bearer ${'x'.repeat(20000)}`)).status, 431);
    });

    test('a token for another audience, or a refresh token used as an access token, is refused', async () => {
      const other = (await tokenFor(owner(), [`repository:${reg}/team/app:pull`], 'other.example.com')).token!;
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${other}`)).status, 401);
      // A refresh token is not an access token.
      const res = await t.fetch(`${t.url}/oauth2/exchange`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', service, username: 'admin', password: OWNER_PASSWORD }),
      });
      const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${refresh}`)).status, 401);
      // ...but exchanges for one, and works as a password with the all-zero user name.
      const viaRefresh = await t.fetch(`${t.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          service,
          refresh_token: refresh,
          scope: `repository:${reg}/team/app:pull`,
        }),
      });
      const access = ((await viaRefresh.json()) as { access_token: string }).access_token;
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${access}`)).status, 200);
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, basic('00000000-0000-0000-0000-000000000000', refresh))).status, 200);
    });

    test('an expired access token and an expired token password are refused', async () => {
      // A token signed with the server's own key whose lifetime has run out (as if issued long ago).
      const key = (t.app.services.auth as unknown as { keys: SigningKey[] }).keys[0]!;
      const now = Math.floor(Date.now() / 1000);
      const expired = signJwt(
        {
          jti: 'old',
          sub: 'user:1',
          name: 'admin',
          iss: 'berth',
          aud: service,
          iat: now - 7200,
          nbf: now - 7200,
          exp: now - 3600,
          access: [
            { type: 'repository', name: `${reg}/team/app`, actions: ['pull'], rid: [(await t.app.services.registries.find(reg))!.id] },
          ],
        },
        key,
      );
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${expired}`)).status, 401);
      const fresh = signJwt(
        {
          jti: 'new',
          sub: 'user:1',
          name: 'admin',
          iss: 'berth',
          aud: service,
          iat: now,
          nbf: now,
          exp: now + 600,
          access: [
            { type: 'repository', name: `${reg}/team/app`, actions: ['pull'], rid: [(await t.app.services.registries.find(reg))!.id] },
          ],
        },
        key,
      );
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${fresh}`)).status, 200, 'the same token within its lifetime works');

      const store = t.app.services.auth.store;
      const registry = (await t.app.services.registries.find(reg))!;
      assert.ok(await store.createScopeMap(registry.id, 'expmap', '', ['repositories/team/app/content/read']));
      const tok = (await store.createToken(registry.id, 'expiring', 'expmap', 'enabled'))!;
      const pw = newSecret();
      await store.putSecret({
        owner_type: 'token',
        owner_id: tok.id,
        name: 'password1',
        hash: secretHash(pw),
        sealed: null,
        hint: pw.slice(-4),
        expires_at: new Date(Date.now() - 1000).toISOString(),
      });
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, basic('expiring', pw))).status, 401);
      assert.equal((await tokenFor(basic('expiring', pw), [`repository:${reg}/team/app:pull`])).status, 401);
    });

    test('a disabled token stops working at once, also through tokens it obtained before', async () => {
      const password = await makeToken('willbeoff', ['repositories/team/app/content/read']);
      const bearer = (await tokenFor(basic('willbeoff', password), [`repository:${reg}/team/app:pull`])).token!;
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, basic('willbeoff', password))).status, 200);
      const store = t.app.services.auth.store;
      const registry = (await t.app.services.registries.find(reg))!;
      await store.updateToken((await store.token(registry.id, 'willbeoff'))!.id, { status: 'disabled' });
      t.app.services.auth.forget();
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, basic('willbeoff', password))).status, 401);
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${bearer}`)).status, 401);
    });

    test('cross-repository mount from a repository the caller cannot read does not link the blob', async () => {
      const { digest } = await push('secret/keys', owner());
      const password = await makeToken('pusher', ['repositories/mine/content/read', 'repositories/mine/content/write']);
      const auth = basic('pusher', password);
      const withFrom = await v2(`${reg}/mine/blobs/uploads/?mount=${digest}&from=${reg}/secret/keys`, auth, { method: 'POST' });
      assert.equal(withFrom.status, 202, 'an unreadable source is not mounted: a normal upload starts');
      const withoutFrom = await v2(`${reg}/mine/blobs/uploads/?mount=${digest}`, auth, { method: 'POST' });
      assert.equal(withoutFrom.status, 202);
      assert.equal((await v2(`${reg}/mine/blobs/${digest}`, auth, { method: 'HEAD' })).status, 404);
    });

    test('a repository-scoped token cannot list the catalog', async () => {
      const password = await makeToken('scopedcat', ['repositories/team/app/content/read', 'repositories/team/app/metadata/read']);
      const res = await v2(`${reg}/_catalog`, basic('scopedcat', password));
      assert.equal(res.status, 403);
      const root = await v2('_catalog', basic('scopedcat', password));
      assert.equal(root.status, 403);
      const tok = await tokenFor(basic('scopedcat', password), ['registry:catalog:*']);
      assert.deepEqual((claimsOf(tok.token!).access as { actions: string[] }[])[0]!.actions, []);
    });

    test('a deleted and re-created registry does not honour tokens issued for the old one', async () => {
      const name = `recreated${process.pid}`;
      await t.app.services.registries.create(name, 'Basic');
      const old = (await tokenFor(owner(), [`repository:${name}/app:pull,push`])).token!;
      await t.app.services.registries.delete(name);
      await t.app.services.registries.create(name, 'Basic');
      const res = await v2(`${name}/app/tags/list`, `Bearer ${old}`);
      assert.equal(res.status, 401, 'the old token names the old registry id: a new token must be requested');
    });

    test('a deleted and re-created user with the same name does not inherit old tokens', async () => {
      const store = t.app.services.auth.store;
      const u = await store.createUser('mallory', await hashPassword('first-password-123', TEST_PASSWORD_HASH_COST));
      assert.ok(u);
      await store.addRoleAssignment({ principal_type: 'user', principal_id: u.id, role: 'AcrPull', registry_id: null, repository: null });
      const old = (await tokenFor(basic('mallory', 'first-password-123'), [`repository:${reg}/team/app:pull`])).token!;
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${old}`)).status, 200);
      await store.deleteUser(u.id);
      t.app.services.auth.forget();
      const again = await store.createUser('mallory', await hashPassword('second-password-456', TEST_PASSWORD_HASH_COST));
      assert.ok(again);
      assert.equal((await v2(`${reg}/team/app/manifests/v1`, `Bearer ${old}`)).status, 401);
    });

    test('repeated failed sign-ins from one source are refused with 429 and Retry-After, the owner elsewhere is not locked out', async () => {
      const th = await startTestApp(backend, {
        auth: { adminPassword: OWNER_PASSWORD, throttle: { perIdentity: 3, perSource: 100, windowSeconds: 60 } },
      });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++)
          statuses.push((await fetch(`${th.url}/v2/`, { headers: { Authorization: basic('admin', `guess${i}`) } })).status);
        assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
        const refused = await fetch(`${th.url}/v2/`, { headers: { Authorization: basic('admin', OWNER_PASSWORD) } });
        assert.equal(refused.status, 429);
        assert.ok(Number(refused.headers.get('retry-after')) > 0);
        assert.equal(((await refused.json()) as { errors: { code: string }[] }).errors[0]!.code, 'TOOMANYREQUESTS');
        // The same owner from another source address (127.0.0.2 is loopback too) still gets in.
        const u = new URL(th.url);
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request(
            {
              host: u.hostname,
              port: u.port,
              path: '/v2/',
              localAddress: '127.0.0.2',
              headers: { Authorization: basic('admin', OWNER_PASSWORD) },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode!);
            },
          );
          req.on('error', reject);
          req.end();
        });
        assert.equal(status, 200);
      } finally {
        await th.close();
      }
    });

    test('sign-ins and token issuance are recorded, granted and denied', async () => {
      const rows = await t.app.services.auth.store.queryLogins({ limit: 1000 });
      assert.ok(rows.some((r) => r.result === 'Denied' && r.identity === 'admin'));
      assert.ok(rows.some((r) => r.result === 'Granted' && r.operation === 'token' && r.jwt_id));
      assert.ok(rows.every((r) => r.caller_ip && typeof r.duration_ms === 'number'));
    });
  });
}
