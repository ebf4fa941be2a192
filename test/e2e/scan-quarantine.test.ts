import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { BerthFixture, MAIN, removeDir, ROOT, tempDir } from '../helpers/berth-process.js';
import { toolMissing } from '../helpers/scan-fixtures.js';
import { berthJson, cliServer, mustFail, mustRun, waitFor } from './helpers.js';
import { buildScanImage, removeScanImage } from './scan-image.js';
import { managementApi, roleUser, skopeoAs } from './registry-users.js';

// The built-in scanner deciding quarantine, end to end on a real `berth serve` (SQLite: the
// scanner and quarantine are the same code on PostgreSQL, which scan.test.ts and
// quarantine.test.ts cover). With `--quarantine-policy enabled` and the OSV fixtures imported,
// the buildah image (two high findings) is marked Failed by the default policy (failOn high), so
// an AcrPull user cannot pull it with skopeo. After `scan policy update --fail-on critical` and
// `scan run --wait`, the scanner decides again (it set the state itself) and the image is Passed
// and pulls. A state an AcrQuarantineWriter sets is not undone by a rescan. Along the way: the
// `scan` webhook with the push payload and the result, the audit's `scan` operation, and the scan
// summary on the /acr/v1 attributes (show-metadata, -o table without JSON in cells).

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'scan');
const missing = toolMissing('buildah') ?? toolMissing('busybox') ?? toolMissing('go') ?? toolMissing('skopeo');
const REG = 'scanquarantine';
const REPO = 'tools/app';

interface ScanAttr {
  status: string;
  scannedAt?: string;
  dataDate?: string;
  summary?: Record<string, number>;
}
interface ManifestMeta {
  digest: string;
  changeableAttributes: { quarantineState?: string; quarantineDetails?: string };
  scan?: ScanAttr;
}
interface Delivery {
  action: string;
  target: { mediaType: string; size: number; digest: string; length: number; repository: string; tag: string };
  request: { method: string; useragent: string };
  scan?: ScanAttr;
}

after(() => removeScanImage());

describe('the scanner decides quarantine (sqlite, skopeo)', { skip: missing }, () => {
  let f: BerthFixture;
  let work: string;
  let receiver: http.Server;
  const received: Delivery[] = [];
  let digest = '';
  let puller: { auth: string; authFile: string };
  let writer: { auth: string; authFile: string };

  const api = (method: string, url: string, body?: unknown, auth?: string) => managementApi(f.url)(method, url, body, auth);
  /** A user with `role` on the registry, and a containers auth file signing skopeo in as it. */
  const user = (role: string) => roleUser({ base: f.url, host: f.host, dir: work, reg: REG, role, prefix: 's' });
  const skopeo = skopeoAs;
  const docker = () => `docker://${f.host}/${REG}/${REPO}:1.0`;
  const metadata = () => berthJson<ManifestMeta>(f.url, ['manifest', 'show-metadata', '-r', REG, '-n', `${REPO}@${digest}`]);
  const scans = () => received.filter((d) => d.action === 'scan');

  before(async () => {
    if (missing) return;
    work = tempDir('scan-quarantine');
    receiver = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body) as Delivery);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    f = await BerthFixture.start({ backend: 'sqlite', storage: 'fs' }, { BERTH_EGRESS_ALLOW_PRIVATE: 'true' });
    await f.createRegistry(REG);
    const updated = await berthJson<{ policies: { quarantinePolicy: { status: string } } }>(f.url, [
      'update',
      '-n',
      REG,
      '--quarantine-policy',
      'enabled',
    ]);
    assert.equal(updated.policies.quarantinePolicy.status, 'enabled');
    const hook = await berthJson<{ actions: string[] }>(f.url, [
      'webhook',
      'create',
      '-n',
      'scanhook',
      '-r',
      REG,
      '--uri',
      hookUrl,
      '--actions',
      'scan',
      'push',
      '--scope',
      `${REPO}:*`,
    ]);
    assert.deepEqual([...hook.actions].sort(), ['push', 'scan']);
    puller = await user('AcrPull');
    writer = await user('AcrQuarantineWriter');
    await mustRun(process.execPath, [MAIN, 'vulndb', 'import', path.join(FIXTURES, 'osv'), '--source', 'test', ...cliServer(f.url)], {
      timeoutMs: 30_000,
    });
    const img = buildScanImage();
    await mustRun(
      'buildah',
      [...img.store, 'push', '--tls-verify=false', '--creds', `${ADMIN_USER}:${ADMIN_PASSWORD}`, img.name, docker()],
      { timeoutMs: 120_000 },
    );
  });

  after(async () => {
    receiver?.close();
    await f?.cleanup();
    if (work) removeDir(work);
  });

  test('the default policy (failOn high) fails the image: two high findings; AcrPull cannot pull it', async () => {
    const failed = await waitFor(
      'the scan to decide the image',
      async () => {
        const v = await berthJson<{ status: string; digest: string; message?: string }>(f.url, [
          'scan',
          'show',
          '-n',
          REG,
          '--image',
          `${REPO}:1.0`,
        ]);
        if (v.status !== 'succeeded' && v.status !== 'failed') return undefined;
        assert.equal(v.status, 'succeeded', v.message);
        digest = v.digest;
        const m = await metadata();
        return m.changeableAttributes.quarantineState === 'Quarantined' ? undefined : m;
      },
      60_000,
      500,
    );
    assert.equal(failed.changeableAttributes.quarantineState, 'Failed');
    assert.match(failed.changeableAttributes.quarantineDetails!, /^berth scanner: 2 finding\(s\) of severity high or higher/);
    // The scan summary on the manifest's /acr/v1 attributes.
    assert.equal(failed.scan!.status, 'succeeded');
    assert.equal(failed.scan!.summary!.high, 2);
    assert.equal(failed.scan!.summary!.critical, 0);
    assert.ok(failed.scan!.scannedAt && failed.scan!.dataDate, JSON.stringify(failed.scan));

    const inspect = await mustFail('skopeo', skopeo(puller.authFile, ['inspect', '--raw', docker()]), { timeoutMs: 60_000 });
    assert.match(inspect.stderr, /manifest unknown|not found/i);
  });

  test('the scan webhook carries the push payload and the result; the audit lists it as scan', async () => {
    assert.ok(digest, 'the first test ran');
    const [event] = await waitFor('the scan delivery', () => (scans().length >= 1 ? scans() : undefined), 30_000, 100);
    assert.equal(event!.target.repository, REPO);
    assert.equal(event!.target.digest, digest);
    assert.equal(event!.target.tag, '1.0');
    assert.match(event!.target.mediaType, /manifest/);
    assert.equal(event!.target.size, event!.target.length);
    assert.equal(event!.request.useragent, 'berth-scanner');
    assert.equal(event!.scan!.status, 'succeeded');
    assert.equal(event!.scan!.summary!.high, 2);
    assert.ok(event!.scan!.dataDate);
    // Failed: the image's deferred push never fired (the scanner's SBOMs were released: theirs did).
    assert.deepEqual(
      received.filter((d) => d.action === 'push' && d.target.digest === digest),
      [],
    );

    const audit = await berthJson<{ operationName: string; digest: string; identity: string }[] | { value: unknown[] }>(f.url, [
      'audit',
      'list',
      '--registry',
      REG,
      '--category',
      'repository',
      '--operation',
      'scan',
    ]);
    const rows = (Array.isArray(audit) ? audit : audit.value) as { operationName: string; digest: string; identity: string }[];
    assert.deepEqual(
      rows.map((r) => [r.operationName, r.digest, r.identity]),
      [['scan', digest, 'berth:scanner']],
    );
  });

  test('show-metadata -o table shows the scan as columns, no JSON in a cell', async () => {
    const r = await mustRun(
      process.execPath,
      [MAIN, 'manifest', 'show-metadata', '-r', REG, '-n', `${REPO}@${digest}`, ...cliServer(f.url), '-o', 'table'],
      { timeoutMs: 30_000 },
    );
    const [head, , row] = r.stdout.split('\n');
    assert.match(head!, /Scan Status\s+Critical\s+High\s+Medium\s+Low\s+Fixable/);
    assert.match(row!, /succeeded\s+0\s+2\s/);
    assert.doesNotMatch(r.stdout, /[{}]/);
  });

  test('after the policy changes to failOn critical, a rescan passes the image it failed; AcrPull pulls it', async () => {
    await berthJson(f.url, ['scan', 'policy', 'update', '-n', REG, '--fail-on', 'critical']);
    const before = (await metadata()).scan!.scannedAt;
    await mustRun(process.execPath, [MAIN, 'scan', 'run', '-n', REG, '--image', `${REPO}:1.0`, '--wait', ...cliServer(f.url)], {
      timeoutMs: 120_000,
    });
    const m = await metadata();
    assert.notEqual(m.scan!.scannedAt, before, 'scanned again');
    assert.equal(m.changeableAttributes.quarantineState, 'Passed');
    assert.match(m.changeableAttributes.quarantineDetails!, /^berth scanner: no finding of severity critical or higher/);

    const info = JSON.parse((await mustRun('skopeo', skopeo(puller.authFile, ['inspect', docker()]), { timeoutMs: 60_000 })).stdout) as {
      Digest: string;
    };
    assert.equal(info.Digest, digest);
    const out = path.join(work, 'out');
    await mustRun('skopeo', skopeo(puller.authFile, ['copy', '--preserve-digests', docker(), `oci:${out}:v1`]), { timeoutMs: 120_000 });

    // Released: the deferred push fires now, and a second scan event carries the new scan.
    const pushed = (d: Delivery) => d.action === 'push' && d.target.digest === digest;
    await waitFor('the push and the second scan delivery', () => received.some(pushed) && scans().length >= 2, 30_000);
    assert.equal(received.find(pushed)!.target.tag, '1.0');
    assert.equal(scans()[1]!.scan!.scannedAt, m.scan!.scannedAt);
  });

  test('a state an external scanner set stays: a rescan does not decide it again', async () => {
    const details = '{"scanner":"external","state":"Scan Failed"}';
    const patched = await api(
      'PATCH',
      `/acr/v1/${REG}/${REPO}/_manifests/${digest}`,
      { quarantineState: 'Failed', quarantineDetails: details },
      writer.auth,
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const before = (await metadata()).scan!.scannedAt;
    await mustRun(process.execPath, [MAIN, 'scan', 'run', '-n', REG, '--image', `${REPO}@${digest}`, '--wait', ...cliServer(f.url)], {
      timeoutMs: 120_000,
    });
    const m = await metadata();
    assert.notEqual(m.scan!.scannedAt, before, 'scanned again');
    assert.equal(m.changeableAttributes.quarantineState, 'Failed');
    assert.equal(m.changeableAttributes.quarantineDetails, details);
    await mustFail('skopeo', skopeo(puller.authFile, ['inspect', '--raw', docker()]), { timeoutMs: 60_000 });
  });
});
