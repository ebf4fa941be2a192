import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { PortalClient, unescapeHtml } from '../helpers/portal.js';

// The registries screens (/portal/registries…): the list with usage and repository counts, creating
// a registry (with the name checked as it is typed), a registry's overview with its storage and
// push/pull history, and its settings (SKU, admin user and its passwords, anonymous pull,
// quarantine, deletion). Also the API reads they use: GET /api/me, ?include=usage and
// …/usages/history. A user with only AcrPull is refused every change, and nothing changes.

for (const backend of BACKENDS) {
  describe(`portal registries on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let owner: PortalClient;
    const pid = process.pid;
    const puller = { name: `rp.puller${pid}`, password: 'puller password 1' };
    const reader = { name: `rp.reader${pid}`, password: 'reader password 1' };
    let main: string;

    async function apiCall(method: string, path: string, body?: unknown, auth = adminAuthHeader()): Promise<Response> {
      return t.fetch(path, {
        method,
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }
    async function apiJson(method: string, path: string, body?: unknown, auth?: string) {
      const res = await apiCall(method, path, body, auth);
      const text = await res.text();
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    }
    const text = (page: string) => unescapeHtml(page.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '));

    before(async () => {
      t = await startTestApp(backend);
      main = await t.createRegistry(`rpmain${pid}`);
      await apiJson('POST', '/api/users', puller);
      await apiJson('POST', '/api/users', reader);
      await apiJson('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${main}` });
      await apiJson('POST', '/api/role-assignments', { assignee: reader.name, role: 'Reader', scope: `/registries/${main}` });
      await t.v2().pushImage(`${main}/app/web`, 'v1');
      await t.v2().pushImage(`${main}/app/api`, 'v1');
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
    });
    after(() => t?.close());

    test('the API: GET /api/me, ?include=usage on the list and one registry, and the usage history', async () => {
      const me = await apiJson('GET', '/api/me');
      assert.equal(me.name, ADMIN_USER);
      assert.ok(me.deploymentPowers.includes('create_registries'));
      const mine = await apiJson('GET', '/api/me', undefined, basicAuthHeader(puller.name, puller.password));
      assert.deepEqual(mine.deploymentPowers, []);

      const list = await apiJson('GET', '/api/registries?include=usage');
      const row = list.value.find((r: { name: string }) => r.name === main);
      assert.equal(row.usage.repositoryCount, 2);
      assert.ok(row.usage.storageBytes > 1000, JSON.stringify(row.usage));
      assert.equal(row.usage.storageLimitBytes, 40 * 1024 ** 4);
      const plain = await apiJson('GET', '/api/registries');
      assert.equal(plain.value[0].usage, undefined);
      assert.equal((await apiCall('GET', '/api/registries?include=everything')).status, 400);
      const one = await apiJson('GET', `/api/registries/${main}?include=usage`);
      assert.deepEqual(one.usage, row.usage);

      const h = await apiJson('GET', `/api/registries/${main}/usages/history?days=7`);
      assert.equal(h.value.length, 7);
      const today = h.value[6];
      assert.equal(today.date, new Date().toISOString().slice(0, 10));
      assert.equal(today.storageBytes, row.usage.storageBytes);
      assert.equal(today.pushes, 2);
      assert.equal((await apiCall('GET', `/api/registries/${main}/usages/history?days=91`)).status, 400);
      // The history is a Reader's read: AcrPull is refused.
      assert.equal(
        (await apiCall('GET', `/api/registries/${main}/usages/history`, undefined, basicAuthHeader(puller.name, puller.password))).status,
        403,
      );
    });

    test('the history: a day without a sample carries the last one; days before the first have none; a delete shrinks today', async () => {
      const name = await t.createRegistry(`rphist${pid}`);
      const id = Number((await t.app.meta.db.selectFrom('registries').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id);
      const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
      // Samples as earlier days would have left them: 40 days ago (before the window) and 3 days ago.
      await t.app.meta.db
        .insertInto('registry_usage_daily')
        .values([
          { registry_id: id, day: day(40), bytes: 1000 },
          { registry_id: id, day: day(3), bytes: 5000 },
        ])
        .execute();
      let h = await apiJson('GET', `/api/registries/${name}/usages/history?days=30`);
      assert.equal(h.value[0].date, day(29));
      assert.equal(h.value[0].storageBytes, 1000, 'carried in from before the window');
      assert.equal(h.value[26].storageBytes, 5000);
      assert.equal(h.value[29].storageBytes, 5000, 'carried to today');
      const img = await t.v2().pushImage(`${name}/x`, 'v1');
      h = await apiJson('GET', `/api/registries/${name}/usages/history?days=5`);
      const grown = h.value[4].storageBytes;
      assert.ok(grown > 0 && grown < 5000, `today's sample is the registry's storage now (${grown})`);
      assert.equal(h.value[4].pushes, 1);
      const del = await apiCall('DELETE', `/api/registries/${name}/repositories/x`);
      assert.ok(del.status < 300);
      h = await apiJson('GET', `/api/registries/${name}/usages/history?days=5`);
      assert.equal(h.value[4].storageBytes, 0);
      assert.ok(img.digest);
      // Deleting the registry deletes its history.
      await apiJson('DELETE', `/api/registries/${name}`);
      const left = await t.app.meta.db.selectFrom('registry_usage_daily').select('day').where('registry_id', '=', id).execute();
      assert.deepEqual(left, []);
    });

    test('the list: name link, SKU, storage against the limit, repository count, login server, and "Create registry" for the owner', async () => {
      const page = await owner.page('/portal/registries');
      assert.ok(page.includes(`<a href="/portal/registries/${main}">${main}</a>`), page);
      assert.match(page, /<meter\s/);
      assert.match(text(page), new RegExp(`${main} Basic .* of 40 TiB \\(0%\\) 2 `));
      assert.ok(page.includes('href="/portal/registries/new"'));
      const readerClient = await PortalClient.signedIn(t, reader.name, reader.password);
      const theirs = await readerClient.page('/portal/registries');
      assert.ok(theirs.includes(`>${main}</a>`));
      assert.ok(!theirs.includes('href="/portal/registries/new"'), 'no create link without create_registries');
    });

    test('create: the name is checked as typed, a registry is created with its SKU and admin user; taken and invalid names get the API message', async () => {
      const form = await owner.page('/portal/registries/new');
      assert.match(form, /data-check="\/portal\/registries\/check-name"/);
      const taken = await owner.get(`/portal/registries/check-name?name=${main.toUpperCase()}`);
      assert.equal(taken.status, 200);
      assert.match(taken.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await taken.json(), { available: false, message: `The registry ${main.toUpperCase()} is already in use.` });
      const bad = await (await owner.get('/portal/registries/check-name?name=a-b')).json();
      assert.equal(bad.available, false);
      assert.match(bad.message, /5 to 50 letters and digits/);
      const name = `rpnew${pid}`;
      assert.deepEqual(await (await owner.get(`/portal/registries/check-name?name=${name}`)).json(), {
        available: true,
        message: `${name} is available.`,
      });

      const res = await owner.post('/portal/registries/new', { name, sku: 'Standard', adminUserEnabled: 'on' });
      assert.equal(res.status, 303, await res.text());
      assert.equal(res.headers.get('location'), `/portal/registries/${name}?done=created`);
      const created = await apiJson('GET', `/api/registries/${name}`);
      assert.equal(created.sku, 'Standard');
      assert.equal(created.adminUserEnabled, true);
      assert.match(await owner.page(`/portal/registries/${name}?done=created`), /The registry was created\./);

      const again = await owner.post('/portal/registries/new', { name, sku: 'Basic' });
      assert.equal(again.status, 409);
      assert.match(text(await again.text()), /already in use/);
      const invalid = await owner.post('/portal/registries/new', { name: '<script>x</script>', sku: 'Basic' });
      assert.equal(invalid.status, 400);
      const body = await invalid.text();
      assert.ok(!body.includes('<script>x'), 'escaped');
      const wrongSku = await owner.post('/portal/registries/new', { name: `rpsku${pid}`, sku: 'Gold' });
      assert.equal(wrongSku.status, 400);
      assert.equal((await apiCall('GET', `/api/registries/rpsku${pid}`)).status, 404);
      // Without create_registries: the API's 403.
      const readerClient = await PortalClient.signedIn(t, reader.name, reader.password);
      assert.equal((await readerClient.post('/portal/registries/new', { name: `rpnot${pid}`, sku: 'Basic' })).status, 403);
      assert.equal((await apiCall('GET', `/api/registries/rpnot${pid}`)).status, 404);
    });

    test('the overview: login server and docker login, endpoints, SKU, usage with charts, the repository count and a link to the tab', async () => {
      const page = await owner.page(`/portal/registries/${main}`);
      const shown = text(page);
      const server = `${t.host}/${main}`;
      assert.ok(shown.includes(`docker login ${server}`), shown);
      assert.ok(shown.includes(`${t.url}/v2/${main}/`));
      assert.ok(shown.includes(`${t.url}/acr/v1/${main}/`));
      assert.ok(shown.includes(`${t.url}/oauth2/token`));
      assert.match(shown, /SKU Basic/);
      assert.match(shown, /2 repositories: see them on the Repositories tab/);
      assert.ok(page.includes(`href="/portal/registries/${main}/repositories"`));
      assert.match(page, /<svg class="chart"[^>]*role="img"/);
      assert.match(page, /<title id="storage-chart-t">Storage over the last 30 days<\/title>/);
      assert.match(page, /<rect\s+class="bar push"/);
      assert.ok(!/style=/.test(page), 'no inline style');
      assert.ok(!page.includes('app/web'), 'no repository list on the overview');
      // AcrPull: how to reach it and the repositories link, nothing of the registry's settings or usage.
      const pullerClient = await PortalClient.signedIn(t, puller.name, puller.password);
      const theirs = await pullerClient.page(`/portal/registries/${main}`);
      assert.ok(text(theirs).includes(`docker login ${server}`));
      assert.ok(!/Usage|SKU/.test(text(theirs)));
      assert.equal((await owner.get('/portal/registries/nosuchreg1')).status, 404);
    });

    test('settings: SKU, admin user, anonymous pull and quarantine saved through PATCH; a refused change shows why and changes nothing', async () => {
      const name = await t.createRegistry(`rpset${pid}`);
      const page = await owner.page(`/portal/registries/${name}/settings`);
      assert.match(page, /The admin user is disabled/);
      let res = await owner.post(`/portal/registries/${name}/settings`, { sku: 'Premium', adminUserEnabled: 'on', quarantine: 'on' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `/portal/registries/${name}/settings?done=saved`);
      let reg = await apiJson('GET', `/api/registries/${name}`);
      assert.equal(reg.sku, 'Premium');
      assert.equal(reg.adminUserEnabled, true);
      assert.equal(reg.anonymousPullEnabled, false);
      assert.equal(reg.policies.quarantinePolicy.status, 'enabled');
      res = await owner.post(`/portal/registries/${name}/settings`, { sku: 'Premium', adminUserEnabled: 'on', quarantine: 'on' });
      assert.equal(res.headers.get('location'), `/portal/registries/${name}/settings?done=unchanged`);
      res = await owner.post(`/portal/registries/${name}/settings`, { sku: 'Premium', adminUserEnabled: 'on', anonymousPullEnabled: 'on' });
      assert.equal(res.status, 303);
      reg = await apiJson('GET', `/api/registries/${name}`);
      assert.equal(reg.anonymousPullEnabled, true);
      assert.equal(reg.policies.quarantinePolicy.status, 'disabled');
      // Anonymous pull on Basic is refused by the API: its message, and nothing changed.
      res = await owner.post(`/portal/registries/${name}/settings`, { sku: 'Basic', adminUserEnabled: 'on', anonymousPullEnabled: 'on' });
      assert.equal(res.status, 400);
      assert.match(text(await res.text()), /which the Basic tier does not offer/);
      reg = await apiJson('GET', `/api/registries/${name}`);
      assert.equal(reg.sku, 'Premium');
      const saved = await owner.page(`/portal/registries/${name}/settings?done=saved`);
      assert.match(saved, /The settings were saved\./);
      assert.match(saved, /<option value="Premium" selected>/);
    });

    test('admin credentials: user name and both passwords shown; regenerating one shows the new value, which signs in, and stops the old', async () => {
      const name = await t.createRegistry(`rpcred${pid}`);
      await apiJson('PATCH', `/api/registries/${name}`, { adminUserEnabled: true });
      const before = await apiJson('GET', `/api/registries/${name}/credentials`);
      const page = await owner.page(`/portal/registries/${name}/settings`);
      for (const p of before.passwords) assert.ok(page.includes(p.value), `${p.name} shown`);
      assert.match(text(page), new RegExp(`User name ${name}`));
      const res = await owner.post(`/portal/registries/${name}/settings/credentials/renew`, { name: 'password2' });
      assert.equal(res.status, 200);
      const shown = await res.text();
      const after = await apiJson('GET', `/api/registries/${name}/credentials`);
      const fresh = after.passwords.find((p: { name: string }) => p.name === 'password2').value;
      const old = before.passwords.find((p: { name: string }) => p.name === 'password2').value;
      assert.notEqual(fresh, old);
      assert.match(shown, /New password2 for/);
      assert.ok(shown.includes(fresh));
      assert.ok(!res.headers.get('location'));
      const v2 = (pw: string) => t.fetch(`/v2/${name}/tags/list`, { headers: { Authorization: basicAuthHeader(name, pw) } });
      assert.notEqual((await v2(fresh)).status, 401);
      assert.equal((await v2(old)).status, 401);
      const badName = await owner.post(`/portal/registries/${name}/settings/credentials/renew`, { name: 'password3' });
      assert.equal(badName.status, 400);
      assert.match(text(await badName.text()), /"name" must be "password" or "password2"/);
    });

    test('delete: a wrong typed name deletes nothing; the right one deletes and returns to the list', async () => {
      const name = await t.createRegistry(`rpdel${pid}`);
      const page = await owner.page(`/portal/registries/${name}/settings`);
      assert.ok(page.includes(`data-confirm="${name}"`));
      let res = await owner.post(`/portal/registries/${name}/delete`, { confirm: 'nope' });
      assert.equal(res.status, 400);
      assert.equal((await apiCall('GET', `/api/registries/${name}`)).status, 200);
      res = await owner.post(`/portal/registries/${name}/delete`, { confirm: name });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/portal/registries?done=deleted');
      assert.equal((await apiCall('GET', `/api/registries/${name}`)).status, 404);
      const list = await owner.page('/portal/registries?done=deleted');
      assert.match(list, /The registry was deleted\./);
      assert.ok(!list.includes(`>${name}</a>`));
    });

    test('hostile data: a name with markup typed into the check shows as text in JSON and pages', async () => {
      const evil = '"><script>alert(1)</script>é';
      const r = await (await owner.get(`/portal/registries/check-name?name=${encodeURIComponent(evil)}`)).json();
      assert.equal(r.available, false);
      const res = await owner.get(`/portal/registries/${encodeURIComponent(evil)}`);
      const body = await res.text();
      assert.ok(!body.includes('<script>alert'), 'escaped');
      const settings = await owner.get(`/portal/registries/${encodeURIComponent(evil)}/settings`);
      assert.ok(!(await settings.text()).includes('<script>alert'));
      // Values the API echoes in its refusals (a SKU, a password name) come back as text.
      for (const [path, form] of [
        ['/portal/registries/new', { name: `rpevil${pid}`, sku: evil }],
        [`/portal/registries/${main}/settings`, { sku: evil }],
        [`/portal/registries/${main}/settings/credentials/renew`, { name: evil }],
      ] as const) {
        const res = await owner.post(path, form);
        assert.equal(res.status, 400, path);
        const page = await res.text();
        assert.ok(!page.includes('<script>alert'), `${path}: escaped`);
      }
      assert.equal((await apiCall('GET', `/api/registries/rpevil${pid}`)).status, 404);
    });

    test('AcrPull: every settings screen and action is refused with 403, and nothing changes', async () => {
      await apiJson('PATCH', `/api/registries/${main}`, { adminUserEnabled: true });
      const before = await apiJson('GET', `/api/registries/${main}`);
      const creds = await apiJson('GET', `/api/registries/${main}/credentials`);
      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      assert.equal((await c.get(`/portal/registries/${main}/settings`)).status, 403);
      const posts: [string, Record<string, string>][] = [
        [`/portal/registries/${main}/settings`, { sku: 'Premium', adminUserEnabled: 'on', anonymousPullEnabled: 'on', quarantine: 'on' }],
        [`/portal/registries/${main}/settings`, { sku: 'Basic' }],
        [`/portal/registries/${main}/settings/credentials/renew`, { name: 'password' }],
        [`/portal/registries/${main}/settings/credentials/renew`, { name: 'password2' }],
        [`/portal/registries/${main}/delete`, { confirm: main }],
        ['/portal/registries/new', { name: `rppull${pid}`, sku: 'Basic' }],
      ];
      for (const [path, form] of posts) {
        const res = await c.post(path, form);
        assert.equal(res.status, 403, `${path}: ${res.status}`);
        assert.ok(!(await res.text()).includes(creds.passwords[0].value), 'no password leaks');
      }
      // A Reader sees the settings but may not change them either, nor see the passwords.
      const r = await PortalClient.signedIn(t, reader.name, reader.password);
      const page = await r.page(`/portal/registries/${main}/settings`);
      assert.ok(!page.includes(creds.passwords[0].value));
      assert.match(page, /Only those who may change the registry/);
      assert.equal((await r.post(`/portal/registries/${main}/settings`, { sku: 'Premium' })).status, 403);
      assert.equal((await r.post(`/portal/registries/${main}/settings/credentials/renew`, { name: 'password' })).status, 403);
      assert.equal((await r.post(`/portal/registries/${main}/delete`, { confirm: main })).status, 403);

      assert.deepEqual(await apiJson('GET', `/api/registries/${main}`), before);
      assert.deepEqual(await apiJson('GET', `/api/registries/${main}/credentials`), creds);
      assert.equal((await apiCall('GET', `/api/registries/rppull${pid}`)).status, 404);
    });
  });
}
