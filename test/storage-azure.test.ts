import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { StorageError, StorageUnavailableError } from '../src/storage/driver.js';
import { AzureDriver, type AzureOptions } from '../src/storage/drivers/azure.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, azuriteMissing } from './helpers/azurite.js';
import { freshMetadataUrl, IN_CI, postgresUnavailable } from './helpers/backends.js';
import { freePort, removeDir, startBerth, tempDir, type BerthProcess } from './helpers/berth-process.js';
import { adminAuthHeader } from './helpers/credentials.js';
import { randomBlob, sha256, uniqueRepo, V2 } from './helpers/oci.js';
import { fileAzurite } from './helpers/storages.js';
import { get, put, storageDriverSuite } from './suites/storage-driver.js';

// The Azure Blob driver against Azurite, which this file starts on a free port and stops. Without
// Azurite installed the file skips, except under CI, where a missing devDependency is a failure.

const missing = IN_CI ? undefined : azuriteMissing();
const skip = missing ? { skip: missing } : {};

/** One Azurite for the whole file, started by whichever part needs it first. */
const emulator = fileAzurite;

/** A driver on its own fresh container; small blocks so block boundaries are exercised by small tests. */
async function driver(extra: Partial<AzureOptions> = {}): Promise<AzureDriver> {
  const a = await emulator();
  const d = new AzureDriver({
    connectionString: a.connectionString,
    container: `c${randomBytes(6).toString('hex')}`,
    createContainer: true,
    retry: { maxTries: 2, delayMs: 50, maxDelayMs: 200, operationTimeoutMs: 10_000 },
    ...extra,
  });
  await d.init();
  return d;
}

storageDriverSuite(
  'azure (Azurite)',
  async () => {
    // small blocks and list pages: block boundaries and multi-page listings occur in small tests
    const d = await driver({ blockSize: 256 * 1024, listPageSize: 3 });
    return { driver: d, cleanup: async () => void (await d.container.deleteIfExists()) };
  },
  missing ? { skip: missing } : {},
);

describe('azure driver specifics', skip, () => {
  let d: AzureDriver;
  const BLOCK = 64 * 1024;
  before(async () => {
    d = await driver({ blockSize: BLOCK });
  });

  test('resuming at an offset inside a staged block keeps exactly the bytes before it', async () => {
    const data = randomBytes(BLOCK * 3 + 100);
    await put(d, 'uploads/u1', data);
    const blocks = (await d.container.getBlockBlobClient('uploads/u1').getBlockList('committed')).committedBlocks ?? [];
    assert.ok(blocks.length >= 3, `staged in blocks, got ${blocks.length}`);
    const cut = BLOCK + 1234; // inside the second block
    const tail = randomBytes(BLOCK + 7);
    assert.equal(await put(d, 'uploads/u1', tail, cut), cut + tail.length);
    assert.deepEqual(await get(d, 'uploads/u1'), Buffer.concat([data.subarray(0, cut), tail]));
    // at a block boundary nothing is read back, and the earlier blocks are kept as they were
    const before = (await d.container.getBlockBlobClient('uploads/u1').getBlockList('committed')).committedBlocks ?? [];
    assert.equal(await put(d, 'uploads/u1', 'end', before[0]!.size), before[0]!.size + 3);
    const afterList = (await d.container.getBlockBlobClient('uploads/u1').getBlockList('committed')).committedBlocks ?? [];
    assert.equal(afterList[0]!.name, before[0]!.name);
    assert.deepEqual(await get(d, 'uploads/u1'), Buffer.concat([data.subarray(0, before[0]!.size), Buffer.from('end')]));
  });

  test('resuming a small object written in one request (no block list) at an offset', async () => {
    await put(d, 'uploads/small', 'hello world');
    assert.equal(await put(d, 'uploads/small', '!!', 5), 7);
    assert.equal((await get(d, 'uploads/small')).toString(), 'hello!!');
  });

  test('an offset past the end or on a missing object is refused', async () => {
    await put(d, 'uploads/short', 'abc');
    await assert.rejects(() => d.writer('uploads/short', { offset: 4 }), /only 3 bytes/);
    await assert.rejects(() => d.writer('uploads/none', { offset: 1 }), /does not exist/);
  });

  test('a second driver instance (another node) continues an upload the first one started', async () => {
    const a = await emulator();
    const node2 = new AzureDriver({ connectionString: a.connectionString, container: d.container.containerName, createContainer: false });
    await node2.init();
    const part1 = randomBytes(BLOCK * 2 + 10);
    const part2 = randomBytes(BLOCK + 5);
    assert.equal(await put(d, 'uploads/shared', part1, 0), part1.length);
    // node 1 dies after staging more bytes it never committed: they are not part of the object
    const w = await d.writer('uploads/shared', { offset: part1.length });
    await new Promise<void>((resolve) => w.stream.write(randomBytes(BLOCK * 2), () => resolve()));
    assert.equal((await node2.stat('uploads/shared'))?.size, part1.length);
    assert.equal(await put(node2, 'uploads/shared', part2, part1.length), part1.length + part2.length);
    assert.deepEqual(await get(d, 'uploads/shared'), Buffer.concat([part1, part2]));
    await w.abort();
  });

  test('memory stays bounded: a writer stages blocks while bytes stream in', async () => {
    const w = await d.writer('uploads/stream');
    const chunks = Array.from({ length: 40 }, () => randomBytes(16 * 1024));
    await pipeline(Readable.from(chunks), w.stream);
    const uncommitted = (await d.container.getBlockBlobClient('uploads/stream').getBlockList('uncommitted')).uncommittedBlocks ?? [];
    assert.ok(uncommitted.length >= 9, `blocks were staged before commit (${uncommitted.length})`);
    assert.equal(await w.commit(), 40 * 16 * 1024);
    assert.deepEqual(await get(d, 'uploads/stream'), Buffer.concat(chunks));
  });

  test('paging a listing resumes at the page that held startAfter, across many list requests', async () => {
    const paged = await driver({ listPageSize: 4 });
    const keys = Array.from({ length: 23 }, (_, i) => `blobs/sha256/k${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((k) => put(paged, k, 'x')));
    await put(paged, 'uploads/other', 'x');
    const seen: string[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await paged.list('blobs/', { limit: 5, ...(startAfter === undefined ? {} : { startAfter }) });
      if (!page.length) break;
      seen.push(...page);
      startAfter = page[page.length - 1];
    }
    assert.deepEqual(seen, keys);
    // a startAfter this driver never returned (another node's paging) still lists correctly
    assert.deepEqual(await paged.list('blobs', { startAfter: 'blobs/sha256/k19', limit: 10 }), keys.slice(20));
    await paged.container.deleteIfExists();
  });

  test('a large object moves by server-side copy', async () => {
    const data = randomBytes(BLOCK * 5);
    await put(d, 'uploads/big', data);
    await d.move('uploads/big', 'blobs/sha256/ab/big');
    assert.equal(await d.stat('uploads/big'), null);
    assert.deepEqual(await get(d, 'blobs/sha256/ab/big'), data);
  });

  test('a wrong account key fails with a message naming the settings', async () => {
    const a = await emulator();
    const bad = new AzureDriver({
      accountName: AZURITE_ACCOUNT,
      accountKey: randomBytes(64).toString('base64'),
      endpoint: a.endpoint,
      container: 'berth',
      retry: { maxTries: 1 },
    });
    await assert.rejects(
      () => bad.init(),
      (e: unknown) => {
        assert.ok(e instanceof StorageError);
        assert.equal(e.driver, 'azure');
        assert.match(e.message, /access denied \(403|AuthorizationFailure|AuthenticationFailed/);
        assert.match(e.message, /storage\.azure\.accountName\/accountKey/);
        return true;
      },
    );
  });

  test('an unreachable, hanging or failing storage is StorageUnavailableError (retryable), within the retry budget', async () => {
    const retry = { maxTries: 2, delayMs: 10, maxDelayMs: 20, operationTimeoutMs: 1500 };
    const at = (port: number) =>
      new AzureDriver({
        accountName: AZURITE_ACCOUNT,
        accountKey: AZURITE_KEY,
        endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
        container: 'berth',
        retry,
      });
    const unavailable = (e: unknown) => {
      assert.ok(e instanceof StorageUnavailableError, String(e));
      assert.equal(e.transient, 'storage');
      return true;
    };
    // nothing listens: connection refused
    const closed = await freePort();
    await assert.rejects(() => at(closed).stat('blobs/x'), unavailable);
    // accepts connections and never answers: the operation deadline ends it
    const sockets = new Set<net.Socket>();
    const hang = net.createServer((s) => sockets.add(s));
    // answers 503 to everything: retried, then given up
    const busy = http.createServer((_req, res) => res.writeHead(503, { 'x-ms-error-code': 'ServerBusy' }).end());
    await Promise.all([new Promise<void>((r) => hang.listen(0, '127.0.0.1', r)), new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))]);
    try {
      await assert.rejects(
        () => at((hang.address() as net.AddressInfo).port).stat('blobs/x'),
        (e: unknown) => {
          unavailable(e);
          assert.match((e as Error).message, /operationTimeoutMs/);
          return true;
        },
      );
      await assert.rejects(() => at((busy.address() as net.AddressInfo).port).read('blobs/x'), unavailable);
      const w = await at((busy.address() as net.AddressInfo).port).writer('uploads/x');
      w.stream.end(Buffer.from('abc'));
      await assert.rejects(() => w.commit(), unavailable);
    } finally {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => hang.close(r)), new Promise((r) => busy.close(r))]);
    }
  });

  test('a missing container with createContainer false fails naming storage.azure.container', async () => {
    const a = await emulator();
    const d2 = new AzureDriver({ connectionString: a.connectionString, container: 'not-there', createContainer: false });
    await assert.rejects(() => d2.init(), /container "not-there" does not exist \(storage\.azure\.container\)/);
  });

  test('a SAS URL, or its token with an endpoint, reaches the container', async () => {
    const { AccountSASPermissions, BlobServiceClient } = await import('@azure/storage-blob');
    const a = await emulator();
    const sasUrl = BlobServiceClient.fromConnectionString(a.connectionString).generateAccountSasUrl(
      new Date(Date.now() + 3600_000),
      AccountSASPermissions.parse('rwdlac'),
      'sco',
    );
    const container = d.container.containerName;
    const viaUrl = new AzureDriver({ sasToken: sasUrl, container });
    await viaUrl.init();
    await put(viaUrl, 'sas/obj', 'via sas');
    await viaUrl.move('sas/obj', 'sas/moved');
    const viaToken = new AzureDriver({ sasToken: new URL(sasUrl).search, endpoint: a.endpoint, container });
    assert.equal((await get(viaToken, 'sas/moved')).toString(), 'via sas');
    assert.equal(await viaToken.stat('sas/obj'), null);
  });
});

/** Every file under dir, relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('berth serve --storage azure', skip, () => {
  let server: BerthProcess | undefined;
  let dataDir: string;
  let container: string;
  let dropMetadata = async () => {};
  before(async () => {
    const a = await emulator();
    dataDir = tempDir('azure');
    container = `e2e${randomBytes(5).toString('hex')}`;
    // The contract's shape: PostgreSQL metadata and Azure blobs, so the data dir keeps no state at all
    // (SQLite when PostgreSQL is not running here; outside CI only).
    const meta = await freshMetadataUrl(IN_CI || (await postgresUnavailable()) === null ? 'postgres' : 'sqlite');
    dropMetadata = meta.drop;
    server = await startBerth({
      dataDir,
      metadataUrl: meta.url,
      args: ['--storage', 'azure'],
      // Encryption at rest off: reads redirect to storage (auto, with the account key), which this
      // checks; encrypted objects on azure are test/storage-encrypted.test.ts's.
      env: {
        BERTH_STORAGE_AZURE_CONNECTION_STRING: a.connectionString,
        BERTH_STORAGE_AZURE_CONTAINER: container,
        BERTH_STORAGE_ENCRYPTION_ENABLED: 'false',
      },
    });
  });
  after(async () => {
    await server?.stop();
    await dropMetadata();
    removeDir(dataDir);
  });

  test('a pushed image (monolithic and chunked blobs) pulls back intact; the data dir holds no blob bytes', async () => {
    const base = server!.url;
    const reg = `azreg${randomBytes(3).toString('hex')}`;
    const created = await fetch(`${base}/api/registries`, {
      method: 'POST',
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: reg }),
    });
    assert.equal(created.status, 201, await created.text());
    const v2 = new V2(base);
    const name = `${reg}/${uniqueRepo('app')}`;
    const img = await v2.pushImage(name, 'v1', { layers: 2 });
    // a chunked upload: two PATCHes, then the closing PUT (each PATCH resumes at the acknowledged offset)
    const big = randomBlob(300 * 1024);
    let loc = await v2.startUpload(name);
    for (const [start, end] of [
      [0, 200_000],
      [200_000, big.size],
    ] as const) {
      const r = await v2.fetch(loc, {
        method: 'PATCH',
        body: big.data.subarray(start, end),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end - 1}` },
      });
      assert.equal(r.status, 202, await r.text());
      loc = r.headers.get('location')!;
    }
    const closed = await v2.fetch(`${loc}${loc.includes('?') ? '&' : '?'}digest=${big.digest}`, { method: 'PUT' });
    assert.equal(closed.status, 201, await closed.text());

    const m = await v2.fetch(`${name}/manifests/v1`, { headers: { Accept: img.mediaType } });
    assert.equal(m.status, 200);
    assert.equal(sha256(Buffer.from(await m.arrayBuffer())), img.digest);
    // With an account key, blob GETs redirect to storage by default (storage.reads: auto): the
    // client follows the 307 to a read-only URL of the blob, with its Range.
    const follow = async (digest: string, headers: Record<string, string> = {}) => {
      const r = await v2.fetch(`${name}/blobs/${digest}`, { redirect: 'manual', headers });
      assert.equal(r.status, 307);
      return fetch(r.headers.get('location')!, { headers });
    };
    for (const b of [img.config, ...img.layers, big]) {
      const r = await follow(b.digest);
      assert.equal(r.status, 200);
      assert.equal(sha256(Buffer.from(await r.arrayBuffer())), b.digest);
    }
    const ranged = await follow(big.digest, { Range: 'bytes=10-19' });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), big.data.subarray(10, 20));

    // the bytes are blobs in the container, and nothing under the data dir is blob storage
    const a = await emulator();
    const d = new AzureDriver({ connectionString: a.connectionString, container, createContainer: false });
    const stored = await d.list('');
    assert.ok(
      stored.some((k) => k.endsWith(big.digest.slice('sha256:'.length))),
      `blob in the container: ${stored.join(', ')}`,
    );
    const local = filesUnder(dataDir);
    assert.ok(!local.some((f) => f.startsWith('storage')), `no storage dir under the data dir: ${local.join(', ')}`);
    if (server!.metadataUrl) assert.deepEqual(local, ['berth.pid'], 'with PostgreSQL the data dir holds only the pid file');
    const blobNames = [img.config, ...img.layers, big].map((b) => b.digest.slice('sha256:'.length));
    assert.ok(!local.some((f) => blobNames.some((n) => f.includes(n))), `no blob files: ${local.join(', ')}`);
  });

  test('wrong credentials fail startup with a message naming the setting', async () => {
    const a = await emulator();
    const dir = tempDir('azure-bad');
    try {
      await assert.rejects(
        () =>
          startBerth({
            dataDir: dir,
            args: ['--storage', 'azure'],
            env: {
              BERTH_STORAGE_AZURE_CONNECTION_STRING: a.connectionString.replace(
                /AccountKey=[^;]+/,
                `AccountKey=${randomBytes(64).toString('base64')}`,
              ),
              BERTH_STORAGE_AZURE_CONTAINER: container,
            },
          }),
        /access denied.*storage\.azure\.connectionString/s,
      );
    } finally {
      removeDir(dir);
    }
  });
});
