import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { ownerApi, PortalClient, unescapeHtml } from '../helpers/portal.js';
import { waitFor } from '../e2e/helpers.js';

// The policy screens of the portal over HTTP, on both backends: the quarantine, retention and
// soft delete policies, immutability rules, purge schedules (create, run now, delete) and a
// purge on demand that previews a dry run before the real one; the API's refusals shown as its
// messages; hostile filters shown as text; an AcrPull user refused everything, nothing changed.

const FAST = { jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, leaseSeconds: 2 } };

for (const backend of BACKENDS) {
  describe(`portal policies on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let owner: PortalClient;
    let reg: string;
    let basic: string;
    const puller = { name: `pol.puller${process.pid}`, password: 'puller password 1' };

    const api = (method: string, path: string, body?: unknown) => ownerApi(t)(method, path, body);
    const page = (r = reg) => `/portal/registries/${r}/policies`;
    const tags = async (repo: string): Promise<string[]> => {
      const r = await api('GET', `/api/registries/${reg}/repositories/${repo}/_tags`);
      return r.status === 200 ? (r.body.value as { name: string }[]).map((x) => x.name).sort() : [];
    };

    /** A POST that must redirect back to a screen with ?done=code. */
    async function done(path: string, form: Record<string, string | string[]>, code: string, to = page()) {
      const res = await owner.post(path, form);
      assert.equal(res.status, 303, `POST ${path}: ${res.status} ${(await res.text()).slice(0, 400)}`);
      assert.equal(res.headers.get('location'), `${to}?done=${code}`);
    }

    /** A refused POST: its status, and the message page's text. */
    async function refused(c: PortalClient, path: string, form: Record<string, string | string[]>, status: number | number[]) {
      const res = await c.post(path, form);
      const text = await res.text();
      const want = Array.isArray(status) ? status : [status];
      assert.ok(want.includes(res.status), `POST ${path}: ${res.status} ${text.slice(0, 300)}`);
      return unescapeHtml(text);
    }

    before(async () => {
      t = await startTestApp(backend, FAST);
      reg = await t.createRegistry(undefined, 'Premium');
      basic = await t.createRegistry(undefined, 'Basic');
      assert.equal((await api('POST', '/api/users', puller)).status, 201);
      const ra = await api('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
      assert.ok(ra.status < 300, JSON.stringify(ra.body));
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
      const v2 = t.v2();
      for (const tag of ['v1', 'v2', 'keep']) await v2.pushImage(`${reg}/old`, tag);
      await v2.pushImage(`${reg}/other`, 'v1');
    });
    after(() => t?.close());

    test('the screen shows every policy as the API has it', async () => {
      const p = await owner.page(page());
      for (const h of [
        'Quarantine',
        'Retention of untagged manifests',
        'Soft delete',
        'Immutability rules',
        'Purge schedules',
        'Purge now',
      ])
        assert.ok(p.includes(`>${h}</h2>`), h);
      assert.match(p, /No immutability rules\./);
      assert.match(p, /No purge schedules\./);
      const sd = (await api('GET', `/api/registries/${reg}/softDeletePolicy`)).body;
      assert.ok(p.includes(`value="${sd.retentionDays}"`), 'soft delete days');
    });

    test('quarantine, retention and soft delete policies are saved through the API', async () => {
      await done(`${page()}/quarantine`, { status: 'enabled' }, 'quarantine');
      assert.equal((await api('GET', `/api/registries/${reg}`)).body.policies.quarantinePolicy.status, 'enabled');
      assert.match(await owner.page(`${page()}?done=quarantine`), /The quarantine policy was saved/);
      await done(`${page()}/quarantine`, { status: 'disabled' }, 'quarantine');
      assert.equal((await api('GET', `/api/registries/${reg}`)).body.policies.quarantinePolicy.status, 'disabled');

      await done(`${page()}/retention`, { status: 'enabled', days: '3' }, 'retention');
      const ret = (await api('GET', `/api/registries/${reg}/retention`)).body;
      assert.equal(ret.status, 'enabled');
      assert.equal(ret.days, 3);
      await done(`${page()}/retention`, { status: 'disabled', days: '3' }, 'retention');

      await done(`${page()}/soft-delete`, { status: 'enabled', retentionDays: '12' }, 'softDelete');
      assert.deepEqual((await api('GET', `/api/registries/${reg}/softDeletePolicy`)).body, { status: 'enabled', retentionDays: 12 });
      const shown = await owner.page(`${page()}?done=softDelete`);
      assert.match(shown, /The soft delete policy was saved/);
      assert.ok(shown.includes('value="12"'));
      await done(`${page()}/soft-delete`, { status: 'disabled', retentionDays: '12' }, 'softDelete');
    });

    test("refused policy changes show the API's message and change nothing", async () => {
      const before = (await api('GET', `/api/registries/${basic}/retention`)).body;
      let text = await refused(owner, `${page(basic)}/retention`, { status: 'enabled', days: '3' }, 400);
      assert.match(text, /the retention policy needs the Premium tier/);
      assert.deepEqual((await api('GET', `/api/registries/${basic}/retention`)).body, before);
      text = await refused(owner, `${page()}/retention`, { status: 'disabled', days: 'soon' }, 400);
      assert.match(text, /"days" must be a whole number from 0 to 365/);
      text = await refused(owner, `${page()}/soft-delete`, { status: 'enabled', retentionDays: '500' }, 400);
      assert.match(text, /retention days must be a whole number from 1 to 90/);
      text = await refused(owner, `${page()}/quarantine`, { status: 'maybe' }, 400);
      assert.match(text, /quarantinePolicy.status must be "enabled" or "disabled"/);
      assert.equal((await api('GET', `/api/registries/${reg}/softDeletePolicy`)).body.status, 'disabled');
      assert.equal((await api('GET', `/api/registries/${reg}`)).body.policies.quarantinePolicy.status, 'disabled');
    });

    test('immutability rules: add, refuse a taken name, delete', async () => {
      await done(`${page()}/immutability`, { name: 'prod-rule', repository: 'prod/**', tag: 'v*' }, 'ruleAdded');
      const rules = (await api('GET', `/api/registries/${reg}/immutability`)).body.value;
      assert.deepEqual(
        rules.map((r: { name: string; repository: string; tag: string }) => [r.name, r.repository, r.tag]),
        [['prod-rule', 'prod/**', 'v*']],
      );
      const p = await owner.page(`${page()}?done=ruleAdded`);
      assert.match(p, /The immutability rule was added/);
      assert.match(p, /<code>prod\/\*\*<\/code>/);
      let text = await refused(owner, `${page()}/immutability`, { name: 'prod-rule' }, 409);
      assert.match(text, /immutability policy "prod-rule" already exists/);
      text = await refused(owner, `${page()}/immutability`, { name: 'bad name!' }, 400);
      assert.match(text, /a policy needs a "name"/);
      await done(`${page()}/immutability/prod-rule/delete`, {}, 'ruleDeleted');
      assert.deepEqual((await api('GET', `/api/registries/${reg}/immutability`)).body.value, []);
    });

    test('purge schedules: create (hostile filter shown as text), refuse bad input, run now, delete', async () => {
      const hostile = '"><script>alert(1)</script>:.*';
      await done(
        `${page()}/schedules`,
        { name: 'nightly', schedule: '0 3 * * *', filters: `${hostile}\nnothing-here:.*`, ago: '30d', keep: '2', status: 'enabled' },
        'scheduleAdded',
      );
      const s = (await api('GET', `/api/registries/${reg}/purge/schedules/nightly`)).body;
      assert.deepEqual(s.filters, [hostile, 'nothing-here:.*']);
      assert.equal(s.ago, '30d');
      assert.equal(s.keep, 2);
      const p = await owner.page(page());
      assert.ok(!p.includes('<script>alert(1)'), 'the filter is escaped');
      assert.ok(unescapeHtml(p).includes(hostile));
      assert.match(p, /<code>0 3 \* \* \*<\/code>/);

      let text = await refused(owner, `${page()}/schedules`, { name: 'broken', schedule: 'every day', filters: 'a:.*', ago: '1d' }, 400);
      assert.match(text, /"every day" has 2 fields; a schedule has five/);
      text = await refused(owner, `${page()}/schedules`, { name: 'broken', schedule: '0 0 * * *', filters: 'a:.*', ago: 'soon' }, 400);
      assert.match(text, /"ago" "soon" is not a duration/);
      text = await refused(owner, `${page()}/schedules`, { name: 'nightly', schedule: '0 0 * * *', filters: 'a:.*', ago: '1d' }, 409);
      assert.match(text, /nightly/);
      assert.equal((await api('GET', `/api/registries/${reg}/purge/schedules/broken`)).status, 404);

      const run = await owner.post(`${page()}/schedules/nightly/run`, {});
      assert.equal(run.status, 303);
      const to = run.headers.get('location') ?? '';
      assert.match(to, new RegExp(`^/portal/registries/${reg}/policies/purge/runs/\\d+\\?done=queued$`));
      assert.match(await owner.page(to), /The purge was queued/);
      await waitFor('the scheduled run to end', async () => /<dd>succeeded<\/dd>/.test(await owner.page(to)) || undefined);
      assert.deepEqual(await tags('old'), ['keep', 'v1', 'v2'], 'nothing matched, nothing deleted');

      await done(`${page()}/schedules/nightly/delete`, {}, 'scheduleDeleted');
      assert.equal((await api('GET', `/api/registries/${reg}/purge/schedules/nightly`)).status, 404);
    });

    test('purge now: a dry-run preview first, deleting nothing; then the confirmed run deletes it', async () => {
      let text = await refused(owner, `${page()}/purge/preview`, { filters: 'old:.*', ago: 'whenever' }, 400);
      assert.match(text, /is not a duration/);
      text = await refused(owner, `${page()}/purge/preview`, { filters: 'no separator', ago: '0d' }, 400);
      assert.match(text, /needs the form/);

      const preview = await owner.post(`${page()}/purge/preview`, { filters: 'old:v.*\n', ago: '0d' });
      const p = await preview.text();
      assert.equal(preview.status, 200, p.slice(0, 400));
      assert.match(p, /Dry run: nothing was deleted/);
      assert.ok(p.includes('<code>old:v1</code>') && p.includes('<code>old:v2</code>'), 'the tags it would delete');
      assert.ok(!p.includes('<code>old:keep</code>') && !p.includes('other:v1'));
      assert.deepEqual(await tags('old'), ['keep', 'v1', 'v2'], 'the preview deleted nothing');
      // The confirmation carries the same spec.
      assert.match(p, /<input type="hidden" name="filters" value="old:v.\*" \/>/);
      assert.match(p, /<input type="hidden" name="ago" value="0d" \/>/);

      const res = await owner.post(`${page()}/purge`, { filters: 'old:v.*', ago: '0d' });
      assert.equal(res.status, 303);
      const to = res.headers.get('location') ?? '';
      assert.match(to, /\/purge\/runs\/\d+\?done=queued$/);
      await waitFor('the purge', async () => ((await tags('old')).join() === 'keep' ? true : undefined));
      const run = await waitFor('the run page to say succeeded', async () => {
        const r = await owner.page(to);
        return /<dd>succeeded<\/dd>/.test(r) ? r : undefined;
      });
      assert.ok(run.includes('<code>old:v1</code>'), 'the run lists what it deleted');
      // The live fragment answers with "done" once the run has ended.
      const frag = await owner.get(to.replace(/\?.*$/, ''), { 'X-Berth-Fragment': '1' });
      assert.equal(frag.status, 200);
      assert.equal(frag.headers.get('x-berth-live'), 'done');
    });

    test('an AcrPull user: every screen and action is refused and nothing changes', async () => {
      await done(`${page()}/immutability`, { name: 'keeper', tag: 'v*' }, 'ruleAdded');
      await done(`${page()}/schedules`, { name: 'weekly', schedule: '0 0 * * 0', filters: 'other:.*', ago: '0d' }, 'scheduleAdded');
      const state = async () => ({
        registry: (await api('GET', `/api/registries/${reg}`)).body.policies,
        retention: (await api('GET', `/api/registries/${reg}/retention`)).body,
        softDelete: (await api('GET', `/api/registries/${reg}/softDeletePolicy`)).body,
        rules: (await api('GET', `/api/registries/${reg}/immutability`)).body.value,
        schedules: (await api('GET', `/api/registries/${reg}/purge/schedules`)).body.value,
        jobs: (await api('GET', `/api/jobs?kind=purge`)).body.value.length,
        old: await tags('old'),
        other: await tags('other'),
      });
      const before = await state();

      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      const screen = await c.get(page());
      assert.equal(screen.status, 403, `GET ${page()}: ${screen.status}`);
      const runs = (await api('GET', `/api/jobs?kind=purge`)).body.value as { id: number }[];
      assert.ok(runs[0], 'the earlier tests ran purges');
      // A run is shown to its requester or a reader; to others the API says it does not exist.
      const r = await c.get(`${page()}/purge/runs/${runs[0].id}`);
      assert.equal(r.status, 404, `a run's screen: ${r.status}`);
      assert.ok(!(await r.text()).includes('old:v1'));
      const actions: [string, Record<string, string>][] = [
        [`${page()}/quarantine`, { status: 'enabled' }],
        [`${page()}/retention`, { status: 'enabled', days: '1' }],
        [`${page()}/soft-delete`, { status: 'enabled', retentionDays: '5' }],
        [`${page()}/immutability`, { name: 'sneaky' }],
        [`${page()}/immutability/keeper/delete`, {}],
        [`${page()}/schedules`, { name: 'sneaky', schedule: '0 0 * * *', filters: '.*:.*', ago: '0d' }],
        [`${page()}/schedules/weekly/run`, {}],
        [`${page()}/schedules/weekly/delete`, {}],
        [`${page()}/purge/preview`, { filters: '.*:.*', ago: '0d' }],
        [`${page()}/purge`, { filters: '.*:.*', ago: '0d' }],
      ];
      for (const [path, form] of actions) await refused(c, path, form, 403);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await state(), before);
    });
  });
}
