import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli } from './helpers/cli.js';
import { startTestApp, adminAuthHeader, ADMIN_PASSWORD, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { uniqueRepo } from './helpers/oci.js';

// The repository audit (ACR's ContainerRegistryRepositoryEvents) from the events outbox: who
// pushed, deleted or untagged what, from where; by API and `berth audit list`, merged with logins.

for (const backend of BACKENDS) {
  describe(`repository audit (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string;
    let name: string;
    let digest: string;

    const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);

    const api = async (path: string) => {
      const res = await t.fetch(`${t.url}${path}`, { headers: { Authorization: adminAuthHeader() } });
      return { status: res.status, text: await res.text() };
    };

    before(async () => {
      t = await startTestApp(backend);
      reg = await t.createRegistry();
      const v2 = t.v2();
      name = `${reg}/${uniqueRepo('audit')}`;
      const img = await v2.pushImage(name, 'v1');
      digest = img.digest;
      await v2.pushImage(name, 'v2');
      const untag = await v2.fetch(`/v2/${name}/manifests/v2`, { method: 'DELETE' });
      assert.ok(untag.status < 300, String(untag.status));
      await untag.arrayBuffer();
      const del = await v2.fetch(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      await del.arrayBuffer();
    });
    after(async () => {
      await t?.close();
    });

    test('API: ACR fields, newest first, filters, JSON lines', async () => {
      const r = await api(`/api/audit/repository?registry=${reg}&since=1h`);
      assert.equal(r.status, 200, r.text);
      const value = JSON.parse(r.text).value as Record<string, unknown>[];
      const repo = name.slice(reg.length + 1);
      const mine = value.filter((e) => e.repository === repo);
      assert.deepEqual(
        mine.map((e) => e.operationName),
        ['delete', 'untag', 'push', 'push'],
      );
      const push = mine[3]!;
      for (const k of [
        'time',
        'category',
        'operationName',
        'repository',
        'tag',
        'digest',
        'mediaType',
        'size',
        'identity',
        'callerIpAddress',
        'userAgent',
        'correlationId',
        'loginServer',
        'resultType',
      ])
        assert.ok(k in push, k);
      assert.equal(push.category, 'ContainerRegistryRepositoryEvents');
      assert.equal(push.tag, 'v1');
      assert.equal(push.digest, digest);
      assert.equal(push.identity, 'admin');
      assert.match(String(push.callerIpAddress), /127\.0\.0\.1/);
      assert.ok(Number(push.size) > 0);
      assert.equal(mine[0]!.digest, digest);

      const pushes = JSON.parse((await api(`/api/audit/repository?registry=${reg}&operation=push&identity=admin`)).text).value as {
        operationName: string;
      }[];
      assert.equal(pushes.length, 2);
      assert.deepEqual(JSON.parse((await api(`/api/audit/repository?registry=${reg}&identity=nobody`)).text).value, []);
      assert.equal((await api(`/api/audit/repository?operation=login`)).status, 400);
      const lines = (await api(`/api/audit/repository?registry=${reg}&format=jsonl`)).text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.length, 4);
      const page = JSON.parse((await api(`/api/audit/repository?registry=${reg}&top=3`)).text);
      assert.equal(page.value.length, 3);
      assert.match(page.nextLink, /before=/);
    });

    test('pulls are audited: who pulled which manifest, by tag or digest, from where', async () => {
      const reg2 = await t.createRegistry(); // its own registry: the other tests count this one's events
      const other = `${reg2}/${uniqueRepo('pulled')}`;
      const v2 = t.v2();
      const img = await v2.pushImage(other, 'v1');
      for (const ref of ['v1', img.digest]) {
        const r = await v2.fetch(`/v2/${other}/manifests/${ref}`, { headers: { Accept: img.mediaType } });
        assert.equal(r.status, 200);
        await r.arrayBuffer();
      }
      const head = await v2.fetch(`/v2/${other}/manifests/v1`, { method: 'HEAD', headers: { Accept: img.mediaType } });
      assert.equal(head.status, 200);
      await t.app.services.pulls.flush();
      const r = await api(`/api/audit/repository?registry=${reg2}&operation=pull`);
      assert.equal(r.status, 200, r.text);
      const pulls = (JSON.parse(r.text).value as Record<string, unknown>[]).filter((e) => e.repository === other.slice(reg2.length + 1));
      assert.equal(pulls.length, 2, 'two GETs; a HEAD is not a pull');
      assert.deepEqual(
        pulls.map((e) => e.tag),
        [null, 'v1'],
      );
      for (const e of pulls) {
        assert.equal(e.operationName, 'pull');
        assert.equal(e.digest, img.digest);
        assert.equal(e.identity, 'admin');
        assert.equal(e.mediaType, img.mediaType);
        assert.equal(e.requestMethod, 'GET');
        assert.match(String(e.callerIpAddress), /127\.0\.0\.1/);
      }
      const undispatched = await t.app.meta.db
        .selectFrom('events')
        .select('id')
        .where('action', '=', 'pull')
        .where('dispatched', '=', 0)
        .execute();
      assert.deepEqual(undispatched, [], 'pull records never enter the webhook outbox');
    });

    test('audit records past the retention period are pruned; an event still owing webhooks is kept', async () => {
      const old = '2001-01-01T00:00:00.000Z';
      const base = { registry_id: 999999, repository: 'gone/app', created_at: old };
      await t.app.meta.db
        .insertInto('events')
        .values([
          { ...base, action: 'pull', dispatched: 1 },
          { ...base, action: 'push', dispatched: 0 },
        ])
        .execute();
      const pruned = await t.app.meta.pruneAudit('2002-01-01T00:00:00.000Z');
      assert.ok(pruned >= 1);
      const left = await t.app.meta.db.selectFrom('events').select('action').where('registry_id', '=', 999999).execute();
      assert.deepEqual(
        left.map((e) => e.action),
        ['push'],
      );
      const recent = await api(`/api/audit/repository?registry=${reg}`);
      assert.equal(JSON.parse(recent.text).value.length, 4, 'recent records stay');
    });

    test('CLI: berth audit list merges logins and repository events; --category, --operation, --jsonl', async () => {
      // A login event for this registry (Basic auth on the token endpoint).
      const tok = await t.fetch(`${t.url}/oauth2/token?service=${encodeURIComponent(t.host)}&scope=repository:${name}:pull`, {
        headers: { Authorization: adminAuthHeader() },
      });
      await tok.arrayBuffer();
      const all = await berth(['audit', 'list', '--registry', reg, '--since', '2h', '-o', 'json']);
      assert.equal(all.code, 0, all.stdout);
      const events = JSON.parse(all.stdout) as { category: string; time: string }[];
      assert.ok(events.some((e) => e.category === 'ContainerRegistryRepositoryEvents'));
      for (let i = 1; i < events.length; i++) assert.ok(events[i - 1]!.time >= events[i]!.time, 'newest first');

      const deletes = JSON.parse((await berth(['audit', 'list', '--registry', reg, '--operation', 'delete', '-o', 'json'])).stdout) as {
        operationName: string;
      }[];
      assert.deepEqual(
        deletes.map((e) => e.operationName),
        ['delete'],
      );
      const repoOnly = JSON.parse(
        (await berth(['audit', 'list', '--registry', reg, '--category', 'repository', '--identity', 'admin', '--top', '2', '-o', 'json']))
          .stdout,
      ) as { category: string }[];
      assert.equal(repoOnly.length, 2);
      assert.ok(repoOnly.every((e) => e.category === 'ContainerRegistryRepositoryEvents'));
      const logins = JSON.parse((await berth(['audit', 'list', '--registry', reg, '--category', 'login', '-o', 'json'])).stdout) as {
        category: string;
      }[];
      assert.ok(logins.every((e) => e.category === 'ContainerRegistryLoginEvents'));
      const jsonl = await berth(['audit', 'list', '--registry', reg, '--category', 'repository', '--jsonl']);
      assert.equal(jsonl.code, 0);
      assert.equal(
        jsonl.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)).length,
        4,
      );
    });
  });
}
