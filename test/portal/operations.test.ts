import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { FakeUpstream, makeImage } from '../helpers/fake-upstream.js';
import { PortalClient, unescapeHtml } from '../helpers/portal.js';

// The operations screens of the portal over HTTP, on both metadata backends: the job queue
// (failures with their error text, retry, a job's live screen), garbage collection (status, run
// now, dry run, a run's live screen), a registry's imports (start one, follow it live until it
// ends, the list), and the audit logs (activity, logins, repository events: filters, paging,
// downloads as CSV and JSON lines). Hostile logged values show as text, CSV cells that a
// spreadsheet would run as formulas are defused, and an AcrPull user is refused everything
// that needs more, with nothing changed.

const HOSTILE_UA = '=HYPERLINK("https://evil.example","x")<script>alert("ua")</script>';
const HOSTILE_KIND = '<script>alert("kind")</script>';
const HOSTILE_USER = '+SUM(1,2)<img src=x onerror=alert(1)>';

interface Job {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  updatedAt: string;
}

for (const backend of BACKENDS) {
  describe(`portal operations on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let up: FakeUpstream;
    let reg: string;
    let owner: PortalClient;
    let puller: PortalClient;
    const pullerUser = { name: `ops.puller${process.pid}`, password: 'Puller-password-1' };
    let importId = 0;
    let deadJob = 0;

    async function call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
      const res = await t.fetch(path, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: (text ? JSON.parse(text) : undefined) as T, text };
    }
    const job = async (id: number) => (await call<Job>('GET', `/api/jobs/${id}`)).json;
    async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
      const end = Date.now() + 20_000;
      for (;;) {
        const v = await get();
        if (ok(v)) return v;
        assert.ok(Date.now() < end, `${what}: still ${JSON.stringify(v)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    /** Asks for a live fragment as portal.js does, until it says done; returns the last one. */
    async function followLive(c: PortalClient, path: string): Promise<string> {
      const end = Date.now() + 20_000;
      for (;;) {
        const res = await c.get(path, { 'X-Berth-Fragment': '1' });
        const body = await res.text();
        assert.equal(res.status, 200, body);
        assert.ok(!body.includes('<html'), 'a fragment, not a page');
        if (res.headers.get('x-berth-live') === 'done') return body;
        assert.ok(Date.now() < end, `${path} never ended: ${body.slice(0, 300)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const noRawHostile = (page: string) => {
      assert.ok(!page.includes('<script>alert'), 'no raw script from logged data');
      assert.ok(!page.includes('<img src=x'), 'no raw img from logged data');
    };

    before(async () => {
      t = await startTestApp(backend, {
        egress: { allowPrivate: true },
        jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      });
      reg = await t.createRegistry(`ops${process.pid}`);
      up = new FakeUpstream();
      up.add('src/app', 'v1', makeImage([2048, 4096]));
      await up.start();
      assert.equal((await call('POST', '/api/users', pullerUser)).status, 201);
      assert.equal(
        (await call('POST', '/api/role-assignments', { assignee: pullerUser.name, role: 'AcrPull', scope: `/registries/${reg}` })).status,
        201,
      );
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
      puller = await PortalClient.signedIn(t, pullerUser.name, pullerUser.password);
    });
    after(async () => {
      await up?.close();
      await t?.close();
    });

    test('imports: start one from the form, follow it live until it ends, and find it in the list', async () => {
      const empty = await owner.page(`/portal/registries/${reg}/imports`);
      assert.match(empty, /<h1>Imports<\/h1>/);
      assert.match(empty, /aria-current="page">Imports</);
      assert.match(empty, /No imports yet\./);
      const res = await owner.post(`/portal/registries/${reg}/imports`, {
        registryUri: up.host,
        sourceImage: 'src/app:v1',
        targetTags: 'copy:v1, copy:latest',
        untaggedTargetRepositories: '',
        mode: 'NoForce',
        username: '',
        password: '',
      });
      assert.equal(res.status, 303, await res.text());
      const location = res.headers.get('location') ?? '';
      const m = new RegExp(`^/portal/registries/${reg}/imports/(\\d+)\\?done=started$`).exec(location);
      assert.ok(m, location);
      importId = Number(m[1]);
      const screen = await owner.page(location);
      assert.match(screen, /The import is queued/);
      assert.match(screen, new RegExp(`data-live="/portal/registries/${reg}/imports/${importId}"`));
      const last = unescapeHtml(await followLive(owner, `/portal/registries/${reg}/imports/${importId}`));
      assert.match(last, /Succeeded/);
      assert.match(last, /sha256:[0-9a-f]{64}/);
      assert.match(last, /copy:v1/);
      const v = await t.v2().fetch(`${reg}/copy/manifests/latest`, { method: 'HEAD' });
      assert.equal(v.status, 200, 'the image was imported under both tags');
      const listed = unescapeHtml(await owner.page(`/portal/registries/${reg}/imports`));
      assert.match(listed, new RegExp(`Import ${importId}</a>`));
      assert.match(listed, new RegExp(`${up.host}/src/app:v1`));
      // The job behind it, on the job's screen: its state and a link back to the import.
      const jobPage = await owner.page(`/portal/operations/jobs/${importId}`);
      assert.match(jobPage, /succeeded/);
      assert.match(jobPage, new RegExp(`href="/portal/registries/${reg}/imports/${importId}"`));
    });

    test('imports: a refused request shows the API message and queues nothing', async () => {
      const before = (await call<{ value: unknown[] }>('GET', `/api/registries/${reg}/imports`)).json.value.length;
      const bad = await owner.post(`/portal/registries/${reg}/imports`, { sourceImage: 'nohost/app:v1' });
      assert.equal(bad.status, 400);
      assert.match(unescapeHtml(await bad.text()), /does not start with a registry host/);
      const taken = await owner.post(`/portal/registries/${reg}/imports`, {
        registryUri: up.host,
        sourceImage: 'src/app:v1',
        targetTags: 'copy:v1',
        mode: 'NoForce',
      });
      assert.equal(taken.status, 409);
      assert.match(unescapeHtml(await taken.text()), /copy:v1 already exists/);
      assert.equal((await call<{ value: unknown[] }>('GET', `/api/registries/${reg}/imports`)).json.value.length, before);
    });

    test('jobs: a failed job with its error text (hostile text shown as text), retry, filters, the live screen', async () => {
      deadJob = await t.app.services.jobs.enqueue(t.app.meta.db, HOSTILE_KIND, { note: '"><b>bold</b>' }, { maxAttempts: 1 });
      await until(
        'the job fails',
        () => job(deadJob),
        (j) => j.state === 'dead',
      );
      const list = await owner.page('/portal/operations');
      assert.match(list, /<h1>Jobs<\/h1>/);
      assert.match(list, /Failed jobs/);
      noRawHostile(list);
      const text = unescapeHtml(list);
      assert.ok(text.includes(`no handler for job kind "${HOSTILE_KIND}"`), 'the error text is shown, as text');
      assert.match(list, new RegExp(`action="/portal/operations/jobs/${deadJob}/retry"`));

      const dead = unescapeHtml(await owner.page('/portal/operations?state=dead'));
      assert.ok(dead.includes(`Job ${deadJob}<`));
      assert.ok(!dead.includes(`Job ${importId}<`), 'the succeeded import is not a dead job');
      const imports = unescapeHtml(await owner.page('/portal/operations?kind=import'));
      assert.ok(imports.includes(`Job ${importId}<`));
      assert.ok(!imports.includes(`Job ${deadJob}<`));
      assert.match(await owner.page('/portal/operations?state=bogus'), /No job matches these filters/);

      const screen = await owner.page(`/portal/operations/jobs/${deadJob}`);
      noRawHostile(screen);
      assert.ok(!screen.includes('<b>bold</b>'), 'the payload is text');
      assert.ok(unescapeHtml(screen).includes('"><b>bold</b>'));
      assert.match(screen, /data-live="\/portal\/operations\/jobs\/\d+"/);
      const fragment = await owner.get(`/portal/operations/jobs/${deadJob}`, { 'X-Berth-Fragment': '1' });
      assert.equal(fragment.headers.get('x-berth-live'), 'done', 'a dead job has ended');

      const before = await job(deadJob);
      const res = await owner.post(`/portal/operations/jobs/${deadJob}/retry`);
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `/portal/operations/jobs/${deadJob}?done=retried`);
      assert.match(await owner.page(res.headers.get('location')!), /The job is queued again/);
      const after = await job(deadJob);
      assert.ok(after.updatedAt > before.updatedAt, 'the job was queued again');
      await until(
        'the retried job fails again',
        () => job(deadJob),
        (j) => j.state === 'dead',
      );
      const log = (
        await call<{ value: { operationName: string; resourceId: string }[] }>(
          'GET',
          '/api/audit/activity?operation=Berth/jobs/retry/action',
        )
      ).json.value;
      assert.ok(
        log.some((e) => e.resourceId === `/jobs/${deadJob}/retry`),
        JSON.stringify(log),
      );
    });

    test('garbage collection: status, a dry run, run now and follow the run live', async () => {
      const status = await owner.page('/portal/operations/gc');
      assert.match(status, /<h1>Garbage collection<\/h1>/);
      assert.match(status, /Awaiting collection/);
      assert.match(status, /Run garbage collection now/);
      const dry = await owner.post('/portal/operations/gc/runs', { dryRun: 'on' });
      assert.equal(dry.status, 200);
      assert.match(await dry.text(), /Nothing was changed/);
      const res = await owner.post('/portal/operations/gc/runs');
      assert.equal(res.status, 303);
      const m = /^\/portal\/operations\/gc\/runs\/(\d+)\?done=started$/.exec(res.headers.get('location') ?? '');
      assert.ok(m, res.headers.get('location') ?? '');
      const runPage = await owner.page(res.headers.get('location')!);
      assert.match(runPage, /Garbage collection started/);
      const last = await followLive(owner, `/portal/operations/gc/runs/${m[1]}`);
      assert.match(last, /succeeded/);
      const after = await owner.page('/portal/operations/gc');
      assert.match(after, new RegExp(`Run ${m[1]}</a>`));
    });

    test('activity log: hostile logged values are text, filters, paging, and a refused filter keeps the form', async () => {
      await new Promise((r) => setTimeout(r, 10));
      const mark = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 10));
      // A refused import whose request and caller carry hostile text (recorded as Failed).
      const hostile = await call(
        'POST',
        `/api/registries/${reg}/importImage`,
        { source: { sourceImage: 'example.com/<img src=x onerror=alert(1)>' } },
        { 'User-Agent': HOSTILE_UA },
      );
      assert.equal(hostile.status, 400);
      const page = await owner.page(`/portal/operations/activity?registry=${reg}`);
      assert.match(page, /<h1>Activity log<\/h1>/);
      noRawHostile(page);
      const text = unescapeHtml(page);
      assert.ok(text.includes(JSON.stringify(HOSTILE_UA)), 'the user agent is shown as text');
      assert.ok(text.includes('Microsoft.ContainerRegistry/registries/importImage/action'));

      const failed = unescapeHtml(await owner.page(`/portal/operations/activity?registry=${reg}&result=Failed`));
      assert.ok(failed.includes('REQUEST_INVALID'));
      assert.ok(failed.includes('badge bad">Failed<') && !/badge [a-z]*">(Succeeded|Accepted)</.test(failed), 'only failures');
      const retries = unescapeHtml(await owner.page('/portal/operations/activity?operation=Berth/jobs/retry/action'));
      assert.ok(retries.includes(`/jobs/${deadJob}/retry`));
      assert.ok(!retries.includes('importImage/action</code>'), 'only retries');

      // The time range: since is inclusive, until exclusive (also in the API, which gained until for this screen).
      const earlier = unescapeHtml(await owner.page(`/portal/operations/activity?registry=${reg}&until=${encodeURIComponent(mark)}`));
      assert.ok(earlier.includes('importImage/action') && !earlier.includes(JSON.stringify(HOSTILE_UA)), 'until: only what came before');
      const later = unescapeHtml(await owner.page(`/portal/operations/activity?registry=${reg}&since=${encodeURIComponent(mark)}`));
      assert.ok(later.includes(JSON.stringify(HOSTILE_UA)) && !/badge [a-z]*">Accepted</.test(later), 'since: only what came after');
      const apiUntil = await call<{ value: { time: string }[] }>('GET', `/api/audit/activity?until=${encodeURIComponent(mark)}&top=1000`);
      assert.equal(apiUntil.status, 200);
      assert.ok(apiUntil.json.value.length > 0 && apiUntil.json.value.every((e) => e.time < mark));
      for (const log of ['logins', 'repository', 'activity']) {
        const bad = await call('GET', `/api/audit/${log}?until=soon`);
        assert.equal(bad.status, 400, log);
        assert.match(bad.text, /\\"until\\" must be an ISO-8601 time/, log);
      }
      const repoBefore = await call<{ value: unknown[] }>('GET', `/api/audit/repository?registry=${reg}&until=${encodeURIComponent(mark)}`);
      assert.ok(repoBefore.json.value.length > 0, 'the import pushes came before the mark');
      const loginsBefore = await call<{ value: { time: string }[] }>('GET', `/api/audit/logins?until=${encodeURIComponent(mark)}`);
      assert.ok(loginsBefore.json.value.every((e) => e.time < mark));

      const refused = await owner.get('/portal/operations/activity?since=yesterday');
      assert.equal(refused.status, 400);
      const refusedPage = unescapeHtml(await refused.text());
      assert.match(refusedPage, /"since" must be an ISO-8601 time/);
      assert.match(refusedPage, /name="since"/);

      // Paging: 30 more records, 25 a page; the older page goes on where the first stopped.
      for (let i = 0; i < 30; i++) await call('POST', '/api/jobs/999999999/retry');
      const first = await owner.page('/portal/operations/activity?top=25');
      const older = /href="([^"]+)" rel="next"/.exec(first)?.[1];
      assert.ok(older, 'a link to older events');
      assert.match(unescapeHtml(older), /^\/portal\/operations\/activity\?top=25&before=\d+$/);
      const second = await owner.page(unescapeHtml(older));
      const times = (p: string) => [...p.matchAll(/<tr>\s*<td><time datetime="([^"]+)"/g)].map((x) => x[1]!);
      assert.equal(times(first).length, 25);
      assert.ok(times(second).length > 0);
      assert.ok(times(second)[0]! <= times(first).at(-1)!, 'older events on the next page');
      assert.match(second, /Newest events/);
    });

    test('login and repository logs: hostile identities are text, filters, and downloads (CSV defused, JSON lines)', async () => {
      const denied = await t.fetch('/v2/', {
        headers: { Authorization: basicAuthHeader(HOSTILE_USER, 'wrong'), 'User-Agent': HOSTILE_UA },
      });
      assert.equal(denied.status, 401);
      const logins = await owner.page('/portal/operations/audit?result=Denied');
      assert.match(logins, /<h1>Audit logs: login events<\/h1>/);
      noRawHostile(logins);
      const text = unescapeHtml(logins);
      assert.ok(text.includes(HOSTILE_USER));
      assert.ok(text.includes('badge bad">Denied<') && !text.includes('badge ok">Granted<'), 'only denied sign-ins');

      const repo = unescapeHtml(await owner.page(`/portal/operations/audit?log=repository&registry=${reg}&operation=push`));
      assert.match(repo, /Audit logs: repository events/);
      assert.ok(repo.includes('>copy<'), 'the import pushed into copy');

      const csv = await owner.get('/portal/operations/audit/export?result=Denied&format=csv');
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(csv.headers.get('content-disposition') ?? '', /^attachment; filename="berth-logins-\d{8}T\d{6}Z\.csv"$/);
      const rows = (await csv.text()).trim().split('\r\n');
      assert.equal(
        rows[0],
        'id,time,registry,identity,identityType,jwtId,callerIpAddress,userAgent,operation,resultType,resultDescription,status,durationMs',
      );
      const row = rows.find((r) => r.includes('SUM(1,2)'));
      assert.ok(row, rows.join('\n'));
      assert.ok(row.includes(`"'+SUM(1,2)<img src=x onerror=alert(1)>"`), `the identity is defused: ${row}`);
      assert.ok(
        row.includes(`"'=HYPERLINK(""https://evil.example"",""x"")<script>alert(""ua"")</script>"`),
        `the user agent is defused: ${row}`,
      );
      assert.ok(
        rows.slice(1).every((r) => r.includes(',Denied,')),
        'only what the filter matched',
      );

      const jsonl = await owner.get(`/portal/operations/activity/export?registry=${reg}&format=jsonl`);
      assert.equal(jsonl.status, 200);
      assert.match(jsonl.headers.get('content-type') ?? '', /^application\/x-ndjson/);
      assert.match(jsonl.headers.get('content-disposition') ?? '', /^attachment; filename="berth-activity-\d{8}T\d{6}Z\.jsonl"$/);
      const events = (await jsonl.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { registry: string; userAgent: string; operationName: string });
      assert.ok(events.length >= 3);
      assert.ok(events.every((e) => e.registry === reg));
      assert.ok(
        events.some((e) => e.userAgent === HOSTILE_UA),
        'the raw value, for machines',
      );
      const all = await owner.get('/portal/operations/activity/export?format=csv');
      const allRows = (await all.text()).trim().split('\r\n');
      assert.ok(allRows.length > 36, `every matching event, beyond one page: ${allRows.length}`);
    });

    test('an AcrPull user is refused every operations screen and action: 403, and nothing changes', async () => {
      const jobBefore = await job(deadJob);
      const gcBefore = (await call<{ lastRuns: unknown[] }>('GET', '/api/gc')).json.lastRuns.length;
      const importsBefore = (await call<{ value: unknown[] }>('GET', `/api/registries/${reg}/imports`)).json.value.length;
      for (const path of [
        '/portal/operations',
        '/portal/operations?state=dead',
        `/portal/operations/jobs/${deadJob}`,
        '/portal/operations/gc',
        '/portal/operations/gc/runs/1',
        '/portal/operations/activity',
        `/portal/operations/activity?registry=${reg}`,
        '/portal/operations/activity/export?format=csv',
        `/portal/operations/activity/export?registry=${reg}&format=jsonl`,
        '/portal/operations/audit',
        `/portal/operations/audit?log=repository&registry=${reg}`,
        `/portal/operations/audit/export?registry=${reg}&format=csv`,
        `/portal/registries/${reg}/imports`,
        `/portal/registries/${reg}/imports/${importId}`,
      ]) {
        const res = await puller.get(path);
        const body = await res.text();
        assert.equal(res.status, 403, `${path}: ${res.status} ${body.slice(0, 200)}`);
        assert.equal(res.headers.get('content-disposition'), null, `${path}: no download`);
        assert.ok(!body.includes(HOSTILE_UA.slice(0, 10)) && !body.includes('no handler for job kind'), `${path} shows no log data`);
      }
      for (const [path, form] of [
        [`/portal/operations/jobs/${deadJob}/retry`, {}],
        ['/portal/operations/gc/runs', {}],
        ['/portal/operations/gc/runs', { dryRun: 'on' }],
        [`/portal/registries/${reg}/imports`, { registryUri: up.host, sourceImage: 'src/app:v1', targetTags: 'pulled:v1' }],
      ] as const) {
        const res = await puller.post(path, form);
        assert.equal(res.status, 403, `POST ${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
      }
      const jobAfter = await job(deadJob);
      assert.equal(jobAfter.updatedAt, jobBefore.updatedAt, 'the job was not retried');
      assert.equal(jobAfter.state, 'dead');
      assert.equal((await call<{ lastRuns: unknown[] }>('GET', '/api/gc')).json.lastRuns.length, gcBefore, 'no GC run');
      assert.equal(
        (await call<{ value: unknown[] }>('GET', `/api/registries/${reg}/imports`)).json.value.length,
        importsBefore,
        'no import',
      );
    });
  });
}
