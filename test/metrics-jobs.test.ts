import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { startTestApp, adminAuthHeader } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';
import { uniqueRepo } from './helpers/oci.js';

// Job queue depth and oldest age, and webhook delivery outcomes, on /metrics.

function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return 0;
}

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('job and webhook metrics', await backendGate('sqlite'), () => {
  test('queue depth and the age of the oldest queued job, by kind', async () => {
    const t = await startTestApp('sqlite');
    try {
      const q = t.app.services.jobs;
      const later = new Date(Date.now() + 3600_000);
      for (let i = 0; i < 3; i++) await q.enqueue(t.app.meta.db, 'test.metrics', { i }, { runAfter: later });
      // One created ten minutes ago.
      const old = new Date(Date.now() - 600_000).toISOString();
      await t.app.meta.db
        .insertInto('jobs')
        .values({
          kind: 'test.metrics',
          payload: '{}',
          state: 'queued',
          attempts: 0,
          max_attempts: 3,
          run_after: later.toISOString(),
          lease_owner: null,
          lease_until: null,
          last_error: null,
          created_at: old,
          updated_at: old,
        })
        .execute();
      const text = await (await t.fetch(`${t.url}/metrics`)).text();
      assert.equal(sample(text, 'berth_job_queue_depth', { kind: 'test.metrics', state: 'queued' }), 4);
      const age = sample(text, 'berth_job_oldest_queued_age_seconds', { kind: 'test.metrics' });
      assert.ok(age >= 599 && age < 700, `age ${age}`);
      assert.match(text, /^# TYPE berth_job_queue_depth gauge$/m);
    } finally {
      await t.close();
    }
  });

  test('webhook deliveries count success, failure and dead per registry', async () => {
    let status = 200;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const t = await startTestApp('sqlite', {
      jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 50, maxAttempts: 2 },
      egress: { allowPrivate: true, timeoutMs: 3000 },
    });
    try {
      const reg = await t.createRegistry();
      const made = await t.fetch(`${t.url}/api/registries/${reg}/webhooks`, {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'hook1', serviceUri: uri, actions: ['push'] }),
      });
      assert.equal(made.status, 201, await made.text());
      const v2 = t.v2();
      const scrape = async () => (await t.fetch(`${t.url}/metrics`)).text();
      const get = (text: string, result: string) => sample(text, 'berth_webhook_deliveries_total', { registry: reg, result });
      await v2.pushImage(`${reg}/${uniqueRepo('w')}`, 'v1');
      await until(async () => get(await scrape(), 'success') === 1);
      status = 500;
      await v2.pushImage(`${reg}/${uniqueRepo('w')}`, 'v1');
      const text = await until(async () => {
        const s = await scrape();
        return get(s, 'dead') === 1 ? s : undefined;
      });
      assert.equal(get(text, 'failure'), 1);
      assert.equal(get(text, 'success'), 1);
      assert.match(text, /^# TYPE berth_webhook_deliveries_total counter$/m);
    } finally {
      await t.close();
      server.close();
    }
  });
});
