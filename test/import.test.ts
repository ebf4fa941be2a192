import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { adminAuthHeader, ADMIN_PASSWORD, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { FakeUpstream, makeImage, type FakeImage } from './helpers/fake-upstream.js';
import { imageIndex, manifestBytes, MT, sha256, V2 } from './helpers/oci.js';
import { PEER_GATE, seed, startDistribution, startDistributionWithUser } from './helpers/distribution.js';

// berth import (az acr import) against real upstreams: Debian's docker-registry (CNCF
// Distribution) anonymous and with htpasswd Basic auth, another Berth with token auth (and its
// referrers), a multi-arch index, tag conflicts and --force, locks, and hostile upstreams.

interface ImportView {
  id: number;
  status: string;
  digest?: string;
  error: { code: string; message: string } | null;
  progress: {
    phase: string;
    manifests: { done: number; total: number };
    blobs: { done: number; total: number; skipped: number };
    bytes: { done: number; total: number };
  };
}

async function seedIndex(v2: V2, repo: string, tag: string, platforms: string[]): Promise<{ digest: string; children: FakeImage[] }> {
  const children: FakeImage[] = [];
  for (const arch of platforms) {
    const img = makeImage([300, 500], arch);
    await seed(v2, repo, img.digest, img);
    children.push(img);
  }
  const index = manifestBytes(
    imageIndex(
      children.map((c, i) => ({
        mediaType: c.mediaType,
        digest: c.digest,
        size: c.manifest.length,
        platform: { architecture: platforms[i]!, os: 'linux' },
      })),
    ),
  );
  const res = await v2.putManifest(repo, tag, index, MT.ociIndex);
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(index), children };
}

for (const backend of BACKENDS) {
  describe(`berth import (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    const cleanups: (() => Promise<void>)[] = [];

    before(async () => {
      t = await startTestApp(backend, {
        egress: { allowPrivate: true },
        jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      });
      v2 = t.v2();
      reg = await t.createRegistry();
    });
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      await t?.close();
    });

    const post = (body: unknown, auth = adminAuthHeader(), registry = reg, app = t) =>
      app.fetch(`${app.url}/api/registries/${registry}/importImage`, {
        method: 'POST',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    async function wait(id: number, app = t, registry = reg): Promise<ImportView> {
      const end = Date.now() + 60_000;
      for (;;) {
        const r = await app.fetch(`${app.url}/api/registries/${registry}/imports/${id}`, { headers: { Authorization: adminAuthHeader() } });
        assert.equal(r.status, 200);
        const v = (await r.json()) as ImportView;
        if (v.status === 'Succeeded' || v.status === 'Failed') return v;
        assert.ok(Date.now() < end, `import ${id} still ${v.status}: ${JSON.stringify(v)}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    async function importAndWait(body: unknown): Promise<ImportView> {
      const r = await post(body);
      const text = await r.text();
      assert.equal(r.status, 202, text);
      const v = JSON.parse(text) as ImportView;
      assert.match(r.headers.get('location') ?? '', new RegExp(`/api/registries/${reg}/imports/${v.id}$`));
      return wait(v.id);
    }
    async function assertImage(repo: string, ref: string, img: FakeImage): Promise<void> {
      const m = await v2.fetch(`${reg}/${repo}/manifests/${ref}`, { headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
      assert.equal(m.status, 200, `${repo}:${ref}`);
      assert.equal(m.headers.get('docker-content-digest'), img.digest);
      assert.ok(Buffer.from(await m.arrayBuffer()).equals(img.manifest));
      for (const [d, data] of img.blobs) {
        const b = await v2.fetch(`${reg}/${repo}/blobs/${d}`);
        assert.equal(b.status, 200, d);
        assert.ok(Buffer.from(await b.arrayBuffer()).equals(data), `blob ${d} intact`);
      }
    }

    test('from Distribution, anonymous, with the CLI (target defaults to the source repository:tag)', PEER_GATE, async () => {
      const peer = await startDistribution();
      cleanups.push(peer.stop);
      const img = makeImage([2048, 70_000]);
      await seed(new V2(peer.url, { authorization: null }), 'lib/app', 'v1', img);
      const saved = { u: process.env.BERTH_USERNAME, p: process.env.BERTH_PASSWORD };
      process.env.BERTH_USERNAME = 'admin';
      process.env.BERTH_PASSWORD = ADMIN_PASSWORD;
      try {
        const out = await runCli(['import', '-n', reg, '--source', `${peer.host}/lib/app:v1`, '--server', t.url]);
        assert.equal(out.code, 0, out.stderr);
        const v = JSON.parse(out.stdout) as ImportView;
        assert.equal(v.status, 'Succeeded');
        assert.equal(v.digest, img.digest);
        assert.deepEqual(v.progress.blobs, { done: 3, total: 3, skipped: 0 });
        assert.deepEqual(v.progress.manifests, { done: 1, total: 1 });
        assert.equal(v.progress.bytes.done, v.progress.bytes.total);
      } finally {
        process.env.BERTH_USERNAME = saved.u;
        process.env.BERTH_PASSWORD = saved.p;
        if (saved.u === undefined) delete process.env.BERTH_USERNAME;
        if (saved.p === undefined) delete process.env.BERTH_PASSWORD;
      }
      await assertImage('lib/app', 'v1', img);
      // The push event is the caller's.
      const ev = await t.app.meta.db
        .selectFrom('events')
        .selectAll()
        .where('action', '=', 'push')
        .where('repository', '=', 'lib/app')
        .execute();
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.identity, 'admin');
      assert.equal(ev[0]!.digest, img.digest);
    });

    test('from Distribution with htpasswd Basic auth; wrong or missing credentials fail naming the upstream', PEER_GATE, async () => {
      const peer = await startDistributionWithUser('puller', 'pull-Secret-1');
      cleanups.push(peer.stop);
      const img = makeImage([4096]);
      await seed(new V2(peer.url, { authorization: basicAuthHeader('puller', 'pull-Secret-1') }), 'private/app', 'v2', img);

      const none = await importAndWait({ source: { registryUri: peer.host, sourceImage: 'private/app:v2' } });
      assert.equal(none.status, 'Failed');
      assert.equal(none.error?.code, 'DENIED');
      assert.match(
        none.error.message,
        new RegExp(`${peer.host.replace(/\./g, '\\.')} refused access to private/app \\(HTTP 401\\).*--source-username`),
      );

      const wrong = await importAndWait({
        source: { registryUri: peer.host, sourceImage: 'private/app:v2', credentials: { username: 'puller', password: 'nope' } },
      });
      assert.equal(wrong.status, 'Failed');
      assert.match(wrong.error!.message, /were not accepted/);
      assert.ok(!JSON.stringify(wrong).includes('nope'), 'credentials never come back');

      const ok = await importAndWait({
        source: { registryUri: peer.host, sourceImage: 'private/app:v2', credentials: { username: 'puller', password: 'pull-Secret-1' } },
        targetTags: ['copied/app:latest', 'copied/app:v2'],
      });
      assert.equal(ok.status, 'Succeeded', JSON.stringify(ok));
      await assertImage('copied/app', 'latest', img);
      await assertImage('copied/app', 'v2', img);
      // Sealed and then cleared: no credentials are left in the metadata once the import ended.
      const rows = await t.app.meta.db.selectFrom('imports').select(['credentials']).execute();
      assert.ok(rows.every((r) => r.credentials === null));
      const jobs = await (await t.fetch(`${t.url}/api/jobs?kind=import`, { headers: { Authorization: adminAuthHeader() } })).text();
      assert.ok(jobs.includes('private/app') && !jobs.includes('pull-Secret-1'), jobs);
    });

    test('a multi-arch index: every platform image, then the index; each pulls by digest', PEER_GATE, async () => {
      const peer = await startDistribution();
      cleanups.push(peer.stop);
      const { digest, children } = await seedIndex(new V2(peer.url, { authorization: null }), 'multi/app', 'v1', [
        'amd64',
        'arm64',
        's390x',
      ]);
      const v = await importAndWait({ source: { registryUri: peer.host, sourceImage: 'multi/app:v1' }, targetTags: ['multi:v1'] });
      assert.equal(v.status, 'Succeeded', JSON.stringify(v));
      assert.equal(v.digest, digest);
      assert.deepEqual(v.progress.manifests, { done: 4, total: 4 });
      assert.equal(v.progress.blobs.total, 9);
      const idx = await v2.fetch(`${reg}/multi/manifests/v1`, { headers: { Accept: MT.ociIndex } });
      assert.equal(idx.headers.get('docker-content-digest'), digest);
      for (const c of children) await assertImage('multi', c.digest, c);

      // import.maxManifests bounds an index: more children than the limit fail before anything is copied.
      const small = await startTestApp(backend, {
        egress: { allowPrivate: true },
        import: { maxManifests: 2 },
        jobs: { pollIntervalMs: 50 },
      });
      cleanups.push(() => small.close());
      const sreg = await small.createRegistry();
      const r = await post({ source: { registryUri: peer.host, sourceImage: 'multi/app:v1' } }, adminAuthHeader(), sreg, small);
      assert.equal(r.status, 202);
      const failed = await wait(((await r.json()) as ImportView).id, small, sreg);
      assert.equal(failed.status, 'Failed');
      assert.equal(failed.error?.code, 'MANIFEST_INVALID');
      assert.match(failed.error.message, /more than 2 manifests.*import\.maxManifests/);
      const cat = await small.v2().fetch(`${sreg}/multi/app/tags/list`);
      assert.equal(cat.status, 404);
    });

    test('from another Berth with token auth, with the referrers of the image', async () => {
      const up = await startTestApp(backend);
      cleanups.push(() => up.close());
      const upreg = await up.createRegistry();
      const upv2 = up.v2();
      const img = await upv2.pushImage(`${upreg}/app`, 'v1', { layers: 2 });
      const sig = await upv2.pushImage(`${upreg}/app`, 'sig', {
        artifactType: 'application/vnd.example.signature',
        subject: { mediaType: img.mediaType, digest: img.digest, size: img.size },
      });
      await upv2.fetch(`${upreg}/app/manifests/sig`, { method: 'DELETE' }); // a referrer need not be tagged
      // A puller of the upstream (the owner's password is the same in both deployments, which this one refuses to send).
      for (const [path, body] of [
        ['/api/users', { name: 'puller', password: 'Puller-Secret-1' }],
        ['/api/role-assignments', { assignee: 'puller', role: 'AcrPull', scope: `/registries/${upreg}` }],
      ] as const) {
        const r = await up.fetch(`${up.url}${path}`, {
          method: 'POST',
          headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        assert.equal(r.status, 201, await r.text());
      }

      // Berth answers anonymous pulls with a Bearer challenge: without credentials the token service refuses.
      const anon = await importAndWait({ source: { registryUri: up.host, sourceImage: `${upreg}/app:v1` }, targetTags: ['fromberth:v1'] });
      assert.equal(anon.status, 'Failed');
      assert.equal(anon.error?.code, 'DENIED');

      const v = await importAndWait({
        source: {
          registryUri: up.host,
          sourceImage: `${upreg}/app@${img.digest}`,
          credentials: { username: 'puller', password: 'Puller-Secret-1' },
        },
        targetTags: ['fromberth:v1'],
      });
      assert.equal(v.status, 'Succeeded', JSON.stringify(v));
      assert.equal(v.digest, img.digest);
      const m = await v2.fetch(`${reg}/fromberth/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal(m.headers.get('docker-content-digest'), img.digest);
      for (const l of img.layers) assert.equal((await v2.fetch(`${reg}/fromberth/blobs/${l.digest}`)).status, 200);
      const refs = (await (await v2.fetch(`${reg}/fromberth/referrers/${img.digest}`)).json()) as {
        manifests: { digest: string; artifactType?: string }[];
      };
      assert.deepEqual(
        refs.manifests.map((x) => x.digest),
        [sig.digest],
      );
      assert.equal(refs.manifests[0]!.artifactType, 'application/vnd.example.signature');
    });

    test('an existing target tag fails before anything is copied; --force overwrites; a locked tag still fails', async () => {
      const up = new FakeUpstream();
      const a = makeImage([1000]);
      const b = makeImage([1200]);
      up.add('src/app', 'a', a);
      up.add('src/app', 'b', b);
      await up.start();
      cleanups.push(() => up.close());
      assert.equal(
        (await importAndWait({ source: { registryUri: up.host, sourceImage: 'src/app:a' }, targetTags: ['conflict:v1'] })).status,
        'Succeeded',
      );

      const r = await post({ source: { registryUri: up.host, sourceImage: 'src/app:b' }, targetTags: ['conflict:v1'] });
      assert.equal(r.status, 409);
      const err = ((await r.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
      assert.equal(err.code, 'CONFLICT');
      assert.match(err.message, /tag conflict:v1 already exists .*--force/);
      for (const d of b.blobs.keys()) {
        assert.equal((await v2.fetch(`${reg}/conflict/blobs/${d}`, { method: 'HEAD' })).status, 404, 'nothing of b was copied');
        assert.equal(up.blobGets.get(d), undefined, 'nothing of b was even fetched');
      }

      const forced = await importAndWait({
        source: { registryUri: up.host, sourceImage: 'src/app:b' },
        targetTags: ['conflict:v1'],
        mode: 'Force',
      });
      assert.equal(forced.status, 'Succeeded');
      await assertImage('conflict', 'v1', b);

      // writeEnabled=false on the tag: Force does not override a lock, and nothing is copied.
      const lock = await v2.fetch(`/acr/v1/${reg}/conflict/_tags/v1`, {
        method: 'PATCH',
        body: JSON.stringify({ writeEnabled: false }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(lock.status, 200, await lock.text());
      const c = makeImage([1300]);
      up.add('src/app', 'c', c);
      const locked = await importAndWait({
        source: { registryUri: up.host, sourceImage: 'src/app:c' },
        targetTags: ['conflict:v1'],
        mode: 'Force',
      });
      assert.equal(locked.status, 'Failed');
      assert.equal(locked.error?.code, 'DENIED');
      assert.match(locked.error.message, /tag v1 is locked: writeEnabled is false/);
      for (const d of c.blobs.keys()) assert.equal(up.blobGets.get(d), undefined, 'nothing of c was fetched');
      await assertImage('conflict', 'v1', b);
    });

    test('authorization: push rights on every target repository', async () => {
      const up = new FakeUpstream();
      up.add('src/app', 'a', makeImage([100]));
      await up.start();
      cleanups.push(() => up.close());
      // A user with AcrPush on one repository only.
      const mk = await t.fetch(`${t.url}/api/users`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `pusher${backend}`, password: 'pusher-Secret-99' }),
      });
      assert.ok(mk.status === 201 || mk.status === 200, await mk.text());
      const ra = await t.fetch(`${t.url}/api/role-assignments`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ assignee: `pusher${backend}`, role: 'AcrPush', scope: `/registries/${reg}/repositories/mine` }),
      });
      assert.ok(ra.status === 201 || ra.status === 200, await ra.text());
      const auth = basicAuthHeader(`pusher${backend}`, 'pusher-Secret-99');
      const denied = await post({ source: { registryUri: up.host, sourceImage: 'src/app:a' }, targetTags: ['mine:v1', 'other:v1'] }, auth);
      assert.equal(denied.status, 403);
      assert.match(((await denied.json()) as { errors: { message: string }[] }).errors[0]!.message, /not allowed to push to .*\/other/);
      const ok = await post({ source: { registryUri: up.host, sourceImage: 'src/app:a' }, targetTags: ['mine:v1'] }, auth);
      const text = await ok.text();
      assert.equal(ok.status, 202, text);
      assert.equal((await wait((JSON.parse(text) as ImportView).id)).status, 'Succeeded');
    });

    test('Basic auth upstream redirecting blobs to a storage host: credentials stay with the registry', async () => {
      const storage = new FakeUpstream();
      const up = new FakeUpstream({ basicAuth: { username: 'u', password: 'p-Secret' } });
      const img = makeImage([3000, 4000]);
      storage.add('src/app', 'v1', img);
      up.add('src/app', 'v1', img);
      await storage.start();
      (up.opts as { redirectBlobsTo?: string }).redirectBlobsTo = `http://${storage.host}`;
      await up.start();
      cleanups.push(
        () => up.close(),
        () => storage.close(),
      );
      const v = await importAndWait({
        source: { registryUri: up.host, sourceImage: 'src/app:v1', credentials: { username: 'u', password: 'p-Secret' } },
        targetTags: ['redirected:v1'],
      });
      assert.equal(v.status, 'Succeeded', JSON.stringify(v));
      await assertImage('redirected', 'v1', img);
      assert.equal(storage.blobGets.size, 3);
      assert.ok(
        storage.authorizations.every((a) => a === undefined),
        'no Authorization sent to the storage host',
      );
    });

    test('the CLI: a failed import exits 1 with its reason; --no-wait returns the queued import', async () => {
      const up = new FakeUpstream();
      up.add('src/app', 'a', makeImage([10]));
      await up.start();
      cleanups.push(() => up.close());
      const saved = { u: process.env.BERTH_USERNAME, p: process.env.BERTH_PASSWORD };
      process.env.BERTH_USERNAME = 'admin';
      process.env.BERTH_PASSWORD = ADMIN_PASSWORD;
      try {
        const failed = await runCli(['import', '-n', reg, '--source', `${up.host}/src/app:nope`, '--server', t.url]);
        assert.equal(failed.code, 1);
        assert.match(failed.stderr, /manifest nope is not known to .*\(MANIFEST_UNKNOWN\)/);
        const queued = await runCli([
          'import',
          '-n',
          reg,
          '--source',
          `${up.host}/src/app:a`,
          '-t',
          'nowait:v1',
          '--repository',
          'nowait-untagged',
          '--no-wait',
          '--server',
          t.url,
        ]);
        assert.equal(queued.code, 0, queued.stderr);
        const v = JSON.parse(queued.stdout) as ImportView & { targetTags: string[]; untaggedTargetRepositories: string[] };
        assert.ok(['Queued', 'Running'].includes(v.status), v.status);
        assert.deepEqual(v.targetTags, ['nowait:v1']);
        assert.deepEqual(v.untaggedTargetRepositories, ['nowait-untagged']);
        const done = await wait(v.id);
        assert.equal(done.status, 'Succeeded');
        assert.equal(
          (await v2.fetch(`${reg}/nowait-untagged/manifests/${done.digest}`, { method: 'HEAD', headers: { Accept: MT.ociManifest } }))
            .status,
          200,
        );
        const usage = await runCli(['import', '-n', reg, '--source', 'app:v1', '--server', t.url]);
        assert.equal(usage.code, 1);
        assert.match(usage.stderr, /does not start with a registry host; use REGISTRY\/REPOSITORY:TAG/);
      } finally {
        process.env.BERTH_USERNAME = saved.u;
        process.env.BERTH_PASSWORD = saved.p;
        if (saved.u === undefined) delete process.env.BERTH_USERNAME;
        if (saved.p === undefined) delete process.env.BERTH_PASSWORD;
      }
    });

    test('credentials of this deployment are refused as source credentials, unless the source is this deployment', async () => {
      const up = new FakeUpstream();
      up.add('src/app', 'v1', makeImage([10]));
      await up.start();
      cleanups.push(() => up.close());
      const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const r = await t.fetch(`${t.url}${path}`, {
          method,
          headers: { Authorization: adminAuthHeader(), ...(body ? { 'Content-Type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        assert.ok(r.status < 300, `${method} ${path}: ${r.status}`);
        return (await r.json()) as T;
      };
      await api('PATCH', `/api/registries/${reg}`, { adminUserEnabled: true });
      const admin = await api<{ username: string; passwords: { value: string }[] }>('GET', `/api/registries/${reg}/credentials`);
      const { token } = await api<{ token: string }>('GET', `/oauth2/token?service=${encodeURIComponent(t.host)}`);
      const ours: [string, { username: string; password: string }][] = [
        ['the owner password', { username: 'admin', password: ADMIN_PASSWORD }],
        ["a registry's admin user", { username: admin.username, password: admin.passwords[0]!.value }],
        ['a Berth token, whatever the user name', { username: 'anyone', password: token }],
      ];
      for (const [what, credentials] of ours) {
        const r = await post({ source: { registryUri: up.host, sourceImage: 'src/app:v1', credentials }, targetTags: ['ours:v1'] });
        const text = await r.text();
        assert.equal(r.status, 400, `${what}: ${text}`);
        const e = (JSON.parse(text) as { errors: { code: string; message: string }[] }).errors[0]!;
        assert.equal(e.code, 'REQUEST_INVALID', what);
        assert.match(e.message, /credentials of this Berth deployment, and Berth credentials must not be sent upstream/, what);
        assert.match(e.message, /--source-username\/--source-password, or -u\/-p as in az acr import/, what);
        assert.ok(!text.includes(credentials.password), 'the secret is not echoed');
      }
      assert.equal(up.authorizations.length, 0, 'nothing was sent to the upstream');
      // Not a failed sign-in: no Denied login was recorded for the owner, and the owner still signs in.
      const denied = await t.app.meta.db
        .selectFrom('login_events')
        .selectAll()
        .where('result', '=', 'Denied')
        .where('identity', '=', 'admin')
        .execute();
      assert.equal(denied.length, 0);

      // A user name of this deployment with another password is the upstream's account: allowed.
      const theirs = await importAndWait({
        source: { registryUri: up.host, sourceImage: 'src/app:v1', credentials: { username: 'admin', password: 'upstream-Secret-9' } },
        targetTags: ['theirs:v1'],
      });
      assert.equal(theirs.status, 'Succeeded', JSON.stringify(theirs));
      // The source is this deployment (the host the caller reached it at): its own credentials are the source's.
      const self = await importAndWait({
        source: { registryUri: t.host, sourceImage: `${reg}/theirs:v1`, credentials: { username: 'admin', password: ADMIN_PASSWORD } },
        targetTags: ['self:v1'],
      });
      assert.equal(self.status, 'Succeeded', JSON.stringify(self));
    });

    test('bad requests: source syntax (with an example), unknown source manifest', async () => {
      for (const sourceImage of ['nohost/app:v1', 'example.com/UPPER:v1', 'example.com/app:bad tag', 'example.com/app@sha256:123']) {
        const r = await post({ source: { sourceImage } });
        assert.equal(r.status, 400, sourceImage);
        const e = ((await r.json()) as { errors: { code: string; message: string }[] }).errors[0]!;
        assert.equal(e.code, 'REQUEST_INVALID');
        assert.match(e.message, /e\.g\. /, e.message);
      }
      const up = new FakeUpstream();
      up.add('src/app', 'a', makeImage([10]));
      await up.start();
      cleanups.push(() => up.close());
      const v = await importAndWait({ source: { sourceImage: `${up.host}/src/app:missing` } });
      assert.equal(v.status, 'Failed');
      assert.equal(v.error?.code, 'MANIFEST_UNKNOWN');
      assert.match(v.error.message, new RegExp(`manifest missing is not known to ${up.host}/src/app`));
    });

    test('hostile: a blob whose bytes do not match its digest fails the import and stores nothing', async () => {
      const img = makeImage([5000, 6000]);
      const [configDigest] = [...img.blobs.keys()];
      const up = new FakeUpstream({ corrupt: new Set([configDigest!]) });
      up.add('evil/app', 'v1', img);
      await up.start();
      cleanups.push(() => up.close());
      const v = await importAndWait({ source: { registryUri: up.host, sourceImage: 'evil/app:v1' }, targetTags: ['evil:v1'] });
      assert.equal(v.status, 'Failed');
      assert.equal(v.error?.code, 'DIGEST_INVALID');
      assert.match(v.error.message, new RegExp(`blob ${configDigest} from ${up.host}/evil/app does not match`));
      assert.equal((await v2.fetch(`${reg}/evil/manifests/v1`)).status, 404);
      for (const d of img.blobs.keys()) assert.equal((await v2.fetch(`${reg}/evil/blobs/${d}`, { method: 'HEAD' })).status, 404);
      const usage = (await (
        await t.fetch(`${t.url}/api/registries/${reg}/repositories/evil/_usage`, { headers: { Authorization: adminAuthHeader() } })
      ).json()) as Record<string, unknown>;
      assert.ok(!JSON.stringify(usage).match(/"(sizeBytes|currentValue)":\s*[1-9]/), JSON.stringify(usage));
      assert.equal(up.blobGets.get(configDigest!), 1, 'a digest mismatch is not retried');
    });

    test('hostile: an upstream pointing its token realm at another host never gets the credentials sent there', async () => {
      // The trap stands for an attacker's token service: it records what reaches it.
      const seen: (string | undefined)[] = [];
      const trap = http.createServer((req, res) => {
        seen.push(req.headers.authorization);
        res.end('{"token":"x"}');
      });
      await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
      cleanups.push(() => new Promise<void>((r) => trap.close(() => r())));
      const realm = `http://localhost:${(trap.address() as AddressInfo).port}/token`;
      const up = new FakeUpstream({ bearerRealm: realm });
      up.add('team/app', 'v1', makeImage([100]));
      await up.start();
      cleanups.push(() => up.close());
      const v = await importAndWait({
        source: { registryUri: up.host, sourceImage: 'team/app:v1', credentials: { username: 'alice', password: 'secret-pw' } },
        targetTags: ['realm:v1'],
      });
      assert.equal(v.status, 'Failed');
      assert.match(v.error!.message, /outside its own domain.*not sent there.*import\.trustedRealms/);
      assert.deepEqual(seen, [], 'nothing, let alone credentials, went to the foreign realm');
    });

    test('a blob download that breaks off resumes with a range request; an upstream ignoring ranges works too', async () => {
      for (const ignoreRange of [false, true]) {
        const img = makeImage([200_000, 150_000]);
        const up = new FakeUpstream({ breakBlobsAfter: 65_536, ignoreRange });
        up.add('flaky/app', 'v1', img);
        await up.start();
        cleanups.push(() => up.close());
        const target = ignoreRange ? 'flaky-norange' : 'flaky';
        const v = await importAndWait({ source: { registryUri: up.host, sourceImage: 'flaky/app:v1' }, targetTags: [`${target}:v1`] });
        assert.equal(v.status, 'Succeeded', JSON.stringify(v.error));
        await assertImage(target, 'v1', img);
        const layers = [...img.blobs.entries()].filter(([, b]) => b.length > 65_536).map(([d]) => d);
        for (const d of layers) assert.equal(up.blobGets.get(d), 2, `blob ${d}: one broken GET, one resumed GET`);
        assert.ok(
          up.ranges.includes('bytes=65536-'),
          `a range request continued where the connection broke (${JSON.stringify(up.ranges)})`,
        );
      }
    });

    test('hostile: loopback and private upstreams are refused unless egress.allowPrivate', async () => {
      const strict = await startTestApp(backend, { jobs: { pollIntervalMs: 50 } });
      cleanups.push(() => strict.close());
      const sreg = await strict.createRegistry();
      for (const registryUri of ['127.0.0.1:5000', 'localhost:5000', '10.1.2.3', '[::1]:5000']) {
        const r = await post({ source: { registryUri, sourceImage: 'app:v1' } }, adminAuthHeader(), sreg, strict);
        assert.equal(r.status, 400, registryUri);
        const e = ((await r.json()) as { errors: { message: string }[] }).errors[0]!;
        assert.match(e.message, /refusing to connect .*egress\.allowPrivate: true \(environment BERTH_EGRESS_ALLOW_PRIVATE=true\)/);
      }
    });
  });
}
