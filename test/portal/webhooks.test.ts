import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { ownerApi, PortalClient, unescapeHtml } from '../helpers/portal.js';
import { waitFor } from '../e2e/helpers.js';

// The webhook screens of the portal over HTTP, on both backends: list, create (secret shown
// once), the webhook's screen with its delivery log (a real receiver on 127.0.0.1 that answers
// with hostile HTML, shown as text), redeliver, ping, enable/disable, edit, delete; the API's
// refusals shown as its messages; and an AcrPull user refused every action with nothing changed.

/** What the receiver answers: markup, quotes and Unicode, which the log must show as text. */
const HOSTILE = `<script>alert(1)</script> "double" 'single' <img src=x onerror=alert(2)> ünïcødé ✓ 漢字`;

class Receiver {
  received: { path: string; body: string }[] = [];
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'X-Evil': '"><script>alert(3)</script>' }).end(HOSTILE);
    });
  });
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }
  get url() {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  bodies(path: string) {
    return this.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as { id: string; action: string });
  }
  close() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

const FAST = {
  jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, leaseSeconds: 2 },
  egress: { allowPrivate: true, timeoutMs: 3000 },
};

for (const backend of BACKENDS) {
  describe(`portal webhooks on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let rx: Receiver;
    let owner: PortalClient;
    let reg: string;
    const puller = { name: `wh.puller${process.pid}`, password: 'puller password 1' };

    const api = (method: string, path: string, body?: unknown) => ownerApi(t)(method, path, body);
    const hookApi = (name: string) => `/api/registries/${reg}/webhooks/${name}`;
    const hooksPage = () => `/portal/registries/${reg}/webhooks`;
    const hookPage = (name: string) => `/portal/registries/${reg}/webhooks/${name}`;

    /** A refused POST: the status, and the message page's text. */
    async function refused(c: PortalClient, path: string, form: Record<string, string | string[]>, status: number | number[]) {
      const res = await c.post(path, form);
      const page = await res.text();
      const want = Array.isArray(status) ? status : [status];
      assert.ok(want.includes(res.status), `POST ${path}: ${res.status} ${page.slice(0, 300)}`);
      return unescapeHtml(page);
    }

    before(async () => {
      rx = await new Receiver().start();
      t = await startTestApp(backend, FAST);
      reg = await t.createRegistry(undefined, 'Standard');
      assert.equal((await api('POST', '/api/users', puller)).status, 201);
      const ra = await api('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
      assert.ok(ra.status < 300, JSON.stringify(ra.body));
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
    });
    after(async () => {
      await t?.close();
      await rx?.close();
    });

    test('create: the list shows it, the secret is shown once on the answer, never in a URL', async () => {
      assert.match(await owner.page(hooksPage()), /No webhooks yet/);
      const res = await owner.post(hooksPage(), {
        name: 'deployhook',
        serviceUri: `${rx.url}/deploy`,
        actions: ['push', 'delete'],
        scope: 'app:*',
        customHeaders: 'Authorization: Bearer s3cr3t-value\nX-Team: ops',
        status: 'enabled',
        format: 'acr',
      });
      const page = await res.text();
      assert.equal(res.status, 200, page.slice(0, 500));
      assert.equal(res.headers.get('location'), null);
      assert.match(page, /Signing secret/);
      const secret = /<code>([A-Za-z0-9_-]{40,})<\/code>/.exec(page)?.[1];
      assert.ok(secret, 'the secret is on the page');

      const made = await api('GET', hookApi('deployhook'));
      assert.equal(made.status, 200);
      assert.deepEqual(made.body.actions, ['push', 'delete']);
      assert.equal(made.body.scope, 'app:*');
      const cfg = await api('POST', `${hookApi('deployhook')}/getCallbackConfig`);
      assert.deepEqual(cfg.body.customHeaders, { Authorization: 'Bearer s3cr3t-value', 'X-Team': 'ops' });

      const list = await owner.page(hooksPage());
      assert.match(list, /href="\/portal\/registries\/[^"]+\/webhooks\/deployhook">deployhook</);
      assert.ok(list.includes(`http://127.0.0.1:${new URL(rx.url).port}/****`), 'the URI is masked as the API masks it');
      assert.ok(!list.includes('s3cr3t-value') && !list.includes(secret), 'no header value or secret on the list');
      const screen = await owner.page(hookPage('deployhook'));
      assert.ok(!screen.includes('s3cr3t-value') && !screen.includes(secret), 'nor on the webhook screen');
    });

    test('a push is delivered; the log shows the request and the hostile response as text; redeliver sends it again', async () => {
      const img = await t.v2().pushImage(`${reg}/app`, 'v1');
      const first = await waitFor('the push delivery', () => rx.bodies('/deploy').find((b) => b.action === 'push'));
      const page = await waitFor('the delivery in the log', async () => {
        const p = await owner.page(hookPage('deployhook'));
        return p.includes('HTTP 200') ? p : undefined;
      });
      // The response body (and a hostile response header) only as escaped text.
      assert.ok(!page.includes('<script>alert'), 'no live script');
      assert.ok(!page.includes('<img src=x'), 'no live markup');
      assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the body as text');
      assert.ok(unescapeHtml(page).includes(HOSTILE), 'all of it, quotes and Unicode intact');
      assert.match(unescapeHtml(page), /x-evil: "><script>alert\(3\)<\/script>/i, 'a response header');
      // The request: its body (ACR's payload) and headers, custom header values masked as the API masks them.
      const text = unescapeHtml(page);
      assert.ok(text.includes(`"digest": "${img.digest}"`), 'the request body');
      assert.ok(text.includes('"action": "push"'), 'the request body');
      assert.ok(text.includes(`POST ${rx.url}/deploy`), 'the request URI');
      assert.ok(!text.includes('s3cr3t-value'), 'a header value masked');
      assert.match(text, /Authorization: \*+ue/);

      const eventId = /name="eventId" value="([^"]+)"/.exec(page)?.[1] ?? '';
      assert.equal(eventId, first.id);
      const before = rx.bodies('/deploy').length;
      const res = await owner.post(`${hookPage('deployhook')}/redeliver`, { eventId });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `${hookPage('deployhook')}?done=redelivered`);
      const again = await waitFor('the redelivery', () => rx.bodies('/deploy').slice(before)[0]);
      assert.equal(again.id, first.id);
      assert.match(await owner.page(`${hookPage('deployhook')}?done=redelivered`), /The event was queued again/);
      await waitFor('both attempts in the log', async () => {
        const events = await api('GET', `${hookApi('deployhook')}/listEvents`);
        return events.body.value.filter((e: { id: string }) => e.id === first.id).length >= 2 || undefined;
      });
    });

    test('ping, disable and enable, edit', async () => {
      const res = await owner.post(`${hookPage('deployhook')}/ping`);
      assert.equal(res.status, 303);
      assert.match(await owner.page(`${hookPage('deployhook')}?done=pinged`), /A ping was queued/);
      await waitFor('the ping', () => rx.bodies('/deploy').find((b) => b.action === 'ping'));

      assert.equal((await owner.post(`${hookPage('deployhook')}/status`, { status: 'disabled' })).status, 303);
      assert.equal((await api('GET', hookApi('deployhook'))).body.status, 'disabled');
      const off = await owner.page(`${hookPage('deployhook')}?done=disabled`);
      assert.match(off, /The webhook is disabled/);
      assert.match(off, />Enable</);
      assert.equal((await owner.post(`${hookPage('deployhook')}/status`, { status: 'enabled' })).status, 303);
      assert.equal((await api('GET', hookApi('deployhook'))).body.status, 'enabled');

      const edit = await owner.post(`${hookPage('deployhook')}/edit`, {
        serviceUri: '',
        actions: ['delete', 'quarantine'],
        scope: '',
        customHeaders: '',
        clearHeaders: 'on',
        status: 'enabled',
        format: 'cloudevents',
      });
      assert.equal(edit.status, 303);
      const after = (await api('GET', hookApi('deployhook'))).body;
      assert.deepEqual(after.actions, ['delete', 'quarantine']);
      assert.equal(after.scope, '');
      assert.equal(after.format, 'cloudevents');
      assert.deepEqual(after.customHeaders, {});
      const cfg = await api('POST', `${hookApi('deployhook')}/getCallbackConfig`);
      assert.equal(cfg.body.serviceUri, `${rx.url}/deploy`, 'an empty URI field keeps the URI');
      assert.match(await owner.page(`${hookPage('deployhook')}?done=updated`), /The webhook was updated/);
    });

    test("bad input shows the API's message and changes nothing", async () => {
      const base = { serviceUri: `${rx.url}/x`, actions: ['push'], status: 'enabled', format: 'acr' };
      let page = await refused(owner, hooksPage(), { ...base, name: 'ab' }, 400);
      assert.match(page, /a webhook name is 5-50 letters and digits/);
      page = await refused(owner, hooksPage(), { ...base, name: 'goodname', serviceUri: 'not a url' }, 400);
      assert.match(page, /is not a URL/);
      page = await refused(owner, hooksPage(), { ...base, name: 'goodname', actions: [] }, 400);
      assert.match(page, /a webhook needs one or more actions/);
      page = await refused(owner, hooksPage(), { ...base, name: 'goodname', customHeaders: 'no colon here' }, 400);
      assert.match(page, /custom headers, line 1/);
      page = await refused(owner, hooksPage(), { ...base, name: 'deployhook' }, 409);
      assert.match(page, /already exists/);
      page = await refused(owner, hooksPage(), { ...base, name: 'goodname', scope: '<script> x' }, 400);
      assert.match(page, /scope is/);
      assert.equal((await api('GET', hookApi('goodname'))).status, 404);

      const before = (await api('GET', hookApi('deployhook'))).body;
      page = await refused(owner, `${hookPage('deployhook')}/edit`, { actions: ['nope'] }, 400);
      assert.match(page, /unknown action "nope"/);
      page = await refused(owner, `${hookPage('deployhook')}/redeliver`, { eventId: 'not-an-event' }, 404);
      assert.match(page, /has no event not-an-event/);
      page = await refused(owner, `${hookPage('deployhook')}/delete`, { confirm: 'deployhoo' }, 400);
      assert.match(page, /to confirm, type the name exactly/);
      assert.deepEqual((await api('GET', hookApi('deployhook'))).body, before);
      const missing = await owner.get(hookPage('nosuchhook'));
      assert.equal(missing.status, 404);
      assert.match(unescapeHtml(await missing.text()), /webhook "nosuchhook" does not exist/);
    });

    test('hostile text in a scope is shown as text', async () => {
      const scope = `"><script>alert(1)</script>:*`;
      const res = await owner.post(hooksPage(), { name: 'scopehook', serviceUri: `${rx.url}/s`, actions: ['push'], scope });
      assert.equal(res.status, 200);
      for (const p of [await owner.page(hooksPage()), await owner.page(hookPage('scopehook'))]) {
        assert.ok(!p.includes('<script>alert(1)'), 'escaped');
        assert.ok(unescapeHtml(p).includes(scope));
      }
      assert.equal((await owner.post(`${hookPage('scopehook')}/delete`, { confirm: 'scopehook' })).status, 303);
    });

    test('an AcrPull user: every screen and action is refused and nothing changes', async () => {
      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      for (const path of [hooksPage(), hookPage('deployhook')]) {
        const res = await c.get(path);
        assert.equal(res.status, 403, `GET ${path}: ${res.status}`);
        assert.ok(!(await res.text()).includes('deployhook"'), 'nothing of the webhook shown');
      }
      const before = (await api('GET', hookApi('deployhook'))).body;
      const received = rx.received.length;
      const event = (await api('GET', `${hookApi('deployhook')}/listEvents`)).body.value[0].id as string;
      const attempts = (await api('GET', `${hookApi('deployhook')}/listEvents`)).body.value.length;
      const actions: [string, Record<string, string | string[]>][] = [
        [hooksPage(), { name: 'pullerhook', serviceUri: `${rx.url}/p`, actions: ['push'] }],
        [`${hookPage('deployhook')}/edit`, { serviceUri: `${rx.url}/stolen`, actions: ['push'] }],
        [`${hookPage('deployhook')}/status`, { status: 'disabled' }],
        [`${hookPage('deployhook')}/ping`, {}],
        [`${hookPage('deployhook')}/redeliver`, { eventId: event }],
        [`${hookPage('deployhook')}/delete`, { confirm: 'deployhook' }],
      ];
      for (const [path, form] of actions) await refused(c, path, form, 403);
      assert.equal((await api('GET', hookApi('pullerhook'))).status, 404);
      assert.deepEqual((await api('GET', hookApi('deployhook'))).body, before);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.received.length, received, 'no ping or redelivery was sent');
      assert.equal((await api('GET', `${hookApi('deployhook')}/listEvents`)).body.value.length, attempts);
    });

    test('delete with the typed name', async () => {
      const page = await owner.page(hookPage('deployhook'));
      assert.match(page, /data-confirm="deployhook"/);
      const res = await owner.post(`${hookPage('deployhook')}/delete`, { confirm: 'deployhook' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `${hooksPage()}?done=deleted`);
      assert.equal((await api('GET', hookApi('deployhook'))).status, 404);
      assert.match(await owner.page(`${hooksPage()}?done=deleted`), /The webhook was deleted/);
    });
  });
}
