import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig, storageReads, validateConfigFile } from '../src/config/config.js';
import { AzureDriver } from '../src/storage/drivers/azure.js';
import { blobKey } from '../src/storage/paths.js';
import { parseDigest } from '../src/domain/digest.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { AZURITE_KEY } from './helpers/azurite.js';
import { cleanEnv, ensureBuilt, MAIN, removeDir, startBerth, tempDir, writeAuthFile, type BerthProcess } from './helpers/berth-process.js';
import { adminAuthHeader, basicAuthHeader } from './helpers/credentials.js';
import { MT, sha256, uniqueRepo, V2, type PushedImage } from './helpers/oci.js';
import { mustRun, requireTool } from './e2e/helpers.js';
import { fileAzurite, storageGate } from './helpers/storages.js';

// Blob reads served from storage (storage.reads: redirect): a blob GET answers 307 to a short-lived,
// read-only SAS URL of that one blob, after the same checks as a proxied read, and the storage
// (Azurite, started here) enforces the URL's scope and lifetime. Proxy mode and HEAD stay on Berth.

// This file's Azurite (shared helper): started by the first test that needs it, stopped at the end.
const skip = await storageGate('azure');
const emulator = fileAzurite;

const container = () => `r${randomBytes(6).toString('hex')}`;

/** An in-process deployment on SQLite whose blobs live in a fresh Azurite container. */
async function azureApp(storage: Record<string, unknown>): Promise<TestApp> {
  const a = await emulator();
  return startTestApp('sqlite', {
    storage: { driver: 'azure', azure: { connectionString: a.connectionString, container: container() }, ...storage },
  });
}

/** A GET that does not follow redirects. */
const getManual = (v2: V2, path: string, headers: Record<string, string> = {}) => v2.fetch(path, { redirect: 'manual', headers });

/** Follows a Location to storage as a client does: no Berth credentials, its Range kept. */
async function follow(location: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; res: Response }> {
  const res = await fetch(location, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), res };
}

async function pullCount(v2: V2, reg: string, repo: string, tag: string): Promise<number> {
  const r = await v2.fetch(`/acr/v1/${reg}/${repo}/_tags/${tag}`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { tag: { pullCount: number } }).tag.pullCount;
}

describe('storage.reads: redirect (Azurite)', skip, () => {
  let t: TestApp;
  let v2: V2;
  let reg: string;
  let name: string;
  let img: PushedImage;
  before(async () => {
    t = await azureApp({ reads: 'redirect', redirectTtlSeconds: 120 });
    v2 = new V2(t.url);
    reg = await t.createRegistry();
    name = `${reg}/${uniqueRepo('app')}`;
    img = await v2.pushImage(name, 'v1', { layers: 2 });
  });
  after(async () => t?.close());

  test('GET answers 307 to a read-only SAS URL of that blob; it carries a signature, never the account key', async () => {
    const layer = img.layers[0]!;
    const r = await getManual(v2, `${name}/blobs/${layer.digest}`);
    assert.equal(r.status, 307);
    assert.equal(r.headers.get('docker-content-digest'), layer.digest);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const location = r.headers.get('location')!;
    const url = new URL(location);
    assert.ok(url.pathname.endsWith(`/${blobKey(parseDigest(layer.digest))}`), url.pathname);
    assert.ok(url.searchParams.get('sig'), 'signed');
    assert.equal(url.searchParams.get('sp'), 'r', 'read permission only');
    assert.equal(url.searchParams.get('sr'), 'b', 'scoped to one blob');
    for (const secret of [AZURITE_KEY, encodeURIComponent(AZURITE_KEY), 'AccountKey'])
      assert.ok(!location.includes(secret), 'no account key in the URL');
    // storage.redirectTtlSeconds: 120
    const expires = Date.parse(url.searchParams.get('se')!);
    assert.ok(expires > Date.now() + 100_000 && expires <= Date.now() + 121_000, url.searchParams.get('se')!);

    const got = await follow(location);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), layer.digest);
    assert.equal(got.res.headers.get('content-type'), 'application/octet-stream');
    // what clients do by default (fetch follows the 307 and drops Berth's credentials on the way)
    const followed = await fetch(`${t.url}/v2/${name}/blobs/${img.config.digest}`, { headers: { Authorization: adminAuthHeader() } });
    assert.equal(followed.status, 200);
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), img.config.digest);
  });

  test('a Range request is re-sent to storage, which answers 206 with those bytes', async () => {
    const layer = img.layers[1]!;
    const r = await getManual(v2, `${name}/blobs/${layer.digest}`, { Range: 'bytes=100-199' });
    assert.equal(r.status, 307);
    const got = await follow(r.headers.get('location')!, { Range: 'bytes=100-199' });
    assert.equal(got.status, 206);
    assert.equal(got.res.headers.get('content-range'), `bytes 100-199/${layer.size}`);
    assert.deepEqual(got.body, layer.data.subarray(100, 200));
    // a range outside the blob is refused by Berth itself, before any redirect
    const bad = await getManual(v2, `${name}/blobs/${layer.digest}`, { Range: `bytes=${layer.size}-` });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('location'), null);
  });

  test('HEAD is answered by Berth: 200 with the digest and length, no Location', async () => {
    const layer = img.layers[0]!;
    const r = await v2.fetch(`${name}/blobs/${layer.digest}`, { method: 'HEAD', redirect: 'manual' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-content-digest'), layer.digest);
    assert.equal(r.headers.get('content-length'), String(layer.size));
    assert.equal(r.headers.get('location'), null);
  });

  test('a manifest fetched through the blob endpoint is served by Berth (its bytes are metadata)', async () => {
    const r = await getManual(v2, `${name}/blobs/${img.digest}`);
    assert.equal(r.status, 200);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), img.digest);
  });

  test("a tampered signature, another blob's path or a write gets the storage's 403, never bytes", async () => {
    const [a, b] = img.layers as [PushedImage['layers'][0], PushedImage['layers'][0]];
    const location = (await getManual(v2, `${name}/blobs/${a.digest}`)).headers.get('location')!;
    const tampered = new URL(location);
    const sig = tampered.searchParams.get('sig')!;
    tampered.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    const t1 = await follow(tampered.toString());
    assert.equal(t1.status, 403);
    assert.ok(!t1.body.includes(a.data.subarray(0, 64)));

    const other = location.replace(blobKey(parseDigest(a.digest)), blobKey(parseDigest(b.digest)));
    assert.notEqual(other, location);
    const t2 = await follow(other);
    assert.equal(t2.status, 403, "blob A's SAS on blob B's path");
    assert.ok(!t2.body.includes(b.data.subarray(0, 64)));

    const write = await fetch(location, { method: 'PUT', body: 'overwritten', headers: { 'x-ms-blob-type': 'BlockBlob' } });
    assert.equal(write.status, 403, 'read-only');
    const del = await fetch(location, { method: 'DELETE' });
    assert.equal(del.status, 403, 'read-only');
    assert.equal(sha256((await follow(location)).body), a.digest);
  });

  test('a driver given only a SAS cannot sign read URLs', async () => {
    const a = await emulator();
    const { AccountSASPermissions, BlobServiceClient } = await import('@azure/storage-blob');
    const sasUrl = BlobServiceClient.fromConnectionString(a.connectionString).generateAccountSasUrl(
      new Date(Date.now() + 3600_000),
      AccountSASPermissions.parse('rwdlac'),
      'sco',
    );
    const d = new AzureDriver({ sasToken: sasUrl, container: t.app.config.storage.azure.container });
    assert.equal(d.canSignReads, false);
    assert.equal(await d.signedReadUrl(blobKey(parseDigest(img.layers[0]!.digest)), { expiresInSeconds: 60 }), null);
  });

  test('an expired URL gets 403 from storage', async () => {
    const a = await emulator();
    const d = new AzureDriver({ connectionString: a.connectionString, container: t.app.config.storage.azure.container });
    const url = await d.signedReadUrl(blobKey(parseDigest(img.layers[0]!.digest)), { expiresInSeconds: 1 });
    assert.ok(url);
    // The expiry has whole-second precision; wait past it, then use the URL.
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await follow(url)).status, 403);
  });

  test('no credentials: 401 with a challenge and no Location; a token scoped to another repository: 403, no Location', async () => {
    const anon = await fetch(`${t.url}/v2/${name}/blobs/${img.layers[0]!.digest}`, { redirect: 'manual' });
    assert.equal(anon.status, 401);
    assert.ok(anon.headers.get('www-authenticate'));
    assert.equal(anon.headers.get('location'), null);

    const otherRepo = uniqueRepo('other');
    await v2.pushImage(`${reg}/${otherRepo}`, 'v1');
    const created = await fetch(`${t.url}/api/registries/${reg}/tokens`, {
      method: 'POST',
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'scoped', actions: [`repositories/${otherRepo}/content/read`] }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const pw = ((await created.json()) as { credentials: { passwords: { value: string }[] } }).credentials.passwords[0]!.value;
    const scoped = new V2(t.url, { authorization: basicAuthHeader('scoped', pw) });
    const denied = await getManual(scoped, `${name}/blobs/${img.layers[0]!.digest}`);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('location'), null);
    // the same token is redirected for a blob of its own repository
    const own = await fetch(`${t.url}/v2/${reg}/${otherRepo}/manifests/v1`, {
      headers: { Authorization: basicAuthHeader('scoped', pw), Accept: MT.ociManifest },
    });
    const layer = ((await own.json()) as { layers: { digest: string }[] }).layers[0]!.digest;
    assert.equal((await getManual(scoped, `${reg}/${otherRepo}/blobs/${layer}`)).status, 307);
    // a blob that exists, but not in this repository, is unknown here: no URL to it
    const notHere = await getManual(scoped, `${reg}/${otherRepo}/blobs/${img.layers[0]!.digest}`);
    assert.equal(notHere.status, 404);
    assert.equal(notHere.headers.get('location'), null);
  });

  test('pull counts and pull audit are kept; a redirected read keeps the blob from garbage collection as a proxied one does', async () => {
    const repo = name.slice(reg.length + 1);
    const before = await pullCount(v2, reg, repo, 'v1');
    const m = await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: img.mediaType } });
    assert.equal(m.status, 200);
    await m.arrayBuffer();
    for (const b of [img.config, ...img.layers]) assert.equal((await getManual(v2, `${name}/blobs/${b.digest}`)).status, 307);
    assert.equal(await pullCount(v2, reg, repo, 'v1'), before + 1);
    const audit = await v2.fetch(`/api/audit/repository?registry=${reg}&operation=pull`);
    const events = ((await audit.json()) as { value: { repository: string; digest: string }[] }).value;
    assert.ok(events.some((e) => e.repository === repo && e.digest === img.digest));

    // GC marks an unreferenced link; reading the blob clears the mark in both modes.
    const digest = img.layers[0]!.digest;
    await t.app.meta.db
      .updateTable('repository_blobs')
      .set({ unreferenced_since: new Date().toISOString() })
      .where('digest', '=', digest)
      .execute();
    assert.equal((await getManual(v2, `${name}/blobs/${digest}`)).status, 307);
    const row = await t.app.meta.db
      .selectFrom('repository_blobs')
      .select('unreferenced_since')
      .where('digest', '=', digest)
      .executeTakeFirst();
    assert.equal(row?.unreferenced_since, null);
  });
});

describe('storage.reads: proxy (Azurite)', skip, () => {
  let t: TestApp;
  after(async () => t?.close());

  test('Berth streams the bytes itself: 200 and 206, no Location', async () => {
    t = await azureApp({ reads: 'proxy' });
    const v2 = new V2(t.url);
    const reg = await t.createRegistry();
    const name = `${reg}/${uniqueRepo('proxied')}`;
    const img = await v2.pushImage(name, 'v1');
    const layer = img.layers[0]!;
    const r = await getManual(v2, `${name}/blobs/${layer.digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('location'), null);
    assert.equal(r.headers.get('docker-content-digest'), layer.digest);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), layer.digest);
    const ranged = await getManual(v2, `${name}/blobs/${layer.digest}`, { Range: 'bytes=10-19' });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.data.subarray(10, 20));
    const repo = name.slice(reg.length + 1);
    const before = await pullCount(v2, reg, repo, 'v1');
    await (await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: img.mediaType } })).arrayBuffer();
    assert.equal(await pullCount(v2, reg, repo, 'v1'), before + 1);
  });
});

describe('storage.reads settings', () => {
  const key = 'AccountKey=' + Buffer.alloc(64).toString('base64');
  const cs = `DefaultEndpointsProtocol=https;AccountName=acct;${key};EndpointSuffix=core.windows.net`;
  const load = (storage: Record<string, unknown>) => loadConfig({ env: {}, overrides: { storage } });

  test('auto: proxy while encryption at rest is on (the default); with it off, redirect on azure with an account key, proxy with a SAS only and on fs', () => {
    assert.equal(storageReads(load({})), 'proxy');
    assert.equal(
      storageReads(load({ driver: 'azure', azure: { connectionString: cs } })),
      'proxy',
      'encrypted blobs are decrypted by Berth',
    );
    const off = { enabled: false };
    assert.equal(storageReads(load({ driver: 'azure', encryption: off, azure: { connectionString: cs } })), 'redirect');
    assert.equal(storageReads(load({ driver: 'azure', encryption: off, azure: { accountName: 'acct', accountKey: 'a2V5' } })), 'redirect');
    assert.equal(storageReads(load({ driver: 'azure', azure: { sasToken: 'https://acct.blob.core.windows.net/?sv=x&sig=y' } })), 'proxy');
    assert.equal(
      storageReads(
        load({
          driver: 'azure',
          azure: { connectionString: 'BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=x&sig=y' },
        }),
      ),
      'proxy',
    );
    assert.equal(storageReads(load({ driver: 'azure', reads: 'proxy', azure: { connectionString: cs } })), 'proxy');
  });

  test('redirect where URLs cannot be signed fails, naming storage.reads', () => {
    assert.throws(
      () => load({ reads: 'redirect' }),
      (e: unknown) => e instanceof ConfigError && /storage\.reads is redirect.*fs driver/.test(e.message),
    );
    assert.throws(
      () => load({ driver: 'azure', reads: 'redirect', azure: { sasToken: 'sv=x&sig=y', accountName: 'acct' } }),
      (e: unknown) => e instanceof ConfigError && /storage\.reads is redirect.*account key.*storage\.reads: proxy/.test(e.message),
    );
    assert.throws(() => load({ reads: 'sideways' }), /storage\.reads/);
    assert.throws(() => load({ redirectTtlSeconds: 0 }), /storage\.redirectTtlSeconds/);
    assert.throws(
      () => load({ driver: 'azure', azure: { connectionString: cs, publicEndpoint: 'ftp://x' } }),
      /storage\.azure\.publicEndpoint/,
    );
  });

  test('berth config validate and berth serve check it, with BERTH_* variables completing the file', () => {
    ensureBuilt();
    const dir = tempDir('reads-config');
    try {
      const file = path.join(dir, 'berth.yaml');
      writeFileSync(file, 'storage:\n  driver: azure\n  reads: redirect\n');
      assert.throws(
        () => validateConfigFile(file, { BERTH_STORAGE_AZURE_SAS_TOKEN: 'https://acct.blob.core.windows.net/?sig=y' }),
        /storage\.reads is redirect/,
      );
      validateConfigFile(file, { BERTH_STORAGE_AZURE_CONNECTION_STRING: cs });
      writeFileSync(file, 'storage:\n  reads: redirect\n');
      assert.throws(() => validateConfigFile(file, {}), /storage\.reads is redirect/);
      // as at startup, a variable overrides the file
      validateConfigFile(file, { BERTH_STORAGE_READS: 'proxy' });
      // the command, and serve: exit 2 with the message, before anything is created
      const validate = spawnSync(process.execPath, [MAIN, 'config', 'validate', file], { env: cleanEnv(), encoding: 'utf8' });
      assert.equal(validate.status, 2, validate.stderr);
      assert.match(validate.stderr, /storage\.reads is redirect, but the fs driver/);
      const data = path.join(dir, 'data');
      const serve = spawnSync(process.execPath, [MAIN, 'serve', '--listen', '127.0.0.1:0', '--data', data, '--storage-reads', 'redirect'], {
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(serve.status, 2, serve.stderr);
      assert.match(serve.stderr, /storage\.reads is redirect/);
      assert.ok(!existsSync(data), 'nothing created');
    } finally {
      removeDir(dir);
    }
  });
});

describe('a real client pulls through redirects from berth serve --storage azure', { ...skip, ...requireTool('skopeo') }, () => {
  let server: BerthProcess | undefined;
  const dataDir = tempDir('redirect');
  const work = tempDir('redirect-out');
  after(async () => {
    await server?.stop();
    removeDir(dataDir);
    removeDir(work);
  });

  test('skopeo copy docker://… dir:… follows the 307s to storage and every blob verifies', async () => {
    const a = await emulator();
    // Clients reach storage by another name than Berth uses (localhost rather than 127.0.0.1):
    // storage.azure.publicEndpoint; the client then also drops Berth's credentials on the way.
    const publicEndpoint = a.endpoint.replace('127.0.0.1', 'localhost');
    server = await startBerth({
      dataDir,
      args: ['--storage', 'azure', '--storage-reads', 'redirect'],
      env: {
        BERTH_STORAGE_AZURE_CONNECTION_STRING: a.connectionString,
        BERTH_STORAGE_AZURE_CONTAINER: container(),
        BERTH_STORAGE_AZURE_PUBLIC_ENDPOINT: publicEndpoint,
      },
    });
    const reg = `rd${randomBytes(3).toString('hex')}`;
    const created = await fetch(`${server.url}/api/registries`, {
      method: 'POST',
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: reg }),
    });
    assert.equal(created.status, 201, await created.text());
    const v2 = new V2(server.url);
    const name = `${reg}/${uniqueRepo('skopeo')}`;
    const img = await v2.pushImage(name, 'v1', { layers: 3 });
    const r = await getManual(v2, `${name}/blobs/${img.layers[0]!.digest}`);
    assert.equal(r.status, 307);
    assert.ok(r.headers.get('location')!.startsWith(`${publicEndpoint}/`), r.headers.get('location')!);

    const authFile = path.join(work, 'auth.json');
    writeAuthFile(authFile, server.host);
    const out = path.join(work, 'image');
    await mustRun(
      'skopeo',
      ['copy', '--authfile', authFile, '--src-tls-verify=false', `docker://${server.host}/${name}:v1`, `dir:${out}`],
      {
        timeoutMs: 60_000,
      },
    );
    assert.equal(sha256(readFileSync(path.join(out, 'manifest.json'))), img.digest);
    for (const b of [img.config, ...img.layers]) {
      const file = readFileSync(path.join(out, b.digest.slice('sha256:'.length)));
      assert.equal(sha256(file), b.digest, `${b.digest} pulled intact`);
    }
    // the bytes came from storage: Berth answered the blob GETs with redirects
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const redirected = [...metrics.matchAll(/^berth_http_requests_total\{([^}]*)\} (\d+)/gm)]
      .filter((m) => m[1]!.includes('route="blobs"') && m[1]!.includes('method="GET"') && m[1]!.includes('status="3xx"'))
      .reduce((n, m) => n + Number(m[2]), 0);
    assert.ok(redirected >= 1 + 1 + img.layers.length, `307s answered: ${redirected}`);
  });
});
