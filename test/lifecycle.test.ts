import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startApp, type App } from '../src/app.js';
import { silentLogger } from '../src/observability/logger.js';
import { adminAuthHeader, startTestApp, testConfig } from './helpers/app.js';
import { BACKENDS, backendGate, freshMetadataUrl } from './helpers/backends.js';
import { randomBlob, sha256, uniqueRepo, V2 } from './helpers/oci.js';

for (const backend of BACKENDS) {
  describe(`upload lifecycle on ${backend}`, await backendGate(backend), () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    test('an upload session survives a restart and completes afterwards', async () => {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-restart-'));
      const meta = await freshMetadataUrl(backend);
      cleanups.push(async () => {
        await meta.drop();
        rmSync(dataDir, { recursive: true, force: true });
      });
      const start = () => startApp(testConfig({ dataDir, metadata: { url: meta.url }, shutdownTimeoutSeconds: 1 }), silentLogger);
      let app: App = await start();
      await app.services.registries.create('restartreg', 'Basic');
      const blob = randomBlob(50_000);
      let v2 = new V2(app.url);
      const name = `restartreg/${uniqueRepo('resume')}`;
      const loc = await v2.startUpload(name);
      const first = await v2.fetch(loc, { method: 'PATCH', body: blob.data.subarray(0, 20_000), headers: { 'Content-Range': '0-19999' } });
      assert.equal(first.status, 202);
      const next = first.headers.get('location')!;
      await app.close();

      app = await start();
      cleanups.push(() => app.close());
      v2 = new V2(app.url);
      const status = await v2.fetch(next);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-19999');
      const done = await v2.fetch(`${next}?digest=${blob.digest}`, {
        method: 'PUT',
        body: blob.data.subarray(20_000),
        headers: { 'Content-Range': `20000-${blob.size - 1}` },
      });
      assert.equal(done.status, 201, await done.text());
      const got = await v2.fetch(`${name}/blobs/${blob.digest}`);
      assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.digest);
    });

    test('a retry supersedes a stalled chunk of the same upload instead of waiting for it', { timeout: 30_000 }, async () => {
      const t = await startTestApp(backend);
      cleanups.push(() => t.close());
      const reg = await t.createRegistry();
      const v2 = new V2(t.url);
      const name = `${reg}/${uniqueRepo('stall')}`;
      const blob = randomBlob(4000);
      const loc = await v2.startUpload(name);
      // A client sends half of a chunk and goes quiet, keeping its connection open.
      const u = new URL(t.url);
      const stalled = net.connect(Number(u.port), u.hostname);
      await new Promise((r) => stalled.once('connect', r));
      stalled.write(
        `PATCH ${loc} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${adminAuthHeader()}\r\nContent-Type: application/octet-stream\r\nContent-Range: 0-3999\r\nContent-Length: 4000\r\n\r\n`,
      );
      stalled.write(blob.data.subarray(0, 2000));
      const closed = new Promise((r) => stalled.once('close', r));
      stalled.on('error', () => {});
      await new Promise((r) => setTimeout(r, 200));
      // Its retry on a new connection goes through, and the stalled request is cut off unacknowledged.
      const retry = await v2.fetch(loc, { method: 'PATCH', body: blob.data, headers: { 'Content-Range': '0-3999' } });
      assert.equal(retry.status, 202, await retry.text());
      assert.equal(retry.headers.get('range'), '0-3999');
      await closed;
      const done = await v2.fetch(`${retry.headers.get('location')}?digest=${blob.digest}`, { method: 'PUT' });
      assert.equal(done.status, 201, await done.text());
    });

    test('abandoned uploads are removed after the configured age, active ones are kept', async () => {
      const t = await startTestApp(backend, { uploads: { maxAgeSeconds: 3600, purgeIntervalSeconds: 3600 } });
      cleanups.push(() => t.close());
      const reg = await t.createRegistry();
      const v2 = new V2(t.url);
      const name = `${reg}/${uniqueRepo('stale')}`;
      const loc = await v2.startUpload(name);
      const patched = await v2.fetch(loc, { method: 'PATCH', body: Buffer.alloc(1000, 1), headers: { 'Content-Range': '0-999' } });
      assert.equal(patched.status, 202);
      const id = loc.split('/').pop()!;
      const file = path.join(t.dataDir, 'storage', 'uploads', id);
      assert.ok(existsSync(file));

      assert.equal(await t.app.services.uploads.purgeStale(Date.now()), 0, 'a fresh session is kept');
      assert.equal(await t.app.services.uploads.purgeStale(Date.now() + 2 * 3600_000), 1);
      assert.equal(existsSync(file), false, 'its bytes are deleted');
      const status = await v2.fetch(loc);
      assert.equal(status.status, 404);
      assert.equal(((await status.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
    });
  });
}

describe('host-style addressing', () => {
  let t: Awaited<ReturnType<typeof startTestApp>>;
  after(async () => t?.close());

  function get(pathname: string, host: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(t.url);
      const req = http.request(
        { host: u.hostname, port: u.port, path: pathname, headers: { Host: host, Authorization: adminAuthHeader() } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  test('<registry>.<domain> serves that registry at /v2/<repository>, and nothing of another', async () => {
    t = await startTestApp('sqlite', { domain: 'registry.test' });
    await t.createRegistry('hoststyle');
    await t.createRegistry('otherhost');
    const img = await new V2(t.url).pushImage('hoststyle/team/app', 'v1');
    const hit = await get('/v2/team/app/manifests/v1', `hoststyle.registry.test:${new URL(t.url).port}`);
    assert.equal(hit.status, 200);
    assert.equal(sha256(hit.body), img.digest);
    const miss = await get('/v2/team/app/manifests/v1', 'otherhost.registry.test');
    assert.equal(miss.status, 404);
    const cat = await get('/v2/_catalog', 'hoststyle.registry.test');
    assert.deepEqual(JSON.parse(cat.body), { repositories: ['team/app'] });
  });

  test('an absolute-form request target (as proxies send) is routed like its path', async () => {
    const res = await get(`http://hoststyle.registry.test/v2/team/app/tags/list`, 'hoststyle.registry.test');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { name: 'team/app', tags: ['v1'] });
  });
});
