import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { backendGate } from './helpers/backends.js';
import { uniqueRepo, type V2 } from './helpers/oci.js';

// GET /metrics: ACR's registry metrics move as pushes and pulls happen, per registry; HTTP
// histograms by route family; the optional bearer token.

/** The value of one sample, e.g. sample(text, 'TotalPullCount', { registry: 'r1' }); 0 when absent. */
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

describe('metrics', await backendGate('sqlite'), () => {
  let t: TestApp;
  let v2: V2;
  let r1: string;
  let r2: string;

  before(async () => {
    t = await startTestApp('sqlite');
    v2 = t.v2();
    r1 = await t.createRegistry();
    r2 = await t.createRegistry();
  });
  after(async () => {
    await t?.close();
  });

  const scrape = async (headers: Record<string, string> = {}) => {
    const res = await t.fetch(`${t.url}/metrics`, { headers });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };

  test('pull and push counts move per registry; failures count in the totals only', async () => {
    const before = await scrape();
    const name = `${r1}/${uniqueRepo('m')}`;
    const img = await v2.pushImage(name, 'v1', { layers: 1 });
    for (const ref of ['v1', img.digest]) {
      const res = await v2.fetch(`/v2/${name}/manifests/${ref}`, { headers: { Accept: img.mediaType } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const missing = await v2.fetch(`/v2/${name}/manifests/nope`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    // HEAD is not a pull.
    const head = await v2.fetch(`/v2/${name}/manifests/v1`, { method: 'HEAD' });
    await head.arrayBuffer();
    const bad = await v2.putManifest(
      name,
      'broken',
      { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
      'application/vnd.oci.image.manifest.v1+json',
    );
    assert.ok(bad.status >= 400);
    await bad.arrayBuffer();

    const after = await scrape();
    const d = (metric: string, reg: string) => sample(after, metric, { registry: reg }) - sample(before, metric, { registry: reg });
    assert.equal(d('TotalPullCount', r1), 3);
    assert.equal(d('SuccessfulPullCount', r1), 2);
    assert.equal(d('TotalPushCount', r1), 2);
    assert.equal(d('SuccessfulPushCount', r1), 1);
    for (const m of ['TotalPullCount', 'SuccessfulPullCount', 'TotalPushCount', 'SuccessfulPushCount'])
      assert.equal(d(m, r2), 0, `${m} for ${r2}`);

    // The other registry's counters are its own.
    await v2.pushImage(`${r2}/${uniqueRepo('m')}`, 'v1');
    const later = await scrape();
    assert.equal(sample(later, 'SuccessfulPushCount', { registry: r2 }), 1);
    assert.equal(sample(later, 'SuccessfulPushCount', { registry: r1 }), sample(after, 'SuccessfulPushCount', { registry: r1 }));
  });

  test('an unknown registry adds no label values', async () => {
    const res = await v2.fetch('/v2/nosuchregistry1/app/manifests/v1');
    await res.arrayBuffer();
    assert.doesNotMatch(await scrape(), /registry="nosuchregistry1"/);
  });

  test('HTTP histograms, request counts and process metrics', async () => {
    const text = await scrape();
    assert.match(text, /^# TYPE berth_http_request_duration_seconds histogram$/m);
    assert.ok(sample(text, 'berth_http_request_duration_seconds_count', { route: 'manifests', method: 'GET', status: '2xx' }) >= 2);
    assert.ok(
      sample(text, 'berth_http_request_duration_seconds_bucket', { route: 'manifests', method: 'PUT', status: '2xx', le: '+Inf' }) >= 1,
    );
    assert.ok(
      sample(text, 'berth_http_requests_total', { route: 'blobs', method: 'HEAD' }) +
        sample(text, 'berth_http_requests_total', { route: 'uploads', method: 'POST', status: '2xx' }) >=
        1,
    );
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });

  test('storage operations by driver: latency of the writes and reads a push and a pull made, and no errors for a miss', async () => {
    const name = `${r2}/${uniqueRepo('s')}`;
    const img = await v2.pushImage(name, 'v1', { layers: 1 });
    const layer = await v2.fetch(`/v2/${name}/blobs/${img.layers[0]!.digest}`);
    assert.equal(layer.status, 200);
    await layer.arrayBuffer();
    const missing = await v2.fetch(`/v2/${name}/blobs/sha256:${'0'.repeat(64)}`);
    await missing.arrayBuffer();
    const text = await scrape();
    assert.match(text, /^# TYPE berth_storage_operation_duration_seconds histogram$/m);
    for (const operation of ['write', 'commit', 'read'])
      assert.ok(sample(text, 'berth_storage_operation_duration_seconds_count', { driver: 'fs', operation }) >= 1, operation);
    assert.equal(sample(text, 'berth_storage_errors_total', { driver: 'fs' }), 0);
  });
});

describe('StorageUsed', await backendGate('sqlite'), () => {
  test('per registry: distinct blobs and manifests, counted once however often they are linked', async () => {
    const t = await startTestApp('sqlite');
    try {
      const v2 = t.v2();
      const [a, b] = [await t.createRegistry(), await t.createRegistry()];
      const img = await v2.pushImage(`${a}/${uniqueRepo('s')}`, 'v1', { layers: 2 });
      // The same blobs in a second repository of the same registry occupy no more space.
      const other = `${a}/${uniqueRepo('s')}`;
      for (const blob of [img.config, ...img.layers]) await v2.pushBlob(other, blob);
      const res = await t.fetch(`${t.url}/metrics`);
      const text = await res.text();
      const expected = img.size + img.config.data.length + img.layers.reduce((n, l) => n + l.data.length, 0);
      assert.equal(sample(text, 'StorageUsed', { registry: a }), expected);
      assert.equal(sample(text, 'StorageUsed', { registry: b }), 0);
      assert.match(text, new RegExp(`^StorageUsed\\{registry="${b}"\\} 0$`, 'm'));
      assert.match(text, /^# TYPE StorageUsed gauge$/m);
    } finally {
      await t.close();
    }
  });
});

describe('metrics configuration', await backendGate('sqlite'), () => {
  test('metrics.token: scrapes need the bearer token', async () => {
    const t = await startTestApp('sqlite', { metrics: { token: 'scrape-Secret-1' } });
    try {
      assert.equal((await t.fetch(`${t.url}/metrics`)).status, 401);
      assert.equal((await t.fetch(`${t.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
      const ok = await t.fetch(`${t.url}/metrics`, { headers: { Authorization: 'Bearer scrape-Secret-1' } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /TotalPullCount/);
    } finally {
      await t.close();
    }
  });

  test('metrics.enabled false: no /metrics', async () => {
    const t = await startTestApp('sqlite', { metrics: { enabled: false } });
    try {
      const res = await t.fetch(`${t.url}/metrics`);
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    } finally {
      await t.close();
    }
  });
});
