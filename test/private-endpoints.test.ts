import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../src/app.js';
import { silentLogger } from '../src/observability/logger.js';
import { adminAuthHeader, startTestApp, testConfig, type TestApp } from './helpers/app.js';
import { requireTool } from './e2e/helpers.js';
import { backendGate, BACKENDS } from './helpers/backends.js';
import { planImage, pushPlannedImage, type ImagePlan } from './helpers/image-push.js';
import { call, eventually, freePort, type Answer } from './helpers/endpoints.js';
import { selfSignedCert } from './helpers/tls.js';

// Private endpoints and dedicated data endpoints (docs/private-endpoints.md) over real sockets: the
// login server on 127.0.0.1, private listeners on 127.0.0.2 / 127.0.0.3 and on a Unix socket
// (Linux routes all of 127/8 to lo), the data endpoint on its own port. Parsing, transitions and
// URL signing are in src/domain/endpoints.test.ts; real clients are in test/e2e/private-endpoints.test.ts.

const code = (a: Answer) => a.body.errors?.[0]?.code;
const message = (a: Answer) => a.body.errors?.[0]?.message ?? '';

for (const backend of BACKENDS) {
  describe(`private endpoints (${backend})`, async () => {
    const gate = await backendGate(backend);
    let t: TestApp;
    let sockDir: string;
    let privateUrl: string;
    let listen: string;
    const images = new Map<string, ImagePlan>();
    const api = (reg: string, sub = '') => `/api/registries/${reg}/private-endpoint-connections${sub}`;
    const create = (reg: string, body: Record<string, unknown>) => call(t.url, 'POST', api(reg), { body });

    before(async () => {
      if (gate.skip) return;
      t = await startTestApp(backend, { dataEndpoint: { listen: '127.0.0.1:0' }, network: { privateEndpointPollSeconds: 1 } });
      sockDir = mkdtempSync(path.join(os.tmpdir(), 'berth-pe-'));
      for (const reg of ['peone1', 'petwo1', 'peother1']) {
        await t.createRegistry(reg, 'Premium');
        const plan = planImage(`${reg}/app`, 'v1', { layers: [1, 2], minLayerBytes: 2048, maxLayerBytes: 64 * 1024 });
        await pushPlannedImage(plan, { bases: [t.url] });
        images.set(reg, plan);
      }
      await t.createRegistry('pebasic1', 'Basic');
      const port = await freePort('127.0.0.2');
      listen = `127.0.0.2:${port}`;
      privateUrl = `http://${listen}`;
    });
    after(async () => {
      await t?.close();
      if (sockDir) rmSync(sockDir, { recursive: true, force: true });
    });

    test('bad input: 400 or 409 with the reason; Premium only; nothing is created', gate, async () => {
      for (const [bad, reason] of [
        ['nope', /not ADDRESS:PORT or unix:\/path/],
        ['127.0.0.2', /not ADDRESS:PORT/],
        ['127.0.0.2:0', /port must be 1-65535/],
        ['127.0.0.2:70000', /port must be 1-65535/],
        ['localhost:5000', /not an IP address/],
        ['[fe80::1%eth0]:5000', /not an IPv6 address/],
        ['unix:relative.sock', /must be absolute/],
      ] as const) {
        const r = await create('peone1', { name: 'bad', listen: bad });
        assert.equal(r.status, 400, `${bad}: ${r.text}`);
        assert.match(message(r), reason, bad);
      }
      const plain = await create('peone1', { name: 'plain', listen: `0.0.0.0:${await freePort('0.0.0.0')}` });
      assert.equal(plain.status, 400, plain.text);
      assert.match(message(plain), /refusing a plain-HTTP private endpoint/);
      const badName = await create('peone1', { name: '-x', listen });
      assert.equal(badName.status, 400, badName.text);
      assert.match(message(badName), /not a private endpoint name/);
      const basic = await create('pebasic1', { name: 'pe', listen });
      assert.equal(basic.status, 400, basic.text);
      assert.match(message(basic), /Premium feature/);
      // The login server's own address.
      const own = await create('peone1', { name: 'own', listen: t.host });
      assert.equal(own.status, 409, own.text);
      assert.match(message(own), /Berth's own listener/);
      // An address some other process holds.
      const squatter = net.createServer();
      const busyPort = await freePort('127.0.0.2');
      await new Promise<void>((resolve) => squatter.listen(busyPort, '127.0.0.2', resolve));
      try {
        const busy = await create('peone1', { name: 'busy', listen: `127.0.0.2:${busyPort}` });
        assert.equal(busy.status, 409, busy.text);
        assert.match(message(busy), /cannot listen on 127\.0\.0\.2:\d+: the address is already in use; nothing was created/);
      } finally {
        squatter.close();
      }
      const listed = await call(t.url, 'GET', api('peone1'));
      assert.deepEqual(listed.body.value, []);
    });

    test('a connected registry answers on the private listener; others are invisible there', gate, async () => {
      const made = await create('peone1', { name: 'pe-a', listen, requestMessage: 'app subnet' });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.headers.location, '/api/registries/peone1/private-endpoint-connections/pe-a');
      assert.deepEqual(made.body.privateLinkServiceConnectionState, {
        status: 'Approved',
        description: 'Auto-Approved',
        actionsRequired: 'None',
      });
      assert.equal((made.body.privateEndpoint as { listen: string }).listen, listen);
      assert.equal(made.body.provisioningState, 'Succeeded');
      assert.equal(made.body.requestMessage, 'app subnet');
      const l = made.body.listener as { state: string; nodes: { node: string; region: string; state: string; lastSeen: string }[] };
      assert.equal(l.state, 'Listening');
      assert.deepEqual(
        l.nodes.map((n) => [n.node, n.region, n.state]),
        [[`${os.hostname()}:${new URL(t.url).port}`, 'default', 'Listening']],
      );

      const dup = await create('peone1', { name: 'pe-a', listen: `127.0.0.2:${await freePort('127.0.0.2')}` });
      assert.equal(dup.status, 409, dup.text);
      assert.match(message(dup), /already has a private endpoint connection named "pe-a"/);
      const again = await create('peone1', { name: 'pe-a2', listen });
      assert.equal(again.status, 409, again.text);
      assert.match(message(again), /already connected to the listener/);

      const tags = await call(privateUrl, 'GET', '/v2/peone1/app/tags/list');
      assert.equal(tags.status, 200, tags.text);
      assert.deepEqual(tags.body.tags, ['v1']);
      const blob = images.get('peone1')!.layers[0]!;
      const got = await call(privateUrl, 'GET', `/v2/peone1/app/blobs/${blob.digest}`);
      assert.equal(got.status, 200);
      assert.ok(got.raw.equals(blob.data));
      // Another registry of the deployment does not exist here: 404, whoever asks.
      for (const auth of [undefined, null]) {
        const other = await call(privateUrl, 'GET', '/v2/peother1/app/tags/list', { auth });
        assert.equal(other.status, 404, other.text);
        assert.equal(code(other), 'NAME_UNKNOWN');
      }
      const nothing = await call(privateUrl, 'GET', '/v2/nosuchreg1/app/tags/list');
      assert.equal(nothing.status, 404);
      // Listings there show only what is connected; the public listener still shows all.
      const catalog = await call(privateUrl, 'GET', '/v2/_catalog');
      assert.deepEqual(catalog.body.repositories, ['peone1/app']);
      const regs = await call(privateUrl, 'GET', '/api/registries');
      assert.deepEqual(
        (regs.body.value as { name: string }[]).map((r) => r.name),
        ['peone1'],
      );
      assert.equal((await call(privateUrl, 'GET', '/api/registries/peother1')).status, 404);
      assert.equal((await call(privateUrl, 'GET', '/acr/v1/peother1/_catalog')).status, 404);
      assert.equal((await call(t.url, 'GET', '/v2/peother1/app/tags/list')).status, 200);
      const all = await call(t.url, 'GET', '/api/registries');
      assert.ok((all.body.value as { name: string }[]).length >= 4);
    });

    test('a listener is shared: a second registry connects to the same address', gate, async () => {
      assert.equal((await call(privateUrl, 'GET', '/v2/petwo1/app/tags/list')).status, 404);
      const made = await create('petwo1', { name: 'pe-shared', listen });
      assert.equal(made.status, 201, made.text);
      assert.equal((await call(privateUrl, 'GET', '/v2/petwo1/app/tags/list')).status, 200);
      const catalog = await call(privateUrl, 'GET', '/v2/_catalog');
      assert.deepEqual(catalog.body.repositories, ['peone1/app', 'petwo1/app']);
      const shown = await call(t.url, 'GET', api('petwo1', '/pe-shared'));
      assert.deepEqual(shown.body.sharedWith, [{ registry: 'peone1', name: 'pe-a', status: 'Approved' }]);
    });

    test('publicNetworkAccess Disabled: the registry answers only on its private endpoint, whatever the IP rules', gate, async () => {
      const off = await call(t.url, 'PATCH', '/api/registries/peone1', {
        body: { publicNetworkAccess: 'Disabled', networkRuleSet: { defaultAction: 'Deny' } },
      });
      assert.equal(off.status, 200, off.text);
      const pub = await call(t.url, 'GET', '/v2/peone1/app/tags/list');
      assert.equal(pub.status, 403, pub.text);
      assert.match(message(pub), /public network access is disabled/);
      assert.equal((await call(privateUrl, 'GET', '/v2/peone1/app/tags/list')).status, 200);
      assert.equal((await call(privateUrl, 'GET', '/acr/v1/peone1/_catalog')).status, 200);
      const on = await call(t.url, 'PATCH', '/api/registries/peone1', {
        body: { publicNetworkAccess: 'Enabled', networkRuleSet: { defaultAction: 'Allow' } },
      });
      assert.equal(on.status, 200, on.text);
    });

    test("Pending and Rejected connections do not serve; approve and reject follow ACR's rules", gate, async () => {
      const pending = await create('peother1', { name: 'pe-wait', listen, manual: true, requestMessage: 'please' });
      assert.equal(pending.status, 201, pending.text);
      assert.equal((pending.body.privateLinkServiceConnectionState as { status: string }).status, 'Pending');
      assert.equal((await call(privateUrl, 'GET', '/v2/peother1/app/tags/list')).status, 404);
      const approve = await call(t.url, 'PUT', api('peother1', '/pe-wait'), {
        body: { privateLinkServiceConnectionState: { status: 'Approved', description: 'ok by ops' } },
      });
      assert.equal(approve.status, 200, approve.text);
      assert.deepEqual(approve.body.privateLinkServiceConnectionState, {
        status: 'Approved',
        description: 'ok by ops',
        actionsRequired: 'None',
      });
      assert.equal((await call(privateUrl, 'GET', '/v2/peother1/app/tags/list')).status, 200);
      const reject = await call(t.url, 'PATCH', api('peother1', '/pe-wait'), { body: { status: 'Rejected', description: 'no' } });
      assert.equal(reject.status, 200, reject.text);
      assert.equal((await call(privateUrl, 'GET', '/v2/peother1/app/tags/list')).status, 404);
      const reapprove = await call(t.url, 'PUT', api('peother1', '/pe-wait'), { body: { status: 'Approved' } });
      assert.equal(reapprove.status, 409, reapprove.text);
      assert.match(message(reapprove), /Rejected, which is final/);
      const bad = await call(t.url, 'PUT', api('peother1', '/pe-wait'), { body: { status: 'Maybe' } });
      assert.equal(bad.status, 400, bad.text);
      const pendingAgain = await call(t.url, 'PUT', api('peother1', '/pe-wait'), { body: { status: 'Pending' } });
      assert.equal(pendingAgain.status, 409, pendingAgain.text);
      const missing = await call(t.url, 'PUT', api('peother1', '/nosuch'), { body: { status: 'Approved' } });
      assert.equal(missing.status, 404, missing.text);
      // The refusals on the listener are counted, and recorded (once a minute per client).
      const m = await call(t.url, 'GET', '/metrics');
      assert.match(m.text, /berth_private_endpoint_refusals_total\{registry="peother1"\} [1-9]/);
      assert.match(m.text, /berth_private_endpoint_connection_changes_total\{registry="peother1",state="Rejected"\} 1/);
      const log = await call(t.url, 'GET', '/api/audit/activity?top=1000&registry=peother1');
      const ops = (log.body.value as { operationName: string }[]).map((e) => e.operationName);
      assert.ok(ops.includes('Berth/registries/privateEndpointConnections/refused/action'), ops.join());
      assert.ok(ops.includes('Microsoft.ContainerRegistry/registries/privateEndpointConnections/write'), ops.join());
      assert.equal((await call(t.url, 'DELETE', api('peother1', '/pe-wait'))).status, 204);
    });

    test('a Unix socket listener serves its registries', gate, async () => {
      const sock = path.join(sockDir, 'pe.sock');
      const made = await create('petwo1', { name: 'pe-unix', listen: `unix:${sock}` });
      assert.equal(made.status, 201, made.text);
      const r = await call({ socketPath: sock }, 'GET', '/v2/petwo1/app/tags/list');
      assert.equal(r.status, 200, r.text);
      assert.equal((await call({ socketPath: sock }, 'GET', '/v2/peone1/app/tags/list')).status, 404);
      assert.equal((await call(t.url, 'DELETE', api('petwo1', '/pe-unix'))).status, 204);
      await assert.rejects(call({ socketPath: sock }, 'GET', '/v2/'), /ENOENT|ECONNREFUSED/);
    });

    test('delete stops serving; the listener closes when no connection names it', gate, async () => {
      assert.equal((await call(t.url, 'DELETE', api('petwo1', '/pe-shared'))).status, 204);
      assert.equal((await call(privateUrl, 'GET', '/v2/petwo1/app/tags/list')).status, 404);
      assert.equal((await call(privateUrl, 'GET', '/v2/peone1/app/tags/list')).status, 200);
      assert.equal((await call(t.url, 'DELETE', api('petwo1', '/pe-shared'))).status, 404);
      // A Premium registry with a private endpoint cannot leave Premium.
      const down = await call(t.url, 'PATCH', '/api/registries/peone1', { body: { sku: 'Standard' } });
      assert.equal(down.status, 409, down.text);
      assert.match(down.text, /private endpoint connection, a Premium feature/);
      assert.equal((await call(t.url, 'DELETE', api('peone1', '/pe-a'))).status, 204);
      await assert.rejects(call(privateUrl, 'GET', '/v2/'), /ECONNREFUSED/);
    });

    test('at most 200 connections per registry (ACR)', gate, async () => {
      await t.createRegistry('pemany1', 'Premium');
      for (let i = 0; i < 200; i++) {
        const r = await create('pemany1', { name: `pe${i}`, listen: `unix:${path.join(sockDir, `m${i}.sock`)}`, manual: true });
        assert.equal(r.status, 201, r.text);
      }
      const over = await create('pemany1', { name: 'pe200', listen: `unix:${path.join(sockDir, 'm200.sock')}` });
      assert.equal(over.status, 400, over.text);
      assert.match(message(over), /200 private endpoint connections, the most a registry may have/);
      const listed = await call(t.url, 'GET', api('pemany1'));
      assert.equal((listed.body.value as unknown[]).length, 200);
      assert.equal((await call({ socketPath: path.join(sockDir, 'm0.sock') }, 'GET', '/healthz')).status, 200);
      // Deleting the registry deletes its connections, and the listeners stop on the next poll.
      assert.equal((await call(t.url, 'DELETE', '/api/registries/pemany1')).status, 204);
      await eventually('the listeners of a deleted registry stop', async () => {
        try {
          await call({ socketPath: path.join(sockDir, 'm0.sock') }, 'GET', '/healthz');
          return false;
        } catch {
          return true;
        }
      });
      await assert.rejects(call({ socketPath: path.join(sockDir, 'm199.sock') }, 'GET', '/healthz'), /ENOENT|ECONNREFUSED/);
    });

    test('dedicated data endpoint: blob GETs redirect there; it serves only signed blob downloads', gate, async () => {
      const basic = await call(t.url, 'PATCH', '/api/registries/pebasic1', { body: { dataEndpointEnabled: true } });
      assert.equal(basic.status, 400, basic.text);
      assert.match(message(basic), /Premium feature/);
      const notBool = await call(t.url, 'PATCH', '/api/registries/petwo1', { body: { dataEndpointEnabled: 'yes' } });
      assert.equal(notBool.status, 400, notBool.text);
      const on = await call(t.url, 'PATCH', '/api/registries/petwo1', { body: { dataEndpointEnabled: true } });
      assert.equal(on.status, 200, on.text);
      assert.equal(on.body.dataEndpointEnabled, true);
      const hosts = on.body.dataEndpointHostNames as string[];
      assert.equal(hosts.length, 1);
      assert.match(hosts[0]!, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(hosts[0], t.host);

      const blob = images.get('petwo1')!.layers[0]!;
      const first = await call(t.url, 'GET', `/v2/petwo1/app/blobs/${blob.digest}`);
      assert.equal(first.status, 307, first.text);
      const location = new URL(first.headers.location!);
      assert.equal(location.host, hosts[0]);
      assert.equal(first.headers['cache-control'], 'no-store');
      // Followed without credentials, as clients follow a redirect to another host.
      const got = await call(location.origin, 'GET', location.pathname + location.search, { auth: null });
      assert.equal(got.status, 200, got.text);
      assert.ok(got.raw.equals(blob.data));
      assert.equal(got.headers['docker-content-digest'], blob.digest);
      const ranged = await call(location.origin, 'GET', location.pathname + location.search, {
        auth: null,
        headers: { Range: 'bytes=10-19' },
      });
      assert.equal(ranged.status, 206);
      assert.ok(ranged.raw.equals(blob.data.subarray(10, 20)));
      assert.equal(ranged.headers['content-range'], `bytes 10-19/${blob.data.length}`);
      // HEAD on the login server still answers there (no redirect for metadata).
      assert.equal((await call(t.url, 'HEAD', `/v2/petwo1/app/blobs/${blob.digest}`)).status, 200);
      // Nothing else answers on the data endpoint.
      const tampered = location.search.replace(/sig=([^&]{4})/, 'sig=AAAA');
      assert.equal((await call(location.origin, 'GET', location.pathname + tampered, { auth: null })).status, 403);
      const otherBlob = images.get('petwo1')!.config.digest;
      const swapped = await call(location.origin, 'GET', location.pathname.replace(blob.digest, otherBlob) + location.search, {
        auth: null,
      });
      assert.equal(swapped.status, 403, swapped.text);
      assert.equal((await call(location.origin, 'GET', location.pathname, { auth: null })).status, 403);
      assert.equal((await call(location.origin, 'GET', '/v2/petwo1/app/tags/list', { auth: null })).status, 404);
      assert.equal((await call(location.origin, 'GET', '/api/registries')).status, 404);
      assert.equal((await call(location.origin, 'PUT', location.pathname + location.search, { auth: null })).status, 405);
      // Pushes still go to the login server.
      const plan = planImage('petwo1/pushed', 'v1', { layers: [1, 1] });
      await pushPlannedImage(plan, { bases: [t.url] });
      // Turning it off stops the URLs already handed out, and blob GETs answer on the login server again.
      const off = await call(t.url, 'PATCH', '/api/registries/petwo1', { body: { dataEndpointEnabled: false } });
      assert.deepEqual(off.body.dataEndpointHostNames, []);
      assert.equal((await call(location.origin, 'GET', location.pathname + location.search, { auth: null })).status, 404);
      assert.equal((await call(t.url, 'GET', `/v2/petwo1/app/blobs/${blob.digest}`)).status, 200);
      const m = await call(t.url, 'GET', '/metrics');
      assert.match(m.text, /berth_data_endpoint_refusals_total [1-9]/);
    });
  });
}

describe('a deployment without a data endpoint, and a second node over the same PostgreSQL', async () => {
  const gate = await backendGate('postgres');
  let a: TestApp;
  let b: App | undefined;
  let bDir: string | undefined;
  // Node A stops mid-test; the after hook's TestApp.close (which also drops the schema) must not stop it twice.
  let stopped: Promise<void> | undefined;
  const stopA = () => (stopped ??= a.app.close());

  before(async () => {
    if (gate.skip) return;
    a = await startTestApp('postgres', { network: { privateEndpointPollSeconds: 1 } });
    const closeApp = a.app.close.bind(a.app);
    a.app.close = () => (stopped ??= closeApp());
    bDir = mkdtempSync(path.join(os.tmpdir(), 'berth-pe-b-'));
    // Node B: the same metadata and the same storage, its own data directory and port.
    b = await startApp(
      testConfig({
        dataDir: bDir,
        metadata: { url: a.app.config.metadata.url },
        storage: { path: a.app.config.storage.path || path.join(a.dataDir, 'storage') },
        network: { privateEndpointPollSeconds: 1 },
      }),
      silentLogger,
    );
    await a.createRegistry('penode1', 'Premium');
    await pushPlannedImage(planImage('penode1/app', 'v1', { layers: [1, 1] }), { bases: [a.url] });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    if (bDir) rmSync(bDir, { recursive: true, force: true });
  });

  test('enabling a data endpoint needs dataEndpoint.listen', gate, async () => {
    const r = await call(a.url, 'PATCH', '/api/registries/penode1', { body: { dataEndpointEnabled: true } });
    assert.equal(r.status, 400, r.text);
    assert.match(message(r), /no data endpoint: an operator sets dataEndpoint\.listen/);
  });

  test('node B reports the listener it cannot bind, and takes it over when node A stops', gate, async () => {
    const listen = `127.0.0.3:${await freePort('127.0.0.3')}`;
    const made = await call(a.url, 'POST', '/api/registries/penode1/private-endpoint-connections', { body: { name: 'pe-n', listen } });
    assert.equal(made.status, 201, made.text);
    assert.equal((await call(`http://${listen}`, 'GET', '/v2/penode1/app/tags/list')).status, 200);
    // B polls the table, tries to bind the same address (held by A on this one machine) and says so.
    // Either node shows both: A listening, B failed with the reason; the endpoint is Degraded.
    const nodeA = `${os.hostname()}:${new URL(a.url).port}`;
    const nodeB = `${os.hostname()}:${new URL(b!.url).port}`;
    for (const via of [a.url, b!.url])
      await eventually(`node B's failed bind is reported through ${via}`, async () => {
        const shown = await call(via, 'GET', '/api/registries/penode1/private-endpoint-connections/pe-n');
        const l = shown.body.listener as { state: string; nodes: { node: string; state: string; error?: string }[] };
        const byNode = new Map(l.nodes.map((n) => [n.node, n]));
        return (
          l.state === 'Degraded' &&
          byNode.get(nodeA)?.state === 'Listening' &&
          byNode.get(nodeB)?.state === 'Failed' &&
          /already in use/.test(byNode.get(nodeB)?.error ?? '')
        );
      });
    await stopA();
    await eventually('node B serves the private endpoint', async () => {
      const r = await call(`http://${listen}`, 'GET', '/v2/penode1/app/tags/list');
      return r.status === 200 && (r.body.tags as string[])[0] === 'v1';
    });
    // A node that stopped withdraws its report: B alone, listening.
    await eventually('only node B is reported, listening', async () => {
      const shown = await call(b!.url, 'GET', '/api/registries/penode1/private-endpoint-connections/pe-n');
      const l = shown.body.listener as { state: string; nodes: { node: string; state: string }[] };
      return l.state === 'Listening' && l.nodes.length === 1 && l.nodes[0]!.node === nodeB;
    });
    // And B drops it once the connection is deleted (through B).
    assert.equal((await call(b!.url, 'DELETE', '/api/registries/penode1/private-endpoint-connections/pe-n')).status, 204);
    await assert.rejects(call(`http://${listen}`, 'GET', '/v2/'), /ECONNREFUSED/);
  });
});

describe('private endpoints share the HTTPS certificate', requireTool('openssl'), () => {
  let t: TestApp;
  let dir: string;
  let ca: Buffer;

  /** An HTTPS request trusting only the test certificate. */
  const get = (url: string, o: { method?: string; body?: unknown } = {}) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
      const req = https.request(
        url,
        {
          method: o.method ?? 'GET',
          ca,
          agent: false,
          headers: { Authorization: adminAuthHeader(), ...(payload ? { 'Content-Type': 'application/json' } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-pe-tls-'));
    const { certFile: cert, keyFile: key } = selfSignedCert(dir, 'IP:127.0.0.1,IP:127.0.0.4');
    ca = readFileSync(cert);
    t = await startTestApp('sqlite', { tls: { cert, key } });
    await t.createRegistry('petls1', 'Premium');
  });
  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a private listener serves HTTPS with the login server certificate', async () => {
    assert.match(t.url, /^https:/);
    const listen = `127.0.0.4:${await freePort('127.0.0.4')}`;
    const made = await get(`${t.url}/api/registries/petls1/private-endpoint-connections`, {
      method: 'POST',
      body: { name: 'pe-tls', listen },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const catalog = await get(`https://${listen}/v2/_catalog`);
    assert.equal(catalog.status, 200);
    assert.deepEqual(catalog.body.repositories, []);
    const regs = await get(`https://${listen}/api/registries`);
    assert.deepEqual(
      (regs.body.value as { name: string }[]).map((r) => r.name),
      ['petls1'],
    );
  });
});
