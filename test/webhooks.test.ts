import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observability/logger.js';
import { backoffMs } from '../src/jobs/queue.js';
import { isPrivateAddress } from '../src/net/egress.js';
import { normalizeScope, scopeMatches } from '../src/services/webhooks/delivery.js';
import { startTestApp, adminAuthHeader, ADMIN_PASSWORD, testConfig, type TestApp } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { BACKENDS, backendGate, freshMetadataUrl } from './helpers/backends.js';
import { uniqueRepo, V2 } from './helpers/oci.js';

// Webhooks end to end: a real receiver on 127.0.0.1 (egress.allowPrivate on, except where the
// refusal is the point), deliveries on the durable job queue with short polls and backoff.

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

class Receiver {
  received: Received[] = [];
  status = 200;
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/redirect') {
        res.writeHead(307, { Location: this.redirectTo }).end();
        return;
      }
      this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '' });
      res.writeHead(this.status, { 'Content-Type': 'text/plain' }).end(this.status === 200 ? 'ok' : 'down');
    });
  });
  redirectTo = '';
  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    return this;
  }
  get url() {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

const FAST = {
  jobs: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 100, leaseSeconds: 2 },
  egress: { allowPrivate: true, timeoutMs: 3000 },
};

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('scope rules, private addresses and backoff', () => {
  assert.equal(normalizeScope('app'), 'app:latest');
  assert.equal(normalizeScope('localhost/app'), 'localhost/app:latest');
  assert.ok(scopeMatches('', 'x', null));
  assert.ok(scopeMatches('app:*', 'app', 'v1'));
  assert.ok(scopeMatches('app:*', 'app', null));
  assert.ok(scopeMatches('app:v1', 'app', 'v1'));
  assert.ok(!scopeMatches('app:v1', 'app', 'v2'));
  assert.ok(scopeMatches('app', 'app', 'latest'));
  assert.ok(!scopeMatches('app', 'app', 'v1'));
  assert.ok(!scopeMatches('app:*', 'other', 'v1'));
  for (const ip of [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:127.0.0.1',
    'ff02::1',
  ]) {
    assert.ok(isPrivateAddress(ip), ip);
  }
  for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700::1111']) assert.ok(!isPrivateAddress(ip), ip);
  for (let a = 1; a < 10; a++) {
    const b = backoffMs(a, 100, 1000);
    assert.ok(b >= Math.min(1000, 100 * 2 ** (a - 1)) / 2 && b <= Math.min(1000, 100 * 2 ** (a - 1)), `${a}: ${b}`);
  }
});

for (const backend of BACKENDS) {
  describe(`webhooks (${backend})`, await backendGate(backend), () => {
    let t: TestApp;
    let rx: Receiver;
    before(async () => {
      rx = await new Receiver().start();
      t = await startTestApp(backend, FAST);
    });
    after(async () => {
      await t?.close();
      await rx?.close();
    });

    test("a push yields exactly one signed delivery with ACR's payload; delete too, untag not", async () => {
      const reg = await t.createRegistry();
      const made = await api(t.url, 'POST', `/api/registries/${reg}/webhooks`, {
        name: 'hook1',
        serviceUri: `${rx.url}/hook1`,
        actions: ['push', 'delete'],
        customHeaders: { Authorization: 'Bearer s3cr3t-value' },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.ok(made.body.secret);
      assert.equal(made.body.customHeaders.Authorization, '****ue');
      const repo = uniqueRepo('wh');
      const v2 = t.v2();
      const img = await v2.pushImage(`${reg}/${repo}`, 'v1');
      const got = await until(() => rx.received.find((r) => r.path === '/hook1'));
      const body = JSON.parse(got.body);
      assert.equal(body.action, 'push');
      assert.match(body.id, /^[0-9a-f-]{36}$/);
      assert.ok(body.timestamp);
      assert.deepEqual(body.target, {
        mediaType: img.mediaType,
        size: img.size,
        digest: img.digest,
        length: img.size,
        repository: repo,
        tag: 'v1',
      });
      assert.equal(body.request.method, 'PUT');
      assert.equal(body.request.host, t.host);
      assert.ok(body.request.id);
      assert.equal(typeof body.request.useragent, 'string');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.equal(got.headers.authorization, 'Bearer s3cr3t-value');
      const sig = createHmac('sha256', made.body.secret).update(got.body).digest('hex');
      assert.equal(got.headers['x-berth-signature-256'], `sha256=${sig}`);

      // untag: nothing; delete by digest: one delete event.
      await v2.fetch(`${reg}/${repo}/manifests/v1`, { method: 'DELETE' });
      await v2.fetch(`${reg}/${repo}/manifests/${img.digest}`, {
        method: 'PUT',
        body: img.bytes,
        headers: { 'Content-Type': img.mediaType },
      });
      await v2.fetch(`${reg}/${repo}/manifests/${img.digest}`, { method: 'DELETE' });
      await until(() => rx.received.filter((r) => r.path === '/hook1').length >= 3 || undefined);
      await sleep(200);
      const all = rx.received.filter((r) => r.path === '/hook1').map((r) => JSON.parse(r.body));
      // Deliveries run in parallel: their order is not the events' order.
      assert.deepEqual(all.map((b) => b.action).sort(), ['delete', 'push', 'push']);
      const del = all.find((b) => b.action === 'delete');
      assert.deepEqual(del.target, { mediaType: img.mediaType, digest: img.digest, repository: repo });
      assert.equal(del.request.method, 'DELETE');

      const events = await api(t.url, 'GET', `/api/registries/${reg}/webhooks/hook1/listEvents`);
      assert.equal(events.body.value.length, 3);
      assert.equal(events.body.value[0].eventResponseMessage.statusCode, '200');
      assert.equal(events.body.value[0].eventRequestMessage.headers.Authorization, '****ue');
      const cfg = await api(t.url, 'POST', `/api/registries/${reg}/webhooks/hook1/getCallbackConfig`);
      assert.deepEqual(cfg.body, { serviceUri: `${rx.url}/hook1`, customHeaders: { Authorization: 'Bearer s3cr3t-value' } });

      // redeliver and ping
      const before = rx.received.length;
      assert.equal((await api(t.url, 'POST', `/api/registries/${reg}/webhooks/hook1/redeliver`, { eventId: body.id })).status, 202);
      assert.equal((await api(t.url, 'POST', `/api/registries/${reg}/webhooks/hook1/ping`)).status, 202);
      await until(() => rx.received.length >= before + 2 || undefined);
      const last = rx.received.slice(before).map((r) => JSON.parse(r.body));
      assert.ok(last.some((b) => b.id === body.id && b.action === 'push'));
      assert.ok(last.some((b) => b.action === 'ping'));
    });

    test('scope filters, disabled webhooks, CloudEvents, SKU limit', async () => {
      const reg = await t.createRegistry(undefined, 'Standard');
      const repo = uniqueRepo('sc');
      const mk = (name: string, extra: Record<string, unknown>) =>
        api(t.url, 'POST', `/api/registries/${reg}/webhooks`, { name, serviceUri: `${rx.url}/${name}`, actions: ['push'], ...extra });
      assert.equal((await mk('scopeall', { scope: `${repo}:*` })).status, 201);
      assert.equal((await mk('scopetag', { scope: `${repo}:v2` })).status, 201);
      assert.equal((await mk('scopelatest', { scope: repo })).status, 201);
      assert.equal((await mk('disabled1', { status: 'disabled' })).status, 201);
      assert.equal((await mk('cloudev1', { format: 'cloudevents', scope: `${repo}:v1` })).status, 201);
      const v2 = t.v2();
      await v2.pushImage(`${reg}/${repo}`, 'v1');
      await v2.pushImage(`${reg}/other`, 'v2');
      await until(() => rx.received.some((r) => r.path === '/cloudev1') || undefined);
      await sleep(300);
      const count = (p: string) => rx.received.filter((r) => r.path === `/${p}`).length;
      assert.equal(count('scopeall'), 1);
      assert.equal(count('scopetag'), 0);
      assert.equal(count('scopelatest'), 0);
      assert.equal(count('disabled1'), 0);
      const ce = rx.received.find((r) => r.path === '/cloudev1')!;
      assert.equal(ce.headers['content-type'], 'application/cloudevents+json');
      const ceb = JSON.parse(ce.body);
      assert.equal(ceb.specversion, '1.0');
      assert.equal(ceb.type, 'Microsoft.ContainerRegistry.ImagePushed');
      assert.equal(ceb.data.target.tag, 'v1');

      const basic = await t.createRegistry(undefined, 'Basic');
      for (const n of ['basic1', 'basic2'])
        assert.equal(
          (await api(t.url, 'POST', `/api/registries/${basic}/webhooks`, { name: n, serviceUri: rx.url, actions: ['push'] })).status,
          201,
        );
      const third = await api(t.url, 'POST', `/api/registries/${basic}/webhooks`, {
        name: 'basic3',
        serviceUri: rx.url,
        actions: ['push'],
      });
      assert.equal(third.status, 409);
    });
  });
}

describe('delivery survives a receiver outage and an app restart (sqlite)', () => {
  test('retried until the receiver is back; nothing lost', async () => {
    const rx = await new Receiver().start();
    rx.status = 503;
    const t = await startTestApp('sqlite', FAST);
    let app2: App | undefined;
    try {
      const reg = await t.createRegistry();
      await api(t.url, 'POST', `/api/registries/${reg}/webhooks`, { name: 'outage', serviceUri: `${rx.url}/o`, actions: ['push'] });
      await t.v2().pushImage(`${reg}/${uniqueRepo('out')}`, 'v1');
      await until(() => rx.received.length >= 2 || undefined);
      // Stop the app mid-retry and start another on the same data.
      await t.app.close();
      rx.received = [];
      rx.status = 200;
      app2 = await startApp(loadConfig({ env: {}, overrides: { ...t.app.config, listen: '127.0.0.1:0', ...FAST } }), silentLogger);
      const ok = await until(() => rx.received.find((r) => r.path === '/o'));
      assert.equal(JSON.parse(ok.body).action, 'push');
      await sleep(200);
      assert.equal(rx.received.length, 1);
      const rows = await app2.services.jobs.list({ kind: 'webhook.deliver' });
      assert.equal(rows[0]!.state, 'succeeded');
      assert.ok(rows[0]!.attempts >= 3);
    } finally {
      await app2?.close();
      await rx.close();
    }
  });
});

describe('egress refusals (sqlite)', () => {
  test('loopback and a redirect to loopback are refused when private egress is off', async () => {
    const rx = await new Receiver().start();
    const t = await startTestApp('sqlite', { ...FAST, egress: { allowPrivate: false } });
    try {
      const reg = await t.createRegistry();
      await api(t.url, 'POST', `/api/registries/${reg}/webhooks`, { name: 'direct1', serviceUri: `${rx.url}/d`, actions: ['push'] });
      await t.v2().pushImage(`${reg}/${uniqueRepo('eg')}`, 'v1');
      const ev = await until(async () => (await api(t.url, 'GET', `/api/registries/${reg}/webhooks/direct1/listEvents`)).body.value[0]);
      assert.equal(ev.outcome, 'refused');
      assert.match(ev.error, /127\.0\.0\.1/);
      const job = await until(async () => (await t.app.services.jobs.list({ state: 'dead' }))[0]);
      assert.equal(job.attempts, 1);
      assert.equal(rx.received.length, 0);
    } finally {
      await t.close();
    }
    // Allowed for the first hop only: the redirect target is checked again.
    const { egressRequest, EgressRefused } = await import('../src/net/egress.js');
    rx.redirectTo = 'http://127.0.0.1:1/';
    await assert.rejects(
      egressRequest(`${rx.url}/redirect`, 'POST', {}, Buffer.from('{}'), {
        allowPrivate: false,
        connectTimeoutMs: 1000,
        timeoutMs: 2000,
        maxRedirects: 3,
        maxResponseBytes: 1024,
      }),
      EgressRefused,
    );
    rx.redirectTo = `${rx.url}/final`;
    const followed = await egressRequest(`${rx.url}/redirect`, 'POST', {}, Buffer.from('{}'), {
      allowPrivate: true,
      connectTimeoutMs: 1000,
      timeoutMs: 2000,
      maxRedirects: 3,
      maxResponseBytes: 1024,
    });
    assert.equal(followed.status, 200);
    const none = await egressRequest(`${rx.url}/redirect`, 'POST', {}, Buffer.from('{}'), {
      allowPrivate: true,
      connectTimeoutMs: 1000,
      timeoutMs: 2000,
      maxRedirects: 0,
      maxResponseBytes: 1024,
    });
    assert.equal(none.status, 307);
    await rx.close();
  });
});

describe('the egress verdict at once: create, update, show and ping (sqlite)', () => {
  test('a URI the policy refuses warns on create and update (naming the setting) and fails ping; an allowed one does not', async () => {
    const t = await startTestApp('sqlite', { ...FAST, egress: { allowPrivate: false } });
    try {
      const reg = await t.createRegistry();
      // runCli captures stdout and errors; the warnings go to process.stderr, captured here.
      const berth = async (args: string[]) => {
        // eslint-disable-next-line @typescript-eslint/unbound-method -- restored as is below
        const write = process.stderr.write;
        let warnings = '';
        process.stderr.write = (chunk: unknown, ...rest: unknown[]) => {
          if (typeof chunk === 'string') {
            warnings += chunk;
            return true;
          }
          return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
        };
        try {
          const r = await runCli([...args, '-r', reg, '--server', t.url, '-u', 'admin', '-p', ADMIN_PASSWORD]);
          return { ...r, stderr: warnings + r.stderr };
        } finally {
          process.stderr.write = write;
        }
      };
      const made = await berth(['webhook', 'create', '-n', 'local1', '--uri', 'http://127.0.0.1:9/hook', '--actions', 'push']);
      assert.equal(made.code, 0, made.stderr);
      const warning = made.stderr.split('\n').find((l) => l.startsWith('warning:'));
      assert.ok(warning, `a warning line on stderr: ${made.stderr}`);
      assert.match(warning, /127\.0\.0\.1 is a loopback address/);
      assert.match(warning, /egress\.allowPrivate: true/, 'names the config key');
      assert.match(warning, /BERTH_EGRESS_ALLOW_PRIVATE=true/, 'and the environment variable');
      const created = JSON.parse(made.stdout);
      assert.equal(created.egress.verdict, 'refused');
      assert.ok(created.secret, 'the webhook is created all the same');

      const moved = await berth(['webhook', 'update', '-n', 'local1', '--uri', 'http://10.1.2.3/hook']);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stderr, /^warning: .*10\.1\.2\.3 is a private or reserved address/m);
      const shown = await api(t.url, 'GET', `/api/registries/${reg}/webhooks/local1`);
      assert.equal(shown.body.egress.verdict, 'refused');
      assert.match(shown.body.warnings[0], /BERTH_EGRESS_ALLOW_PRIVATE/);

      const ping = await api(t.url, 'POST', `/api/registries/${reg}/webhooks/local1/ping`);
      assert.equal(ping.status, 409);
      assert.equal(ping.body.errors[0].code, 'CONFLICT');
      assert.match(ping.body.errors[0].message, /cannot ping webhook local1: 10\.1\.2\.3 .*egress\.allowPrivate/);
      const pingCli = await berth(['webhook', 'ping', '-n', 'local1']);
      assert.equal(pingCli.code, 1);
      assert.match(pingCli.stderr, /egress\.allowPrivate/);
      assert.deepEqual((await api(t.url, 'GET', `/api/registries/${reg}/webhooks/local1/listEvents`)).body.value, [], 'nothing was queued');

      // A public address passes without a warning (no connection is made to check it).
      const ok = await berth(['webhook', 'update', '-n', 'local1', '--uri', 'http://93.184.216.34/hook']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.doesNotMatch(ok.stderr, /warning:/);
      assert.equal(JSON.parse(ok.stdout).egress.verdict, 'allowed');
      // A host that does not resolve: a warning, and ping still queues (a delivery checks again).
      const nx = await berth(['webhook', 'update', '-n', 'local1', '--uri', 'http://berth-test.invalid/hook']);
      assert.equal(nx.code, 0, nx.stderr);
      assert.match(nx.stderr, /^warning: .*berth-test\.invalid does not resolve/m);
      assert.equal((await api(t.url, 'POST', `/api/registries/${reg}/webhooks/local1/ping`)).status, 202);
    } finally {
      await t.close();
    }
  });

  test('with egress.allowPrivate on, a loopback receiver gets no warning', async () => {
    const t = await startTestApp('sqlite', FAST);
    try {
      const reg = await t.createRegistry();
      const res = await api(t.url, 'POST', `/api/registries/${reg}/webhooks`, {
        name: 'local2',
        serviceUri: 'http://127.0.0.1:9/hook',
        actions: ['push'],
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.egress.verdict, 'allowed');
      assert.equal(res.body.warnings, undefined);
    } finally {
      await t.close();
    }
  });
});

describe('two nodes on one PostgreSQL deliver each event once', await backendGate('postgres'), () => {
  test('exactly once across nodes', async () => {
    const rx = await new Receiver().start();
    const meta = await freshMetadataUrl('postgres');
    const apps: App[] = [];
    try {
      const os = await import('node:os');
      const fs = await import('node:fs');
      const path = await import('node:path');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wh-'));
      for (let i = 0; i < 2; i++) {
        apps.push(
          await startApp(
            testConfig({
              dataDir: path.join(dir, `n${i}`),
              metadata: { url: meta.url },
              storage: { path: path.join(dir, 'storage') },
              ...FAST,
            }),
            silentLogger,
          ),
        );
      }
      const reg = `whmulti${process.pid}`;
      await apps[0]!.services.registries.create(reg, 'Premium');
      await api(apps[0]!.url, 'POST', `/api/registries/${reg}/webhooks`, { name: 'multi1', serviceUri: `${rx.url}/m`, actions: ['push'] });
      const repo = uniqueRepo('mn');
      for (let i = 0; i < 10; i++) await new V2(apps[i % 2]!.url).pushImage(`${reg}/${repo}`, `t${i}`);
      await until(() => rx.received.length >= 10 || undefined);
      await sleep(500);
      const tags = rx.received.map((r) => JSON.parse(r.body).target.tag).sort();
      assert.deepEqual(tags, [...Array(10).keys()].map((i) => `t${i}`).sort());
    } finally {
      for (const a of apps) await a.close();
      await meta.drop();
      await rx.close();
    }
  });
});
