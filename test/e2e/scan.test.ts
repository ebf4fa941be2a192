import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { BerthFixture, MAIN, ROOT } from '../helpers/berth-process.js';
import { goVersion, toolMissing } from '../helpers/scan-fixtures.js';
import { deploymentGate, deploymentName, type Deployment } from '../helpers/storages.js';
import { berthJson, cliServer, getBlob, getManifest, mustRun, request, waitFor } from './helpers.js';
import { buildScanImage, removeScanImage } from './scan-image.js';

// Scanning end to end: an image built by buildah (a Debian-like base with a dpkg database, an npm
// package, a Python dist-info, a Go binary; a later layer purges a package) is pushed to a real
// `berth serve` with buildah; vulnerability data is imported with `berth vulndb import`; the scan
// runs as a background job and `berth scan show` reports the golden findings. The SBOMs are
// referrers of the image, and new data is matched again without a new scan.

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'scan');
const DEPLOYMENTS: Deployment[] = [
  { backend: 'sqlite', storage: 'fs' },
  { backend: 'postgres', storage: 'azure' },
];
const missing = toolMissing('buildah') ?? toolMissing('busybox') ?? toolMissing('go');

interface Finding {
  id: string;
  package: string;
  ecosystem: string;
  installedVersion: string;
  source?: { name: string; version: string };
  fixedVersion?: string;
  severity: string;
  path: string;
  layer: string;
}
interface ScanView {
  status: string;
  message?: string;
  digest: string;
  summary?: Record<string, number>;
  findings?: Finding[];
  scannedAt?: string;
  matchedAt?: string;
  sbom: { cyclonedx?: string; spdx?: string };
}

function expectedFindings(): Omit<Finding, 'layer'>[] {
  const go = goVersion(); // e.g. go1.19.8
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, 'expected-findings.json'), 'utf8')) as Omit<Finding, 'layer'>[];
  const goSemver = go.replace(/^go/, '');
  const older = (a: string, b: string) => {
    const x = a.split('.').map(Number);
    const y = b.split('.').map(Number);
    for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
    return false;
  };
  return golden
    .filter((f) => f.id !== 'GO-2023-1753' || older(goSemver, '1.19.9'))
    .map((f) => (f.installedVersion === 'GO_VERSION' ? { ...f, installedVersion: `v${goSemver}` } : f));
}

const projection = (f: Finding) => {
  const { layer: _layer, ...rest } = f;
  return {
    id: rest.id,
    package: rest.package,
    ecosystem: rest.ecosystem,
    installedVersion: rest.installedVersion,
    ...(rest.source ? { source: rest.source } : {}),
    ...(rest.fixedVersion ? { fixedVersion: rest.fixedVersion } : {}),
    severity: rest.severity,
    path: rest.path,
  };
};

after(() => removeScanImage());

for (const d of DEPLOYMENTS) {
  describe(`scanning end to end (${deploymentName(d)})`, async () => {
    const gate = missing ? { skip: missing } : await deploymentGate(d);
    let f: BerthFixture;
    const reg = 'scanreg';
    const repo = 'tools/app';
    let digest = '';

    before(async () => {
      if (gate.skip) return;
      f = await BerthFixture.start(d);
      await f.createRegistry(reg);
      const img = buildScanImage();
      const push = (tag: string) =>
        mustRun(
          'buildah',
          [
            ...img.store,
            'push',
            '--tls-verify=false',
            '--creds',
            `${ADMIN_USER}:${ADMIN_PASSWORD}`,
            img.name,
            `docker://${f.host}/${reg}/${repo}:${tag}`,
          ],
          { timeoutMs: 120_000 },
        );
      // scan.mode auto: before any vulnerability data exists nothing is scanned (and no SBOM is
      // added to the repository); the first import scans what is already stored.
      await push('0.9');
      const early = await berthJson<ScanView>(f.url, ['scan', 'show', '-n', reg, '--image', `${repo}:0.9`]);
      assert.equal(early.status, 'not scanned');
      const loaded = await mustRun(
        process.execPath,
        [MAIN, 'vulndb', 'import', path.join(FIXTURES, 'osv'), '--source', 'test', ...cliServer(f.url)],
        {
          timeoutMs: 30_000,
        },
      );
      assert.match(loaded.stdout, /9 records/);
      await push('1.0');
    });
    after(async () => {
      await f?.cleanup();
    });

    test('a pushed image is scanned in the background: berth scan show reports the golden findings', { skip: gate.skip }, async () => {
      const view = await waitFor(
        'the scan to finish',
        async () => {
          const v = await berthJson<ScanView>(f.url, ['scan', 'show', '-n', reg, '--image', `${repo}:1.0`]);
          return v.status === 'succeeded' || v.status === 'failed' ? v : undefined;
        },
        60_000,
        500,
      );
      assert.equal(view.status, 'succeeded', view.message);
      digest = view.digest;
      assert.deepEqual(view.findings!.map(projection), expectedFindings());
      assert.equal(view.summary!.high, 2);
      assert.equal(view.summary!.total, expectedFindings().length);
      // Each finding names the layer that installed the package: the COPY layer here, not the RUN that rewrote the status file.
      const layers = new Set(view.findings!.map((x) => x.layer));
      assert.equal(layers.size, 1);
    });

    test('the SBOMs are referrers of the image (CycloneDX and SPDX), listing the installed packages', { skip: gate.skip }, async () => {
      assert.ok(digest, 'the scan test ran first');
      const res = await request('GET', `${f.url}/v2/${reg}/${repo}/referrers/${digest}`);
      assert.equal(res.status, 200);
      const index = JSON.parse(res.body.toString()) as { manifests: { artifactType: string; digest: string }[] };
      const types = index.manifests.map((m) => m.artifactType).sort();
      assert.deepEqual(types, ['application/spdx+json', 'application/vnd.cyclonedx+json']);
      const cdx = index.manifests.find((m) => m.artifactType === 'application/vnd.cyclonedx+json')!;
      const manifest = await getManifest(f.url, `${reg}/${repo}`, cdx.digest);
      const layer = (JSON.parse(manifest.body.toString()) as { layers: { digest: string }[] }).layers[0]!;
      const blob = await getBlob(f.url, `${reg}/${repo}`, layer.digest);
      const bom = JSON.parse(blob.body.toString()) as {
        specVersion: string;
        components: { name: string; version: string; purl?: string }[];
      };
      assert.equal(bom.specVersion, '1.5');
      const purls = bom.components.flatMap((c) => (c.purl ? [c.purl] : []));
      assert.ok(
        purls.some((p) => p.startsWith('pkg:npm/lodash@4.17.15')),
        purls.join('\n'),
      );
      assert.ok(
        purls.some((p) => p.startsWith('pkg:deb/debian/libssl3@3.0.11-1~deb12u1')),
        purls.join('\n'),
      );
      assert.ok(
        !purls.some((p) => p.includes('minimist') || p.includes('e2fsprogs')),
        'lockfile entries and purged packages are not in the SBOM',
      );
    });

    test('scan list --min-severity high lists the image; critical does not', { skip: gate.skip }, async () => {
      const high = await berthJson<ScanView[]>(f.url, ['scan', 'list', '-n', reg, '--min-severity', 'high']);
      assert.deepEqual(
        high.map((s) => s.digest),
        [digest],
      );
      assert.deepEqual(await berthJson<ScanView[]>(f.url, ['scan', 'list', '-n', reg, '--min-severity', 'critical']), []);
    });

    test('new vulnerability data is matched against the stored inventory, without scanning again', { skip: gate.skip }, async () => {
      const before = await berthJson<ScanView>(f.url, ['scan', 'show', '-n', reg, '--image', `${repo}:1.0`]);
      await mustRun(
        process.execPath,
        [MAIN, 'vulndb', 'import', path.join(FIXTURES, 'later'), '--source', 'test-later', ...cliServer(f.url)],
        {
          timeoutMs: 30_000,
        },
      );
      const v = await waitFor(
        'the re-match',
        async () => {
          const x = await berthJson<ScanView>(f.url, ['scan', 'show', '-n', reg, '--image', `${repo}@${digest}`]);
          return x.findings!.some((y) => y.id === 'DEBIAN-CVE-2023-4911') ? x : undefined;
        },
        60_000,
        500,
      );
      const glibc = v.findings!.find((y) => y.id === 'DEBIAN-CVE-2023-4911')!;
      assert.equal(glibc.package, 'libc6');
      assert.deepEqual(glibc.source, { name: 'glibc', version: '2.36-9+deb12u1' });
      assert.equal(v.scannedAt, before.scannedAt, 'the layers were not read again');
      assert.notEqual(v.matchedAt, before.matchedAt);
    });
  });
}
