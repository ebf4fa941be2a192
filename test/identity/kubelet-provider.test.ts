import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { ensureBuilt, ROOT } from '../helpers/berth-process.js';
import { blobOf } from '../helpers/oci.js';
import { requireTool, run, type RunResult } from '../e2e/helpers.js';
import { startTestIssuer, type TestIssuer } from './oidc-issuer.js';

// berth-kubelet-credential-provider as the kubelet runs it: the built executable, a
// CredentialProviderRequest on stdin, args as a CredentialProviderConfig gives them. Its answer's
// credentials then work for a real client (skopeo inspect) against Berth, in both modes: a
// service principal's secret, and a federated (projected service account) token. Credentials for
// another registry's image are refused.

const PROVIDER = path.join(ROOT, 'dist', 'kubelet-credential-provider.js');
const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
const OWNER = basicAuthHeader('admin', 'kubelet-owner-password');
const AUD = 'berth';
const SUB = 'system:serviceaccount:default:puller';
const SKOPEO = requireTool('skopeo');

interface ProviderResponse {
  apiVersion: string;
  kind: string;
  cacheKeyType: string;
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

describe('berth-kubelet-credential-provider', () => {
  let t: TestApp;
  let issuer: TestIssuer;
  let dir: string;
  let reg: string;
  let appId: string;
  let secretFile: string;
  let image: string;

  const provide = (args: string[], request: Record<string, unknown>): Promise<RunResult> =>
    run(process.execPath, [PROVIDER, ...args], {
      input: JSON.stringify({ apiVersion: API_VERSION, kind: 'CredentialProviderRequest', ...request }),
      env: { BERTH_SERVER: undefined, BERTH_CLIENT_ID: undefined, BERTH_CLIENT_SECRET_FILE: undefined, BERTH_TOKEN_FILE: undefined },
      timeoutMs: 30_000,
    });

  /** A successful answer, parsed and checked for shape. */
  function answer(r: RunResult): { username: string; password: string; seconds: number } {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const res = JSON.parse(r.stdout) as ProviderResponse;
    assert.equal(res.apiVersion, API_VERSION);
    assert.equal(res.kind, 'CredentialProviderResponse');
    assert.equal(res.cacheKeyType, 'Registry');
    assert.deepEqual(Object.keys(res.auth), [t.host]);
    const m = /^(\d+)s$/.exec(res.cacheDuration);
    assert.ok(m, res.cacheDuration);
    return { ...res.auth[t.host]!, seconds: Number(m[1]) };
  }

  async function skopeoInspect(creds: { username: string; password: string }): Promise<RunResult> {
    return run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${creds.username}:${creds.password}`, `docker://${image}`], {
      env: { REGISTRY_AUTH_FILE: path.join(dir, 'auth.json'), DOCKER_CONFIG: dir },
      timeoutMs: 60_000,
    });
  }

  before(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-kubelet-'));
    issuer = await startTestIssuer();
    t = await startTestApp('sqlite', {
      auth: { adminPassword: 'kubelet-owner-password', refreshTokenSeconds: 3600 },
      egress: { allowPrivate: true, connectTimeoutMs: 1000, timeoutMs: 3000 },
    });
    reg = await t.createRegistry();
    // A real image config, so skopeo inspect can read the platform.
    const config = blobOf(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    await t.v2({ authorization: OWNER }).pushImage(`${reg}/app`, 'v1', { config });
    image = `${t.host}/${reg}/app:v1`;
    const res = await fetch(`${t.url}/api/service-principals`, {
      method: 'POST',
      headers: { Authorization: OWNER, 'Content-Type': 'application/json' },
      body: JSON.stringify({ displayName: 'node-puller', role: 'AcrPull', scopes: reg }),
    });
    const sp = (await res.json()) as { appId: string; password: string };
    assert.equal(res.status, 201);
    appId = sp.appId;
    secretFile = path.join(dir, 'client-secret');
    writeFileSync(secretFile, `${sp.password}\n`);
    const fc = await fetch(`${t.url}/api/service-principals/${appId}/federated-credentials`, {
      method: 'POST',
      headers: { Authorization: OWNER, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'cluster', issuer: issuer.url('cluster'), subject: SUB, audiences: [AUD] }),
    });
    assert.equal(fc.status, 201, await fc.text());
  });
  after(async () => {
    await t?.close();
    await issuer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('service principal secret: the answer works for skopeo inspect', SKOPEO, async () => {
    const a = answer(await provide(['--server', t.url, '--client-id', appId, '--client-secret-file', secretFile], { image }));
    assert.equal(a.username, '00000000-0000-0000-0000-000000000000');
    assert.ok(a.seconds > 0 && a.seconds < 3600, `cache ${a.seconds}s is the token lifetime less a margin`);
    const r = await skopeoInspect(a);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { Architecture: string }).Architecture, 'amd64');
  });

  test("federation: the request's serviceAccountToken, or --token-file, exchanged; skopeo inspect works", SKOPEO, async () => {
    const token = await issuer.sign('cluster', { sub: SUB, aud: [AUD] });
    const fromRequest = answer(await provide(['--server', t.url], { image, serviceAccountToken: token }));
    assert.equal((await skopeoInspect(fromRequest)).code, 0);
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, token);
    const fromFile = answer(await provide([`--server=${t.url}`, '--token-file', tokenFile, '--client-id', appId], { image }));
    const r = await skopeoInspect(fromFile);
    assert.equal(r.code, 0, r.stderr);
  });

  test('refusals: another registry, a bad token, wrong secret, bad request: exit ≠ 0, one line on stderr, nothing on stdout', async () => {
    const refused = async (args: string[], request: Record<string, unknown>, pattern: RegExp) => {
      const r = await provide(args, request);
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    };
    const secretArgs = ['--server', t.url, '--client-id', appId, '--client-secret-file', secretFile];
    await refused(
      secretArgs,
      { image: 'registry.example.com/team/app:v1' },
      /refusing image registry\.example\.com\/team\/app:v1: its registry registry\.example\.com is not the configured server/,
    );
    await refused(secretArgs, { image: 'nginx:latest' }, /its registry docker\.io is not the configured server/);
    await refused(
      ['--server', t.url],
      { image, serviceAccountToken: await issuer.sign('cluster', { sub: SUB, aud: 'other' }) },
      /refused the exchange: token audience other does not match federated credential cluster's audience berth \(HTTP 401\)/,
    );
    const wrong = path.join(dir, 'wrong-secret');
    writeFileSync(wrong, 'not-the-secret');
    await refused(
      ['--server', t.url, '--client-id', appId, '--client-secret-file', wrong],
      { image },
      /refused the exchange: wrong user name or password/,
    );
    await refused(['--server', t.url], { image }, /no credentials: give --client-id and --client-secret-file, or --token-file/);
    await refused(['--server', t.url, '--token-file', path.join(dir, 'missing')], { image }, /cannot read the token file .*ENOENT/);
    await refused(['--server', t.url], { image, apiVersion: 'credentialprovider.kubelet.k8s.io/v2' }, /unsupported apiVersion/);
    await refused([], { image }, /--server \(or BERTH_SERVER\) is required/);
    await refused(
      ['--server', 'http://127.0.0.1:1', '--token-file', secretFile],
      { image: `127.0.0.1:1/${reg}/app:v1` },
      /cannot reach Berth at http:\/\/127\.0\.0\.1:1/,
    );
  });
});
