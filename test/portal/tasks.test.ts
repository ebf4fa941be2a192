import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { assertSecurityHeaders, ownerApi, PortalClient, unescapeHtml } from '../helpers/portal.js';

// The task screens of the portal over HTTP, on both backends: create a task through the form (a
// --cmd task on /dev/null, which needs nothing built), the list, the task's screen (its hostile
// command shown as text), add and remove a timer, enable/disable, Run now to the run's screen (the
// test server runs no tasks, so the run stays Queued and its screen stays live), the log as text,
// cancel, the run list filtered by status, delete; the API's refusals shown with the form kept;
// and an AcrPull user who sees the screens but is refused every change, with nothing changed.

const HOSTILE = `alpine echo <script>alert(1)</script> "double" 'single' <img src=x onerror=alert(2)> ünïcødé`;

for (const backend of BACKENDS) {
  describe(`portal tasks on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let owner: PortalClient;
    let reg: string;
    const puller = { name: `task.puller${process.pid}`, password: 'puller password 1' };
    const reader = { name: `task.reader${process.pid}`, password: 'reader password 1' };

    const api = (method: string, path: string, body?: unknown) => ownerApi(t)(method, path, body);
    const tasksPage = () => `/portal/registries/${reg}/tasks`;
    const taskPage = (name: string) => `/portal/registries/${reg}/tasks/${name}`;
    const runsPage = () => `/portal/registries/${reg}/runs`;
    const runPage = (id: string) => `/portal/registries/${reg}/runs/${id}`;

    before(async () => {
      t = await startTestApp(backend);
      reg = await t.createRegistry(undefined, 'Standard');
      assert.equal((await api('POST', '/api/users', puller)).status, 201);
      const ra = await api('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
      assert.ok(ra.status < 300, JSON.stringify(ra.body));
      assert.equal((await api('POST', '/api/users', reader)).status, 201);
      const rb = await api('POST', '/api/role-assignments', { assignee: reader.name, role: 'Reader', scope: `/registries/${reg}` });
      assert.ok(rb.status < 300, JSON.stringify(rb.body));
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
    });
    after(() => t?.close());

    test('create a task through the form; the list and the task screen show it, the command as text', async () => {
      const empty = await owner.get(tasksPage());
      assertSecurityHeaders(empty);
      const emptyText = await empty.text();
      assert.match(emptyText, /No tasks yet/);
      assert.match(emptyText, /aria-current="page">Tasks</, 'the Tasks tab is current');

      const res = await owner.post(tasksPage(), {
        name: 'hello-task',
        contextPath: '/dev/null',
        file: '',
        cmd: HOSTILE,
        images: '',
        timeout: '600',
        baseImageTrigger: 'on',
        baseImageTriggerType: 'All',
        timerSchedule: '0 3 * * *',
      });
      assert.equal(res.status, 303, (await res.text()).slice(0, 300));
      assert.equal(res.headers.get('location'), `${taskPage('hello-task')}?done=created`);
      const made = (await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body;
      assert.equal(made.step.type, 'EncodedTask');
      assert.equal(made.timeout, 600);
      assert.deepEqual(made.trigger.baseImageTrigger, {
        name: 'defaultBaseimageTriggerName',
        baseImageTriggerType: 'All',
        status: 'Enabled',
      });
      assert.deepEqual(made.trigger.timerTriggers, [{ name: 't1', schedule: '0 3 * * *', status: 'Enabled' }]);

      const list = await owner.page(tasksPage());
      assert.match(list, /href="\/portal\/registries\/[^"]+\/tasks\/hello-task">hello-task</);
      assert.match(list, /base image \(All\), 1 timer/);
      assert.match(list, /never run/);

      const page = await owner.page(`${taskPage('hello-task')}?done=created`);
      assert.match(page, /The task was created/);
      assert.ok(!page.includes('<script>alert'), 'no live script');
      assert.ok(!page.includes('<img src=x'), 'no live markup');
      assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the command as text');
      assert.ok(unescapeHtml(page).includes('alpine echo <script>alert(1)</script>'), 'in the task file, decoded');
      assert.match(page, /0 3 \* \* \*/);
    });

    test("bad input shows the API's message above the form, with what was typed kept", async () => {
      const res = await owner.post(tasksPage(), { name: 'ab', contextPath: '/dev/null', cmd: 'alpine true', timerSchedule: '' });
      const page = await res.text();
      assert.equal(res.status, 400, page.slice(0, 300));
      assert.match(unescapeHtml(page), /a task name is 5–50 letters/);
      assert.match(page, /name="contextPath"\s+value="\/dev\/null"/);
      assert.match(page, /name="cmd"\s+value="alpine true"/);

      const dup = await owner.post(tasksPage(), { name: 'hello-task', contextPath: '/dev/null', cmd: 'alpine true' });
      assert.equal(dup.status, 409);
      assert.match(await dup.text(), /already exists/);
      const bad = await owner.post(tasksPage(), { name: 'badtimer', contextPath: '/dev/null', cmd: 'alpine true', timerSchedule: 'soon' });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /timer t1/);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/badtimer`)).status, 404, 'nothing created');
    });

    test('add and remove a timer; disable and enable; turn the base image trigger off', async () => {
      let res = await owner.post(`${taskPage('hello-task')}/timers`, { name: 'nightly', schedule: '30 1 * * *' });
      assert.equal(res.status, 303);
      let timers = (await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body.trigger.timerTriggers;
      assert.deepEqual(
        timers.map((x: { name: string }) => x.name),
        ['t1', 'nightly'],
      );
      assert.match(await owner.page(`${taskPage('hello-task')}?done=timerAdded`), /30 1 \* \* \*/);

      res = await owner.post(`${taskPage('hello-task')}/timers/t1/delete`);
      assert.equal(res.status, 303);
      timers = (await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body.trigger.timerTriggers;
      assert.deepEqual(
        timers.map((x: { name: string }) => x.name),
        ['nightly'],
      );

      const badTimer = await owner.post(`${taskPage('hello-task')}/timers`, { name: 'x y', schedule: '* * *' });
      assert.equal(badTimer.status, 400);

      assert.equal((await owner.post(`${taskPage('hello-task')}/status`, { status: 'Disabled' })).status, 303);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body.status, 'Disabled');
      assert.match(await owner.page(`${taskPage('hello-task')}?done=disabled`), />Enable</);
      assert.equal((await owner.post(`${taskPage('hello-task')}/status`, { status: 'Enabled' })).status, 303);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body.status, 'Enabled');

      assert.equal((await owner.post(`${taskPage('hello-task')}/base-image-trigger`, { enabled: 'false' })).status, 303);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body.trigger.baseImageTrigger.status, 'Disabled');
    });

    test('credentials: user names shown, passwords never', async () => {
      const res = await owner.post(`${taskPage('hello-task')}/credentials`, {
        loginServer: 'registry.example.com',
        username: 'robot',
        password: 'pa55-w0rd-secret',
      });
      assert.equal(res.status, 303);
      const page = await owner.page(taskPage('hello-task'));
      assert.match(page, /registry\.example\.com/);
      assert.match(page, />robot</);
      assert.ok(!page.includes('pa55-w0rd-secret'));
      assert.equal((await owner.post(`${taskPage('hello-task')}/credentials/registry.example.com/delete`)).status, 303);
      assert.match(await owner.page(taskPage('hello-task')), /No credentials/);
    });

    let runId = '';
    test('Run now: the run screen of a queued run, followed live; its log as text; cancel it', async () => {
      const res = await owner.post(`${taskPage('hello-task')}/run`);
      assert.equal(res.status, 303, (await res.text()).slice(0, 300));
      const loc = res.headers.get('location') ?? '';
      runId = /\/runs\/([^/?]+)\?done=queued$/.exec(loc)?.[1] ?? '';
      assert.ok(runId, loc);
      const run = (await api('GET', `/api/registries/${reg}/runs/${runId}`)).body;
      assert.equal(run.status, 'Queued');
      assert.equal(run.task, 'hello-task');
      assert.equal(run.trigger, 'Manual');

      const page = await owner.page(loc);
      assert.match(page, /The run is queued/);
      assert.match(page, /data-live="\/portal\/registries\/[^"]+\/runs\/[^"]+"/, 'followed live');
      assert.match(page, />Queued</);
      assert.match(page, /Cancel run/);
      assert.match(page, /class="body run-log"/);

      // The live fragment: the same facts, without the page around them, and not done while queued.
      const frag = await owner.get(runPage(runId), { 'X-Berth-Fragment': '1' });
      const fragText = await frag.text();
      assert.equal(frag.status, 200);
      assert.equal(frag.headers.get('x-berth-live'), null);
      assert.ok(!fragText.includes('<html'), 'a fragment');
      assert.match(fragText, />Queued</);

      const log = await owner.get(`${runPage(runId)}/log`);
      assert.equal(log.status, 200);
      assert.match(log.headers.get('content-type') ?? '', /^text\/plain/);
      assertSecurityHeaders(log);

      // The API's own answer over HTTP: text, with the run's status in a header.
      const apiLog = await t.fetch(`/api/registries/${reg}/runs/${runId}/logs`, { headers: { Authorization: adminAuthHeader() } });
      assert.equal(apiLog.status, 200);
      assert.match(apiLog.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(apiLog.headers.get('x-run-status'), 'Queued');
      assert.equal(await apiLog.text(), '');

      // The task's screen and the list show the run.
      assert.match(await owner.page(taskPage('hello-task')), new RegExp(`>${runId}<`));
      assert.match(await owner.page(tasksPage()), new RegExp(`>${runId}</a> <span class="badge ">Queued<`));

      const cancel = await owner.post(`${runPage(runId)}/cancel`);
      assert.equal(cancel.status, 303);
      assert.equal(cancel.headers.get('location'), `${runPage(runId)}?done=canceled`);
      assert.equal((await api('GET', `/api/registries/${reg}/runs/${runId}`)).body.status, 'Canceled');
      const ended = await owner.page(`${runPage(runId)}?done=canceled`);
      assert.match(ended, /The run was canceled/);
      assert.match(ended, />Canceled</);
      assert.match(ended, /canceled before it started/);
      assert.ok(!ended.includes('data-live='), 'no longer followed');
      assert.ok(!ended.includes('Cancel run'), 'no Cancel button on an ended run');
      const doneFrag = await owner.get(runPage(runId), { 'X-Berth-Fragment': '1' });
      assert.equal(doneFrag.headers.get('x-berth-live'), 'done');

      // Canceling again: the API's conflict, as its message.
      const again = await owner.post(`${runPage(runId)}/cancel`);
      assert.equal(again.status, 409);
      assert.match(await again.text(), /already ended/);
    });

    test('the run list: every run, filtered by status and by task', async () => {
      const queued = await owner.post(`${taskPage('hello-task')}/run`);
      const second = /\/runs\/([^/?]+)/.exec(queued.headers.get('location') ?? '')?.[1] ?? '';
      assert.ok(second);
      const all = await owner.page(runsPage());
      assert.match(all, new RegExp(`>${runId}<`));
      assert.match(all, new RegExp(`>${second}<`));
      const canceled = await owner.page(`${runsPage()}?status=Canceled`);
      assert.match(canceled, new RegExp(`>${runId}<`));
      assert.ok(!canceled.includes(`>${second}<`));
      assert.match(canceled, /<option value="Canceled" selected>/);
      const mine = await owner.page(`${runsPage()}?task=hello-task&status=Queued`);
      assert.match(mine, new RegExp(`>${second}<`));
      assert.match(mine, /of task hello-task/);
      const bad = await owner.get(`${runsPage()}?status=Bogus`);
      assert.equal(bad.status, 400);
      assert.equal((await owner.post(`${runPage(second)}/cancel`)).status, 303);
    });

    test("an AcrPull user may not read tasks: the API's 403 as a page", async () => {
      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      const res = await c.get(tasksPage());
      assert.equal(res.status, 403);
      assert.match(unescapeHtml(await res.text()), /list the tasks of/);
      assert.equal((await c.get(runPage(runId))).status, 403);
      assert.equal((await c.post(`${taskPage('hello-task')}/run`)).status, 403);
    });

    test('a Reader sees tasks and runs but is refused every change, with the message and nothing changed', async () => {
      const c = await PortalClient.signedIn(t, reader.name, reader.password);
      assert.match(await c.page(tasksPage()), /hello-task/);
      assert.match(await c.page(taskPage('hello-task')), /Task hello-task/);
      assert.match(await c.page(runsPage()), new RegExp(`>${runId}<`));
      assert.match(await c.page(runPage(runId)), />Canceled</);
      const runsBefore = (await api('GET', `/api/registries/${reg}/runs`)).body.value.length;
      const taskBefore = (await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body;

      const create = await c.post(tasksPage(), { name: 'pullertask', contextPath: '/dev/null', cmd: 'alpine true' });
      const createText = unescapeHtml(await create.text());
      assert.equal(create.status, 403);
      assert.match(createText, /role="alert">[^<]*create tasks in/);
      assert.match(createText, /value="pullertask"/, 'the form kept');
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/pullertask`)).status, 404);

      const run = await c.post(`${taskPage('hello-task')}/run`);
      assert.equal(run.status, 403);
      assert.match(unescapeHtml(await run.text()), /run builds and tasks in/);
      for (const [path, form] of [
        [`${taskPage('hello-task')}/timers`, { name: 'pullertimer', schedule: '0 1 * * *' }],
        [`${taskPage('hello-task')}/timers/nightly/delete`, {}],
        [`${taskPage('hello-task')}/status`, { status: 'Disabled' }],
        [`${taskPage('hello-task')}/delete`, { confirm: 'hello-task' }],
      ] as const) {
        const res = await c.post(path, form);
        assert.equal(res.status, 403, path);
      }
      assert.equal((await api('GET', `/api/registries/${reg}/runs`)).body.value.length, runsBefore);
      assert.deepEqual((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).body, taskBefore);
    });

    test('delete asks for the name typed, then deletes; its runs stay', async () => {
      const wrong = await owner.post(`${taskPage('hello-task')}/delete`, { confirm: 'hello' });
      assert.equal(wrong.status, 400);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).status, 200);
      const res = await owner.post(`${taskPage('hello-task')}/delete`, { confirm: 'hello-task' });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `${tasksPage()}?done=deleted`);
      assert.match(await owner.page(`${tasksPage()}?done=deleted`), /The task was deleted/);
      assert.equal((await api('GET', `/api/registries/${reg}/tasks/hello-task`)).status, 404);
      assert.match(await owner.page(runsPage()), new RegExp(`>${runId}<`));
    });
  });
}
