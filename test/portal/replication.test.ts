import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ADMIN_PASSWORD, ADMIN_USER, startTestApp, testConfig, type TestApp } from '../helpers/app.js';
import { inProcessFetch, type FetchLike } from '../helpers/inject.js';
import { V2 } from '../helpers/oci.js';
import { ownerApi, PortalClient, unescapeHtml } from '../helpers/portal.js';

// The Replication tab of the portal, in process on SQLite. A deployment that declares two regions
// (westeurope, eastus) with only its westeurope node running: a replica in eastus is added through
// the form, and what is pushed then stays Syncing there (no eastus node copies it), which the tab
// shows live and the manifest page shows per region. Routing on/off, deletion with the region
// typed, the API's refusals shown as its messages (escaped), and a one-region deployment, whose tab
// explains that there is nowhere to replicate to.

const REGIONS = ['westeurope', 'eastus'] as const;

/** The text of each cell of the replicas table's row whose first cell names `location` (`from`: the Manage replicas table's). */
function row(page: string, location: string, from = '<h2 id="replicas-h">'): string[] {
  const tr = page
    .slice(page.indexOf(from))
    .split('<tr>')
    .find((r) => new RegExp(`<th scope="row">\\s*${location}\\b`).test(r));
  assert.ok(tr, `a row for ${location}`);
  const text = (s: string) =>
    unescapeHtml(s.replace(/<[^>]*>/g, ' '))
      .replace(/\s+/g, ' ')
      .trim();
  return [...tr.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => text(m[1]!));
}

describe('portal replication tab', () => {
  let app: App;
  let fetch: FetchLike;
  let single: TestApp;
  const dirs: string[] = [];
  let owner: PortalClient;
  const reg = 'geoportal1';
  const basic = 'geoportalbasic';
  const page = (r = reg) => `/portal/registries/${r}/replication`;
  const api = (method: string, p: string, body?: unknown) => ownerApi({ fetch })(method, p, body);

  /** A refused POST: its status and the message page's text. */
  async function refused(p: string, form: Record<string, string>, status: number): Promise<string> {
    const res = await owner.post(p, form);
    const body = await res.text();
    assert.equal(res.status, status, `POST ${p}: ${res.status} ${body.slice(0, 300)}`);
    assert.match(body, /role="alert"/);
    return body;
  }

  before(async () => {
    const roots = Object.fromEntries(REGIONS.map((r) => [r, mkdtempSync(path.join(os.tmpdir(), `berth-geoportal-${r}-`))]));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-geoportal-'));
    dirs.push(dataDir, ...Object.values(roots));
    app = await startApp(
      testConfig({
        dataDir,
        metadata: { url: '' },
        regions: REGIONS.map((name, i) => ({ name, url: `http://127.0.0.1:${1 + i}`, storage: { driver: 'fs', path: roots[name] } })),
        region: 'westeurope',
        jobs: { pollIntervalMs: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
        gc: { enabled: false },
      }),
      silentLogger,
    );
    fetch = inProcessFetch(app.http.server, app.url);
    assert.equal((await api('POST', '/api/registries', { name: reg, sku: 'Premium', location: 'westeurope' })).status, 201);
    assert.equal((await api('POST', '/api/registries', { name: basic, sku: 'Basic' })).status, 201);
    owner = await PortalClient.signedIn({ fetch }, ADMIN_USER, ADMIN_PASSWORD);
    single = await startTestApp('sqlite');
  });
  after(async () => {
    await app?.close();
    await single?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('the tab lists the home region and offers the regions not yet used', async () => {
    const html = await owner.page(page());
    assert.match(html, /<a href="\/portal\/registries\/geoportal1\/replication" aria-current="page">Replication<\/a>/);
    const home = row(html, 'westeurope');
    assert.match(home[0]!, /^westeurope home$/);
    assert.equal(home[1], 'Ready');
    assert.equal(home[2], '0 s');
    assert.deepEqual(home.slice(3, 6), ['0', '0', '0 B']);
    assert.equal(home[6], 'http://127.0.0.1:1');
    assert.equal(home[7], 'on');
    // The form offers eastus only: westeurope is the home region.
    assert.match(html, /<option value="eastus"/);
    assert.doesNotMatch(html, /<option value="westeurope"/);
    assert.doesNotMatch(html, /data-live=/, 'nothing is syncing: not live');
    assert.match(html, /No replicas yet: the registry is kept in its home region only/);
  });

  test('add a replica: it is listed and the API has it; a push stays Syncing there, shown live and on the manifest page', async () => {
    const res = await owner.post(page(), { location: 'eastus', regionEndpointEnabled: 'on' });
    assert.equal(res.status, 303, await res.text());
    assert.equal(res.headers.get('location'), `${page()}?done=added`);
    const made = await api('GET', `/api/registries/${reg}/replications/eastus`);
    assert.equal(made.status, 200);
    assert.equal(made.body.regionEndpointEnabled, true);
    // A new replica is Syncing until its backfill (run by any node) has queued what the registry holds: here, nothing.
    const deadline = Date.now() + 10_000;
    while ((await api('GET', `/api/registries/${reg}/replications/eastus`)).body.status.displayStatus !== 'Ready') {
      assert.ok(Date.now() < deadline, 'the backfill of an empty registry ends');
      await new Promise((r) => setTimeout(r, 50));
    }
    let html = await owner.page(`${page()}?done=added`);
    assert.match(html, /role="status">The replica was added/);
    assert.equal(row(html, 'eastus')[1], 'Ready', 'an empty registry is complete everywhere');
    assert.match(html, /has a replica in every region/);
    assert.doesNotMatch(html, /<select/, 'no region is left to add');

    const img = await new V2(app.url, { fetch }).pushImage(`${reg}/app`, 'v1', { layers: 2 });
    const replica = (await api('GET', `/api/registries/${reg}/replications/eastus`)).body;
    assert.equal(replica.status.displayStatus, 'Syncing', 'no eastus node runs to copy it');
    assert.equal(replica.pendingManifests, 1);
    html = await owner.page(page());
    const east = row(html, 'eastus');
    assert.equal(east[1], 'Syncing');
    assert.match(east[2]!, /^\d+ s$/);
    assert.equal(east[3], '1');
    assert.equal(east[4], String(replica.pendingBlobs));
    assert.ok(replica.pendingBlobs >= 1);
    assert.match(east[5]!, /^\d+(\.\d)? (B|KiB)$/, 'bytes in words');
    assert.equal(east[6], 'http://127.0.0.1:2');
    assert.match(east[8]!, /still being copied here/);
    assert.equal(row(html, 'westeurope')[1], 'Ready');
    // The table refreshes live while a replica is Syncing; the fragment is the table alone, not done.
    assert.match(html, /data-live="\/portal\/registries\/geoportal1\/replication"/);
    const frag = await owner.get(page(), { 'X-Berth-Fragment': '1' });
    const fragText = await frag.text();
    assert.equal(frag.status, 200);
    assert.equal(frag.headers.get('x-berth-live'), null, 'still syncing: not done');
    assert.ok(!fragText.includes('<html') && fragText.includes('Syncing'), 'the table, as a fragment');
    assert.ok(!fragText.includes('<form'), 'no buttons in what refreshes (the focus stays put)');

    // The manifest page says where the image is complete.
    const manifest = await owner.page(`/portal/registries/${reg}/repositories/app/_manifests/${img.digest}`);
    assert.match(manifest, /<dt>Replication<\/dt>/);
    assert.match(manifest, /<li>westeurope: <span class="badge ok">Ready<\/span><\/li>/);
    assert.match(manifest, /<li>eastus: <span class="badge">Syncing<\/span><\/li>/);
  });

  test('routing off and on: PATCH regionEndpointEnabled, shown as Disabled and off', async () => {
    let res = await owner.post(`${page()}/eastus/routing`, {});
    assert.equal(res.status, 303);
    assert.equal((await api('GET', `/api/registries/${reg}/replications/eastus`)).body.regionEndpointEnabled, false);
    let html = await owner.page(`${page()}?done=routing`);
    assert.match(html, /routing was changed/);
    let east = row(html, 'eastus');
    assert.equal(east[1], 'Disabled');
    assert.equal(east[7], 'off');
    assert.match(row(html, 'eastus', '<h2 id="manage-h">')[1]!, /^off Turn routing on$/);
    // Nothing Syncing: the fragment says done.
    assert.equal((await owner.get(page(), { 'X-Berth-Fragment': '1' })).headers.get('x-berth-live'), 'done');

    res = await owner.post(`${page()}/eastus/routing`, { enabled: 'on' });
    assert.equal(res.status, 303);
    assert.equal((await api('GET', `/api/registries/${reg}/replications/eastus`)).body.regionEndpointEnabled, true);
    html = await owner.page(page());
    east = row(html, 'eastus');
    assert.equal(east[7], 'on');
    assert.match(row(html, 'eastus', '<h2 id="manage-h">')[1]!, /^on Turn routing off$/);
  });

  test("the API's refusals are shown as its messages, escaped, and change nothing", async () => {
    // Not Premium: 400, and the page says why.
    let body = unescapeHtml(await refused(page(basic), { location: 'eastus' }, 400));
    assert.match(body, /geo-replication needs the Premium tier; registry geoportalbasic is Basic/);
    assert.deepEqual(
      (await api('GET', `/api/registries/${basic}/replications`)).body.value.map((v: { location: string }) => v.location),
      ['westeurope'],
    );
    // The home region and an existing replica: 409.
    body = unescapeHtml(await refused(page(), { location: 'westeurope' }, 409));
    assert.match(body, /westeurope is the home region of registry geoportal1/);
    body = unescapeHtml(await refused(page(), { location: 'eastus' }, 409));
    assert.match(body, /already has a replica in eastus/);
    // A region the deployment does not declare, named with markup: shown as text.
    const raw = await refused(page(), { location: '<script>alert(1)</script>' }, 400);
    assert.ok(!raw.includes('<script>alert(1)'), 'the posted name is escaped');
    assert.match(
      unescapeHtml(raw),
      /region "<script>alert\(1\)<\/script>" is not declared in this deployment; its regions are westeurope, eastus/,
    );
    // Routing of the home region is not a replica's to change.
    body = unescapeHtml(await refused(`${page()}/westeurope/routing`, {}, 400));
    assert.match(body, /home region/);
  });

  test('delete: a confirmation with the region typed, refused when it does not match, then the replica is gone', async () => {
    const html = await owner.page(page());
    assert.match(html, /href="\/portal\/registries\/geoportal1\/replication\/eastus\/delete"/);
    assert.doesNotMatch(html, /replication\/westeurope\/delete/, 'the home region has no delete');
    const confirm = await owner.page(`${page()}/eastus/delete`);
    assert.match(confirm, /data-confirm="eastus"/);
    assert.match(confirm, /<button type="submit" class="danger">Delete replica<\/button>/);

    await refused(`${page()}/eastus/delete`, { confirm: 'westeurope' }, 400);
    assert.equal((await api('GET', `/api/registries/${reg}/replications/eastus`)).status, 200, 'still there');

    const res = await owner.post(`${page()}/eastus/delete`, { confirm: 'eastus' });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `${page()}?done=deleted`);
    assert.equal((await api('GET', `/api/registries/${reg}/replications/eastus`)).status, 404);
    const after = await owner.page(`${page()}?done=deleted`);
    assert.match(after, /The replica was deleted/);
    assert.doesNotMatch(after, /<th scope="row">\s*eastus/);
    assert.match(after, /<option value="eastus"/, 'eastus can be added again');
    // A replica that does not exist: the API's 404.
    assert.equal((await owner.get(`${page()}/eastus/delete`)).status, 404);
  });

  test('a deployment with one region: the home region only, and why there is no form', async () => {
    const name = await single.createRegistry(undefined, 'Premium');
    const c = await PortalClient.signedIn(single, ADMIN_USER, ADMIN_PASSWORD);
    const html = await c.page(`/portal/registries/${name}/replication`);
    assert.equal(row(html, 'default')[1], 'Ready');
    assert.match(
      html.replace(/<[^>]*>/g, '').replace(/\s+/g, ' '),
      /This deployment declares one region \(default\), so there is nowhere to replicate to/,
    );
    assert.doesNotMatch(html, /<select/);
    // Posting anyway gets the API's explanation.
    const res = await c.post(`/portal/registries/${name}/replication`, { location: 'eastus' });
    assert.equal(res.status, 400);
    assert.match(unescapeHtml(await res.text()), /this deployment has one region \(default\)/);
  });
});
