import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { PortalClient, unescapeHtml } from '../helpers/portal.js';

// The portal's Access screens (/portal/access and /portal/registries/{r}/access) over HTTP, on
// both metadata backends: every action, the API's message for bad input, hostile names shown as
// text, an AcrPull user refused everywhere with nothing changed, and secrets that are shown once
// and never again.

const HOSTILE = `<script>alert("x")</script>'"=\`é漢`;

/** The values of every secretOnce() block on a page. */
const secretsOf = (page: string) => [...page.matchAll(/<div class="secret"[\s\S]*?<code>([^<]+)<\/code>/g)].map((m) => unescapeHtml(m[1]!));

for (const backend of BACKENDS) {
  describe(`portal access screens on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let owner: PortalClient;
    let reg: string;
    const pid = process.pid;
    const puller = { name: `acc.puller${pid}`, password: 'puller password 1' };
    /** Every secret the portal showed: none may appear on a later screen. */
    const shown: string[] = [];

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers, read field by field as the assertions need
    async function apiCall(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
      const res = await t.fetch(path, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    }
    const apiOk = async (method: string, path: string, body?: unknown) => {
      const r = await apiCall(method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    };

    /** POST expecting a redirect to `to` (a path prefix) with ?done=. */
    async function postOk(c: PortalClient, path: string, form: Record<string, string>, to?: string): Promise<string> {
      const res = await c.post(path, form);
      const body = await res.text();
      assert.equal(res.status, 303, `POST ${path}: ${res.status} ${body.slice(0, 600)}`);
      const loc = res.headers.get('location')!;
      if (to) assert.ok(loc.startsWith(to), `${loc} starts with ${to}`);
      assert.match(loc, /done=/);
      return loc;
    }

    /** POST expecting a refusal page with `status` and the API's `message`. */
    async function postRefused(c: PortalClient, path: string, form: Record<string, string>, status: number, message?: RegExp) {
      const res = await c.post(path, form);
      const body = unescapeHtml(await res.text());
      assert.equal(res.status, status, `POST ${path}: ${res.status} ${body.slice(0, 600)}`);
      if (message) assert.match(body, message);
      assert.match(body, /role="alert"/);
    }

    /** Sign-in through the portal form works (303) with these credentials. */
    async function canSignIn(user: string, password: string): Promise<boolean> {
      return (await new PortalClient(t).signIn(user, password)).status === 303;
    }

    const regAccess = () => `/portal/registries/${reg}/access`;

    before(async () => {
      t = await startTestApp(backend);
      reg = await t.createRegistry(`portalacc${pid}`, 'Premium');
      await apiOk('POST', '/api/users', puller);
      await apiOk('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
    });
    after(() => t?.close());

    test('users: create with a password, disable and enable, reset the password, delete with typed confirmation', async () => {
      const name = `acc.alice${pid}`;
      const page = await owner.page('/portal/access');
      assert.match(page, /<h1>Access<\/h1>/);
      assert.ok(page.includes(`>${ADMIN_USER}</a>`), 'the owner is listed');
      assert.ok(page.includes(puller.name), 'the puller too');

      const loc = await postOk(owner, '/portal/access/users', { name, password: 'alice password 1' }, `/portal/access/users/${name}`);
      assert.match(await owner.page(loc), /User created\./);
      assert.ok(await canSignIn(name, 'alice password 1'));

      await postOk(owner, `/portal/access/users/${name}/enabled`, { enabled: 'false' });
      assert.equal((await apiOk('GET', `/api/users/${name}`)).enabled, false);
      assert.match(await owner.page(`/portal/access/users/${name}?done=user-disabled`), /User disabled/);
      assert.ok(!(await canSignIn(name, 'alice password 1')));
      await postOk(owner, `/portal/access/users/${name}/enabled`, { enabled: 'true' });
      assert.equal((await apiOk('GET', `/api/users/${name}`)).enabled, true);

      await postOk(owner, `/portal/access/users/${name}/password`, { password: 'alice password 2' });
      assert.ok(await canSignIn(name, 'alice password 2'));
      assert.ok(!(await canSignIn(name, 'alice password 1')));

      await postRefused(owner, `/portal/access/users/${name}/delete`, { confirm: 'wrong' }, 400, /type the name exactly/);
      assert.equal((await apiCall('GET', `/api/users/${name}`)).status, 200);
      await postOk(owner, `/portal/access/users/${name}/delete`, { confirm: name }, '/portal/access?done=user-deleted');
      assert.equal((await apiCall('GET', `/api/users/${name}`)).status, 404);
    });

    test('a user created without a password gets a generated one, shown once', async () => {
      const name = `acc.gen@x${pid}`;
      const res = await owner.post('/portal/access/users', { name, password: '' });
      const page = await res.text();
      assert.equal(res.status, 200, page.slice(0, 500));
      const [password] = secretsOf(page);
      assert.ok(password && password.length >= 12, 'a generated password is shown');
      shown.push(password);
      assert.ok(await canSignIn(name, password));
      // The user's page (its name carries "@", encoded in the address) works and shows no secret.
      const userPage = await owner.page(`/portal/access/users/${encodeURIComponent(name)}`);
      assert.ok(userPage.includes(`<h1>${name}</h1>`));
      assert.ok(!userPage.includes(password));
    });

    test('service principals: create with a role (secret shown once), a new secret, delete', async () => {
      const res = await owner.post('/portal/access/service-principals', {
        displayName: HOSTILE,
        role: 'AcrPull',
        registry: reg,
        repository: '',
      });
      const page = await res.text();
      assert.equal(res.status, 200, page.slice(0, 500));
      assert.ok(!page.includes('<script>alert'), 'the display name is text');
      const appId = /app id <code>([0-9a-f-]{36})<\/code>/.exec(page)?.[1];
      assert.ok(appId, page);
      const [secret] = secretsOf(page);
      assert.ok(secret);
      shown.push(secret);
      assert.ok(await canSignIn(appId, secret));
      const sps = await apiOk('GET', '/api/role-assignments?assignee=' + appId);
      assert.equal(sps.value[0].roleDefinitionName, 'AcrPull');
      assert.equal(sps.value[0].scope, `/registries/${reg}`);

      const list = await owner.page('/portal/access');
      assert.ok(list.includes(`href="/portal/access/service-principals/${appId}"`));
      assert.ok(list.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&#61;&#96;é漢'), 'escaped as text');
      assert.ok(!list.includes('<script>alert'));
      const spPage = await owner.page(`/portal/access/service-principals/${appId}`);
      assert.ok(!spPage.includes(secret) && !list.includes(secret), 'the secret is not shown again');
      assert.ok(!spPage.includes('<script>alert'));

      const renewed = await owner.post(`/portal/access/service-principals/${appId}/credentials`, {});
      const renewedPage = await renewed.text();
      assert.equal(renewed.status, 200, renewedPage.slice(0, 500));
      const [second] = secretsOf(renewedPage);
      assert.ok(second && second !== secret);
      shown.push(second);
      assert.ok(await canSignIn(appId, second));
      assert.ok(!(await canSignIn(appId, secret)), 'without append the old secret stops working');

      await postRefused(owner, `/portal/access/service-principals/${appId}/delete`, { confirm: 'nope' }, 400, /type the name exactly/);
      await postOk(owner, `/portal/access/service-principals/${appId}/delete`, { confirm: appId }, '/portal/access?done=sp-deleted');
      assert.equal((await apiCall('GET', `/api/service-principals/${appId}`)).status, 404);
    });

    test('role assignments at deployment, registry and repository scope; remove', async () => {
      const who = `acc.bob${pid}`;
      await apiOk('POST', '/api/users', { name: who, password: 'bob password 1' });
      await postOk(owner, '/portal/access/role-assignments', { assignee: who, role: 'Reader', registry: '', repository: '' });
      await postOk(owner, '/portal/access/role-assignments', { assignee: who, role: 'AcrPush', registry: reg, repository: '' });
      await postOk(owner, '/portal/access/role-assignments', {
        assignee: who,
        role: 'Container Registry Repository Reader',
        registry: reg,
        repository: 'team/*',
      });
      const mine = (await apiOk('GET', `/api/role-assignments?assignee=${who}`)).value as {
        id: string;
        scope: string;
        roleDefinitionName: string;
      }[];
      assert.deepEqual(mine.map((a) => `${a.roleDefinitionName}@${a.scope}`).sort(), [
        `AcrPush@/registries/${reg}`,
        `Container Registry Repository Reader@/registries/${reg}/repositories/team/*`,
        'Reader@/',
      ]);
      const page = await owner.page('/portal/access');
      for (const a of mine) assert.ok(page.includes(`/portal/access/role-assignments/${a.id}/delete`));
      const userPage = await owner.page(`/portal/access/users/${who}`);
      for (const a of mine) assert.ok(userPage.includes(a.id));
      // The registry's screen shows those at the registry and its repositories, not the deployment's.
      const regPage = await owner.page(regAccess());
      const atReg = mine.filter((a) => a.scope !== '/');
      for (const a of atReg) assert.ok(regPage.includes(a.id), a.scope);
      assert.ok(!regPage.includes(mine.find((a) => a.scope === '/')!.id));

      // Removed from the user's screen, the browser goes back there; a "back" elsewhere is ignored.
      const [first, second, ...rest] = mine;
      await postOk(
        owner,
        `/portal/access/role-assignments/${first!.id}/delete`,
        { back: `/portal/access/users/${who}` },
        `/portal/access/users/${who}?done=role-removed`,
      );
      await postOk(
        owner,
        `/portal/access/role-assignments/${second!.id}/delete`,
        { back: '//evil.example/x' },
        '/portal/access?done=role-removed',
      );
      for (const a of rest) await postOk(owner, `/portal/access/role-assignments/${a.id}/delete`, {}, '/portal/access?done=role-removed');
      assert.deepEqual((await apiOk('GET', `/api/role-assignments?assignee=${who}`)).value, []);
      // ...and through the registry's screen.
      await postOk(owner, `${regAccess()}/role-assignments`, { assignee: who, role: 'AcrDelete', repository: 'app' }, regAccess());
      const [one] = (await apiOk('GET', `/api/role-assignments?assignee=${who}`)).value;
      assert.equal(one.scope, `/registries/${reg}/repositories/app`);
      await postOk(owner, `${regAccess()}/role-assignments/${one.id}/delete`, {}, regAccess());
      assert.deepEqual((await apiOk('GET', `/api/role-assignments?assignee=${who}`)).value, []);
    });

    test('bad input shows the API’s message and changes nothing', async () => {
      const users = (await apiOk('GET', '/api/users')).value.length;
      await postRefused(owner, '/portal/access/users', { name: 'x', password: 'long enough pw 1' }, 400, /a user name is 3-64 characters/);
      await postRefused(owner, '/portal/access/users', { name: `acc.short${pid}`, password: 'short' }, 400, /at least 12 characters/);
      await postRefused(owner, '/portal/access/users', { name: puller.name, password: 'long enough pw 1' }, 409, /already exists/);
      // A refusal that echoes the input shows it as text.
      const echoed = await owner.post('/portal/access/users', { name: HOSTILE, password: 'long enough pw 1' });
      const echoPage = await echoed.text();
      assert.equal(echoed.status, 400);
      assert.ok(!echoPage.includes('<script>alert'), 'the refused name is escaped');
      assert.ok(echoPage.includes('&lt;script&gt;alert'), echoPage.slice(0, 800));
      assert.equal((await apiOk('GET', '/api/users')).value.length, users);
      await postRefused(owner, `/portal/access/users/${puller.name}/password`, { password: 'short' }, 400, /at least 12 characters/);
      assert.ok(await canSignIn(puller.name, puller.password));
      await postRefused(owner, '/portal/access/users/nobody-here/enabled', { enabled: 'false' }, 404);

      const roles = (await apiOk('GET', '/api/role-assignments')).value.length;
      await postRefused(
        owner,
        '/portal/access/role-assignments',
        { assignee: puller.name, role: 'Janitor', registry: '' },
        400,
        /unknown role "Janitor"/,
      );
      await postRefused(owner, '/portal/access/role-assignments', { assignee: 'no-such-user', role: 'AcrPull', registry: reg }, 404);
      await postRefused(
        owner,
        '/portal/access/role-assignments',
        { assignee: puller.name, role: 'Reader', registry: reg, repository: 'app' },
        400,
        /management powers/,
      );
      await postRefused(
        owner,
        '/portal/access/role-assignments',
        { assignee: puller.name, role: 'AcrPull', registry: '', repository: 'app' },
        400,
        /needs its registry/,
      );
      assert.equal((await apiOk('GET', '/api/role-assignments')).value.length, roles);
      await postRefused(owner, '/portal/access/service-principals', { displayName: '' }, 400, /displayName/);

      await postRefused(
        owner,
        `${regAccess()}/tokens`,
        { name: 'tok', scopeMap: '_repositories_pull' },
        400,
        /token name is 5-50 characters/,
      );
      await postRefused(owner, `${regAccess()}/tokens`, { name: `badmap${pid}`, scopeMap: 'nomapnamed' }, 404);
      await postRefused(
        owner,
        `${regAccess()}/scope-maps`,
        { name: `map${pid}`, 'repo-0': 'Bad Name', 'actions-0': 'content/read' },
        400,
        /repository/i,
      );
      await postRefused(owner, `${regAccess()}/scope-maps`, { name: `map${pid}`, 'repo-0': 'app' }, 400, /check at least one action/);
      await postRefused(owner, `${regAccess()}/scope-maps`, { name: `map${pid}` }, 400);
      await postRefused(
        owner,
        `${regAccess()}/scope-maps`,
        { name: `map${pid}`, 'repo-0': 'app', 'actions-0': 'content/everything' },
        400,
        /not a scope-map action/,
      );
      assert.equal((await apiOk('GET', `/api/registries/${reg}/tokens`)).value.length, 0);
      assert.ok(!(await apiOk('GET', `/api/registries/${reg}/scope-maps`)).value.some((m: { type: string }) => m.type === 'UserDefined'));
    });

    test('a registry: scope maps and tokens, passwords shown once, enable and disable, delete', async () => {
      // A scope map with two repositories, then edited.
      const map = `pushmap${pid}`;
      const loc = await postOk(
        owner,
        `${regAccess()}/scope-maps`,
        {
          name: map,
          description: HOSTILE,
          'repo-0': 'app/web',
          'actions-0': 'content/read',
          'repo-1': 'team/*',
          'actions-1': 'content/write',
        },
        `${regAccess()}/scope-maps/${map}`,
      );
      const mapPage = await owner.page(loc);
      assert.match(mapPage, /Scope map created\./);
      assert.ok(!mapPage.includes('<script>alert'), 'the description is text');
      assert.ok(mapPage.includes('&lt;script&gt;alert'));
      assert.deepEqual((await apiOk('GET', `/api/registries/${reg}/scope-maps/${map}`)).actions, [
        'repositories/app/web/content/read',
        'repositories/team/*/content/write',
      ]);
      // A row naming a repository without any action is refused, and the map stays as it was.
      await postRefused(
        owner,
        `${regAccess()}/scope-maps/${map}`,
        {
          description: 'x',
          'repo-0': 'app/web',
          'actions-0': 'content/read',
          'repo-1': '',
          'actions-1': 'content/write',
          'repo-2': 'other',
        },
        400,
        /"other": check at least one action/,
      );
      assert.equal((await apiOk('GET', `/api/registries/${reg}/scope-maps/${map}`)).actions.length, 2);
      await postOk(owner, `${regAccess()}/scope-maps/${map}`, {
        description: 'pushes app/web',
        'repo-0': 'app/web',
        'actions-0': 'content/read',
        'repo-1': '',
        'actions-1': 'content/read',
        'repo-3': 'app/web',
        'actions-3': 'content/write',
      });
      const saved = await apiOk('GET', `/api/registries/${reg}/scope-maps/${map}`);
      assert.deepEqual(saved.actions, ['repositories/app/web/content/read', 'repositories/app/web/content/write']);
      assert.equal(saved.description, 'pushes app/web');

      // A token with that map: both passwords shown once, and they work.
      const token = `pusher${pid}`;
      const res = await owner.post(`${regAccess()}/tokens`, { name: token, scopeMap: map, status: 'enabled' });
      const created = await res.text();
      assert.equal(res.status, 200, created.slice(0, 500));
      const [p1, p2] = secretsOf(created);
      assert.ok(p1 && p2 && p1 !== p2);
      shown.push(p1, p2);
      const pull = (pw: string) =>
        t.fetch(`/v2/${reg}/app/web/tags/list`, { headers: { Authorization: basicAuthHeader(token, pw) } }).then((r) => r.status);
      assert.equal(await pull(p1), 404, 'allowed to look: the repository does not exist yet');
      assert.equal(await pull(p2), 404);
      const regPage = await owner.page(regAccess());
      assert.ok(regPage.includes(`href="${regAccess()}/tokens/${token}"`));
      assert.ok(regPage.includes(`href="${regAccess()}/scope-maps/${map}"`));

      // Disable, then enable.
      await postOk(owner, `${regAccess()}/tokens/${token}/status`, { status: 'disabled' }, `${regAccess()}/tokens/${token}`);
      assert.equal((await apiOk('GET', `/api/registries/${reg}/tokens/${token}`)).status, 'disabled');
      assert.equal(await pull(p1), 401);
      assert.match(await owner.page(`${regAccess()}/tokens/${token}?done=token-disabled`), /Token disabled/);
      await postOk(owner, `${regAccess()}/tokens/${token}/status`, { status: 'enabled' });
      assert.equal(await pull(p1), 404);

      // Generate password2 only: password1 keeps working, the old password2 stops.
      const gen = await owner.post(`${regAccess()}/tokens/${token}/passwords`, { which: 'password2' });
      const genPage = await gen.text();
      assert.equal(gen.status, 200, genPage.slice(0, 500));
      const [p2b] = secretsOf(genPage);
      assert.ok(p2b && p2b !== p2);
      assert.equal(secretsOf(genPage).length, 1);
      shown.push(p2b);
      assert.equal(await pull(p2b), 404);
      assert.equal(await pull(p2), 401);
      assert.equal(await pull(p1), 404);
      await postRefused(owner, `${regAccess()}/tokens/${token}/passwords`, { which: 'password3' }, 400);

      // Delete password1.
      await postOk(owner, `${regAccess()}/tokens/${token}/passwords/password1/delete`, {});
      assert.equal(await pull(p1), 401);

      // The scope map in use cannot be deleted: the API's message.
      await postRefused(owner, `${regAccess()}/scope-maps/${map}/delete`, { confirm: map }, 409, /token/);
      // Change the token's scope map, then delete the token and the map.
      await postOk(owner, `${regAccess()}/tokens/${token}/scope-map`, { scopeMap: '_repositories_pull' });
      assert.equal((await apiOk('GET', `/api/registries/${reg}/tokens/${token}`)).scopeMapName, '_repositories_pull');
      await postRefused(owner, `${regAccess()}/tokens/${token}/delete`, { confirm: 'x' }, 400, /type the name exactly/);
      await postOk(owner, `${regAccess()}/tokens/${token}/delete`, { confirm: token }, `${regAccess()}?done=token-deleted`);
      assert.equal((await apiCall('GET', `/api/registries/${reg}/tokens/${token}`)).status, 404);
      await postOk(owner, `${regAccess()}/scope-maps/${map}/delete`, { confirm: map }, `${regAccess()}?done=map-deleted`);
      assert.equal((await apiCall('GET', `/api/registries/${reg}/scope-maps/${map}`)).status, 404);
      // A system scope map shows its actions and offers no editing.
      const system = await owner.page(`${regAccess()}/scope-maps/_repositories_admin`);
      assert.match(system, /cannot be changed/);
      assert.ok(!system.includes('Save scope map'));
    });

    test('an AcrPull user is refused every Access screen and action, and nothing changes', async () => {
      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      // Objects to aim at.
      const victim = `acc.victim${pid}`;
      await apiOk('POST', '/api/users', { name: victim, password: 'victim password 1' });
      const sp = await apiOk('POST', '/api/service-principals', { displayName: 'victim sp' });
      const map = `victimmap${pid}`;
      await apiOk('POST', `/api/registries/${reg}/scope-maps`, { name: map, actions: ['repositories/app/content/read'] });
      const token = `victimtok${pid}`;
      await apiOk('POST', `/api/registries/${reg}/tokens`, { name: token, scopeMap: map });
      const ra = await apiOk('POST', '/api/role-assignments', { assignee: victim, role: 'AcrPull', scope: `/registries/${reg}` });
      const snapshot = async () =>
        JSON.stringify([
          (await apiOk('GET', '/api/users')).value,
          (await apiOk('GET', '/api/service-principals')).value,
          (await apiOk('GET', '/api/role-assignments')).value,
          (await apiOk('GET', `/api/registries/${reg}/tokens`)).value,
          (await apiOk('GET', `/api/registries/${reg}/scope-maps`)).value,
        ]);
      const before = await snapshot();

      for (const path of [
        '/portal/access',
        `/portal/access/users/${victim}`,
        `/portal/access/service-principals/${sp.appId}`,
        regAccess(),
        `${regAccess()}/tokens/${token}`,
        `${regAccess()}/scope-maps/${map}`,
      ]) {
        const res = await c.get(path);
        const body = await res.text();
        assert.equal(res.status, 403, `GET ${path}: ${res.status}`);
        assert.ok(!body.includes(victim) || path.includes(victim), `GET ${path} shows nothing of the victim`);
      }
      const posts: [string, Record<string, string>][] = [
        ['/portal/access/users', { name: `acc.intruder${pid}`, password: 'intruder password 1' }],
        [`/portal/access/users/${victim}/enabled`, { enabled: 'false' }],
        [`/portal/access/users/${victim}/password`, { password: 'taken over password' }],
        [`/portal/access/users/${victim}/delete`, { confirm: victim }],
        ['/portal/access/service-principals', { displayName: 'intruder', role: 'Owner', registry: '' }],
        ['/portal/access/service-principals', { displayName: 'intruder' }],
        [`/portal/access/service-principals/${sp.appId}/credentials`, {}],
        [`/portal/access/service-principals/${sp.appId}/delete`, { confirm: sp.appId }],
        ['/portal/access/role-assignments', { assignee: puller.name, role: 'Owner', registry: '' }],
        ['/portal/access/role-assignments', { assignee: puller.name, role: 'Owner', registry: reg }],
        [`/portal/access/role-assignments/${ra.id}/delete`, {}],
        [`${regAccess()}/tokens`, { name: `intruder${pid}`, scopeMap: '_repositories_admin', status: 'enabled' }],
        [`${regAccess()}/tokens/${token}/status`, { status: 'disabled' }],
        [`${regAccess()}/tokens/${token}/scope-map`, { scopeMap: '_repositories_admin' }],
        [`${regAccess()}/tokens/${token}/passwords`, { which: 'password1' }],
        [`${regAccess()}/tokens/${token}/passwords/password1/delete`, {}],
        [`${regAccess()}/tokens/${token}/delete`, { confirm: token }],
        [`${regAccess()}/scope-maps`, { name: `intrudermap${pid}`, 'repo-0': 'app', 'actions-0': 'content/write' }],
        [`${regAccess()}/scope-maps/${map}`, { 'repo-0': 'app', 'actions-0': 'content/delete' }],
        [`${regAccess()}/scope-maps/${map}/delete`, { confirm: map }],
        [`${regAccess()}/role-assignments`, { assignee: puller.name, role: 'Owner' }],
        [`${regAccess()}/role-assignments/${ra.id}/delete`, {}],
      ];
      for (const [path, form] of posts) {
        const res = await c.post(path, form);
        const body = await res.text();
        assert.equal(res.status, 403, `POST ${path}: ${res.status} ${body.slice(0, 300)}`);
        assert.ok(!/class="secret"/.test(body), `POST ${path} shows no secret`);
      }
      assert.equal(await snapshot(), before, 'nothing changed');
      assert.ok(await canSignIn(victim, 'victim password 1'));
    });

    test('a secret shown once never appears again on any screen', async () => {
      assert.ok(shown.length >= 5, `secrets seen: ${shown.length}`);
      const paths = ['/portal/access', regAccess(), '/portal/registries', `/portal/registries/${reg}`];
      for (const u of (await apiOk('GET', '/api/users')).value) paths.push(`/portal/access/users/${encodeURIComponent(u.name)}`);
      for (const s of (await apiOk('GET', '/api/service-principals')).value) paths.push(`/portal/access/service-principals/${s.appId}`);
      for (const tk of (await apiOk('GET', `/api/registries/${reg}/tokens`)).value) paths.push(`${regAccess()}/tokens/${tk.name}`);
      for (const m of (await apiOk('GET', `/api/registries/${reg}/scope-maps`)).value) paths.push(`${regAccess()}/scope-maps/${m.name}`);
      for (const path of paths) {
        const page = await owner.page(path);
        for (const s of shown) assert.ok(!page.includes(s), `${path} shows a secret shown before`);
        assert.ok(!/class="secret"/.test(page), `${path} has no secret block`);
      }
    });
  });
}
