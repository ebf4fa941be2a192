import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import {
  BerthFixture,
  getBlob,
  getManifest,
  pushBlob,
  rangeEnd,
  request,
  resolveLocation,
  sha256,
  waitFor,
  withAuthHeader,
  type HttpResponse,
} from './helpers.js';
import { OCI_CONFIG, OCI_MANIFEST } from './oci-layout.js';

// Crash safety of a real `berth serve` process: SIGKILL in the middle of concurrent pushes, then a
// restart on the same data dir and metadata; and graceful shutdown (SIGTERM) with uploads in flight.
// What users rely on: an acknowledged write is never lost, nothing half-written ever becomes visible,
// and an upload session survives a restart at the offset the server acknowledged.

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const MiB = 1024 * 1024;
const WORKERS = 8;

/** Random integer in [lo, hi]. */
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

function uploadFile(dataDir: string, uploadUrl: string): string {
  return path.join(dataDir, 'storage', 'uploads', new URL(uploadUrl).pathname.split('/').pop()!);
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}

/** Starts an upload session; returns its absolute URL. */
async function startUpload(base: string, name: string, agent?: http.Agent): Promise<string> {
  const r = await request('POST', `${base}/v2/${name}/blobs/uploads/`, { agent });
  if (r.status !== 202) throw new Error(`POST upload: HTTP ${r.status} ${r.body.toString()}`);
  return resolveLocation(base, r.headers.location);
}

function patch(url: string, data: Buffer, start: number, agent?: http.Agent): Promise<HttpResponse> {
  return request('PATCH', url, {
    body: data,
    agent,
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + data.length - 1}` },
  });
}

function finish(url: string, digest: string, agent?: http.Agent, last?: { data: Buffer; start: number }): Promise<HttpResponse> {
  const u = new URL(url);
  u.searchParams.set('digest', digest);
  return request(
    'PUT',
    u.toString(),
    last
      ? {
          body: last.data,
          agent,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${last.start}-${last.start + last.data.length - 1}` },
        }
      : { agent },
  );
}

/** The offset an upload session stands at (GET status), or undefined when the session is unknown (404). */
async function sessionOffset(url: string): Promise<number | undefined> {
  const r = await request('GET', url);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 204, `GET ${url}: ${r.body.toString()}`);
  return rangeEnd(r.headers.range);
}

/** GET a blob and check it is complete and correct (or absent, when allowed). */
async function assertBlob(base: string, name: string, digest: string, mustExist: boolean, size?: number): Promise<boolean> {
  const r = await getBlob(base, name, digest);
  if (!mustExist && r.status === 404) return false;
  assert.equal(r.status, 200, `blob ${digest} in ${name}: HTTP ${r.status} ${r.status === 200 ? '' : r.body.toString()}`);
  assert.equal(sha256(r.body), digest, `blob ${digest} in ${name} is served with its exact content`);
  if (size !== undefined) assert.equal(r.body.length, size);
  return true;
}

// ---------------------------------------------------------------- the SIGKILL test's bookkeeping

interface Session {
  name: string;
  url: string;
  data: Buffer;
  digest: string;
  /** Bytes the server acknowledged (202 with Range). */
  acked: number;
  /** The request in flight, if any: it may or may not have taken effect when the server died. */
  inflight?: { op: 'patch' | 'put'; end: number };
  done: boolean;
}

interface Ledger {
  /** Every blob a worker tried to push: digest -> name, size. */
  attemptedBlobs: Map<string, { name: string; size: number }>;
  ackedBlobs: { name: string; digest: string; size: number }[];
  /** Every manifest a worker tried to push: digest -> bytes (for checking what tags point at). */
  attemptedManifests: Map<string, Buffer>;
  ackedManifests: { name: string; tag: string; digest: string; bytes: Buffer }[];
  /** The moving tag "latest" of each repository: the last acknowledged push and the one in flight. */
  latest: Map<string, { acked?: string; inflight?: string }>;
  sessions: Session[];
  /** Responses that were neither success nor a dead connection: always a failure. */
  unexpected: string[];
}

function newLedger(): Ledger {
  return {
    attemptedBlobs: new Map(),
    ackedBlobs: [],
    attemptedManifests: new Map(),
    ackedManifests: [],
    latest: new Map(),
    sessions: [],
    unexpected: [],
  };
}

/** One pushing client: blobs (monolithic and chunked), then a manifest under a unique tag and "latest". Runs until the server dies. */
async function worker(i: number, base: string, reg: string, shared: Buffer, ledger: Ledger, onAck: () => void): Promise<void> {
  const name = `${reg}/crash/w${i}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const expect = (r: HttpResponse, status: number, what: string) => {
    if (r.status !== status) {
      ledger.unexpected.push(`${what}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
      throw new Error('unexpected response');
    }
  };
  const monolithic = async (data: Buffer) => {
    const digest = sha256(data);
    ledger.attemptedBlobs.set(digest, { name, size: data.length });
    const r = await request('POST', `${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
      body: data,
      agent,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(r, 201, `monolithic ${digest}`);
    ledger.ackedBlobs.push({ name, digest, size: data.length });
    onAck();
    return digest;
  };
  const chunked = async (data: Buffer, lastInPut: boolean) => {
    const digest = sha256(data);
    ledger.attemptedBlobs.set(digest, { name, size: data.length });
    const url = await startUpload(base, name, agent);
    const s: Session = { name, url, data, digest, acked: 0, done: false };
    ledger.sessions.push(s);
    const tail = lastInPut ? Math.min(data.length - 1, between(1, 64 * 1024)) : 0;
    while (s.acked < data.length - tail) {
      const end = Math.min(data.length - tail, s.acked + between(32 * 1024, 256 * 1024));
      s.inflight = { op: 'patch', end };
      const r = await patch(url, data.subarray(s.acked, end), s.acked, agent);
      expect(r, 202, `PATCH ${s.acked}-${end - 1}`);
      if (r.headers.range !== `0-${end - 1}`) ledger.unexpected.push(`PATCH ${s.acked}-${end - 1} answered Range ${r.headers.range}`);
      s.acked = end;
      s.inflight = undefined;
      onAck();
    }
    s.inflight = { op: 'put', end: data.length };
    const r = await finish(url, digest, agent, tail ? { data: data.subarray(s.acked), start: s.acked } : undefined);
    expect(r, 201, `PUT ${digest}`);
    s.done = true;
    s.inflight = undefined;
    ledger.ackedBlobs.push({ name, digest, size: data.length });
    onAck();
    return digest;
  };
  const putManifest = async (ref: string, bytes: Buffer) => {
    const r = await request('PUT', `${base}/v2/${name}/manifests/${ref}`, {
      body: bytes,
      agent,
      headers: { 'content-type': OCI_MANIFEST },
    });
    expect(r, 201, `PUT manifest ${ref}`);
    if (r.headers['docker-content-digest'] !== sha256(bytes))
      ledger.unexpected.push(`PUT manifest ${ref} answered digest ${String(r.headers['docker-content-digest'])}`);
  };

  try {
    const base0 = await monolithic(shared); // the same content from every worker at once: dedup under concurrency
    for (let n = 1; ; n++) {
      const layer = randomBytes(between(16 * 1024, 1536 * 1024));
      const mode = (i + n) % 3;
      const layerDigest = mode === 0 ? await monolithic(layer) : await chunked(layer, mode === 2);
      const config = Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [base0, layerDigest] }, worker: i, n }),
      );
      const configDigest = await monolithic(config);
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
          layers: [
            { mediaType: OCI_LAYER, digest: base0, size: shared.length },
            { mediaType: OCI_LAYER, digest: layerDigest, size: layer.length },
          ],
        }),
      );
      const digest = sha256(bytes);
      ledger.attemptedManifests.set(digest, bytes);
      await putManifest(`t${n}`, bytes);
      ledger.ackedManifests.push({ name, tag: `t${n}`, digest, bytes });
      onAck();
      const latest = ledger.latest.get(name) ?? {};
      ledger.latest.set(name, latest);
      latest.inflight = digest;
      await putManifest('latest', bytes);
      latest.acked = digest;
      latest.inflight = undefined;
      onAck();
    }
  } catch {
    // The server was killed (connection refused or reset), or an unexpected response was recorded.
  } finally {
    agent.destroy();
  }
}

async function sigkillMidPush(t: TestContext, f: BerthFixture): Promise<void> {
  const REG = 'crashreg';
  await f.createRegistry(REG);
  const url = f.url;

  // A session with two acknowledged chunks before anything else happens; resumed after the restart.
  const resumable = { name: `${REG}/crash/resume`, data: randomBytes(300 * 1024), url: '' };
  resumable.url = await startUpload(url, resumable.name);
  assert.equal((await patch(resumable.url, resumable.data.subarray(0, 100 * 1024), 0)).status, 202);
  const second = await patch(resumable.url, resumable.data.subarray(100 * 1024, 200 * 1024), 100 * 1024);
  assert.equal(second.status, 202);
  assert.equal(second.headers.range, `0-${200 * 1024 - 1}`);

  // A fully pushed image before the storm, to prove older data is untouched too.
  const early = Buffer.from(`early ${Date.now()}`);
  const earlyDigest = await pushBlob(url, `${REG}/crash/early`, early);

  const ledger = newLedger();
  const shared = randomBytes(300 * 1024);
  let killed = false;
  const onAck = () => {
    if (killed || ledger.ackedBlobs.length < 80 || ledger.ackedManifests.length < 16) return;
    killed = true;
    f.server.proc.kill('SIGKILL'); // right now, while the other workers are mid-request
  };
  // Workers run until the server dies; should they all stop first (a failed push), kill it anyway.
  const workers = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i, url, REG, shared, ledger, onAck))).then(() => {
    if (!killed) {
      killed = true;
      f.server.proc.kill('SIGKILL');
    }
  });
  const exit = await f.server.exited;
  await workers;
  assert.equal(exit.signal, 'SIGKILL');
  assert.deepEqual(ledger.unexpected, [], 'no push failed while the server was up');
  assert.ok(
    ledger.ackedBlobs.length >= 80 && ledger.ackedManifests.length >= 16,
    `the kill came after the ack threshold (${ledger.ackedBlobs.length} blobs, ${ledger.ackedManifests.length} manifests)`,
  );
  const inflight = ledger.sessions.filter((s) => !s.done);
  t.diagnostic(
    `killed after ${ledger.ackedBlobs.length} acknowledged blobs, ${ledger.ackedManifests.length} manifests; ${inflight.length} chunked uploads unfinished`,
  );

  await f.restart();

  // 1. Every acknowledged blob is there, complete, with its digest.
  for (const b of ledger.ackedBlobs) await assertBlob(url, b.name, b.digest, true, b.size);
  await assertBlob(url, `${REG}/crash/early`, earlyDigest, true, early.length);

  // 2. Nothing half-written: any blob that answers 200 has exactly its content.
  for (const [digest, b] of ledger.attemptedBlobs) await assertBlob(url, b.name, digest, false, b.size);

  // 3. Every acknowledged manifest resolves, by tag and by digest, to the exact bytes.
  for (const m of ledger.ackedManifests) {
    for (const ref of [m.tag, m.digest]) {
      const r = await getManifest(url, m.name, ref);
      assert.equal(r.status, 200, `${m.name}:${ref}`);
      assert.ok(r.body.equals(m.bytes), `${m.name}:${ref} has the pushed bytes`);
      assert.equal(r.headers['docker-content-digest'], m.digest);
    }
  }

  // 4. Every tag that exists points at a complete manifest whose blobs are all readable.
  for (let i = 0; i < WORKERS; i++) {
    const name = `${REG}/crash/w${i}`;
    const list = await request('GET', `${url}/v2/${name}/tags/list`);
    if (list.status === 404) continue; // this worker had not created its repository yet
    assert.equal(list.status, 200);
    for (const tag of (JSON.parse(list.body.toString()) as { tags: string[] }).tags) {
      const r = await getManifest(url, name, tag);
      assert.equal(r.status, 200, `${name}:${tag} is listed, so it resolves`);
      const digest = sha256(r.body);
      assert.equal(r.headers['docker-content-digest'], digest);
      assert.ok(ledger.attemptedManifests.get(digest)?.equals(r.body), `${name}:${tag} points at a manifest a client pushed`);
      const doc = JSON.parse(r.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const b of [doc.config, ...doc.layers]) await assertBlob(url, name, b.digest, true);
    }
    // The moving tag is the last acknowledged push or the one in flight, never anything older.
    const latest = ledger.latest.get(name);
    const r = await getManifest(url, name, 'latest');
    const allowed = [latest?.acked, latest?.inflight].filter(Boolean);
    if (r.status === 404) assert.equal(latest?.acked, undefined, `${name}:latest was acknowledged, so it must exist`);
    else assert.ok(allowed.includes(sha256(r.body)), `${name}:latest is ${sha256(r.body)}, expected one of ${allowed.join(', ')}`);
  }

  // 5. The session with acknowledged chunks resumes where the server said it stood.
  assert.equal(await sessionOffset(resumable.url), 200 * 1024);
  const third = await patch(resumable.url, resumable.data.subarray(200 * 1024), 200 * 1024);
  assert.equal(third.status, 202, third.body.toString());
  assert.equal(third.headers.range, `0-${300 * 1024 - 1}`);
  const closed = await finish(resumable.url, sha256(resumable.data));
  assert.equal(closed.status, 201, closed.body.toString());
  await assertBlob(url, resumable.name, sha256(resumable.data), true, resumable.data.length);

  // 6. The chunked uploads the kill interrupted: each stands at its acknowledged offset (or just past
  //    the chunk in flight, if that landed), and can be continued and closed.
  for (const s of inflight) {
    const offset = await sessionOffset(s.url);
    if (offset === undefined) {
      // Only a closing PUT in flight may have finished the session; then the blob must be complete.
      assert.equal(s.inflight?.op, 'put', `upload ${s.url} vanished although only ${s.acked} bytes were acknowledged`);
      await assertBlob(url, s.name, s.digest, true, s.data.length);
      continue;
    }
    const allowed = [s.acked, ...(s.inflight ? [s.inflight.end] : [])];
    assert.ok(
      allowed.includes(offset),
      `upload at ${offset} bytes after restart; acknowledged ${s.acked}, in flight up to ${s.inflight?.end}`,
    );
    if (offset < s.data.length) {
      const r = await patch(s.url, s.data.subarray(offset), offset);
      assert.equal(r.status, 202, r.body.toString());
    }
    const r = await finish(s.url, s.digest);
    assert.equal(r.status, 201, `closing resumed upload ${s.url}: ${r.body.toString()}`);
    await assertBlob(url, s.name, s.digest, true, s.data.length);
  }

  // 7. And the recovered server takes new pushes normally.
  const fresh = randomBytes(64 * 1024);
  const freshUrl = await startUpload(url, `${REG}/crash/after`);
  assert.equal((await patch(freshUrl, fresh, 0)).status, 202);
  assert.equal((await finish(freshUrl, sha256(fresh))).status, 201);
  await assertBlob(url, `${REG}/crash/after`, sha256(fresh), true);
}

/** Streams a request body in pieces under the caller's control (to act while it is in flight). */
function streamingPatch(url: string, total: number, start: number, agent: http.Agent | false) {
  const req = http.request(url, {
    method: 'PATCH',
    agent,
    headers: withAuthHeader({
      'content-type': 'application/octet-stream',
      'content-length': total,
      'content-range': `${start}-${start + total - 1}`,
    }),
  });
  const response = new Promise<{ res: http.IncomingMessage; body: Buffer }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  response.catch(() => {}); // observed by the caller when it matters
  let socket: Socket | undefined;
  req.on('socket', (s) => {
    socket = s;
  });
  return {
    req,
    response,
    get socket() {
      return socket;
    },
    async write(data: Buffer) {
      for (let off = 0; off < data.length; off += MiB) {
        if (!req.write(data.subarray(off, off + MiB))) await once(req, 'drain');
      }
    },
  };
}

/** True when nothing accepts connections at the address any more. */
async function refusesConnections(url: string): Promise<boolean> {
  try {
    await request('GET', `${url}/v2/`, { timeoutMs: 2000 });
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

for (const backend of BACKENDS) {
  describe(`crash safety of berth serve (${backend})`, await backendGate(backend), () => {
    // One deployment for these tests: each kills or stops the server and starts it again on the
    // same data and metadata (that restart is what it checks), in a registry of its own. A fresh
    // deployment each would only add a database and a start-up per test. The shutdown timeout is
    // long enough for the in-flight upload of the SIGTERM test to complete.
    let f: BerthFixture;
    before(async () => {
      f = await BerthFixture.start(backend, { BERTH_SHUTDOWN_TIMEOUT_SECONDS: '60' });
    });
    after(async () => {
      await f?.cleanup();
    });

    test('SIGKILL during concurrent pushes: acknowledged writes survive, nothing half-written is visible, sessions resume', async (t) => {
      await sigkillMidPush(t, f);
    });

    test('SIGTERM during a large chunked upload: the request completes, the process exits 0, the session continues after restart', async () => {
      await f.createRegistry('termreg');
      const name = 'termreg/big/app';
      const data = randomBytes(24 * MiB);
      const url = await startUpload(f.url, name);
      const body = data.subarray(0, 20 * MiB);
      const p = streamingPatch(url, body.length, 0, false);
      await p.write(body.subarray(0, MiB));
      // The server is receiving the body (bytes reach the session's file) before the signal.
      await waitFor('the upload to reach storage', () => fileSize(uploadFile(f.dataDir, url)) > 0);
      f.server.proc.kill('SIGTERM');
      await waitFor('the listener to close', () => refusesConnections(f.url));
      await p.write(body.subarray(MiB));
      p.req.end();
      const { res, body: text } = await p.response;
      assert.equal(res.statusCode, 202, text.toString());
      assert.equal(res.headers.range, `0-${body.length - 1}`, 'the whole in-flight chunk was accepted');
      assert.deepEqual(await f.server.exited, { code: 0, signal: null }, 'graceful shutdown exits 0');

      await f.restart();
      assert.equal(await sessionOffset(url), body.length);
      const rest = await patch(url, data.subarray(body.length), body.length);
      assert.equal(rest.status, 202, rest.body.toString());
      const closed = await finish(url, sha256(data));
      assert.equal(closed.status, 201, closed.body.toString());
      await assertBlob(f.url, name, sha256(data), true, data.length);
    });

    test('SIGTERM with a stalled upload: exits 0 after the shutdown timeout; the session resumes at the acknowledged offset', async () => {
      // A short shutdown timeout, so that waiting it out is quick.
      await f.server.stop('SIGKILL');
      await f.restart({ BERTH_SHUTDOWN_TIMEOUT_SECONDS: '1' });
      await f.createRegistry('stallreg');
      const name = 'stallreg/stalled';
      const data = randomBytes(3 * MiB);
      const url = await startUpload(f.url, name);
      assert.equal((await patch(url, data.subarray(0, MiB), 0)).status, 202);
      // Second chunk: three quarters of it arrive, then the client goes quiet (enough that part
      // of it is in the upload file, whatever size the writes to storage are, when the server stops).
      const p = streamingPatch(url, 2 * MiB, MiB, false);
      await p.write(data.subarray(MiB, MiB + MiB + MiB / 2));
      await waitFor('the partial chunk to reach storage', () => fileSize(uploadFile(f.dataDir, url)) > MiB);
      f.server.proc.kill('SIGTERM');
      assert.deepEqual(await f.server.exited, { code: 0, signal: null }, 'graceful shutdown exits 0 even with a stuck client');
      await assert.rejects(p.response, 'the stalled request was cut off, not acknowledged');

      await f.restart();
      assert.equal(await sessionOffset(url), MiB, 'only the acknowledged chunk counts');
      const r = await patch(url, data.subarray(MiB), MiB);
      assert.equal(r.status, 202, r.body.toString());
      assert.equal(r.headers.range, `0-${data.length - 1}`);
      const closed = await finish(url, sha256(data));
      assert.equal(closed.status, 201, closed.body.toString());
      await assertBlob(f.url, name, sha256(data), true, data.length);
    });

    test('crash between blob rename and metadata commit: the upload session can still be closed', async () => {
      await f.createRegistry('windowreg');
      const name = 'windowreg/app';
      const data = randomBytes(200 * 1024);
      const digest = sha256(data);
      const url = await startUpload(f.url, name);
      assert.equal((await patch(url, data, 0)).status, 202);
      await f.server.stop('SIGKILL');
      // The state a SIGKILL leaves when it lands inside UploadService.commit after storage.move
      // (uploads/<id> renamed to blobs/sha256/..) and before the metadata transaction.
      const hex = digest.slice('sha256:'.length);
      const target = path.join(f.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex);
      mkdirSync(path.dirname(target), { recursive: true });
      renameSync(uploadFile(f.dataDir, url), target);
      await f.restart();

      assert.equal(await sessionOffset(url), data.length, 'the session still reports every acknowledged byte');
      const closed = await finish(url, digest);
      // Expected: 201 (the content is at its address and hashes right), or at worst a 4xx telling the
      // client to start over; never a 500.
      assert.equal(closed.status, 201, `PUT ${url}?digest=: HTTP ${closed.status} ${closed.body.toString()}`);
      await assertBlob(f.url, name, digest, true, data.length);
    });
  });
}

describe('graceful shutdown with keep-alive clients', () => {
  test('after SIGTERM, a keep-alive connection is closed once its in-flight request completes (the process does not wait out the shutdown timeout)', async () => {
    const f = await BerthFixture.start('sqlite', { BERTH_SHUTDOWN_TIMEOUT_SECONDS: '60' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await f.createRegistry('keepreg');
      const url = await startUpload(f.url, 'keepreg/app', agent);
      const body = randomBytes(8 * MiB);
      const p = streamingPatch(url, body.length, 0, agent);
      await p.write(body.subarray(0, MiB));
      await waitFor('the upload to reach storage', () => fileSize(uploadFile(f.dataDir, url)) > 0);
      f.server.proc.kill('SIGTERM');
      await p.write(body.subarray(MiB));
      p.req.end();
      const { res } = await p.response;
      assert.equal(res.statusCode, 202);
      // Docker, containerd, skopeo and friends all keep connections alive. During shutdown the
      // server should answer "Connection: close" (or close the idle socket right after the response).
      const sock = p.socket!;
      const closedByServer = new Promise<boolean>((resolve) => (sock.destroyed ? resolve(true) : sock.once('close', () => resolve(true))));
      const verdict = await Promise.race([closedByServer, new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      assert.ok(
        res.headers.connection === 'close' || verdict,
        `connection header "${res.headers.connection}", socket still open 5 s after the response (shutdown timeout is 60 s)`,
      );
      assert.deepEqual(await f.server.exited, { code: 0, signal: null });
    } finally {
      agent.destroy();
      await f.server.stop('SIGKILL');
      await f.cleanup();
    }
  });
});
