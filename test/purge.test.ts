import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Scheduler } from '../src/jobs/scheduler.js';
import { silentLogger } from '../src/observability/logger.js';
import { parseAgo, parseFilter } from '../src/services/lifecycle/purge-spec.js';
import { ADMIN_PASSWORD, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { imageIndex, manifestBytes, MT, sha256, uniqueRepo, type V2, type PushedImage } from './helpers/oci.js';

// berth purge (acr purge semantics), purge schedules and the periodic runner, and the retention
// policy for untagged manifests. Time is moved with the services' injectable clocks and by
// back-dating rows, never by sleeping.

const DAY = 86_400_000;

test('--ago durations and filters', () => {
  assert.equal(parseAgo('0d'), 0);
  assert.equal(parseAgo('2d3h6m'), 2 * DAY + 3 * 3_600_000 + 6 * 60_000);
  assert.equal(parseAgo('1h15m'), 75 * 60_000);
  assert.equal(parseAgo('90s'), 90_000);
  for (const bad of ['', '2x', 'd', '1d 2h', '-1d']) assert.throws(() => parseAgo(bad), /duration/, bad);
  const f = parseFilter('app:v.*');
  assert.ok(f.repo.test('app') && !f.repo.test('app2') && !f.repo.test('myapp'), 'repository regex is anchored');
  assert.ok(f.tag.test('v1') && !f.tag.test('xv1'), 'tag regex is anchored');
  const g = parseFilter('(?:a|b)/x:(?:v1|v2)');
  assert.ok(g.repo.test('a/x') && g.tag.test('v2'), '"(?:" does not split a filter');
  assert.throws(() => parseFilter('nocolon'), /form/);
  assert.throws(() => parseFilter('app:('), /invalid/);
});

for (const backend of BACKENDS) {
  describe(`purge (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let v2: V2;
    let reg: string;
    const base = Date.now();
    const later = new Date(base + 30 * DAY);
    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await t.fetch(`${t.url}${path}`, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const db = () => t.app.meta.db;
    const repoId = async (repo: string) =>
      Number(
        (
          await db()
            .selectFrom('repositories')
            .innerJoin('registries', 'registries.id', 'repositories.registry_id')
            .select('repositories.id')
            .where('registries.name', '=', reg)
            .where('repositories.name', '=', repo)
            .executeTakeFirstOrThrow()
        ).id,
      );
    /** Sets a tag's last update to `daysBefore` days before the purge clock. */
    const age = async (repo: string, tag: string, daysBefore: number) => {
      await db()
        .updateTable('tags')
        .set({ updated_at: new Date(later.getTime() - daysBefore * DAY).toISOString() })
        .where('repository_id', '=', await repoId(repo))
        .where('name', '=', tag)
        .execute();
    };
    const tags = async (repo: string) =>
      (
        await db()
          .selectFrom('tags')
          .select('name')
          .where('repository_id', '=', await repoId(repo))
          .orderBy('name')
          .execute()
      ).map((r) => r.name);
    const digests = async (repo: string) =>
      (
        await db()
          .selectFrom('manifests')
          .select('digest')
          .where('repository_id', '=', await repoId(repo))
          .orderBy('digest')
          .execute()
      ).map((r) => r.digest);
    const listing = async () => {
      const rows = await db()
        .selectFrom('repositories')
        .innerJoin('registries', 'registries.id', 'repositories.registry_id')
        .select(['repositories.id', 'repositories.name'])
        .where('registries.name', '=', reg)
        .orderBy('repositories.name')
        .execute();
      const out: Record<string, { tags: string[]; manifests: string[] }> = {};
      for (const r of rows) out[r.name] = { tags: await tags(r.name), manifests: await digests(r.name) };
      return out;
    };
    const untag = async (name: string, tag: string) => {
      const res = await v2.fetch(`${name}/manifests/${tag}`, { method: 'DELETE' });
      assert.equal(res.status, 202, await res.text());
    };

    before(async () => {
      t = await startTestApp(backend);
      v2 = t.v2();
      reg = await t.createRegistry(undefined, 'Premium');
      t.app.services.purge.clock = () => later;
    });
    after(async () => {
      await t?.close();
    });

    test('tags older than --ago go, --keep keeps the newest N, regexes are anchored; audit says purge', async () => {
      const repo = uniqueRepo('app');
      const name = `${reg}/${repo}`;
      for (const tag of ['v1', 'v2', 'v3', 'v4', 'v5', 'xv1', 'latest']) await v2.pushImage(name, tag);
      await v2.pushImage(`${reg}/${repo}x`, 'v1');
      await age(repo, 'v1', 10);
      await age(repo, 'v2', 9);
      await age(repo, 'v3', 8);
      await age(repo, 'v4', 0.5);
      await age(repo, 'v5', 0.1);
      await age(repo, 'xv1', 20);
      await age(`${repo}x`, 'v1', 20);
      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:v.*`, '--ago', '2d', '--keep', '1', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      const r = JSON.parse(run.stdout);
      assert.equal(r.deletedTags, 2);
      assert.deepEqual(r.tags.sort(), [`${repo}:v1`, `${repo}:v2`]);
      assert.deepEqual(await tags(repo), ['latest', 'v3', 'v4', 'v5', 'xv1']);
      assert.deepEqual(await tags(`${repo}x`), ['v1'], 'the repository regex is anchored');
      // tag deletion only untags: the manifests stay
      assert.equal((await digests(repo)).length, 7);
      const audit = await api('GET', `/api/audit/repository?registry=${reg}&operation=purge`);
      assert.equal(audit.status, 200);
      const mine = (audit.body.value as { repository: string; operationName: string; tag: string; identity: string }[]).filter(
        (e) => e.repository === repo,
      );
      assert.deepEqual(mine.map((e) => e.tag).sort(), ['v1', 'v2']);
      assert.ok(mine.every((e) => e.operationName === 'purge' && e.identity === 'admin'));
      // text output: acr purge's summary
      await age(repo, 'v3', 8);
      const text = await berth(['purge', '-r', reg, '--filter', `${repo}:v3`, '--ago', '1d']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /Number of deleted tags: 1\nNumber of deleted manifests: 0/);
    });

    test('--untagged deletes untagged manifests but keeps index children and referrers of kept images', async () => {
      const repo = uniqueRepo('untagged');
      const name = `${reg}/${repo}`;
      const a = await v2.pushImage(name, 'child-a');
      const b = await v2.pushImage(name, 'child-b');
      const index = imageIndex([a, b].map((i: PushedImage) => ({ mediaType: i.mediaType, digest: i.digest, size: i.size })));
      assert.equal((await v2.putManifest(name, 'multi', manifestBytes(index), MT.ociIndex)).status, 201);
      await untag(name, 'child-a');
      await untag(name, 'child-b');
      const signed = await v2.pushImage(name, 'signed');
      const sig = await v2.pushImage(name, 'sig', {
        subject: { mediaType: signed.mediaType, digest: signed.digest, size: signed.size },
        artifactType: 'application/vnd.example.signature',
      });
      await untag(name, 'sig');
      const orphan = await v2.pushImage(name, 'orphan');
      await untag(name, 'orphan');
      const old = await v2.pushImage(name, 'old');
      await age(repo, 'old', 10);
      const before = await digests(repo);

      const res = await api('POST', `/api/registries/${reg}/purge`, { filters: [`${repo}:old`], ago: '1d', untagged: true });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.ok(res.body.jobId > 0);
      await t.app.services.jobs.drain();
      const runRes = await api('GET', `/api/registries/${reg}/purge/runs/${res.body.jobId}`);
      assert.equal(runRes.status, 200);
      assert.equal(runRes.body.state, 'succeeded', JSON.stringify(runRes.body));
      assert.equal(runRes.body.result.deletedTags, 1);
      assert.equal(runRes.body.result.deletedManifests, 2, JSON.stringify(runRes.body.result));
      assert.deepEqual(await tags(repo), ['multi', 'signed']);
      const after = await digests(repo);
      assert.deepEqual(before.filter((d) => !after.includes(d)).sort(), [orphan.digest, old.digest].sort());
      for (const kept of [a.digest, b.digest, sig.digest, signed.digest]) assert.ok(after.includes(kept));
      const audit = await api('GET', `/api/audit/repository?registry=${reg}&operation=purge`);
      const deletes = (audit.body.value as { repository: string; digest: string; tag: string | null }[]).filter(
        (e) => e.repository === repo && e.tag === null,
      );
      assert.deepEqual(deletes.map((e) => e.digest).sort(), [orphan.digest, old.digest].sort());
    });

    test('locked tags and manifests are skipped and reported', async () => {
      const repo = uniqueRepo('locked');
      const name = `${reg}/${repo}`;
      await v2.pushImage(name, 'keepme');
      await v2.pushImage(name, 'free');
      const m = await v2.pushImage(name, 'lockedm');
      await untag(name, 'lockedm');
      const patch = async (path: string, body: unknown) => {
        const r = await v2.fetch(`/acr/v1/${reg}/${repo}/${path}`, {
          method: 'PATCH',
          body: JSON.stringify(body),
          headers: { 'Content-Type': 'application/json' },
        });
        assert.equal(r.status, 200, await r.text());
      };
      await patch('_tags/keepme', { writeEnabled: false });
      await patch(`_manifests/${m.digest}`, { deleteEnabled: false });
      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:.*`, '--ago', '0d', '--untagged', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      const r = JSON.parse(run.stdout);
      assert.equal(r.deletedTags, 1);
      assert.deepEqual(r.skipped.map((s: { tag?: string; digest?: string }) => s.tag ?? s.digest).sort(), ['keepme', m.digest].sort());
      assert.match(r.skipped.find((s: { tag?: string }) => s.tag === 'keepme').reason, /locked \(writeEnabled false\)/);
      assert.deepEqual(await tags(repo), ['keepme']);
      assert.ok((await digests(repo)).includes(m.digest));
    });

    test('--dry-run changes nothing and lists what a real run deletes', async () => {
      const repo = uniqueRepo('dry');
      const name = `${reg}/${repo}`;
      for (const tag of ['a', 'b', 'c']) await v2.pushImage(name, tag);
      const orphan = await v2.pushImage(name, 'o');
      await untag(name, 'o');
      const before = await listing();
      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:[ab]`, '--ago', '1d', '--untagged', '--dry-run', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      const plan = JSON.parse(run.stdout);
      assert.equal(plan.dryRun, true);
      assert.deepEqual(await listing(), before, 'a dry run changes nothing');
      assert.deepEqual(plan.tags.sort(), [`${repo}:a`, `${repo}:b`]);
      // a and b lose their only tags, so their manifests would go too, with the orphan
      assert.equal(plan.deletedManifests, 3);
      assert.ok(plan.manifests.includes(`${repo}@${orphan.digest}`));
      const text = await berth(['purge', '-r', reg, '--filter', `${repo}:[ab]`, '--ago', '1d', '--untagged', '--dry-run']);
      assert.match(text.stdout, /Number of tags to be deleted: 2\nNumber of manifests to be deleted: 3/);
      const real = await berth(['purge', '-r', reg, '--filter', `${repo}:[ab]`, '--ago', '1d', '--untagged', '-o', 'json']);
      const done = JSON.parse(real.stdout);
      assert.deepEqual(done.tags.sort(), plan.tags.sort());
      assert.deepEqual(done.manifests.sort(), plan.manifests.sort());
      assert.deepEqual(await tags(repo), ['c']);
    });

    test('--untagged removes an untagged index with the children only it referenced, in one run; shared, tagged and locked children stay', async () => {
      const repo = uniqueRepo('ix');
      const name = `${reg}/${repo}`;
      const push = async (tag: string) => v2.pushImage(name, tag);
      const [a, b, c, d, e, f] = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map(push));
      const desc = (i: { mediaType: string; digest: string; size: number }) => ({ mediaType: i.mediaType, digest: i.digest, size: i.size });
      const putIndex = async (children: { mediaType: string; digest: string; size: number }[], ref?: string) => {
        const bytes = manifestBytes(imageIndex(children.map(desc)));
        const digest = sha256(bytes);
        const res = await v2.putManifest(name, ref ?? digest, bytes, MT.ociIndex);
        assert.equal(res.status, 201, await res.text());
        return { mediaType: MT.ociIndex, digest, size: bytes.length };
      };
      const nested = await putIndex([e!]); // untagged, referenced only by the outer index
      const outer = await putIndex([a!, b!, c!, d!, f!, nested]); // untagged
      const kept = await putIndex([c!], 'keep'); // tagged: c stays for it
      for (const tag of ['a', 'b', 'c', 'e', 'f']) await untag(name, tag);
      // d keeps its tag; f is locked against deletion
      const lock = await v2.fetch(`/acr/v1/${reg}/${repo}/_manifests/${f!.digest}`, {
        method: 'PATCH',
        body: JSON.stringify({ deleteEnabled: false }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(lock.status, 200, await lock.text());
      const gone = [outer.digest, a!.digest, b!.digest, nested.digest, e!.digest].map((x) => `${repo}@${x}`).sort();

      const before = await listing();
      const dry = await berth(['purge', '-r', reg, '--filter', `${repo}:.*`, '--ago', '1d', '--untagged-only', '--dry-run', '-o', 'json']);
      assert.equal(dry.code, 0, dry.stderr);
      const plan = JSON.parse(dry.stdout);
      assert.deepEqual(await listing(), before, 'a dry run changes nothing');
      assert.deepEqual(plan.manifests.sort(), gone, 'the dry run names the index, its nested index and the children only they held');

      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:.*`, '--ago', '1d', '--untagged-only', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      const r = JSON.parse(run.stdout);
      assert.deepEqual(r.manifests.sort(), gone, 'one run deletes the index and its exclusive children');
      assert.equal(r.deletedManifests, 5);
      assert.deepEqual(
        r.skipped.map((x: { digest?: string }) => x.digest),
        [f!.digest],
        'the locked child is reported',
      );
      const left = await digests(repo);
      assert.deepEqual(left, [c!.digest, d!.digest, f!.digest, kept.digest].sort(), 'shared, tagged and locked children stay');
    });

    test('a repository of 20,000 tags is purged in pages', async () => {
      const repo = uniqueRepo('big');
      const img = await v2.pushImage(`${reg}/${repo}`, 'seed');
      const id = await repoId(repo);
      const manifestId = Number(
        (
          await db()
            .selectFrom('manifests')
            .select('id')
            .where('repository_id', '=', id)
            .where('digest', '=', img.digest)
            .executeTakeFirstOrThrow()
        ).id,
      );
      for (let i = 0; i < 20_000; i += 1000) {
        const rows = [];
        for (let k = i; k < i + 1000; k++) {
          const ts = new Date(base - (20_000 - k) * 1000).toISOString();
          rows.push({ repository_id: id, name: `t${String(k).padStart(5, '0')}`, manifest_id: manifestId, created_at: ts, updated_at: ts });
        }
        await db().insertInto('tags').values(rows).execute();
      }
      const started = Date.now();
      const run = await berth(['purge', '-r', reg, '--filter', `${repo}:t.*`, '--ago', '1d', '--keep', '5', '-o', 'json']);
      assert.equal(run.code, 0, run.stderr);
      const r = JSON.parse(run.stdout);
      assert.equal(r.deletedTags, 19_995);
      assert.equal(r.truncated, true);
      assert.deepEqual(await tags(repo), ['seed', 't19995', 't19996', 't19997', 't19998', 't19999']);
      assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    });

    test('a catastrophically backtracking filter is cut off with a clear error; the node keeps answering', async () => {
      const repo = 'a'.repeat(40);
      await v2.pushImage(`${reg}/${repo}`, 'v1');
      const started = Date.now();
      const pending = api('POST', `/api/registries/${reg}/purge`, { filters: ['(a+)+b:.*'], ago: '0d', dryRun: true });
      // While the worker spins, the event loop is free: a request is answered at once.
      const ping = Date.now();
      assert.equal((await t.fetch(`${t.url}/v2/`, { headers: { Authorization: adminAuthHeader() } })).status, 200);
      assert.ok(Date.now() - ping < 1000, 'the node stayed responsive');
      const r = await pending;
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.errors[0].message, /took longer than .* simplify the regex/);
      assert.ok(Date.now() - started < 10_000);
    });

    test('only callers with delete rights on every matching repository may purge', async () => {
      const repo = uniqueRepo('perm');
      await v2.pushImage(`${reg}/${repo}`, 'x');
      const user = `puller${Date.now() % 100000}`;
      assert.equal((await berth(['user', 'create', '-n', user, '--new-password', 'Pull-Only-Passw0rd!'])).code, 0);
      const assign = await berth([
        'role',
        'assignment',
        'create',
        '--assignee',
        user,
        '--role',
        'AcrPull',
        '--scope',
        `/registries/${reg}`,
      ]);
      assert.equal(assign.code, 0, assign.stderr);
      const res = await t.fetch(`${t.url}/api/registries/${reg}/purge`, {
        method: 'POST',
        body: JSON.stringify({ filters: [`${repo}:.*`], ago: '0d' }),
        headers: { 'Content-Type': 'application/json', Authorization: basicAuthHeader(user, 'Pull-Only-Passw0rd!') },
      });
      assert.equal(res.status, 403, await res.text());
      assert.deepEqual(await tags(repo), ['x']);
    });

    test('retention policy: untagged manifests older than the days go, younger ones stay', async () => {
      const show = await berth(['config', 'retention', 'show', '-r', reg]);
      assert.equal(show.code, 0, show.stderr);
      assert.deepEqual(JSON.parse(show.stdout), { status: 'disabled', days: 7, type: 'UntaggedManifests', lastUpdatedTime: null });
      const basic = await t.createRegistry(undefined, 'Basic');
      const refused = await berth(['config', 'retention', 'update', '-r', basic, '--status', 'enabled']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Premium/);
      const up = await berth([
        'config',
        'retention',
        'update',
        '-r',
        reg,
        '--status',
        'enabled',
        '--days',
        '3',
        '--type',
        'UntaggedManifests',
      ]);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(JSON.parse(up.stdout).status, 'enabled');
      const repo = uniqueRepo('ret');
      const name = `${reg}/${repo}`;
      const gone = await v2.pushImage(name, 'one');
      const kept = await v2.pushImage(name, 'two');
      await untag(name, 'one');
      await untag(name, 'two');
      // "two" became untagged 1 day ago, "one" 5 days ago (relative to the real clock)
      const now = Date.now();
      await db()
        .updateTable('manifests')
        .set({ untagged_since: new Date(now - 5 * DAY).toISOString() })
        .where('digest', '=', gone.digest)
        .execute();
      await db()
        .updateTable('manifests')
        .set({ untagged_since: new Date(now - DAY).toISOString() })
        .where('digest', '=', kept.digest)
        .execute();
      // ACR: only manifests untagged after the policy was enabled; treat both as such
      await db()
        .updateTable('retention_policies')
        .set({ enabled_at: new Date(now - 10 * DAY).toISOString() })
        .execute();
      const r = await t.app.services.retention.runAll();
      assert.ok(r.deletedManifests >= 1);
      const left = await digests(repo);
      assert.ok(!left.includes(gone.digest), 'untagged 5 days ago, policy 3 days: deleted');
      assert.ok(left.includes(kept.digest), 'untagged 1 day ago: kept');
      const audit = await api('GET', `/api/audit/repository?registry=${reg}&operation=retention`);
      assert.ok((audit.body.value as { digest: string }[]).some((e) => e.digest === gone.digest));
      // two days later (retention's clock) the other goes too
      t.app.services.retention.clock = () => new Date(now + 3 * DAY);
      await t.app.services.retention.runAll();
      assert.deepEqual(await digests(repo), []);
      t.app.services.retention.clock = () => new Date();
      await berth(['config', 'retention', 'update', '-r', reg, '--status', 'disabled']);
    });

    test('retention policy: an expired untagged index takes the children only it referenced', async () => {
      const up = await berth(['config', 'retention', 'update', '-r', reg, '--status', 'enabled', '--days', '1']);
      assert.equal(up.code, 0, up.stderr);
      const repo = uniqueRepo('retix');
      const name = `${reg}/${repo}`;
      const own = await v2.pushImage(name, 'own');
      const shared = await v2.pushImage(name, 'shared');
      const indexOf = (children: PushedImage[]) =>
        manifestBytes(imageIndex(children.map((i) => ({ mediaType: i.mediaType, digest: i.digest, size: i.size }))));
      const doomed = indexOf([own, shared]);
      const doomedDigest = sha256(doomed);
      assert.equal((await v2.putManifest(name, doomedDigest, doomed, MT.ociIndex)).status, 201);
      assert.equal((await v2.putManifest(name, 'keep', indexOf([shared]), MT.ociIndex)).status, 201);
      await untag(name, 'own');
      await untag(name, 'shared');
      const now = Date.now();
      await db()
        .updateTable('manifests')
        .set({ untagged_since: new Date(now - 2 * DAY).toISOString() })
        .where('digest', '=', doomedDigest)
        .execute();
      await db()
        .updateTable('retention_policies')
        .set({ enabled_at: new Date(now - 10 * DAY).toISOString() })
        .execute();
      // The children lost their tags just now: on their own they would wait a day more.
      await t.app.services.retention.runAll();
      const left = await digests(repo);
      assert.ok(!left.includes(doomedDigest), 'the expired index is deleted');
      assert.ok(!left.includes(own.digest), 'with the child only it referenced');
      assert.ok(left.includes(shared.digest), 'the child another index references stays');
      await berth(['config', 'retention', 'update', '-r', reg, '--status', 'disabled']);
    });

    test('purge schedules: CRUD, the runner enqueues due runs, run now', async () => {
      const repo = uniqueRepo('sched');
      const name = `${reg}/${repo}`;
      await v2.pushImage(name, 'nightly-1');
      await v2.pushImage(name, 'stable');
      const bad = await berth([
        'purge',
        'schedule',
        'create',
        '-r',
        reg,
        '--name',
        'bad',
        '--schedule',
        '0 0 * *',
        '--filter',
        `${repo}:.*`,
        '--ago',
        '1d',
      ]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /five/);
      // purge's options may come before "schedule"; --filter repeats
      const created = await berth([
        'purge',
        '-r',
        reg,
        '--filter',
        `${repo}:nightly-.*`,
        '--filter',
        `${repo}:never`,
        'schedule',
        'create',
        '--name',
        'nightly',
        '--schedule',
        '0 0 * * *',
        '--ago',
        '1d',
        '--untagged',
      ]);
      assert.equal(created.code, 0, created.stderr);
      const s = JSON.parse(created.stdout);
      assert.equal(s.schedule, '0 0 * * *');
      assert.deepEqual(s.filters, [`${repo}:nightly-.*`, `${repo}:never`]);
      assert.match(s.nextRunTime, /T00:00:00\.000Z$/);
      const list = JSON.parse((await berth(['purge', 'schedule', 'list', '-r', reg])).stdout) as { name: string }[];
      assert.deepEqual(
        list.map((x) => x.name),
        ['nightly'],
      );

      const scheduler = t.app.services.scheduler;
      assert.deepEqual(await scheduler.enqueueDue(), [], 'not due yet');
      scheduler.clock = () => new Date(Date.parse(s.nextRunTime) + 1000);
      const jobs = await scheduler.enqueueDue();
      assert.equal(jobs.length, 1);
      assert.deepEqual(await scheduler.enqueueDue(), [], 'claimed once');
      scheduler.clock = () => new Date();
      await t.app.services.jobs.drain();
      const run = await api('GET', `/api/registries/${reg}/purge/runs/${jobs[0]}`);
      assert.equal(run.body.state, 'succeeded', JSON.stringify(run.body));
      assert.equal(run.body.schedule, 'nightly');
      assert.equal(run.body.result.deletedTags, 1);
      assert.deepEqual(await tags(repo), ['stable']);
      const shown = JSON.parse((await berth(['purge', 'schedule', 'show', '-r', reg, '--name', 'nightly'])).stdout);
      assert.equal(shown.lastJobId, jobs[0]);
      assert.ok(Date.parse(shown.nextRunTime) > Date.parse(s.nextRunTime));

      await v2.pushImage(name, 'nightly-2');
      const now = await berth(['purge', 'schedule', 'run', '-r', reg, '--name', 'nightly', '-o', 'json']);
      assert.equal(now.code, 0, now.stderr);
      assert.equal(JSON.parse(now.stdout).deletedTags, 1);
      assert.equal((await berth(['purge', 'schedule', 'delete', '-r', reg, '--name', 'nightly'])).code, 0);
      const missing = await berth(['purge', 'schedule', 'show', '-r', reg, '--name', 'nightly']);
      assert.notEqual(missing.code, 0);
    });

    test('two schedulers on one database claim a due run and a maintenance task once', async () => {
      const regRow = (await t.app.services.registries.find(reg))!;
      let at = new Date();
      const mk = () => new Scheduler(t.app.meta, t.app.services.jobs, silentLogger, { clock: () => at });
      const [s1, s2] = [mk(), mk()];
      const row = await s1.create({
        registryId: regRow.id,
        kind: 'purge',
        name: `race${Date.now() % 100000}`,
        cron: '*/5 * * * *',
        payload: { spec: { filters: ['nothing-matches:.*'], ago: '1d' } },
      });
      assert.ok(row);
      at = new Date(Date.now() + 400 * DAY);
      const results = await Promise.all([s1.enqueueDue(), s2.enqueueDue(), s1.enqueueDue(), s2.enqueueDue()]);
      const mine = results.flat();
      assert.equal(mine.length, 1, `enqueued ${mine.length} jobs`);
      const task = `test-task-${Date.now()}`;
      const claims = await Promise.all([
        s1.claimTask(task, 60_000),
        s2.claimTask(task, 60_000),
        s1.claimTask(task, 60_000),
        s2.claimTask(task, 60_000),
      ]);
      assert.equal(claims.filter(Boolean).length, 1);
      await s1.delete(regRow.id, 'purge', row.name);
      await t.app.services.jobs.drain();
    });
  });
}
