import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { backendGate, freshMetadataUrl, PG_URL } from './helpers/backends.js';
import { randomBlob } from './helpers/oci.js';

// The PostgreSQL primary goes away (a restart, a failover, a network cut): requests that need it
// get 503 UNAVAILABLE with Retry-After, which clients retry, never a 500; once it is back, the
// same nodes serve again without a restart. The cut is a TCP proxy between Berth and PostgreSQL
// that this test closes and reopens.

class Proxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(
    private readonly target: { host: string; port: number },
    private readonly proxyPort = 0,
  ) {}

  async open(): Promise<void> {
    if (this.server?.listening) return;
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port || this.proxyPort, '127.0.0.1', resolve);
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Refuses new connections and cuts the open ones. */
  async cut(): Promise<void> {
    await new Promise<void>((r) => {
      this.server?.close(() => r());
      for (const s of this.sockets) s.destroy();
    });
  }
}

describe('the metadata database goes away and comes back', await backendGate('postgres'), () => {
  let t: TestApp;
  let proxy: Proxy;
  let dropSchema = async () => {};

  before(async () => {
    const pg = new URL(PG_URL);
    proxy = new Proxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    await proxy.open();
    // A schema of its own, reached through the proxy.
    const meta = await freshMetadataUrl('postgres');
    dropSchema = meta.drop;
    const url = new URL(meta.url);
    url.host = `127.0.0.1:${proxy.port}`;
    t = await startTestApp('postgres', { metadata: { url: url.toString() } });
  });
  after(async () => {
    await proxy?.open();
    await t?.close();
    await dropSchema();
    await proxy?.cut();
  });

  test('pushes and pulls answer 503 UNAVAILABLE with Retry-After while it is gone, and work again after', async () => {
    const reg = await t.createRegistry(undefined, 'Basic');
    const v2 = t.v2();
    await v2.pushImage(`${reg}/app`, 'v1');
    await proxy.cut();
    const blob = randomBlob(32);
    const push = await v2.fetch(`${reg}/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data });
    assert.equal(push.status, 503, await push.clone().text());
    assert.equal(push.headers.get('retry-after'), '2');
    const body = (await push.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
    assert.match(body.errors[0]!.message, /metadata database is temporarily unavailable; retry/);
    const pull = await v2.fetch(`${reg}/app/manifests/v1`);
    assert.equal(pull.status, 503);
    await proxy.open();
    const again = await v2.fetch(`${reg}/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data });
    assert.equal(again.status, 201, await again.text());
    assert.equal((await v2.fetch(`${reg}/app/manifests/v1`)).status, 200);
  });
});
