import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ACTIVITY_OPERATIONS } from '../src/domain/activity.js';
import { adminAuthHeader, ADMIN_PASSWORD, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { runCli } from './helpers/cli.js';
import { FakeUpstream, makeImage } from './helpers/fake-upstream.js';
import { ROOT } from './helpers/root.js';

// The activity log (like Azure's Activity log for a registry): every management operation,
// recorded by the /api router whatever its outcome, and by background work (import and purge
// jobs, garbage collection) as System. Who, when, from where, what (fields with secrets
// redacted, what changed), the outcome; read by API (paging, JSON lines) and `berth audit list`,
// by the same rule as the other audit logs. And `audit list --exclude-cli` for sign-ins.

/** A JSON document as the assertions read it (its shape is what they check). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

interface Entry {
  id: number;
  time: string;
  category: string;
  operationName: string;
  registry: string | null;
  resourceId: string;
  resultType: string;
  status: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  identity: string;
  identityType: string;
  callerIpAddress: string | null;
  userAgent: string | null;
  correlationId: string | null;
  httpMethod: string | null;
  durationMs: number | null;
  properties: Record<string, Doc> | null;
}

const CR = 'Microsoft.ContainerRegistry/registries';
const CLI_UA = 'berth-cli/9.9.9';

test('docs/api.md lists every activity log operation', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'api.md'), 'utf8');
  for (const op of Object.keys(ACTIVITY_OPERATIONS)) assert.ok(doc.includes(`| \`${op}\` |`), op);
});

for (const backend of BACKENDS) {
  describe(`activity log (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let up: FakeUpstream;
    const reg = `act${backend}${process.pid}`;
    const other = `${reg}x`;
    const user = `actuser${backend}`;
    const USER_PASSWORD = 'user-Secret-pass-41';
    const UPSTREAM_PASSWORD = 'upstream-Secret-77';
    const secrets: string[] = [USER_PASSWORD, UPSTREAM_PASSWORD, 'hook-userinfo-secret', 'hook-query-secret', 'hook-header-secret'];

    const call = async (method: string, path: string, body?: unknown, auth = adminAuthHeader(), ua = CLI_UA) => {
      const res = await t.fetch(`${t.url}${path}`, {
        method,
        headers: { Authorization: auth, 'User-Agent': ua, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      const doc: Doc = text ? JSON.parse(text) : undefined;
      return { status: res.status, body: doc, requestId: res.headers.get('x-request-id') };
    };
    const ok = async (method: string, path: string, body?: unknown, status = [200, 201, 202, 204]) => {
      const r = await call(method, path, body);
      assert.ok(status.includes(r.status), `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r;
    };
    const activity = async (query = '', auth = adminAuthHeader()) => {
      const r = await call('GET', `/api/audit/activity?top=1000${query ? `&${query}` : ''}`, undefined, auth);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.value as Entry[];
    };
    const one = async (filter: (e: Entry) => boolean, query = '') => {
      const hits = (await activity(query)).filter(filter);
      assert.equal(hits.length, 1, JSON.stringify(hits));
      return hits[0]!;
    };
    /** Background work records when it ends: poll for it. */
    const eventually = async (filter: (e: Entry) => boolean, query = '') => {
      for (let i = 0; i < 200; i++) {
        const hit = (await activity(query)).find(filter);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('no such activity log entry in time');
    };
    const userAuth = () => basicAuthHeader(user, USER_PASSWORD);

    before(async () => {
      t = await startTestApp(backend, { egress: { allowPrivate: true }, jobs: { pollIntervalMs: 50 } });
      up = new FakeUpstream({ basicAuth: { username: 'u', password: UPSTREAM_PASSWORD } });
      up.add('src/app', 'v1', makeImage([300]));
      await up.start();
    });
    after(async () => {
      await up?.close();
      await t?.close();
    });

    test('registry create and update: who, from where, the request, what changed', async () => {
      const created = await ok('POST', '/api/registries', { name: reg, sku: 'Basic' });
      const e = await one((x) => x.operationName === `${CR}/write` && x.httpMethod === 'POST', `registry=${reg}`);
      assert.equal(e.category, 'Administrative');
      assert.equal(e.resultType, 'Succeeded');
      assert.equal(e.status, 201);
      assert.equal(e.registry, reg);
      assert.equal(e.resourceId, `/registries/${reg}`);
      assert.equal(e.identity, 'admin');
      assert.equal(e.identityType, 'User');
      assert.equal(e.callerIpAddress, '127.0.0.1');
      assert.equal(e.userAgent, CLI_UA);
      assert.equal(e.correlationId, created.requestId);
      assert.deepEqual(e.properties?.request, { name: reg, sku: 'Basic' });
      assert.ok(Date.now() - Date.parse(e.time) < 60_000);

      await ok('PATCH', `/api/registries/${reg}`, { sku: 'Premium', adminUserEnabled: true });
      const u = await one((x) => x.operationName === `${CR}/write` && x.httpMethod === 'PATCH', `registry=${reg}`);
      assert.equal(u.resultType, 'Succeeded');
      assert.equal(u.resourceId, `/registries/${reg}`);
      assert.deepEqual(u.properties?.changes, { sku: { from: 'Basic', to: 'Premium' }, adminUserEnabled: { from: false, to: true } });
      await ok('POST', '/api/registries', { name: other });
    });

    test('credentials, users, role assignments, tokens, webhooks; a refused call is recorded as Failed with its caller', async () => {
      const shown = await ok('GET', `/api/registries/${reg}/credentials`);
      for (const p of shown.body.passwords as { value: string }[]) secrets.push(p.value);
      const renewed = await ok('POST', `/api/registries/${reg}/credentials/renew`, { name: 'password2' });
      for (const p of renewed.body.passwords as { value: string }[]) secrets.push(p.value);
      await one((x) => x.operationName === `${CR}/listCredentials/action` && x.resultType === 'Succeeded', `registry=${reg}`);
      const renew = await one((x) => x.operationName === `${CR}/regenerateCredential/action`, `registry=${reg}`);
      assert.deepEqual(renew.properties?.request, { name: 'password2' });

      await ok('POST', '/api/users', { name: user, password: USER_PASSWORD });
      const mk = await one((x) => x.operationName === 'Berth/users/write' && x.resourceId === `/users/${user}`);
      assert.equal(mk.registry, null);
      assert.deepEqual(mk.properties?.request, { name: user, password: '[redacted]' });

      await ok('POST', '/api/role-assignments', { assignee: user, role: 'Reader', scope: `/registries/${reg}` });
      const ra = await one((x) => x.operationName === 'Microsoft.Authorization/roleAssignments/write', `registry=${reg}`);
      assert.match(ra.resourceId, /^\/role-assignments\/.+/);
      assert.equal(ra.properties?.request.role, 'Reader');

      const token = await ok('POST', `/api/registries/${reg}/tokens`, { name: 'acttoken', scopeMap: '_repositories_pull' });
      for (const p of token.body.credentials.passwords as { value?: string }[]) if (p.value) secrets.push(p.value);
      const tk = await one((x) => x.operationName === `${CR}/tokens/write`, `registry=${reg}`);
      assert.equal(tk.resourceId, `/registries/${reg}/tokens/acttoken`);
      assert.equal(tk.status, 201);

      const hook = await ok('POST', `/api/registries/${reg}/webhooks`, {
        name: 'acthook1',
        serviceUri: 'http://someone:hook-userinfo-secret@127.0.0.1:9/hook?sig=hook-query-secret',
        actions: ['push'],
        customHeaders: { Authorization: 'Bearer hook-header-secret' },
      });
      if (typeof hook.body.secret === 'string') secrets.push(hook.body.secret);
      const wh = await one((x) => x.operationName === `${CR}/webhooks/write`, `registry=${reg}`);
      assert.equal(wh.resourceId, `/registries/${reg}/webhooks/acthook1`);
      assert.equal(wh.properties?.request.serviceUri, 'http://127.0.0.1:9/hook?[redacted]');
      assert.deepEqual(wh.properties?.request.customHeaders, { Authorization: '[redacted]' });

      // A Reader of the registry may not change it: 403, recorded as Failed with the caller.
      const denied = await call('PATCH', `/api/registries/${reg}`, { sku: 'Basic' }, userAuth(), 'curl/8');
      assert.equal(denied.status, 403);
      const f = await one((x) => x.resultType === 'Failed' && x.identity === user, `registry=${reg}`);
      assert.equal(f.operationName, `${CR}/write`);
      assert.equal(f.status, 403);
      assert.equal(f.errorCode, 'DENIED');
      assert.match(f.errorMessage ?? '', new RegExp(user));
      assert.equal(f.identityType, 'User');
      assert.equal(f.userAgent, 'curl/8');
      assert.equal(f.properties, null, 'the body of a refused call is never read');
      // A bad request is Failed 400 with the code the caller got.
      assert.equal((await call('POST', '/api/registries', { name: 'x' })).status, 400);
      const bad = await one((x) => x.resultType === 'Failed' && x.status === 400 && x.operationName === `${CR}/write`);
      assert.equal(bad.errorCode, 'REGISTRY_NAME_INVALID');
    });

    test('import, purge (on demand and scheduled) and GC: accepted, then the outcome recorded by the background work', async () => {
      const imp = await ok('POST', `/api/registries/${reg}/importImage`, {
        source: { registryUri: up.host, sourceImage: 'src/app:v1', credentials: { username: 'u', password: UPSTREAM_PASSWORD } },
        targetTags: ['imported:v1', 'imported:v2'],
      });
      const resource = `/registries/${reg}/imports/${imp.body.id}`;
      const accepted = await one((x) => x.resourceId === resource && x.resultType === 'Accepted', `registry=${reg}`);
      assert.equal(accepted.operationName, `${CR}/importImage/action`);
      assert.equal(accepted.status, 202);
      assert.equal(accepted.properties?.request.source.credentials, '[redacted]');
      const done = await eventually((x) => x.resourceId === resource && x.resultType !== 'Accepted', `registry=${reg}`);
      assert.equal(done.resultType, 'Succeeded', JSON.stringify(done));
      assert.equal(done.identity, 'import');
      assert.equal(done.identityType, 'System');
      assert.equal(done.properties?.requestedBy, 'admin');
      assert.match(String(done.properties?.digest), /^sha256:/);

      const purge = await ok('POST', `/api/registries/${reg}/purge`, { filters: ['imported:v1'], ago: '0d' });
      const runs = `/registries/${reg}/purge/runs/${purge.body.jobId}`;
      assert.equal((await one((x) => x.resourceId === runs && x.resultType === 'Accepted', `registry=${reg}`)).identity, 'admin');
      const purged = await eventually((x) => x.resourceId === runs && x.resultType === 'Succeeded', `registry=${reg}`);
      assert.equal(purged.operationName, `${CR}/purge/action`);
      assert.equal(purged.identityType, 'System');
      assert.equal(purged.properties?.deletedTags, 1);
      assert.equal(purged.properties?.requestedBy, 'admin');

      await ok('POST', `/api/registries/${reg}/purge/schedules`, {
        name: 'nightly',
        schedule: '0 0 * * *',
        filters: ['imported:v2'],
        ago: '0d',
      });
      await one((x) => x.operationName === `${CR}/purgeSchedules/write`, `registry=${reg}`);
      const run = await ok('POST', `/api/registries/${reg}/purge/schedules/nightly/run`);
      const scheduled = await eventually(
        (x) => x.resourceId === `/registries/${reg}/purge/runs/${run.body.jobId}` && x.resultType === 'Succeeded',
        `registry=${reg}`,
      );
      assert.equal(scheduled.properties?.requestedBy, 'schedule nightly');

      const gc = await ok('POST', '/api/gc/runs', {});
      const gcRun = `/gc/runs/${gc.body.id}`;
      assert.equal(
        (await one((x) => x.resourceId === gcRun && x.resultType === 'Accepted')).operationName,
        'Berth/garbageCollection/run/action',
      );
      const collected = await eventually((x) => x.resourceId === gcRun && x.resultType === 'Succeeded');
      assert.equal(collected.identity, 'garbage-collector');
      assert.equal(collected.properties?.requestedBy, 'admin');
      assert.equal(typeof collected.properties?.blobsMarked, 'number');
      // The scheduler's run (no HTTP request behind it) is recorded the same way, asked by nobody.
      const report = await t.app.services.gc.runScheduled();
      const sched = await one((x) => x.resourceId === `/gc/runs/${report!.id}`);
      assert.equal(sched.resultType, 'Succeeded');
      assert.equal(sched.properties?.requestedBy, undefined);
      // Only the registry's entries carry it; GC is deployment-wide.
      assert.equal(sched.registry, null);
    });

    test('attribute locks through /acr/v1 are recorded too', async () => {
      await ok('PATCH', `/acr/v1/${reg}/imported`, { deleteEnabled: false, writeEnabled: false });
      const lock = await one((x) => x.operationName === `${CR}/repositories/metadata/write`, `registry=${reg}`);
      assert.equal(lock.resourceId, `/registries/${reg}/repositories/imported`);
      assert.deepEqual(lock.properties?.request, { deleteEnabled: false, writeEnabled: false });
      const denied = await call('PATCH', `/acr/v1/${reg}/imported`, { deleteEnabled: true }, userAuth());
      assert.ok(denied.status === 401 || denied.status === 403, String(denied.status));
      const f = await one((x) => x.operationName === `${CR}/repositories/metadata/write` && x.identity === user, `registry=${reg}`);
      assert.equal(f.resultType, 'Failed');
    });

    test('secrets are never stored', async () => {
      const rows = await t.app.meta.db.selectFrom('activity_log').selectAll().execute();
      assert.ok(rows.length > 15, String(rows.length));
      const stored = JSON.stringify(rows);
      for (const s of secrets) assert.ok(s.length >= 8 && !stored.includes(s), `a secret is in the activity log: ${s.slice(0, 4)}…`);
    });

    test('paging, filters and JSON lines', async () => {
      const all = await activity(`registry=${reg}`);
      assert.ok(all.length >= 10);
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.id > all[i]!.id, 'newest first');
      const p1 = await call('GET', `/api/audit/activity?registry=${reg}&top=3`);
      assert.equal(p1.body.value.length, 3);
      const p2 = await call('GET', p1.body.nextLink);
      assert.equal(p2.status, 200);
      assert.deepEqual(
        [...p1.body.value, ...p2.body.value].slice(0, 6).map((e: Entry) => e.id),
        all.slice(0, 6).map((e) => e.id),
      );
      const jsonl = await t.fetch(`${t.url}/api/audit/activity?registry=${reg}&format=jsonl`, {
        headers: { Authorization: adminAuthHeader() },
      });
      assert.match(jsonl.headers.get('content-type') ?? '', /application\/x-ndjson/);
      const lines = (await jsonl.text()).trim().split('\n');
      assert.equal(lines.length, all.length);
      assert.deepEqual(JSON.parse(lines[0]!), all[0]);

      const hooks = await activity(`operation=${encodeURIComponent(`${CR}/webhooks/*`)}`);
      assert.ok(hooks.length >= 1 && hooks.every((e) => e.operationName.startsWith(`${CR}/webhooks/`)));
      const failed = await activity('result=Failed');
      assert.ok(failed.length >= 2 && failed.every((e) => e.resultType === 'Failed'));
      assert.ok((await activity(`identity=${user}`)).every((e) => e.identity === user));
      assert.equal((await call('GET', '/api/audit/activity?operation=registries/write')).status, 400);
      assert.equal((await call('GET', '/api/audit/activity?result=Granted')).status, 400);
    });

    test("authorization: a registry's Reader reads its entries only, not another registry's or the deployment's", async () => {
      const mine = await activity(`registry=${reg}`, userAuth());
      assert.ok(mine.length > 0 && mine.every((e) => e.registry === reg));
      const otherRes = await call('GET', `/api/audit/activity?registry=${other}`, undefined, userAuth());
      assert.ok([403, 404].includes(otherRes.status), String(otherRes.status));
      assert.equal((await call('GET', '/api/audit/activity', undefined, userAuth())).status, 403);
    });

    test('berth audit list --category activity (table of records, JSON lines) and --exclude-cli for sign-ins', async () => {
      const berth = (args: string[]) => runCli([...args, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
      const listed = await berth(['audit', 'list', '--category', 'activity', '--registry', reg, '-o', 'json']);
      assert.equal(listed.code, 0, listed.stderr);
      const entries = JSON.parse(listed.stdout) as Entry[];
      assert.ok(entries.length > 0 && entries.every((e) => e.category === 'Administrative'));
      const ops = await berth(['audit', 'list', '--operation', `${CR}/tokens/write`, '-o', 'json']);
      assert.deepEqual(
        (JSON.parse(ops.stdout) as Entry[]).map((e) => e.operationName),
        [`${CR}/tokens/write`],
      );
      const failed = await berth(['audit', 'list', '--result', 'Failed', '-o', 'json']);
      assert.ok((JSON.parse(failed.stdout) as Entry[]).every((e) => e.category === 'Administrative' && e.resultType === 'Failed'));
      const jsonl = await berth(['audit', 'list', '--category', 'activity', '--registry', reg, '--jsonl']);
      assert.equal(jsonl.code, 0, jsonl.stderr);
      assert.equal(jsonl.stdout.trim().split('\n').length, (await activity(`registry=${reg}`)).length);
      assert.equal((await berth(['audit', 'list', '--operation', 'bogus'])).code, 2);

      // Sign-ins: one by the CLI, one by docker; --exclude-cli leaves out the CLI's.
      const q = new URLSearchParams({ service: new URL(t.url).host, scope: `repository:${reg}/x:pull` });
      for (const ua of [CLI_UA, 'docker/27.0']) {
        const res = await t.fetch(`${t.url}/oauth2/token?${q}`, { headers: { Authorization: userAuth(), 'User-Agent': ua } });
        assert.equal(res.status, 200, await res.text());
      }
      const uas = async (args: string[]) =>
        (
          JSON.parse((await berth(['audit', 'list', '--category', 'login', '--identity', user, ...args, '-o', 'json'])).stdout) as {
            userAgent: string;
          }[]
        ).map((e) => e.userAgent);
      const everyone = await uas([]);
      assert.ok(everyone.includes(CLI_UA) && everyone.includes('docker/27.0'), everyone.join());
      const withoutCli = await uas(['--exclude-cli']);
      assert.deepEqual(
        withoutCli,
        everyone.filter((ua) => !ua.startsWith('berth-cli/')),
      );
      assert.ok(withoutCli.includes('docker/27.0'));
      const api = await call('GET', `/api/audit/logins?identity=${user}&excludeUserAgentPrefix=berth-cli/`);
      assert.deepEqual(
        api.body.value.map((e: { userAgent: string }) => e.userAgent),
        withoutCli,
      );
    });
  });
}
