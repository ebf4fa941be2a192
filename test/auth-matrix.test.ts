import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword, newSecret, secretHash } from '../src/auth/crypto.js';
import { basicAuthHeader as basic, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { TEST_PASSWORD_HASH_COST } from './helpers/credentials.js';
import { blobOf, randomBlob } from './helpers/oci.js';

// Identity kind x role or scope map x action x repository inside/outside the grant. Expected
// outcomes are written out from ACR's documentation (FEATURES.md §3.2-3.3), not derived from the
// code under test. Identified callers who may not act get 403 DENIED; anonymous callers get 401.

const OWNER = 'owner-password-for-the-matrix';
type Op = 'pull' | 'push' | 'delete' | 'tags' | 'untag' | 'catalog';
const OPS: Op[] = ['pull', 'push', 'delete', 'tags', 'untag', 'catalog'];
const ALL = new Set<Op>(OPS);

interface Case {
  name: string;
  /** Ops allowed in team/app (inside the grant). */
  inside: Op[];
  /** Ops allowed in other/app (outside any repository-scoped grant). */
  outside: Op[];
  anonymous?: boolean;
}

const CASES: Case[] = [
  { name: 'user Owner', inside: OPS, outside: OPS },
  { name: 'user Contributor', inside: OPS, outside: OPS },
  { name: 'user Reader', inside: ['pull', 'tags', 'catalog'], outside: ['pull', 'tags', 'catalog'] },
  { name: 'user AcrPull', inside: ['pull', 'tags', 'catalog'], outside: ['pull', 'tags', 'catalog'] },
  { name: 'user AcrPush', inside: ['pull', 'push', 'tags', 'untag', 'catalog'], outside: ['pull', 'push', 'tags', 'untag', 'catalog'] },
  { name: 'user AcrDelete', inside: ['delete', 'untag'], outside: ['delete', 'untag'] },
  // "push" here is a blob upload, which a signer needs for its envelopes; an image manifest from a
  // signer is refused (test/trust/trust-api.test.ts).
  { name: 'user AcrImageSigner', inside: ['pull', 'push', 'tags'], outside: ['pull', 'push', 'tags'] },
  { name: 'user Repository Reader on team/*', inside: ['pull', 'tags'], outside: [] },
  { name: 'user Repository Writer on team/*', inside: ['pull', 'push', 'tags', 'untag'], outside: [] },
  { name: 'user Repository Contributor on team/*', inside: ['pull', 'push', 'delete', 'tags', 'untag'], outside: [] },
  { name: 'user Catalog Lister', inside: ['catalog'], outside: ['catalog'] },
  { name: 'user AcrPull on another registry', inside: [], outside: [] },
  {
    name: 'service principal AcrPush',
    inside: ['pull', 'push', 'tags', 'untag', 'catalog'],
    outside: ['pull', 'push', 'tags', 'untag', 'catalog'],
  },
  { name: 'admin user', inside: OPS, outside: OPS },
  { name: 'token _repositories_pull', inside: ['pull', 'tags'], outside: ['pull', 'tags'] },
  { name: 'token _repositories_push', inside: ['pull', 'push', 'tags'], outside: ['pull', 'push', 'tags'] },
  {
    name: 'token _repositories_admin',
    inside: ['pull', 'push', 'delete', 'tags', 'untag'],
    outside: ['pull', 'push', 'delete', 'tags', 'untag'],
  },
  { name: 'token team/app read+write+metadata/read', inside: ['pull', 'push', 'tags'], outside: [] },
  { name: 'token team/* delete+metadata/write', inside: ['delete', 'untag'], outside: [] },
  { name: 'token team/app metadata/read only', inside: ['tags'], outside: [] },
  { name: 'anonymous, anonymous pull on', inside: ['pull', 'tags'], outside: ['pull', 'tags'], anonymous: true },
  { name: 'anonymous, anonymous pull off', inside: [], outside: [], anonymous: true },
];

for (const backend of BACKENDS) {
  describe(`authorization matrix on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string; // anonymous pull off
    let openReg: string; // Standard, anonymous pull on
    const creds = new Map<string, string | undefined>(); // case name -> Authorization header (undefined = anonymous)
    const ownerAuth = basic('admin', OWNER);
    let seq = 0;

    async function req(
      method: string,
      path: string,
      auth: string | undefined,
      body?: Buffer,
      headers: Record<string, string> = {},
    ): Promise<Response> {
      return t.fetch(`${t.url}/v2/${path}`, { method, body, headers: { ...(auth ? { Authorization: auth } : {}), ...headers } });
    }

    /** Pushes an image as the owner and returns its manifest digest. */
    async function seed(registry: string, repo: string, tag: string): Promise<string> {
      const layer = randomBlob(64);
      const config = blobOf(`{"n":${++seq}}`);
      for (const b of [layer, config])
        assert.equal((await req('POST', `${registry}/${repo}/blobs/uploads/?digest=${b.digest}`, ownerAuth, b.data)).status, 201);
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size }],
        }),
      );
      const res = await req('PUT', `${registry}/${repo}/manifests/${tag}`, ownerAuth, m, {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      });
      assert.equal(res.status, 201);
      return res.headers.get('docker-content-digest')!;
    }

    /** Runs one operation; returns the HTTP status. */
    async function run(op: Op, registry: string, repo: string, auth: string | undefined): Promise<number> {
      const name = `${registry}/${repo}`;
      switch (op) {
        case 'pull':
          return (await req('GET', `${name}/manifests/v1`, auth)).status;
        case 'tags':
          return (await req('GET', `${name}/tags/list`, auth)).status;
        case 'catalog':
          return (await req('GET', `${registry}/_catalog`, auth)).status;
        case 'push': {
          const b = randomBlob(32);
          return (await req('POST', `${name}/blobs/uploads/?digest=${b.digest}`, auth, b.data)).status;
        }
        case 'delete': {
          const digest = await seed(registry, repo, `del${++seq}`);
          return (await req('DELETE', `${name}/manifests/${digest}`, auth)).status;
        }
        case 'untag': {
          const tag = `untag${++seq}`;
          await seed(registry, repo, tag);
          return (await req('DELETE', `${name}/manifests/${tag}`, auth)).status;
        }
      }
    }

    const OK: Record<Op, number> = { pull: 200, tags: 200, catalog: 200, push: 201, delete: 202, untag: 202 };

    before(async () => {
      t = await startTestApp(backend, { auth: { adminPassword: OWNER } });
      reg = await t.createRegistry(undefined, 'Standard');
      openReg = await t.createRegistry(undefined, 'Standard');
      const other = await t.createRegistry();
      const store = t.app.services.auth.store;
      const regRow = (await t.app.services.registries.find(reg))!;
      const otherRow = (await t.app.services.registries.find(other))!;
      const openRow = (await t.app.services.registries.find(openReg))!;
      await store.setRegistryFlags(openRow.id, { anonymous_pull_enabled: 1 });
      for (const r of [reg, openReg]) for (const repo of ['team/app', 'other/app']) await seed(r, repo, 'v1');

      const user = async (label: string, role: string, registryId: number, repository: string | null = null) => {
        const name = `u${label
          .replace(/[^a-z0-9]/gi, '')
          .toLowerCase()
          .slice(0, 40)}`;
        const u = (await store.createUser(name, await hashPassword('matrix-password-1', TEST_PASSWORD_HASH_COST)))!;
        await store.addRoleAssignment({ principal_type: 'user', principal_id: u.id, role, registry_id: registryId, repository });
        creds.set(label, basic(name, 'matrix-password-1'));
      };
      await user('user Owner', 'Owner', regRow.id);
      await user('user Contributor', 'Contributor', regRow.id);
      await user('user Reader', 'Reader', regRow.id);
      await user('user AcrPull', 'AcrPull', regRow.id);
      await user('user AcrPush', 'AcrPush', regRow.id);
      await user('user AcrDelete', 'AcrDelete', regRow.id);
      await user('user AcrImageSigner', 'AcrImageSigner', regRow.id);
      await user('user Repository Reader on team/*', 'Container Registry Repository Reader', regRow.id, 'team/*');
      await user('user Repository Writer on team/*', 'Container Registry Repository Writer', regRow.id, 'team/*');
      await user('user Repository Contributor on team/*', 'Container Registry Repository Contributor', regRow.id, 'team/*');
      await user('user Catalog Lister', 'Container Registry Repository Catalog Lister', regRow.id);
      await user('user AcrPull on another registry', 'AcrPull', otherRow.id);

      const sp = await store.createServicePrincipal('matrix-sp');
      const spSecret = newSecret();
      await store.putSecret({
        owner_type: 'sp',
        owner_id: sp.id,
        name: 'secret1',
        hash: secretHash(spSecret),
        sealed: null,
        hint: spSecret.slice(-4),
        expires_at: null,
      });
      await store.addRoleAssignment({
        principal_type: 'sp',
        principal_id: sp.id,
        role: 'AcrPush',
        registry_id: regRow.id,
        repository: null,
      });
      creds.set('service principal AcrPush', basic(sp.app_id, spSecret));

      await store.setRegistryFlags(regRow.id, { admin_enabled: 1 });
      const adminPassword = newSecret();
      await store.putSecret({
        owner_type: 'admin',
        owner_id: regRow.id,
        name: 'password',
        hash: secretHash(adminPassword),
        sealed: null,
        hint: adminPassword.slice(-4),
        expires_at: null,
      });
      creds.set('admin user', basic(reg, adminPassword));

      const token = async (label: string, scopeMap: string, actions?: string[]) => {
        const name = `tok${++seq}x${label.length}`;
        if (actions) assert.ok(await store.createScopeMap(regRow.id, scopeMap, '', actions));
        const tk = (await store.createToken(regRow.id, name, scopeMap, 'enabled'))!;
        const pw = newSecret();
        await store.putSecret({
          owner_type: 'token',
          owner_id: tk.id,
          name: 'password1',
          hash: secretHash(pw),
          sealed: null,
          hint: pw.slice(-4),
          expires_at: null,
        });
        creds.set(label, basic(name, pw));
      };
      await token('token _repositories_pull', '_repositories_pull');
      await token('token _repositories_push', '_repositories_push');
      await token('token _repositories_admin', '_repositories_admin');
      await token('token team/app read+write+metadata/read', 'rwmap', [
        'repositories/team/app/content/read',
        'repositories/team/app/content/write',
        'repositories/team/app/metadata/read',
      ]);
      await token('token team/* delete+metadata/write', 'delmap', [
        'repositories/team/*/content/delete',
        'repositories/team/*/metadata/write',
      ]);
      await token('token team/app metadata/read only', 'mdmap', ['repositories/team/app/metadata/read']);
    });
    after(async () => t?.close());

    for (const c of CASES) {
      test(`${c.name}: Basic credentials`, async () => {
        const registry = c.name === 'anonymous, anonymous pull on' ? openReg : reg;
        const auth = c.anonymous ? undefined : creds.get(c.name);
        const seen: string[] = [];
        for (const [where, allowed] of [
          ['team/app', c.inside],
          ['other/app', c.outside],
        ] as const) {
          for (const op of OPS) {
            if (op === 'catalog' && where === 'other/app') continue; // registry-wide
            const status = await run(op, registry, where, auth);
            const expected = new Set(allowed).has(op) ? OK[op] : c.anonymous ? 401 : 403;
            if (status !== expected) seen.push(`${op} ${where}: got ${status}, expected ${expected}`);
          }
        }
        assert.deepEqual(seen, []);
      });
    }

    test('the same outcomes through the Bearer token flow', async () => {
      const seen: string[] = [];
      for (const c of CASES.filter((x) => !x.anonymous)) {
        const auth = creds.get(c.name)!;
        for (const op of ['pull', 'push', 'tags'] as const) {
          for (const [where, allowed] of [
            ['team/app', c.inside],
            ['other/app', c.outside],
          ] as const) {
            // The scopes a client asks for after the challenge (tags: pull or metadata_read will do).
            const action = op === 'push' ? 'pull,push' : op === 'tags' ? 'pull,metadata_read' : 'pull';
            const q = new URLSearchParams({ service: t.host, scope: `repository:${reg}/${where}:${action}` });
            const tok = await t.fetch(`${t.url}/oauth2/token?${q}`, { headers: { Authorization: auth } });
            assert.equal(tok.status, 200);
            const bearer = `Bearer ${((await tok.json()) as { token: string }).token}`;
            const status = await run(op, reg, where, bearer);
            const expected = new Set(allowed).has(op) ? OK[op] : 403;
            if (status !== expected) seen.push(`${c.name}: ${op} ${where}: got ${status}, expected ${expected}`);
          }
        }
      }
      assert.deepEqual(seen, []);
    });

    test('every operation allowed to nobody anonymous on a registry without anonymous pull carries a challenge', async () => {
      const res = await req('GET', `${reg}/team/app/manifests/v1`, undefined);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      assert.ok(ALL.size === 6);
    });
  });
}
