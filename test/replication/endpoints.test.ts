import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/observability/logger.js';
import { testConfig } from '../helpers/app.js';
import { backendGate, freshMetadataUrl } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { call, eventually, freePort, type Answer } from '../helpers/endpoints.js';
import { planImage, pushPlannedImage, type ImagePlan } from '../helpers/image-push.js';

// Data endpoints and private endpoints in a deployment with two regions (westeurope, eastus), one
// node each in this process over one PostgreSQL schema, everything over real sockets: each
// region's data listener on its own port (regions[].dataEndpoint.url names it), private listeners
// on 127.0.0.5 and 127.0.0.6 (Linux routes all of 127/8 to lo). Single-region behaviour is in
// test/private-endpoints.test.ts.

const REGIONS = ['westeurope', 'eastus'] as const;
type Region = (typeof REGIONS)[number];

interface NodeListener {
  node: string;
  region: string;
  state: string;
  error?: string;
  lastSeen: string;
}
const listenerOf = (a: Answer) => a.body.listener as { state: string; nodes: NodeListener[] };

describe('data endpoints and private endpoints with two regions', await backendGate('postgres'), () => {
  const dirs: string[] = [];
  const apps: Partial<Record<Region, App>> = {};
  const dataHost: Partial<Record<Region, string>> = {};
  let drop: () => Promise<void> = async () => {};
  const reg = 'geoends1';
  const solo = 'geosolo1';
  let plan: ImagePlan;
  let soloPlan: ImagePlan;

  const url = (r: Region) => apps[r]!.url;
  /** The node's name in listener reports: host name and login server port. */
  const nodeName = (r: Region) => `${os.hostname()}:${new URL(url(r)).port}`;
  const pe = (registry: string, name = '') => `/api/registries/${registry}/private-endpoint-connections${name ? `/${name}` : ''}`;
  const cli = (r: Region, args: string[]) => runCli([...args, '--server', url(r), '-u', ADMIN_USER, '-p', ADMIN_PASSWORD]);

  before(async () => {
    const meta = await freshMetadataUrl('postgres');
    drop = meta.drop;
    const roots: Record<string, string> = {};
    for (const r of REGIONS) {
      roots[r] = mkdtempSync(path.join(os.tmpdir(), `berth-geo-ends-store-${r}-`));
      dirs.push(roots[r]);
      dataHost[r] = `127.0.0.1:${await freePort('127.0.0.1')}`;
    }
    const regions = REGIONS.map((name, i) => ({
      name,
      url: `http://127.0.0.1:${1 + i}`,
      storage: { driver: 'fs', path: roots[name] },
      dataEndpoint: { url: `http://${dataHost[name]}` },
    }));
    // One at a time: the first migrates the schema.
    for (const region of REGIONS) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), `berth-geo-ends-${region}-`));
      dirs.push(dataDir);
      const config = testConfig({
        dataDir,
        metadata: { url: meta.url },
        regions,
        region,
        dataEndpoint: { listen: dataHost[region] },
        network: { privateEndpointPollSeconds: 1 },
        jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
        gc: { enabled: false },
      });
      apps[region] = await startApp(config, silentLogger);
    }
    for (const [name, replicate] of [
      [reg, true],
      [solo, false],
    ] as const) {
      const made = await call(url('westeurope'), 'POST', '/api/registries', { body: { name, sku: 'Premium', location: 'westeurope' } });
      assert.equal(made.status, 201, made.text);
      if (replicate) {
        const rep = await call(url('westeurope'), 'POST', `/api/registries/${name}/replications`, { body: { location: 'eastus' } });
        assert.equal(rep.status, 201, rep.text);
      }
    }
    plan = planImage(`${reg}/app`, 'v1', { layers: [1, 1], minLayerBytes: 4096, maxLayerBytes: 32 * 1024 });
    await pushPlannedImage(plan, { bases: [url('westeurope')] });
    soloPlan = planImage(`${solo}/app`, 'v1', { layers: [1, 1], minLayerBytes: 4096, maxLayerBytes: 32 * 1024 });
    await pushPlannedImage(soloPlan, { bases: [url('westeurope')] });
  });

  after(async () => {
    for (const r of REGIONS) await apps[r]?.close();
    await drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("each region's node redirects blob downloads to its own region's data host, where they download", async () => {
    const on = await call(url('westeurope'), 'PATCH', `/api/registries/${reg}`, { body: { dataEndpointEnabled: true } });
    assert.equal(on.status, 200, on.text);
    assert.deepEqual(on.body.dataEndpointHostNames, [dataHost.westeurope, dataHost.eastus]);
    const blob = plan.layers[0]!;
    for (const region of REGIONS) {
      const first = await call(url(region), 'GET', `/v2/${reg}/app/blobs/${blob.digest}`);
      assert.equal(first.status, 307, `${region}: ${first.text}`);
      const location = new URL(first.headers.location!);
      assert.equal(location.host, dataHost[region], `${region} redirects to its own data host`);
      // Followed without credentials, as clients follow a redirect to another host.
      const got = await call(location.origin, 'GET', location.pathname + location.search, { auth: null });
      assert.equal(got.status, 200, `${region}: ${got.text}`);
      assert.ok(got.raw.equals(blob.data), `${region}: the bytes`);
    }
  });

  test('show-endpoints lists one data endpoint per region the registry is served from', async () => {
    for (const region of REGIONS) {
      const api = await call(url(region), 'GET', `/api/registries/${reg}/endpoints`);
      assert.equal(api.status, 200, api.text);
      assert.deepEqual(api.body.dataEndpoints, [
        { region: 'westeurope', endpoint: dataHost.westeurope },
        { region: 'eastus', endpoint: dataHost.eastus },
      ]);
      assert.equal(api.body.loginServer, `${new URL(url(region)).host}/${reg}`);
      const run = await cli(region, ['show-endpoints', '-n', reg]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), api.body);
    }
  });

  test('a registry not served in a region is redirected there to its home region’s data host', async () => {
    const on = await call(url('eastus'), 'PATCH', `/api/registries/${solo}`, { body: { dataEndpointEnabled: true } });
    assert.equal(on.status, 200, on.text);
    assert.deepEqual(on.body.dataEndpointHostNames, [dataHost.westeurope]);
    const ends = await call(url('eastus'), 'GET', `/api/registries/${solo}/endpoints`);
    assert.deepEqual(ends.body.dataEndpoints, [{ region: 'westeurope', endpoint: dataHost.westeurope }]);
    const blob = soloPlan.layers[0]!;
    const first = await call(url('eastus'), 'GET', `/v2/${solo}/app/blobs/${blob.digest}`);
    assert.equal(first.status, 307, first.text);
    const location = new URL(first.headers.location!);
    assert.equal(location.host, dataHost.westeurope);
    const got = await call(location.origin, 'GET', location.pathname + location.search, { auth: null });
    assert.equal(got.status, 200, got.text);
    assert.ok(got.raw.equals(blob.data));
  });

  test("a private endpoint scoped to one region is bound by that region's nodes only; show reports them", async () => {
    const bad = await call(url('westeurope'), 'POST', pe(reg), {
      body: { name: 'pe-mars', listen: `127.0.0.5:${await freePort('127.0.0.5')}`, location: 'mars' },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.errors?.[0]?.message ?? '', /not a region of this deployment; the regions are westeurope, eastus/);

    const listen = `127.0.0.5:${await freePort('127.0.0.5')}`;
    // Created through the other region's node, which does not bind it (its create syncs its own listeners).
    const made = await call(url('westeurope'), 'POST', pe(reg), { body: { name: 'pe-east', listen, location: 'eastus' } });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(made.body.privateEndpoint, { id: '/privateEndpoints/pe-east', listen, location: 'eastus' });
    const westMetrics = (await call(url('westeurope'), 'GET', '/metrics')).text;
    assert.match(westMetrics, /berth_private_endpoint_listeners\{state="Listening"\} 0/);
    assert.match(westMetrics, /berth_private_endpoint_listeners\{state="Failed"\} 0/);

    // A node that died without withdrawing its report (its last poll long ago) is not shown.
    const longAgo = new Date(Date.now() - 3600_000).toISOString();
    await apps
      .westeurope!.meta.db.insertInto('private_endpoint_listeners')
      .values({
        node: 'gone:5000',
        listen,
        region: 'eastus',
        state: 'Failed',
        error: 'x',
        since: longAgo,
        last_seen: longAgo,
        expires_at: longAgo,
      })
      .execute();
    await eventually("the eastus node's listener is reported", async () => {
      const shown = await call(url('westeurope'), 'GET', pe(reg, 'pe-east'));
      return listenerOf(shown).state === 'Listening';
    });
    for (const region of REGIONS) {
      const l = listenerOf(await call(url(region), 'GET', pe(reg, 'pe-east')));
      assert.deepEqual(
        l.nodes.map((n) => [n.node, n.region, n.state, n.error]),
        [[nodeName('eastus'), 'eastus', 'Listening', undefined]],
      );
      assert.ok(Date.parse(l.nodes[0]!.lastSeen) > 0);
    }
    const tags = await call(`http://${listen}`, 'GET', `/v2/${reg}/app/tags/list`);
    assert.equal(tags.status, 200, tags.text);
    assert.deepEqual(tags.body.tags, ['v1']);
    assert.equal((await call(url('eastus'), 'DELETE', pe(reg, 'pe-east'))).status, 204);
  });

  test('a node that cannot bind is reported with its reason while the other node serves', async () => {
    const listen = `127.0.0.6:${await freePort('127.0.0.6')}`;
    // Every region: the westeurope node binds it first; the eastus node, on this same machine, finds it taken.
    const made = await call(url('westeurope'), 'POST', pe(reg), { body: { name: 'pe-all', listen } });
    assert.equal(made.status, 201, made.text);
    await eventually("the eastus node's failure is reported", async () => {
      const l = listenerOf(await call(url('eastus'), 'GET', pe(reg, 'pe-all')));
      return l.state === 'Degraded';
    });
    const l = listenerOf(await call(url('eastus'), 'GET', pe(reg, 'pe-all')));
    assert.deepEqual(
      l.nodes.map((n) => [n.node, n.region, n.state, n.error]),
      [
        [nodeName('eastus'), 'eastus', 'Failed', 'the address is already in use'],
        [nodeName('westeurope'), 'westeurope', 'Listening', undefined],
      ],
    );
    // The table names the node that cannot bind, and why.
    const table = await cli('westeurope', ['private-endpoint', 'list', '-n', reg, '-o', 'table']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /pe-all .*Degraded/);
    assert.ok(table.stdout.includes(`${nodeName('eastus')}: the address is already in use`), table.stdout);
    assert.match((await call(url('eastus'), 'GET', '/metrics')).text, /berth_private_endpoint_listeners\{state="Failed"\} 1/);
    // The endpoint serves meanwhile, through the node that holds it.
    const tags = await call(`http://${listen}`, 'GET', `/v2/${reg}/app/tags/list`);
    assert.equal(tags.status, 200, tags.text);
    assert.equal((await call(url('westeurope'), 'DELETE', pe(reg, 'pe-all'))).status, 204);
  });
});
