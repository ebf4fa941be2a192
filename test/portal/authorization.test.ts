import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SCREENS } from '../../src/http/portal/screens.js';
import { adminAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { PortalClient } from '../helpers/portal.js';

// Every change the portal can make, tried by a user who may only pull (AcrPull on the registry):
// each POST route of every screen, found in the portal's own route table (so a new screen is
// covered without editing this file), with its path filled in with real names. Each must be
// refused (403, or 404 where the API hides what the caller may not see), never performed, and the
// registry's state read through /api must be the same afterwards.

const SIGN_OUT = '/portal/sign-out';
const SIGN_IN = '/portal/sign-in';

for (const backend of BACKENDS) {
  describe(`portal authorization on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let reg = '';
    let digest = '';
    let runId = '';
    const puller = { name: `portal.puller${process.pid}`, password: 'puller password 1' };

    async function apiJson(method: string, path: string, body?: unknown): Promise<unknown> {
      const res = await t.fetch(path, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    }

    /** What an owner sees of the registry through /api: any change an action made shows here. */
    async function state(): Promise<Record<string, unknown>> {
      const reads = [
        `/api/registries/${reg}`,
        `/api/registries/${reg}/repositories`,
        `/api/registries/${reg}/repositories/app/web/_tags`,
        `/api/registries/${reg}/webhooks`,
        `/api/registries/${reg}/tokens`,
        `/api/registries/${reg}/scope-maps`,
        `/api/registries/${reg}/immutability`,
        `/api/registries/${reg}/purge/schedules`,
        `/api/registries/${reg}/scanPolicy`,
        `/api/registries/${reg}/softDeletePolicy`,
        `/api/registries/${reg}/retention`,
        '/api/registries',
        '/api/users',
        '/api/service-principals',
        '/api/role-assignments',
        '/api/jobs',
        `/api/registries/${reg}/imports`,
        `/api/registries/${reg}/tasks`,
        `/api/registries/${reg}/tasks/pulltask1`,
        `/api/registries/${reg}/runs`,
      ];
      const out: Record<string, unknown> = {};
      for (const r of reads) {
        const res = await t.fetch(r, { headers: { Authorization: adminAuthHeader() } });
        out[r] = res.status === 200 ? stable(await res.json()) : res.status;
      }
      return out;
    }

    before(async () => {
      t = await startTestApp(backend);
      reg = await t.createRegistry(`portalauthz${process.pid}`);
      await apiJson('POST', `/api/registries/${reg}/webhooks`, {
        name: 'pullhook1',
        serviceUri: 'http://127.0.0.1:9/x',
        actions: ['push'],
      });
      // A push after the webhook exists: its delivery job (refused: a loopback address) is in the job list.
      digest = (await t.v2().pushImage(`${reg}/app/web`, 'v1')).digest;
      await apiJson('POST', `/api/registries/${reg}/scope-maps`, { name: 'scopemap1', actions: [`repositories/app/web/content/read`] });
      await apiJson('POST', `/api/registries/${reg}/tokens`, { name: 'pulltoken1', scopeMap: 'scopemap1' });
      // A task with a timer and a credential, and a run of it (queued: the test server runs no tasks).
      await apiJson('POST', `/api/registries/${reg}/tasks`, {
        name: 'pulltask1',
        contextPath: '/dev/null',
        cmd: 'alpine true',
        timers: [{ name: 'timer1', schedule: '0 1 * * *' }],
      });
      await apiJson('POST', `/api/registries/${reg}/tasks/pulltask1/credentials`, {
        loginServer: 'registry.example.com',
        username: 'robot',
        password: 'robot password 1',
      });
      runId = (
        (await apiJson('POST', `/api/registries/${reg}/scheduleRun`, { type: 'TaskRunRequest', taskName: 'pulltask1' })) as {
          runId: string;
        }
      ).runId;
      await apiJson('POST', '/api/users', puller);
      await apiJson('POST', '/api/role-assignments', { assignee: puller.name, role: 'AcrPull', scope: `/registries/${reg}` });
    });
    after(() => t?.close());

    /** A real path for a route pattern: its parameters filled in with what exists. */
    function fill(pattern: string): { path: string; last: string } {
      const values: Record<string, string> = {
        reg,
        registry: reg,
        repo: 'app/web',
        tag: 'v1',
        ref: 'v1',
        digest,
        name: 'pullhook1',
        webhook: 'pullhook1',
        token: 'pulltoken1',
        scopeMap: 'scopemap1',
        map: 'scopemap1',
        user: puller.name,
        appId: '00000000-0000-0000-0000-000000000000',
        id: '1',
        eventId: '1',
        schedule: 'sched1',
        password: 'password1',
        task: 'pulltask1',
        timer: 'timer1',
        server: 'registry.example.com',
        run: runId,
      };
      let last = reg;
      const path = pattern
        .split('/')
        .map((s) => {
          if (!s.startsWith(':') && !s.startsWith('*')) return s;
          last = values[s.slice(1)] ?? 'x';
          return encodeURIComponent(last).replace(/%2F/g, '/');
        })
        .join('/');
      return { path, last };
    }

    test('an AcrPull user is refused every POST action of every screen, and nothing changes', async () => {
      const posts = SCREENS.filter((r) => r.methods.includes('POST') && r.path !== SIGN_OUT && r.path !== SIGN_IN);
      assert.ok(posts.length >= 40, `${posts.length} POST routes`);
      // Background work (the setup's webhook delivery) settles first, so only the actions could change the state.
      // The task run stays queued whatever happens (this test server runs no tasks): waiting for it
      // to leave the queue only waited out the 10 s below.
      for (let i = 0; i < 100; i++) {
        const jobs = (await apiJson('GET', '/api/jobs')) as { value: { kind: string; state: string }[] };
        const busy = jobs.value.some((j) => j.kind !== 'task-run' && (j.state === 'queued' || j.state === 'running'));
        if (jobs.value.some((j) => j.kind === 'webhook.deliver') && !busy) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const before = await state();
      const c = await PortalClient.signedIn(t, puller.name, puller.password);
      const tried: string[] = [];
      for (const r of posts) {
        const { path, last } = fill(r.path);
        // Fields most forms carry (a deletion's typed confirmation names what the path names last),
        // so a refusal is about who asks, not about a missing field.
        // A form that does several things by an "action" field is tried with each.
        const variants: Record<string, string>[] = r.path.endsWith('/_scan')
          ? [{ action: 'scan' }, { action: 'quarantine', state: 'Passed' }]
          : [{}];
        for (const variant of variants) {
          const res = await c.post(path, {
            ...variant,
            // (a manifest is confirmed by the first 12 characters of its hash)
            confirm: last.startsWith('sha256:') ? last.slice(7, 19) : last,
            name: 'attempt1',
            tag: 'v1',
            enabled: 'on',
            attr: 'writeEnabled',
            value: 'false',
            filters: 'app/.*:.*',
            ago: '0d',
            schedule: '0 1 * * *',
            sourceImage: `${t.host}/${reg}/app/web:v1`,
            targetTags: 'copied/web:v1',
            sku: 'Premium',
            serviceUri: 'http://127.0.0.1:9/y',
            actions: 'push',
            role: 'Owner',
            assignee: puller.name,
            scope: '/',
            password: 'a new password 1',
            source: `${reg}/app/web:v1`,
            contextPath: '/dev/null',
            cmd: 'alpine true',
            status: 'Disabled',
            loginServer: 'registry.example.com',
            username: 'robot',
          });
          const body = await res.text();
          assert.ok(
            [403, 404].includes(res.status),
            `POST ${path} (${r.path}) as AcrPull answered ${res.status}: ${/role="alert">([^<]*)/.exec(body)?.[1] ?? body.slice(0, 300)}`,
          );
        }
        tried.push(r.path);
      }
      assert.equal(tried.length, posts.length);
      const after = await state();
      for (const k of Object.keys(before)) assert.deepEqual(after[k], before[k], `nothing changed at ${k}`);
      // Still signed in: the refusals did not end the session.
      assert.equal((await c.get('/portal/registries')).status, 200);
    });
  });
}

/** JSON with volatile fields dropped (times that move on their own), for comparing states. */
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (/^(lastPulledTime|lastRunTime|nextRunTime|time|checkedAt|updatedAt|progress)$/i.test(k)) continue;
      out[k] = stable(x);
    }
    return out;
  }
  return v;
}
