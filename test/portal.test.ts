import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from './helpers/app.js';
import { BACKENDS, backendGate } from './helpers/backends.js';
import { assertSecurityHeaders, cookieHeader, csrfOf as hidden, keep, type Jar as Browser } from './helpers/portal.js';

// The portal's foundation (/portal): the sign-in form, sessions in an HttpOnly cookie, CSRF
// tokens on every POST, the security headers, and the registries screen, which shows exactly the
// registries the /api access policy lets the signed-in identity read.

for (const backend of BACKENDS) {
  describe(`portal on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    const regs: string[] = [];
    const reader = { name: `portal.reader${process.pid}`, password: 'reader password 1' };
    const nobody = { name: `portal.nobody${process.pid}`, password: 'nobody password 1' };

    async function api(method: string, path: string, body?: unknown): Promise<void> {
      const res = await t.fetch(path, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${await res.text()}`);
    }

    async function get(b: Browser, path: string): Promise<Response> {
      const res = await t.fetch(path, { headers: { Cookie: cookieHeader(b) }, redirect: 'manual' });
      keep(b, res);
      return res;
    }

    async function post(b: Browser, path: string, form: Record<string, string>): Promise<Response> {
      const res = await t.fetch(path, {
        method: 'POST',
        headers: { Cookie: cookieHeader(b), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
        redirect: 'manual',
      });
      keep(b, res);
      return res;
    }

    /** Opens the sign-in form and submits it, as a browser does. */
    async function signIn(username: string, password: string): Promise<{ b: Browser; res: Response; setCookies: string[] }> {
      const b: Browser = { cookies: new Map() };
      const form = await get(b, '/portal');
      assert.equal(form.status, 200);
      const csrf = hidden(await form.text());
      assert.ok(csrf);
      const res = await t.fetch('/portal/sign-in', {
        method: 'POST',
        headers: { Cookie: cookieHeader(b), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, username, password }).toString(),
        redirect: 'manual',
      });
      const setCookies = keep(b, res);
      return { b, res, setCookies };
    }

    async function registriesShown(b: Browser): Promise<string[]> {
      const res = await get(b, '/portal/registries');
      assert.equal(res.status, 200);
      const page = await res.text();
      return [...page.matchAll(/<tr>\s*<td>(?:<a [^>]*>)?([^<]+)<\/(?:a|td)>/g)].map((m) => m[1]!);
    }

    before(async () => {
      t = await startTestApp(backend);
      for (const n of ['pa', 'pb', 'pc']) regs.push(await t.createRegistry(`portal${n}${process.pid}`));
      await api('POST', '/api/users', reader);
      await api('POST', '/api/users', nobody);
      await api('POST', '/api/role-assignments', { assignee: reader.name, role: 'Reader', scope: `/registries/${regs[1]}` });
    });
    after(() => t?.close());

    test('GET /portal answers 200 with a sign-in form (username, password) and the security headers', async () => {
      const res = await t.fetch('/portal', { redirect: 'manual' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assertSecurityHeaders(res);
      const page = await res.text();
      assert.match(page, /<form method="post" action="\/portal\/sign-in">/);
      assert.match(page, /<input\s+type="text"\s+id="username"\s+name="username"/);
      assert.match(page, /<input\s+type="password"\s+id="password"\s+name="password"/);
      assert.ok(!/<script(?![^>]*\bsrc=)|<style|style=/.test(page), 'no inline script or style');
      const css = /<link rel="stylesheet" href="(\/portal\/static\/[^"]+\.css)"/.exec(page)?.[1];
      assert.ok(css);
      const sheet = await t.fetch(css);
      assert.equal(sheet.status, 200);
      assert.match(sheet.headers.get('content-type') ?? '', /^text\/css/);
      assert.match(sheet.headers.get('cache-control') ?? '', /max-age=31536000/);
      assert.match(await sheet.text(), /prefers-color-scheme: dark/);
    });

    test('a wrong password answers 401 with a clear message, no session cookie, and the name echoed as text', async () => {
      const evil = '"><script>alert(1)</script>';
      const { res, setCookies } = await signIn(evil, 'wrong');
      assert.equal(res.status, 401);
      assertSecurityHeaders(res);
      const page = await res.text();
      assert.match(page, /Wrong user name or password\./);
      assert.ok(!page.includes('<script>alert'), 'input is escaped');
      assert.ok(page.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'), page);
      assert.ok(!setCookies.some((c) => c.startsWith('berth_portal=')), setCookies.join(' | '));

      const wrong = await signIn(ADMIN_USER, 'not the password');
      assert.equal(wrong.res.status, 401);
      assert.ok(!wrong.setCookies.some((c) => c.startsWith('berth_portal=')));
    });

    test('the owner signs in: a new HttpOnly SameSite session cookie on /portal, and every registry is listed', async () => {
      const { b, res, setCookies } = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      assert.equal(res.status, 303, await res.text());
      assert.equal(res.headers.get('location'), '/portal/registries');
      const session = setCookies.find((c) => c.startsWith('berth_portal='));
      assert.ok(session);
      assert.match(session, /; HttpOnly/);
      assert.match(session, /; SameSite=Lax/);
      assert.match(session, /; Path=\/portal(;|$)/);
      assert.match(session, /; Max-Age=28800/);
      assert.ok(!/Secure/.test(session), 'plain HTTP: not Secure');
      // The session is not a bearer token for the API or the registry.
      const bearer = await t.fetch('/api/registries', { headers: { Authorization: `Bearer ${b.cookies.get('berth_portal')}` } });
      assert.equal(bearer.status, 401);

      const shown = await registriesShown(b);
      for (const r of regs) assert.ok(shown.includes(r), `${r} in ${shown.join(',')}`);
      const page = await (await get(b, '/portal/registries')).text();
      assert.match(page, new RegExp(`Signed in as\\s*<strong>${ADMIN_USER}</strong>`));
      assert.ok(page.includes(`${t.host}/${regs[0]}`), 'login server shown');
      // Signed in, /portal goes to the registries.
      const home = await get(b, '/portal');
      assert.equal(home.status, 303);
      assert.equal(home.headers.get('location'), '/portal/registries');
    });

    test('a user sees only the registries a role allows; a user without roles sees none', async () => {
      const one = await signIn(reader.name, reader.password);
      assert.equal(one.res.status, 303);
      assert.deepEqual(await registriesShown(one.b), [regs[1]]);
      const none = await signIn(nobody.name, nobody.password);
      assert.equal(none.res.status, 303);
      assert.deepEqual(await registriesShown(none.b), []);
      assert.match(await (await get(none.b, '/portal/registries')).text(), /There is no registry you may see/);
    });

    test("a registry's repositories tab lists its repositories with pull commands, for callers who may list them", async () => {
      await t.v2().pushImage(`${regs[0]}/app/web`, 'v1');
      const owner = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      const res = await get(owner.b, `/portal/registries/${regs[0]}/repositories`);
      assert.equal(res.status, 200);
      const page = await res.text();
      assert.match(page, /href="\/portal\/registries\/[^"]+\/repositories\/app\/web"\s*>app\/web<\/a/, 'the repository, linked');
      assert.ok(page.includes(`docker pull ${t.host}/${regs[0]}/app/web`), 'pull command');
      assert.match(await (await get(owner.b, `/portal/registries/${regs[1]}/repositories`)).text(), /No repositories yet/);
      // The reader's role is on regs[1] only: regs[0] is refused, as GET /api/registries/{r}/repositories is.
      const one = await signIn(reader.name, reader.password);
      assert.equal((await get(one.b, `/portal/registries/${regs[1]}/repositories`)).status, 200);
      const refused = await get(one.b, `/portal/registries/${regs[0]}/repositories`);
      assert.equal(refused.status, 403);
      assert.ok(!(await refused.text()).includes('app/web'));
      const none = await signIn(nobody.name, nobody.password);
      assert.equal((await get(none.b, `/portal/registries/${regs[1]}/repositories`)).status, 403);
    });

    test("a repository's screen lists its tags with digest and pulls; the repository's readers only", async () => {
      const img = await t.v2().pushImage(`${regs[0]}/tools/cli`, '1.0');
      await t.v2().fetch(`${regs[0]}/tools/cli/manifests/1.0`, { headers: { Accept: img.mediaType } });
      const owner = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      const res = await get(owner.b, `/portal/registries/${regs[0]}/repositories/tools/cli`);
      assert.equal(res.status, 200);
      const page = await res.text();
      assert.ok(page.includes('<td class="name">1.0</td>'), page);
      assert.ok(page.includes(`title="${img.digest}"`), 'the digest');
      assert.ok(page.includes(`docker pull ${t.host}/${regs[0]}/tools/cli:TAG`), 'pull command');
      assert.equal((await get(owner.b, `/portal/registries/${regs[0]}/repositories/nothing/here`)).status, 404);
      const one = await signIn(reader.name, reader.password);
      const refused = await get(one.b, `/portal/registries/${regs[0]}/repositories/tools/cli`);
      assert.equal(refused.status, 403);
      assert.ok(!(await refused.text()).includes(img.digest));
    });

    test('without a session the screens send the browser to sign in', async () => {
      const res = await get({ cookies: new Map() }, '/portal/registries');
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/portal');
      const forged = await get({ cookies: new Map([['berth_portal', 'e30.e30.forged']]) }, '/portal/registries');
      assert.equal(forged.status, 303);
    });

    test('POSTs without or with a wrong CSRF token are refused with 403 and change nothing', async () => {
      const { b } = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      for (const form of [{}, { _csrf: 'wrong' }, { _csrf: '' }] as Record<string, string>[]) {
        const res = await post(b, '/portal/sign-out', form);
        assert.equal(res.status, 403);
        assertSecurityHeaders(res);
        assert.match(await res.text(), /security token \(CSRF\)/);
      }
      assert.ok(b.cookies.has('berth_portal'), 'still signed in');
      assert.equal((await get(b, '/portal/registries')).status, 200);
      // Sign-in itself needs the form's own token (no login CSRF).
      const noForm = await post({ cookies: new Map() }, '/portal/sign-in', { username: ADMIN_USER, password: ADMIN_PASSWORD });
      assert.equal(noForm.status, 403);
      assert.ok(!noForm.headers.getSetCookie().some((c) => c.startsWith('berth_portal=')));
      // A token from another session does not do either.
      const other = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      const otherToken = hidden(await (await get(other.b, '/portal/registries')).text())!;
      assert.equal((await post(b, '/portal/sign-out', { _csrf: otherToken })).status, 403);
    });

    test('every sign-in makes a new session (no fixation); sign-out ends it on the server too', async () => {
      const first = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      const second = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      assert.notEqual(first.b.cookies.get('berth_portal'), second.b.cookies.get('berth_portal'));
      const b = second.b;
      const copy: Browser = { cookies: new Map(b.cookies) };
      const csrf = hidden(await (await get(b, '/portal/registries')).text())!;
      const res = await post(b, '/portal/sign-out', { _csrf: csrf });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/portal');
      assert.ok(res.headers.getSetCookie().some((c) => /^berth_portal=;.*Max-Age=0/.test(c)));
      assert.ok(!b.cookies.has('berth_portal'));
      assert.equal((await get(b, '/portal/registries')).status, 303);
      // The token is revoked on the server: a copy of the cookie taken before sign-out is refused.
      assert.equal((await get(copy, '/portal/registries')).status, 303);
      // The other session of the same user is untouched.
      assert.equal((await get(first.b, '/portal/registries')).status, 200);
    });

    test('a disabled user is out at once', async () => {
      const { b } = await signIn(reader.name, reader.password);
      assert.equal((await get(b, '/portal/registries')).status, 200);
      await api('PATCH', `/api/users/${reader.name}`, { enabled: false });
      try {
        assert.equal((await get(b, '/portal/registries')).status, 303);
      } finally {
        await api('PATCH', `/api/users/${reader.name}`, { enabled: true });
      }
    });

    test('the contract over a real socket: GET /portal is a sign-in form', async () => {
      const res = await fetch(`${t.url}/portal`);
      assert.equal(res.status, 200);
      const page = await res.text();
      assert.match(page, /name="username"/);
      assert.match(page, /name="password"/);
    });

    test('wrong passwords are throttled as the API throttles Basic authentication (one count for both)', async () => {
      // After every test that signs in as this user: it locks the user out from this address for the throttle window.
      let last = 0;
      for (let i = 0; i < 20 && last !== 429; i++) last = (await signIn(nobody.name, `wrong ${i}`)).res.status;
      assert.equal(last, 429);
      const right = await signIn(nobody.name, nobody.password);
      assert.equal(right.res.status, 429);
      assert.ok(right.res.headers.get('retry-after'));
      assert.match(await right.res.text(), /too many/i);
      assert.ok(!right.setCookies.some((c) => c.startsWith('berth_portal=')));
      const viaApi = await t.fetch('/api/registries', { headers: { Authorization: basicAuthHeader(nobody.name, nobody.password) } });
      assert.equal(viaApi.status, 429);
    });

    test('unknown portal pages answer 404 as HTML with the headers', async () => {
      const res = await t.fetch('/portal/nothing-here');
      assert.equal(res.status, 404);
      assertSecurityHeaders(res);
      assert.match(await res.text(), /There is no portal page at this address/);
    });

    test('an address with a malformed escape is refused once, by the router, before any screen runs', async () => {
      const { b } = await signIn(ADMIN_USER, ADMIN_PASSWORD);
      const res = await get(b, `/portal/registries/${regs[0]}/webhooks/bad%ZZname`);
      assert.equal(res.status, 400);
      assertSecurityHeaders(res);
      assert.match(await res.text(), /invalid/i);
    });
  });
}
