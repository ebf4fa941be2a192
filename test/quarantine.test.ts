import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestApp, adminAuthHeader, basicAuthHeader, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { uniqueRepo, type PushedImage, type V2 } from './helpers/oci.js';
import { SCANNER } from '../src/services/scan/scanner.js';

// Quarantine as ACR defines it, over SQLite and PostgreSQL: with a registry's quarantine policy
// enabled, new manifests are hidden (pulls, blobs, tags, referrers, /acr/v1 and /api listings)
// from everyone without quarantine read until an AcrQuarantineWriter marks them Passed; Failed
// keeps them hidden; what was pushed before the policy is untouched. The quarantine webhook fires
// on push, the push webhook once Passed.

const FAST = {
  jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, leaseSeconds: 2 },
  egress: { allowPrivate: true, timeoutMs: 3000 },
  // The states here are set by hand (an external scanner); the built-in scanner would decide these
  // random-layer images Failed on its own (test/e2e/scan-quarantine.test.ts tests it deciding).
  scan: { mode: 'off' },
};

class Receiver {
  bodies: Record<string, unknown>[] = [];
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.writeHead(200).end('ok');
    });
  });
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }
  get url() {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until<T>(fn: () => T | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

for (const backend of BACKENDS) {
  describe(`quarantine (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let rx: Receiver;
    before(async () => {
      rx = await new Receiver().start();
      t = await startTestApp(backend, FAST);
    });
    after(async () => {
      await t?.close();
      await rx?.close();
    });

    async function api(method: string, path: string, body?: unknown, auth = adminAuthHeader()) {
      const res = await t.fetch(path, {
        method,
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }

    /** A user holding `role` on the registry; returns its Basic header. */
    async function userWith(reg: string, role: string): Promise<string> {
      const name = `q${role.toLowerCase().replace(/[^a-z]/g, '')}${reg}`.slice(0, 40);
      const password = `${name}-password-1`;
      assert.equal((await api('POST', '/api/users', { name, password })).status, 201);
      const ra = await api('POST', '/api/role-assignments', { assignee: name, role, scope: `/registries/${reg}` });
      assert.equal(ra.status, 201, JSON.stringify(ra.body));
      return basicAuthHeader(name, password);
    }

    async function status(v2: V2, path: string, method = 'GET'): Promise<number> {
      const res = await v2.fetch(path, { method });
      await res.arrayBuffer();
      return res.status;
    }

    async function tags(v2: V2, name: string): Promise<string[]> {
      const res = await v2.fetch(`${name}/tags/list`);
      return ((await res.json()) as { tags: string[] }).tags;
    }

    test('policy on: pushes are hidden until Passed; Failed stays hidden; earlier pushes untouched; webhooks and audit', async () => {
      const reg = await t.createRegistry();
      const repo = uniqueRepo('q');
      const name = `${reg}/${repo}`;
      const owner = t.v2();
      const puller = t.v2({ authorization: await userWith(reg, 'AcrPull') });
      const qreader = await userWith(reg, 'AcrQuarantineReader');
      const qwriter = await userWith(reg, 'AcrQuarantineWriter');
      const reader = t.v2({ authorization: qreader });
      const hook = await api('POST', `/api/registries/${reg}/webhooks`, {
        name: 'qhook',
        serviceUri: `${rx.url}/q`,
        actions: ['push', 'quarantine'],
      });
      assert.equal(hook.status, 201, JSON.stringify(hook.body));

      const early = await owner.pushImage(name, 'early');
      assert.equal((await api('GET', `/api/registries/${reg}`)).body!.policies.quarantinePolicy.status, 'disabled');
      const on = await api('PATCH', `/api/registries/${reg}`, { policies: { quarantinePolicy: { status: 'enabled' } } });
      assert.equal(on.status, 200, JSON.stringify(on.body));
      assert.deepEqual(on.body!.policies, { quarantinePolicy: { status: 'enabled' } });
      const bad = await api('PATCH', `/api/registries/${reg}`, { policies: { quarantinePolicy: { status: 'maybe' } } });
      assert.equal(bad.status, 400);

      const img = await owner.pushImage(name, 'v1');
      const sbom = await owner.pushImage(name, 'sbom', {
        artifactType: 'application/vnd.cyclonedx+json',
        subject: { mediaType: img.mediaType, digest: img.digest, size: img.size },
      });

      // AcrPull: as if it were not there, however asked.
      for (const ref of ['v1', img.digest]) {
        assert.equal(await status(puller, `${name}/manifests/${ref}`), 404);
        assert.equal(await status(puller, `${name}/manifests/${ref}`, 'HEAD'), 404);
      }
      const res = await puller.fetch(`${name}/manifests/v1`);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_UNKNOWN');
      assert.equal(await status(puller, `${name}/blobs/${img.layers[0]!.digest}`), 404);
      assert.equal(await status(puller, `${name}/blobs/${img.layers[0]!.digest}`, 'HEAD'), 404);
      assert.equal(await status(puller, `${name}/manifests/early`), 200);
      assert.deepEqual(await tags(puller, name), ['early']);
      const refs = (await (await puller.fetch(`${name}/referrers/${img.digest}`)).json()) as { manifests: unknown[] };
      assert.equal(refs.manifests.length, 0);
      const pullAuth = puller.authorization!;
      const acrTags = await api('GET', `/acr/v1/${name}/_tags`, undefined, pullAuth);
      assert.deepEqual(
        acrTags.body!.tags.map((x: { name: string }) => x.name),
        ['early'],
      );
      const acrManifests = await api('GET', `/acr/v1/${name}/_manifests`, undefined, pullAuth);
      assert.deepEqual(
        acrManifests.body!.manifests.map((x: { digest: string }) => x.digest),
        [early.digest],
      );
      assert.equal((await api('GET', `/acr/v1/${name}/_manifests/${img.digest}`, undefined, pullAuth)).status, 404);
      assert.equal((await api('GET', `/acr/v1/${name}/_tags/v1`, undefined, pullAuth)).status, 404);
      const apiTags = await api('GET', `/api/registries/${reg}/repositories/${repo}/_tags`, undefined, pullAuth);
      assert.deepEqual(
        apiTags.body!.value.map((x: { name: string }) => x.name),
        ['early'],
      );

      // AcrQuarantineReader (and the owner) see it all, with its state.
      assert.equal(await status(reader, `${name}/manifests/v1`), 200);
      assert.equal(await status(reader, `${name}/blobs/${img.layers[0]!.digest}`), 200);
      assert.deepEqual(await tags(reader, name), ['early', 'sbom', 'v1']);
      assert.equal(await status(owner, `${name}/manifests/${img.digest}`), 200);
      const attrs = await api('GET', `/acr/v1/${name}/_manifests/${img.digest}`, undefined, qreader);
      assert.equal(attrs.status, 200);
      assert.equal(attrs.body!.manifest.changeableAttributes.quarantineState, 'Quarantined');
      assert.equal(
        (await api('GET', `/acr/v1/${name}/_manifests/${early.digest}`, undefined, qreader)).body!.manifest.changeableAttributes
          .quarantineState,
        undefined,
      );

      // Only AcrQuarantineWriter (or Owner) changes the state.
      const details = JSON.stringify({ scanner: 'test', state: 'Scan Passed', result: { summary: [{ severity: 'High', count: 0 }] } });
      const patch = { quarantineState: 'Passed', quarantineDetails: details };
      assert.equal((await api('PATCH', `/acr/v1/${name}/_manifests/${img.digest}`, patch, pullAuth)).status, 403);
      assert.equal((await api('PATCH', `/acr/v1/${name}/_manifests/${img.digest}`, patch, qreader)).status, 403);
      assert.equal((await api('PATCH', `/acr/v1/${name}/_manifests/${img.digest}`, { quarantineState: 'Fine' }, qwriter)).status, 400);
      const passed = await api('PATCH', `/acr/v1/${name}/_manifests/${img.digest}`, patch, qwriter);
      assert.equal(passed.status, 200, JSON.stringify(passed.body));
      assert.equal(passed.body!.manifest.changeableAttributes.quarantineState, 'Passed');
      assert.equal(passed.body!.manifest.changeableAttributes.quarantineDetails, details);

      // Passed: AcrPull pulls it.
      assert.equal(await status(puller, `${name}/manifests/v1`), 200);
      assert.equal(await status(puller, `${name}/blobs/${img.layers[0]!.digest}`), 200);
      assert.deepEqual(await tags(puller, name), ['early', 'v1']);

      // The SBOM referrer was quarantined too; the scanner's service function releases it.
      await t.app.services.manifests.setQuarantineState(
        await t.app.services.registries.get(reg),
        repo,
        sbom.digest,
        'Passed',
        '{"scanner":"berth"}',
        SCANNER,
      );
      const refs2 = (await (await puller.fetch(`${name}/referrers/${img.digest}`)).json()) as { manifests: { digest: string }[] };
      assert.deepEqual(
        refs2.manifests.map((m) => m.digest),
        [sbom.digest],
      );

      // Failed stays hidden.
      const v2img: PushedImage = await owner.pushImage(name, 'v2');
      const failed = await api(
        'PATCH',
        `/acr/v1/${name}/_manifests/${v2img.digest}`,
        { quarantineState: 'Failed', quarantineDetails: '{}' },
        qwriter,
      );
      assert.equal(failed.status, 200);
      assert.equal(await status(puller, `${name}/manifests/v2`), 404);
      assert.equal(await status(reader, `${name}/manifests/v2`), 200);
      // Pushed again under another tag while Failed: still held, a quarantine event again, no push.
      const again = await owner.putManifest(name, 'v2b', v2img.bytes, v2img.mediaType);
      assert.equal(again.status, 201);
      assert.equal(await status(puller, `${name}/manifests/v2b`), 404);
      assert.deepEqual(await tags(puller, name), ['early', 'sbom', 'v1']);

      // Webhooks: quarantine on each push under the policy (ACR's payload: push's without mediaType);
      // push for the early image and, deferred, for v1 and the SBOM once Passed; none for v2.
      await until(() => rx.bodies.length >= 7);
      await new Promise((r) => setTimeout(r, 300));
      const quarantine = rx.bodies.filter((b) => b.action === 'quarantine');
      const pushes = rx.bodies.filter((b) => b.action === 'push');
      assert.deepEqual(
        quarantine.map((b) => (b.target as { digest: string }).digest).sort(),
        [img.digest, sbom.digest, v2img.digest, v2img.digest].sort(),
      );
      const q1 = quarantine.find((b) => (b.target as { digest: string }).digest === img.digest)!;
      assert.deepEqual(q1.target, { size: img.size, digest: img.digest, length: img.size, repository: repo, tag: 'v1' });
      assert.equal((q1.request as { method: string }).method, 'PUT');
      assert.deepEqual(pushes.map((b) => (b.target as { digest: string }).digest).sort(), [early.digest, img.digest, sbom.digest].sort());
      const p1 = pushes.find((b) => (b.target as { digest: string }).digest === img.digest)!;
      assert.equal((p1.target as { mediaType: string }).mediaType, img.mediaType);
      assert.equal((p1.target as { tag: string }).tag, 'v1');

      // The repository audit: pushes stay pushes (v2b included); each state change is a "quarantine" event.
      const pushAudit = await api('GET', `/api/audit/repository?registry=${reg}&operation=push`);
      assert.equal(pushAudit.status, 200, JSON.stringify(pushAudit.body));
      assert.equal(pushAudit.body!.value.length, 5);
      const qAudit = await api('GET', `/api/audit/repository?registry=${reg}&operation=quarantine`);
      assert.deepEqual(qAudit.body!.value.map((e: { digest: string }) => e.digest).sort(), [img.digest, sbom.digest, v2img.digest].sort());

      // Policy off: the state no longer hides anything.
      const off = await api('PATCH', `/api/registries/${reg}`, { policies: { quarantinePolicy: { status: 'disabled' } } });
      assert.equal(off.body!.policies.quarantinePolicy.status, 'disabled');
      assert.equal(await status(puller, `${name}/manifests/v2`), 200);
      const v3 = await owner.pushImage(name, 'v3');
      assert.equal(await status(puller, `${name}/manifests/${v3.digest}`), 200);
      const v3attrs = await api('GET', `/acr/v1/${name}/_manifests/${v3.digest}`);
      assert.equal(v3attrs.body!.manifest.changeableAttributes.quarantineState, undefined);
    });

    test('an index and its children leave quarantine together; roles and tokens', async () => {
      const reg = await t.createRegistry();
      const repo = uniqueRepo('qi');
      const name = `${reg}/${repo}`;
      const owner = t.v2();
      const puller = t.v2({ authorization: await userWith(reg, 'AcrPull') });
      await api('PATCH', `/api/registries/${reg}`, { policies: { quarantinePolicy: { status: 'enabled' } } });
      const a = await owner.pushImage(name, 'amd');
      const b = await owner.pushImage(name, 'arm');
      const index = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: a.mediaType, digest: a.digest, size: a.size, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: b.mediaType, digest: b.digest, size: b.size, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      };
      const put = await owner.putManifest(name, 'multi', index, 'application/vnd.oci.image.index.v1+json');
      assert.equal(put.status, 201);
      const digest = put.headers.get('docker-content-digest')!;
      // The owner may change the state too.
      const passed = await api('PATCH', `/acr/v1/${name}/_manifests/${digest}`, { quarantineState: 'Passed' });
      assert.equal(passed.status, 200, JSON.stringify(passed.body));
      assert.equal(await status(puller, `${name}/manifests/multi`), 200);
      assert.equal(await status(puller, `${name}/manifests/${a.digest}`), 200);
      assert.equal(await status(puller, `${name}/manifests/${b.digest}`), 200);

      // A pull token from the token service: AcrPull gets pull, never quarantine powers.
      const tokenRes = await t.fetch(`/oauth2/token?service=${t.host}&scope=repository:${name}:pull,quarantine_read`, {
        headers: { Authorization: puller.authorization! },
      });
      const token = ((await tokenRes.json()) as { access_token: string }).access_token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { access: { actions: string[] }[] };
      assert.deepEqual(claims.access[0]!.actions, ['pull']);

      // berth's own roles list names the quarantine roles with ACR's descriptions.
      const { ROLES } = await import('../src/auth/model.js');
      assert.match(ROLES.find((r) => r.name === 'AcrQuarantineReader')!.description, /ACR quarantine data reader/);
      assert.match(ROLES.find((r) => r.name === 'AcrQuarantineWriter')!.description, /ACR quarantine data writer/);
    });
  });
}
