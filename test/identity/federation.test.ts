import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { isPrivateAddress } from '../../src/net/egress.js';
import { OidcVerifier } from '../../src/services/identity/oidc.js';
import type { FederatedCredentialView, LoginEventView } from '../../src/services/identity/identities.js';
import { basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { b64, startTestIssuer, type TestIssuer } from './oidc-issuer.js';

// Workload identity federation end to end over real HTTP: a test OIDC issuer on 127.0.0.1 with
// its own keys, Berth in this process; a service principal with AcrPull and a federated
// credential; tokens exchanged at /oauth2/exchange for refresh tokens that pull through the
// Docker token flow; every refusal with the message a person needs; an issuer that hangs, serves
// garbage or redirects where the egress policy forbids; and the `berth sp federated-credential` commands.

const TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';
const AUD = 'api://AzureContainerRegistry';
const SUB = 'repo:example/app:ref:refs/heads/main';
const FAST_EGRESS = { allowPrivate: true, connectTimeoutMs: 1000, timeoutMs: 2000 };

interface Res<T = unknown> {
  status: number;
  body: T;
}
type Errors = { errors: { code: string; message: string }[] };

async function call<T = unknown>(t: TestApp, method: string, p: string, body: unknown, auth: string): Promise<Res<T>> {
  const res = await fetch(`${t.url}${p}`, {
    method,
    headers: { Authorization: auth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** POST a federated credential for a service principal, as the owner; the API's answer. */
function addCredential(t: TestApp, appId: string, body: Record<string, unknown>, owner: string): Promise<Res> {
  return call(t, 'POST', `/api/service-principals/${appId}/federated-credentials`, body, owner);
}

/** A new registry on `t` and a service principal "ci" with AcrPull on it, made by the owner; its app id. */
async function pullerSp(t: TestApp, owner: string): Promise<string> {
  const reg = await t.createRegistry();
  const sp = await call<{ appId: string }>(
    t,
    'POST',
    '/api/service-principals',
    { displayName: 'ci', role: 'AcrPull', scopes: reg },
    owner,
  );
  assert.equal(sp.status, 201, JSON.stringify(sp.body));
  return sp.body.appId;
}

/** POST /oauth2/exchange with an external token. */
async function exchange(
  t: TestApp,
  token: string,
  extra: Record<string, string> = {},
): Promise<Res<{ refresh_token?: string; expires_in?: number } & Partial<Errors>>> {
  const res = await fetch(`${t.url}/oauth2/exchange`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'access_token', service: t.host, access_token: token, ...extra }).toString(),
  });
  return { status: res.status, body: (await res.json()) as { refresh_token?: string } & Partial<Errors> };
}

/** The refusal's message, asserting its status. */
async function refused(t: TestApp, token: string, status = 401): Promise<string> {
  const r = await exchange(t, token);
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.refresh_token, undefined);
  return r.body.errors![0]!.message;
}

/** The Docker token flow with the refresh token as the password of the all-zero user, then the manifest. */
async function pullManifest(t: TestApp, refresh: string, repo: string, tag: string): Promise<number> {
  const basic = `Basic ${Buffer.from(`${TOKEN_USERNAME}:${refresh}`).toString('base64')}`;
  const tok = await fetch(`${t.url}/oauth2/token?service=${encodeURIComponent(t.host)}&scope=repository:${repo}:pull`, {
    headers: { Authorization: basic },
  });
  assert.equal(tok.status, 200, await tok.clone().text());
  const { token } = (await tok.json()) as { token: string };
  const res = await fetch(`${t.url}/v2/${repo}/manifests/${tag}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  await res.arrayBuffer();
  return res.status;
}

for (const backend of BACKENDS) {
  describe(`workload identity federation (${backend})`, async () => {
    const gate = await backendGate(backend);
    let t: TestApp;
    let issuer: TestIssuer;
    let reg: string;
    let appId: string;
    const owner = basicAuthHeader('admin', 'federation-owner-password');
    const api = <T = unknown>(method: string, p: string, body?: unknown, auth = owner) => call<T>(t, method, p, body, auth);
    const fc = (sp = appId) => `/api/service-principals/${sp}/federated-credentials`;
    const good = (claims: JWTPayload = {}, name = 'good') => issuer.sign(name, { sub: SUB, aud: AUD, ...claims });

    before(async () => {
      if (gate.skip) return;
      issuer = await startTestIssuer();
      t = await startTestApp(backend, { auth: { adminPassword: 'federation-owner-password' }, egress: FAST_EGRESS });
      reg = await t.createRegistry();
      await t.v2({ authorization: owner }).pushImage(`${reg}/app`, 'v1');
      const sp = await api<{ appId: string }>('POST', '/api/service-principals', { displayName: 'ci', role: 'AcrPull', scopes: reg });
      assert.equal(sp.status, 201, JSON.stringify(sp.body));
      appId = sp.body.appId;
      const c = await api<FederatedCredentialView>('POST', fc(), {
        name: 'ci',
        issuer: issuer.url('good'),
        subject: SUB,
        audiences: [AUD],
        description: 'main branch',
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
    });
    after(async () => {
      await t?.close();
      await issuer?.close();
    });

    test("the credential is shown in Entra's shape; list, show, 404s and validation", gate, async () => {
      const list = await api<{ value: FederatedCredentialView[] }>('GET', fc());
      assert.equal(list.status, 200);
      assert.equal(list.body.value.length, 1);
      const c = list.body.value[0]!;
      assert.deepEqual(
        { name: c.name, issuer: c.issuer, subject: c.subject, audiences: c.audiences, description: c.description },
        { name: 'ci', issuer: issuer.url('good'), subject: SUB, audiences: [AUD], description: 'main branch' },
      );
      assert.match(c.id, /^[0-9a-f-]{36}$/);
      assert.ok(!Number.isNaN(Date.parse(c.createdTime)));
      assert.deepEqual((await api('GET', `${fc()}/ci`)).body, c);
      const missing = await api<Errors>('GET', `${fc()}/nope`);
      assert.equal(missing.status, 404);
      assert.match(missing.body.errors[0]!.message, /no federated credential "nope"/);
      assert.equal((await api('GET', fc('00000000-0000-0000-0000-00000000abcd'))).status, 404);

      const bad = async (body: Record<string, unknown>, pattern: RegExp, status = 400) => {
        const r = await api<Errors>('POST', fc(), { issuer: issuer.url('x'), subject: 's', audiences: [AUD], ...body });
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.match(r.body.errors[0]!.message, pattern);
      };
      await bad({ issuer: 'http://issuer.example.com' }, /must be an https URL \(http only for loopback addresses/);
      await bad({ issuer: 'not a url' }, /must be an https URL/);
      await bad({ subject: '' }, /"subject" must not be empty/);
      await bad({ subject: 'x'.repeat(601) }, /"subject" is 601 characters; at most 600/);
      await bad({ audiences: [AUD, 'api://other'] }, /exactly one audience/);
      await bad({ audiences: ['a'.repeat(601)] }, /at most 600/);
      await bad({ name: 'a b' }, /"name" must be 1-120 letters/);
      await bad({ unexpected: 1 }, /unexpected/);
      await bad({ issuer: issuer.url('good'), subject: SUB, name: 'ci-again' }, /already has a federated credential for issuer/, 409);
      await bad({ name: 'ci' }, /already has a federated credential named "ci"/, 409);

      // No name: a stable one derived from issuer and subject.
      const a = await api<FederatedCredentialView>('POST', fc(), { issuer: issuer.url('derived'), subject: 'sub-1' });
      assert.equal(a.status, 201);
      assert.match(a.body.name, /^fc-[0-9a-f]{20}$/);
      assert.deepEqual(a.body.audiences, ['api://AzureADTokenExchange']);
      assert.equal((await api('DELETE', `${fc()}/${a.body.name}`)).status, 204);
      const again = await api<FederatedCredentialView>('POST', fc(), { issuer: issuer.url('derived'), subject: 'sub-1' });
      assert.equal(again.body.name, a.body.name);
      assert.equal((await api('DELETE', `${fc()}/${a.body.name}`)).status, 204);
      assert.equal((await api('DELETE', `${fc()}/${a.body.name}`)).status, 404);
    });

    test('at most 20 credentials per service principal', gate, async () => {
      const sp = await api<{ appId: string }>('POST', '/api/service-principals', { displayName: 'many', role: 'AcrPull', scopes: reg });
      for (let i = 0; i < 20; i++)
        assert.equal(
          (await api('POST', fc(sp.body.appId), { issuer: issuer.url('many'), subject: `s${i}`, audiences: [AUD] })).status,
          201,
        );
      const r = await api<Errors>('POST', fc(sp.body.appId), { issuer: issuer.url('many'), subject: 's20', audiences: [AUD] });
      assert.equal(r.status, 400);
      assert.match(r.body.errors[0]!.message, /20 federated credentials, the most it may have/);
      assert.equal((await api('DELETE', `/api/service-principals/${sp.body.appId}`)).status, 204);
    });

    test('a caller without power over the service principal may not see or add credentials', gate, async () => {
      await api('POST', '/api/users', { name: 'fed.reader', password: 'fed-reader-password-1' });
      const r = await api<Errors>(
        'POST',
        fc(),
        { issuer: issuer.url('x'), subject: 'y' },
        basicAuthHeader('fed.reader', 'fed-reader-password-1'),
      );
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal((await api('GET', fc(), undefined, basicAuthHeader('fed.reader', 'fed-reader-password-1'))).status, 403);
    });

    test('a good token (RS256 and ES256) becomes a refresh token of the service principal that pulls; audited', gate, async () => {
      for (const alg of ['RS256', 'ES256'] as const) {
        const r = await exchange(t, await issuer.sign('good', { sub: SUB, aud: [AUD, 'other'] }, { alg }));
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.ok(r.body.refresh_token);
        assert.ok(r.body.expires_in! > 0);
        assert.equal(await pullManifest(t, r.body.refresh_token, `${reg}/app`, 'v1'), 200);
      }
      // AcrPull only: no push.
      const r = await exchange(t, await good());
      const basic = `Basic ${Buffer.from(`${TOKEN_USERNAME}:${r.body.refresh_token}`).toString('base64')}`;
      const tok = (await (
        await fetch(`${t.url}/oauth2/token?service=${t.host}&scope=repository:${reg}/app:push,pull`, { headers: { Authorization: basic } })
      ).json()) as {
        token: string;
      };
      const claims = JSON.parse(Buffer.from(tok.token.split('.')[1]!, 'base64url').toString()) as {
        access: { actions: string[] }[];
        sub: string;
      };
      assert.deepEqual(claims.access[0]!.actions, ['pull']);
      assert.match(claims.sub, /^sp:\d+$/);
      const logins = await api<{ value: LoginEventView[] }>('GET', `/api/audit/logins?identity=${appId}`);
      const granted = logins.body.value.find((e) => e.operation === 'exchange' && e.resultType === 'Granted');
      assert.ok(granted, JSON.stringify(logins.body.value));
      assert.match(granted.resultDescription, /federated credential ci/);
      assert.equal(granted.identityType, 'ServicePrincipal');
    });

    test('refusals say what was wrong', gate, async () => {
      const now = Math.floor(Date.now() / 1000);
      assert.equal(
        await refused(t, await good({ aud: 'api://x' })),
        `token audience api://x does not match federated credential ci's audience ${AUD}`,
      );
      assert.match(
        await refused(t, await good({ sub: 'repo:example/app:ref:refs/heads/evil' })),
        /token subject "repo:example\/app:ref:refs\/heads\/evil" matches no federated credential for issuer http:\/\/127\.0\.0\.1:\d+\/good$/,
      );
      assert.match(
        await refused(t, await issuer.sign('unknown-issuer', { sub: SUB, aud: AUD })),
        /no federated credential trusts issuer http:\/\/127\.0\.0\.1:\d+\/unknown-issuer/,
      );
      assert.match(await refused(t, await good({ exp: now - 3600, iat: now - 7200 })), /the token expired at/);
      assert.match(await refused(t, await good({ nbf: now + 600 })), /the token is not valid before/);
      assert.match(await refused(t, await good({ iat: now + 600, exp: now + 1200 })), /issued in the future/);
      assert.match(await refused(t, await good({ exp: undefined })), /no exp \(expiry\) claim/);
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: issuer.url('good'), sub: SUB, aud: AUD, exp: now + 600 })}.`;
      assert.match(await refused(t, unsigned), /unsigned tokens \(alg "none"\) are refused/);
      const hs = await new SignJWT({ iss: issuer.url('good'), sub: SUB, aud: AUD, exp: now + 600 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('a shared secret of at least 32 bytes!!'));
      assert.match(await refused(t, hs), /shared secret \(HS256\) are refused/);
      const stranger = await generateKeyPair('RS256');
      const strangerToken = await issuer.sign('good', { sub: SUB, aud: AUD }, { key: stranger.privateKey, kid: 'not-there' });
      assert.match(await refused(t, strangerToken), /signed with a key \(RS256\) that is not in the JWKS of issuer/);
      // The right kid, the wrong key: the signature does not verify.
      assert.match(
        await refused(t, await issuer.sign('good', { sub: SUB, aud: AUD }, { key: stranger.privateKey })),
        /signature does not verify/,
      );
      assert.match(await refused(t, await good({ padding: 'x'.repeat(17 * 1024) })), /tokens of at most 16384 bytes \(16 KiB\)/);
      assert.match(await refused(t, 'garbage.garbage.garbage'), /neither a Berth token nor a JWT/);
      assert.match(await refused(t, 'not-even-dots'), /neither a Berth token nor a JWT/);
      // A Berth token still exchanges as before.
      const own = await exchange(t, (await exchange(t, await good())).body.refresh_token!);
      assert.equal(own.status, 200);
      const logins = await api<{ value: LoginEventView[] }>('GET', `/api/audit/logins?result=Denied&top=50`);
      assert.ok(
        logins.body.value.some(
          (e) => e.operation === 'exchange' && /does not match federated credential ci's audience/.test(e.resultDescription),
        ),
      );
    });

    test('two service principals trusting one token: client_id picks one', gate, async () => {
      const a = await api<{ appId: string }>('POST', '/api/service-principals', { displayName: 'twin-a', role: 'AcrPull', scopes: reg });
      const b = await api<{ appId: string }>('POST', '/api/service-principals', { displayName: 'twin-b' });
      for (const sp of [a.body.appId, b.body.appId])
        assert.equal(
          (await api('POST', fc(sp), { name: 'twin', issuer: issuer.url('twin'), subject: 'twin-sub', audiences: [AUD] })).status,
          201,
        );
      const token = await issuer.sign('twin', { sub: 'twin-sub', aud: AUD });
      assert.match(await refused(t, token), /2 service principals trust this token: pass client_id=<app id> to choose one/);
      const r = await exchange(t, token, { client_id: a.body.appId });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await pullManifest(t, r.body.refresh_token!, `${reg}/app`, 'v1'), 200);
      const other = await exchange(t, token, { client_id: appId });
      assert.equal(other.status, 401);
      assert.match(other.body.errors![0]!.message, /has no federated credential for issuer/);
      for (const sp of [a.body.appId, b.body.appId]) await api('DELETE', `/api/service-principals/${sp}`);
    });

    test('a deleted credential or service principal: 401; their refresh tokens stop working with the SP', gate, async () => {
      const sp = await api<{ appId: string }>('POST', '/api/service-principals', { displayName: 'temp', role: 'AcrPull', scopes: reg });
      const other = sp.body.appId;
      await api('POST', fc(other), { name: 'temp', issuer: issuer.url('temp'), subject: 'temp-sub', audiences: [AUD] });
      const token = await issuer.sign('temp', { sub: 'temp-sub', aud: AUD });
      const r = await exchange(t, token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((await api('DELETE', `${fc(other)}/temp`)).status, 204);
      assert.match(await refused(t, token), /no federated credential trusts issuer/);
      await api('POST', fc(other), { name: 'temp', issuer: issuer.url('temp'), subject: 'temp-sub', audiences: [AUD] });
      assert.equal((await exchange(t, token)).status, 200);
      assert.equal((await api('DELETE', `/api/service-principals/${other}`)).status, 204);
      assert.match(await refused(t, token), /no federated credential trusts issuer/);
      const basic = `Basic ${Buffer.from(`${TOKEN_USERNAME}:${r.body.refresh_token}`).toString('base64')}`;
      const tok = await fetch(`${t.url}/oauth2/token?service=${encodeURIComponent(t.host)}&scope=repository:${reg}/app:pull`, {
        headers: { Authorization: basic },
      });
      assert.equal(tok.status, 401);
      assert.match(await tok.text(), /no longer exists/);
    });
  });
}

describe('federation: issuers that fail (sqlite)', () => {
  let t: TestApp;
  let issuer: TestIssuer;
  const owner = basicAuthHeader('admin', 'federation-owner-password');
  let appId: string;

  before(async () => {
    issuer = await startTestIssuer();
    t = await startTestApp('sqlite', { auth: { adminPassword: 'federation-owner-password' }, egress: FAST_EGRESS });
    appId = await pullerSp(t, owner);
    for (const name of ['hang', 'garbage', 'wrong-issuer', 'redirect', 'garbage-jwks']) {
      issuer.mode(name, name as 'hang');
      const r = await addCredential(t, appId, { name, issuer: issuer.url(name), subject: SUB, audiences: [AUD] }, owner);
      assert.equal(r.status, 201);
    }
  });
  after(async () => {
    await t?.close();
    await issuer?.close();
  });

  test('a hanging issuer: 503 naming the timeout within the egress timeout, and the node keeps answering meanwhile', async () => {
    const started = Date.now();
    let settled = false;
    const pending = exchange(t, await issuer.sign('hang', { sub: SUB, aud: AUD })).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 200));
    // Ordering, not a stopwatch: the node answers other requests while the exchange still waits.
    const health = await fetch(`${t.url}/healthz`);
    assert.equal(health.status, 200);
    const other = await exchange(t, 'garbage');
    assert.equal(other.status, 401);
    assert.equal(settled, false, 'the other requests were answered while the issuer hung');
    const r = await pending;
    const took = Date.now() - started;
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.match(r.body.errors![0]!.message, /could not fetch issuer .*\/hang's OpenID configuration: no complete response within \d+ ms/);
    // Bounded by the egress timeout (2 s here); the margin only keeps a loaded runner from failing it.
    assert.ok(took < FAST_EGRESS.timeoutMs * 5, `answered in ${took} ms`);
  });

  test('garbage and a mismatched issuer in the discovery document: 503 saying so', async () => {
    assert.match(
      (await exchange(t, await issuer.sign('garbage', { sub: SUB, aud: AUD }))).body.errors![0]!.message,
      /OpenID configuration is not JSON/,
    );
    const w = await exchange(t, await issuer.sign('wrong-issuer', { sub: SUB, aud: AUD }));
    assert.equal(w.status, 503);
    assert.match(w.body.errors![0]!.message, /names issuer ".*\/someone-else"; it must be exactly/);
  });

  test('a JWKS without keys: 503 saying so; failed sign-ins count on the sign-in throttle, an unreachable issuer does not', async () => {
    const j = await exchange(t, await issuer.sign('garbage-jwks', { sub: SUB, aud: AUD }));
    assert.equal(j.status, 503);
    assert.match(j.body.errors![0]!.message, /JWKS .* has no "keys" array/);

    const limited = await startTestApp('sqlite', {
      auth: { adminPassword: 'federation-owner-password', throttle: { perIdentity: 3, perSource: 100, windowSeconds: 60 } },
      egress: FAST_EGRESS,
    });
    try {
      const spId = await pullerSp(limited, owner);
      await addCredential(limited, spId, { name: 'ci', issuer: issuer.url('good'), subject: SUB, audiences: [AUD] }, owner);
      // Issuer failures (503) are not the caller's: they do not count.
      await addCredential(limited, spId, { name: 'hangs', issuer: issuer.url('garbage'), subject: SUB, audiences: [AUD] }, owner);
      for (let i = 0; i < 4; i++) assert.equal((await exchange(limited, await issuer.sign('garbage', { sub: SUB, aud: AUD }))).status, 503);
      for (let i = 0; i < 3; i++)
        assert.equal((await exchange(limited, await issuer.sign('good', { sub: SUB, aud: 'api://wrong' }))).status, 401);
      const r = await exchange(limited, await issuer.sign('good', { sub: SUB, aud: AUD }));
      assert.equal(r.status, 429, JSON.stringify(r.body));
      assert.match(r.body.errors![0]!.message, /too many failed sign-ins from/);
      // Another subject of the same issuer from the same address is not locked out.
      await addCredential(limited, spId, { name: 'other', issuer: issuer.url('good'), subject: 'other-sub', audiences: [AUD] }, owner);
      assert.equal((await exchange(limited, await issuer.sign('good', { sub: 'other-sub', aud: AUD }))).status, 200);
    } finally {
      await limited.close();
    }
  });

  test('egress policy: a loopback issuer is refused when egress.allowPrivate is false, naming the policy; so is a redirect to loopback', async (ctx) => {
    const strict = await startTestApp('sqlite', {
      auth: { adminPassword: 'federation-owner-password' },
      egress: { ...FAST_EGRESS, allowPrivate: false },
    });
    const spId = await pullerSp(strict, owner);
    try {
      await addCredential(strict, spId, { name: 'good', issuer: issuer.url('good'), subject: SUB, audiences: [AUD] }, owner);
      const r = await exchange(strict, await issuer.sign('good', { sub: SUB, aud: AUD }));
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(r.body.errors![0]!.message, /loopback, link-local and private addresses are not allowed \(set egress\.allowPrivate/);

      // A redirect from a public address to loopback: needs an address of this machine that the
      // policy counts as public (a CI runner's own interface, or TEST-NET in this sandbox).
      const publicIp = Object.values(os.networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal && !isPrivateAddress(i.address))?.address;
      if (publicIp) {
        const http = await import('node:http');
        const srv = http.createServer((req, res) => {
          if (req.url === '/pub/.well-known/openid-configuration') {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end(
              JSON.stringify({
                issuer: `http://${publicIp}:${(srv.address() as { port: number }).port}/pub`,
                jwks_uri: `http://${publicIp}:${(srv.address() as { port: number }).port}/pub/jwks`,
              }),
            );
          } else {
            res.writeHead(302, { Location: `${issuer.url('good')}/jwks` });
            res.end();
          }
        });
        await new Promise<void>((r) => srv.listen(0, publicIp, r));
        try {
          const iss = `http://${publicIp}:${(srv.address() as { port: number }).port}/pub`;
          // http is allowed for loopback issuers only: this one is https in real life; the store takes it from the service directly.
          const store = (
            strict.app.services.identities.federatedCredentials as unknown as { store: { create(c: object): Promise<unknown> } }
          ).store;
          const spRow = await strict.app.services.auth.store.spByAppId(spId);
          await store.create({
            sp_id: spRow!.id,
            name: 'pub',
            issuer: iss,
            subject: SUB,
            audiences: JSON.stringify([AUD]),
            description: '',
          });
          const token = await new SignJWT({ iss, sub: SUB, aud: AUD, exp: Math.floor(Date.now() / 1000) + 600 })
            .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
            .sign((await generateKeyPair('RS256')).privateKey);
          const rr = await exchange(strict, token);
          assert.equal(rr.status, 503, JSON.stringify(rr.body));
          assert.match(rr.body.errors![0]!.message, /JWKS .*refusing to connect to 127\.0\.0\.1 .*egress\.allowPrivate/);
        } finally {
          await new Promise<void>((r) => srv.close(() => r()));
        }
      } else {
        // No address here the policy counts as public: the redirect hop cannot be set up (egress
        // checks every hop the same way; test/webhooks.test.ts covers that part).
        ctx.diagnostic('no public-looking address on this machine: redirect scenario not run');
      }
    } finally {
      await strict.close();
    }
  });
});

describe('OIDC key cache', () => {
  test('JWKS cached per issuer; an unknown kid fetches again only after the refetch interval; rotation then verifies', async () => {
    const issuer = await startTestIssuer();
    try {
      const egress = { ...FAST_EGRESS, maxRedirects: 0, maxResponseBytes: 65536 };
      // Keys and tokens are made up front: key generation under load must not eat the interval.
      const next = await generateKeyPair('RS256');
      const newKeyToken = await issuer.sign('rot', { sub: 's', aud: 'a' }, { key: next.privateKey, kid: 'rsa-2' });
      const stranger = await issuer.sign('rot', { sub: 's', aud: 'a' }, { key: next.privateKey, kid: 'nowhere' });
      const v = new OidcVerifier({ egress, jwksCacheSeconds: 600, unknownKidRefetchMs: 1000 });
      const jwksHits = () => issuer.hits.filter((h) => h === '/rot/jwks').length;
      const claims = await v.verify(await issuer.sign('rot', { sub: 's', aud: 'a' }), issuer.url('rot'), 'RS256');
      assert.equal(claims.sub, 's');
      await v.verify(await issuer.sign('rot', { sub: 's2', aud: 'a' }, { alg: 'ES256' }), issuer.url('rot'), 'ES256');
      assert.equal(jwksHits(), 1, 'the second token used the cached keys');

      await issuer.rotate(next.publicKey);
      // Within the refetch interval of the last fetch: refused without asking the issuer again.
      await assert.rejects(v.verify(newKeyToken, issuer.url('rot'), 'RS256'), /not in the JWKS of issuer/);
      assert.equal(jwksHits(), 1);
      await new Promise((r) => setTimeout(r, 1050));
      // After it: one fetch finds the new key.
      assert.equal((await v.verify(newKeyToken, issuer.url('rot'), 'RS256')).sub, 's');
      assert.equal(jwksHits(), 2);
      // A kid that is nowhere: at most one fetch per interval, however many tokens carry it.
      await new Promise((r) => setTimeout(r, 1050));
      for (let i = 0; i < 5; i++) await assert.rejects(v.verify(stranger, issuer.url('rot'), 'RS256'), /not in the JWKS/);
      assert.equal(jwksHits(), 3);
    } finally {
      await issuer.close();
    }
  });
});

describe('berth sp federated-credential (sqlite)', () => {
  let t: TestApp;
  let configDir: string;
  let appId: string;
  const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', 'federation-owner-password']);

  before(async () => {
    configDir = mkdtempSync(path.join(os.tmpdir(), 'berth-fed-cli-'));
    process.env.BERTH_CONFIG_DIR = configDir;
    t = await startTestApp('sqlite', { auth: { adminPassword: 'federation-owner-password' }, egress: FAST_EGRESS });
    const reg = await t.createRegistry();
    const r = await berth(['sp', 'create-for-rbac', '--name', 'cli-sp', '--role', 'AcrPull', '--scopes', reg]);
    assert.equal(r.code, 0, r.stderr);
    appId = (JSON.parse(r.stdout) as { appId: string }).appId;
  });
  after(async () => {
    delete process.env.BERTH_CONFIG_DIR;
    await t?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test('create, list, show (json, table, tsv), delete; refusals with exit codes', async () => {
    const create = await berth([
      'sp',
      'federated-credential',
      'create',
      '--id',
      appId,
      '--name',
      'gha',
      '--issuer',
      'https://token.actions.githubusercontent.com',
      '--subject',
      'repo:org/app:ref:refs/heads/main',
      '--audience',
      AUD,
      '--description',
      'GitHub Actions',
    ]);
    assert.equal(create.code, 0, create.stderr);
    const c = JSON.parse(create.stdout) as FederatedCredentialView;
    assert.equal(c.name, 'gha');
    assert.deepEqual(c.audiences, [AUD]);

    const noName = await berth([
      'sp',
      'federated-credential',
      'create',
      '--id',
      appId,
      '--issuer',
      'http://127.0.0.1:9/k8s',
      '--subject',
      'system:serviceaccount:default:puller',
    ]);
    assert.equal(noName.code, 0, noName.stderr);
    const derived = (JSON.parse(noName.stdout) as FederatedCredentialView).name;
    assert.match(derived, /^fc-/);

    const list = await berth(['sp', 'federated-credential', 'list', '--id', appId]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as FederatedCredentialView[]).map((x) => x.name).sort(), [derived, 'gha'].sort());
    for (const f of ['table', 'tsv']) {
      const out = await berth(['sp', 'federated-credential', 'list', '--id', appId, '-o', f]);
      assert.equal(out.code, 0, out.stderr);
      assert.doesNotMatch(out.stdout, /[{[]/);
      assert.match(out.stdout, f === 'table' ? /api:\/\/AzureContainerRegistry/ : /\tgha\t/);
    }
    const show = await berth(['sp', 'federated-credential', 'show', '--id', appId, '--name', 'gha']);
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual(JSON.parse(show.stdout), c);
    const showTable = await berth(['sp', 'federated-credential', 'show', '--id', appId, '--name', 'gha', '-o', 'table']);
    assert.match(showTable.stdout, /GitHub Actions/);

    const badIssuer = await berth([
      'sp',
      'federated-credential',
      'create',
      '--id',
      appId,
      '--issuer',
      'http://issuer.example.com',
      '--subject',
      's',
    ]);
    assert.equal(badIssuer.code, 1);
    assert.match(badIssuer.stderr, /must be an https URL \(http only for loopback addresses.*HTTP 400/);
    const dup = await berth([
      'sp',
      'federated-credential',
      'create',
      '--id',
      appId,
      '--name',
      'gha2',
      '--issuer',
      'https://token.actions.githubusercontent.com',
      '--subject',
      'repo:org/app:ref:refs/heads/main',
    ]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already has a federated credential for issuer .*CONFLICT, HTTP 409/);
    const unknownSp = await berth(['sp', 'federated-credential', 'list', '--id', '00000000-0000-0000-0000-00000000abcd']);
    assert.equal(unknownSp.code, 1);
    assert.match(unknownSp.stderr, /no service principal with app id .*HTTP 404/);
    const missing = await berth(['sp', 'federated-credential', 'create', '--id', appId, '--issuer', 'https://x.example.com']);
    assert.equal(missing.code, 2, 'a missing required flag is a usage error');

    const noYes = await berth(['sp', 'federated-credential', 'delete', '--id', appId, '--name', 'gha']);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /pass --yes/);
    const del = await berth(['sp', 'federated-credential', 'delete', '--id', appId, '--name', 'gha', '--yes']);
    assert.equal(del.code, 0, del.stderr);
    const gone = await berth(['sp', 'federated-credential', 'show', '--id', appId, '--name', 'gha']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /HTTP 404/);
  });
});
