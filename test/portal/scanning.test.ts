import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { advisory } from '../../src/http/portal/scanning/manifest.js';
import { scanBadges } from '../../src/http/portal/scanning/badges.js';
import { sbomPackages } from '../../src/http/portal/scanning/sbom.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, basicAuthHeader, startTestApp, type TestApp } from '../helpers/app.js';
import { BACKENDS, backendGate } from '../helpers/backends.js';
import { ROOT } from '../helpers/berth-process.js';
import { gzLayer } from '../helpers/layers.js';
import { blobOf, imageManifest, MT } from '../helpers/oci.js';
import { PortalClient, unescapeHtml } from '../helpers/portal.js';

// The scanning screens over HTTP, on SQLite and PostgreSQL: a registry's scanned images with the
// severity filter, its scan policy (edited through the form) and the vulnerability data's status;
// an image's findings with severity filters, its SBOM (table and JSON download), "scan now" and
// its quarantine state. OSV data and package names carrying markup are shown as text; an AcrPull
// user can read the findings but neither change the policy, scan, nor change the quarantine state.

const OSV_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'scan', 'osv', 'DSA-5532-1.json');
const CRITICAL = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H';
const HIGH = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N';
const HOSTILE_PACKAGE = `x"><script>alert('pkg')</script>`;
const HOSTILE_SUMMARY = `<script>alert("osv")</script> & "quoted" — ünïcødé <img src=x onerror=alert(1)>`;

/** OSV records: the real DSA-5532-1 fixture (openssl, no severity) and two written for this test. */
function records(): unknown[] {
  const debian = (id: string, name: string, fixed: string, score: string, summary: string) => ({
    id,
    modified: '2026-11-30T10:00:00Z',
    summary,
    severity: [{ type: 'CVSS_V3', score }],
    affected: [{ package: { ecosystem: 'Debian:12', name }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }] }],
  });
  return [
    JSON.parse(readFileSync(OSV_FIXTURE, 'utf8')),
    debian('https://advisories.example/BERTH-2026-1', 'glibc', '2.36-9+deb12u4', CRITICAL, 'glibc - buffer overflow'),
    debian('javascript:alert(1)', 'evil', '1.1', HIGH, HOSTILE_SUMMARY),
  ];
}

const dpkg = (pkg: string, source: string, version: string) =>
  `Package: ${pkg}\nStatus: install ok installed\nArchitecture: amd64\nSource: ${source}\nVersion: ${version}\n`;

describe('scanning templates', () => {
  test('scanBadges: a badge per severity with findings, in words; "no findings"; "not scanned"', () => {
    const badges = scanBadges({ critical: 2, high: 0, medium: 1, low: 0, none: 4, unknown: 3, total: 10, fixable: 1 }).text;
    assert.match(badges, /<span class="badge critical"\s*>2 critical<\/span/);
    assert.match(badges, /<span class="badge"\s*>1 medium<\/span/);
    assert.match(badges, /<span class="badge"\s*>3 unknown<\/span/);
    assert.ok(!badges.includes('high') && !badges.includes('none'));
    assert.match(
      scanBadges({ critical: 0, high: 0, medium: 0, low: 0, none: 0, unknown: 0, total: 0, fixable: 0 }).text,
      /badge ok">no findings/,
    );
    assert.match(scanBadges(undefined).text, /not scanned/);
    // Counts are numbers, whatever a caller passes.
    assert.ok(!scanBadges({ high: '<b>1</b>' as unknown as number }).text.includes('<b>'));
  });

  test('advisory: only an https URL becomes a link; anything else is text', () => {
    assert.equal(advisory('CVE-2024-1234').text, '<code>CVE-2024-1234</code>');
    for (const id of ['javascript:alert(1)', 'data:text/html,<script>x</script>', 'http://example.test/a', 'JAVASCRIPT:alert(1)'])
      assert.ok(!advisory(id).text.includes('<a '), id);
    assert.ok(!advisory('data:text/html,<script>x</script>').text.includes('<script>'));
    const link = advisory('https://example.test/a?"><script>x</script>').text;
    assert.match(link, /^<a href="https:\/\/example\.test\/a\?%22%3E%3Cscript%3Ex%3C\/script%3E" rel="noopener noreferrer">/);
    assert.ok(!link.includes('<script>'));
  });

  test('sbomPackages: fields of the wrong type are read as empty text, never as objects', () => {
    const rows = sbomPackages({
      bomFormat: 'CycloneDX',
      components: [{ name: { toString: 1 }, version: ['1'], purl: 'pkg:npm/x@1', licenses: [{ license: { id: 'MIT' } }] }, 'junk', null],
    });
    assert.deepEqual(rows[0], { name: '', version: '', ecosystem: '', licenses: 'MIT', purl: 'pkg:npm/x@1', path: '' });
    assert.equal(rows.length, 3);
    assert.deepEqual(sbomPackages('not a document'), []);
    assert.deepEqual(
      sbomPackages({ spdxVersion: 'SPDX-2.3', packages: [{ name: 'a', versionInfo: '1', licenseDeclared: 'NOASSERTION' }] }),
      [{ name: 'a', version: '1', ecosystem: '', licenses: '', purl: '', path: '' }],
    );
  });
});

for (const backend of BACKENDS) {
  describe(`portal scanning screens on ${backend}`, await backendGate(backend), () => {
    let t: TestApp;
    let reg: string;
    const repo = 'team/app';
    let digest = '';
    let owner: PortalClient;
    let puller: PortalClient;
    const pull = { name: `scan.puller${process.pid}`, password: 'puller password 1' };

    async function call(method: string, p: string, body?: unknown): Promise<unknown> {
      const res = await t.fetch(p, {
        method,
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    }

    const scanApi = () => `/api/registries/${reg}/repositories/${repo}/_manifests/${digest}/_scan`;
    const scanPage = () => `/portal/registries/${reg}/repositories/${repo}/_manifests/${encodeURIComponent(digest)}/_scan`;
    const sbomPage = (format: string, download = false) =>
      `/portal/registries/${reg}/repositories/${repo}/_manifests/${encodeURIComponent(digest)}/_sbom?format=${format}${download ? '&download=1' : ''}`;

    async function settled(): Promise<{ status: string; scannedAt?: string }> {
      const start = Date.now();
      for (;;) {
        const v = (await call('GET', scanApi())) as { status: string; scannedAt?: string };
        if (v.status !== 'queued' && v.status !== 'running') return v;
        if (Date.now() - start > 20_000) assert.fail(`the scan is still ${v.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    const quarantineState = async () =>
      (
        (await call('GET', `/acr/v1/${reg}/${repo}/_manifests/${digest}`)) as {
          manifest: { changeableAttributes: { quarantineState?: string } };
        }
      ).manifest.changeableAttributes.quarantineState;

    before(async () => {
      t = await startTestApp(backend, { jobs: { pollIntervalMs: 20 } });
      reg = await t.createRegistry(`scanportal${process.pid}`);
      await call('PATCH', `/api/registries/${reg}`, { policies: { quarantinePolicy: { status: 'enabled' } } });
      const res = await t.fetch('/api/vulndb/imports?source=portal', {
        method: 'POST',
        headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
        body: JSON.stringify(records()),
      });
      assert.equal(res.status, 201, await res.text());
      // An image whose dpkg database names the affected packages (one of them with markup in its name).
      const v2 = t.v2();
      const name = `${reg}/${repo}`;
      const layer = await gzLayer([
        { name: 'etc/os-release', data: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' },
        {
          name: 'var/lib/dpkg/status',
          data: [
            dpkg('libssl3', 'openssl', '3.0.11-1~deb12u1'),
            dpkg('libc6', 'glibc', '2.36-9+deb12u1'),
            dpkg(HOSTILE_PACKAGE, 'evil', '1.0'),
          ].join('\n'),
        },
      ]);
      const config = await v2.pushBlob(
        name,
        blobOf(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })),
      );
      const blob = await v2.pushBlob(name, blobOf(layer.bytes));
      const put = await v2.putManifest(
        name,
        'v1',
        imageManifest({ mediaType: MT.ociConfig, digest: config.digest, size: config.size }, [
          { mediaType: MT.ociLayer, digest: blob.digest, size: blob.size },
        ]),
      );
      assert.equal(put.status, 201, await put.text());
      digest = put.headers.get('docker-content-digest')!;
      assert.equal((await settled()).status, 'succeeded');

      await call('POST', '/api/users', pull);
      await call('POST', '/api/role-assignments', { assignee: pull.name, role: 'AcrPull', scope: `/registries/${reg}` });
      owner = await PortalClient.signedIn(t, ADMIN_USER, ADMIN_PASSWORD);
      puller = await PortalClient.signedIn(t, pull.name, pull.password);
    });
    after(() => t?.close());

    test('the registry screen lists the scanned image with its badges, filters by severity, and shows the policy and the data', async () => {
      const page = await owner.page(`/portal/registries/${reg}/scanning`);
      assert.match(page, /<h1>Scanning<\/h1>/);
      assert.ok(page.includes(`href="${scanPage()}"`), 'links to the image scan');
      assert.match(page, /<span class="badge critical"\s*>1 critical<\/span/);
      assert.match(page, /<span class="badge high"\s*>1 high<\/span/);
      assert.match(page, /<span class="badge"\s*>1 unknown<\/span/);
      // Under the quarantine policy the scanner decided the image: a high finding fails it by default.
      assert.match(page, /<td>Failed<\/td>/);
      assert.match(page, /a high or critical finding/);
      assert.match(page, /<dt>Records<\/dt>\s*<dd>3 \(0 withdrawn\)<\/dd>/);
      assert.match(page, /<td>portal<\/td>/);
      // The repository's tags table shows the same badges, linked to the image's scan.
      const tagsPage = await owner.page(`/portal/registries/${reg}/repositories/${repo}`);
      assert.ok(tagsPage.includes(`<a href="${scanPage()}" class="badge-link">`), 'badges link to the scan');
      assert.match(tagsPage, /<span class="badge critical"\s*>1 critical<\/span/);

      const critical = await owner.page(`/portal/registries/${reg}/scanning?minSeverity=critical`);
      assert.ok(critical.includes(`href="${scanPage()}"`));
      // No image has only "none" findings: the severity filter of the API is applied (an unknown one is refused).
      const bad = await owner.get(`/portal/registries/${reg}/scanning?minSeverity=nonsense`);
      assert.equal(bad.status, 400);
      assert.match(unescapeHtml(await bad.text()), /"nonsense" is not a severity/);
    });

    test('the findings page: every finding, filtered by severity, hostile data shown as text, https ids linked only', async () => {
      const page = await owner.page(scanPage());
      assert.match(page, /<dt>Status<\/dt>\s*<dd>succeeded<\/dd>/);
      assert.match(page, /3 findings/);
      assert.ok(page.includes('DSA-5532-1'));
      assert.ok(page.includes('<a href="https://advisories.example/BERTH-2026-1" rel="noopener noreferrer">'), 'an https id is a link');
      assert.ok(!/href="javascript:/i.test(page), 'a javascript: id is never a link');
      assert.ok(page.includes('<code>javascript:alert(1)</code>'));
      // Markup from the OSV data and the image is text: escaped, never live.
      assert.ok(!page.includes('<script>alert'), 'no script from the data');
      assert.ok(!page.includes('<img src=x'), 'no markup from the data');
      const text = unescapeHtml(page);
      assert.ok(text.includes(HOSTILE_SUMMARY), 'the description is shown as text');
      assert.ok(text.includes(HOSTILE_PACKAGE), 'the package name is shown as text');
      assert.ok(text.includes('3.0.11-1~deb12u2'), 'fixed version');
      assert.ok(text.includes('source openssl 3.0.11-1~deb12u1'), 'matched by source');

      const high = await owner.page(`${scanPage()}?minSeverity=high`);
      assert.match(high, /2 of 3 findings \(high or higher\)/);
      assert.ok(!high.includes('DSA-5532-1'), 'the unknown finding is filtered out');
      assert.ok(high.includes('BERTH-2026-1'));
      const criticalOnly = await owner.page(`${scanPage()}?minSeverity=critical`);
      assert.match(criticalOnly, /1 of 3 findings/);
      assert.ok(!unescapeHtml(criticalOnly).includes(HOSTILE_PACKAGE));
    });

    test('the SBOM: a package table from the CycloneDX and SPDX referrers, and a JSON download', async () => {
      const page = await owner.page(scanPage());
      assert.ok(unescapeHtml(page).includes(`href="${sbomPage('cyclonedx')}"`), 'links to the SBOM table');
      assert.ok(unescapeHtml(page).includes(`href="${sbomPage('cyclonedx', true)}" download`), 'and to its download');
      const cdx = await owner.page(sbomPage('cyclonedx'));
      assert.match(cdx, /4 packages/); // the operating system and three dpkg packages
      assert.ok(cdx.includes('<td>libssl3</td>'));
      assert.ok(!cdx.includes('<script>alert'));
      assert.ok(unescapeHtml(cdx).includes(HOSTILE_PACKAGE));
      const spdx = await owner.page(sbomPage('spdx'));
      assert.ok(spdx.includes('<td>libc6</td>'));
      assert.match(spdx, /4 packages/, 'the image the document describes is not one of its packages');
      assert.ok(spdx.includes('<code>var/lib/dpkg/status</code>'), 'where each package was found');
      const file = await owner.get(sbomPage('cyclonedx', true));
      assert.equal(file.status, 200);
      assert.match(file.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(file.headers.get('content-disposition') ?? '', /^attachment; filename="team_app-[0-9a-f]{12}\.cdx\.json"$/);
      const doc = (await file.json()) as { bomFormat: string; components: { name: string }[] };
      assert.equal(doc.bomFormat, 'CycloneDX');
      assert.ok(doc.components.some((c) => c.name === 'libc6'));
    });

    test('scan policy: the form saves it through the API; a bad allow entry is refused with its reason and changes nothing', async () => {
      const res = await owner.post(`/portal/registries/${reg}/scanning`, {
        failOn: 'critical',
        ignoreUnfixed: 'on',
        allow: 'CVE-2023-5363 2027-01-31\nGHSA-xxxx-yyyy-zzzz\n',
      });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), `/portal/registries/${reg}/scanning?done=policy`);
      assert.deepEqual(await call('GET', `/api/registries/${reg}/scanPolicy`), {
        failOn: 'critical',
        ignoreUnfixed: true,
        allow: [{ id: 'CVE-2023-5363', expires: '2027-01-31' }, { id: 'GHSA-xxxx-yyyy-zzzz' }],
      });
      const page = await owner.page(`/portal/registries/${reg}/scanning?done=policy`);
      assert.match(page, /Scan policy saved/);
      assert.match(page, /<option value="critical" selected>/);
      assert.match(page, /CVE-2023-5363 2027-01-31/);

      const bad = await owner.post(`/portal/registries/${reg}/scanning`, { failOn: 'high', allow: '<script>x</script>' });
      assert.equal(bad.status, 400);
      const text = await bad.text();
      assert.match(text, /must be an advisory id/);
      assert.ok(!text.includes('<script>x'));
      const badFailOn = await owner.post(`/portal/registries/${reg}/scanning`, { failOn: 'sometimes', allow: '' });
      assert.equal(badFailOn.status, 400);
      assert.match(await badFailOn.text(), /failOn must be one of/);
      assert.equal(((await call('GET', `/api/registries/${reg}/scanPolicy`)) as { failOn: string }).failOn, 'critical');
    });

    test('scan now queues a scan; the quarantine state is changed through the form', async () => {
      const before = await settled();
      const res = await owner.post(scanPage(), { action: 'scan' });
      assert.equal(res.status, 303);
      assert.match(res.headers.get('location') ?? '', /_scan\?done=scan$/);
      const after = await settled();
      assert.notEqual(after.scannedAt, before.scannedAt, 'scanned again');

      const passed = await owner.post(scanPage(), { action: 'quarantine', state: 'Passed' });
      assert.equal(passed.status, 303, await passed.text());
      assert.equal(await quarantineState(), 'Passed');
      const page = await owner.page(`${scanPage()}?done=quarantine-Passed`);
      assert.match(page, /Quarantine state set to Passed/);
      assert.match(page, /<span class="badge ok">Passed<\/span>/);
      const wrong = await owner.post(scanPage(), { action: 'quarantine', state: 'Gone' });
      assert.equal(wrong.status, 400);
      assert.equal(await quarantineState(), 'Passed');
    });

    test('GET …/_sbom of /api: either format as JSON; a bad format is refused; pull is needed', async () => {
      const sbom = `/api/registries/${reg}/repositories/${repo}/_manifests/${digest}/_sbom`;
      const spdx = (await call('GET', `${sbom}?format=spdx`)) as { spdxVersion: string };
      assert.equal(spdx.spdxVersion, 'SPDX-2.3');
      const byTag = (await call('GET', `/api/registries/${reg}/repositories/${repo}/_manifests/v1/_sbom`)) as { bomFormat: string };
      assert.equal(byTag.bomFormat, 'CycloneDX');
      const bad = await t.fetch(`${sbom}?format=xml`, { headers: { Authorization: adminAuthHeader() } });
      assert.equal(bad.status, 400);
      assert.deepEqual(((await bad.json()) as { errors: { code: string; message: string }[] }).errors[0], {
        code: 'REQUEST_INVALID',
        message: '"xml" is not an SBOM format: use cyclonedx or spdx',
      });
      const asPuller = await t.fetch(sbom, { headers: { Authorization: basicAuthHeader(pull.name, pull.password) } });
      assert.equal(asPuller.status, 200);
      const stranger = { name: `scan.stranger${process.pid}`, password: 'stranger password 1' };
      await call('POST', '/api/users', stranger);
      const refused = await t.fetch(sbom, { headers: { Authorization: basicAuthHeader(stranger.name, stranger.password) } });
      assert.ok([403, 404].includes(refused.status), String(refused.status));
    });

    test('an AcrPull user reads the findings but may not change the policy, scan, or change the quarantine state', async () => {
      const policy = await call('GET', `/api/registries/${reg}/scanPolicy`);
      const findings = await puller.page(scanPage());
      assert.ok(findings.includes('BERTH-2026-1'));
      // The registry's scanning screen needs the registry's read power (the scan list and policy).
      const screen = await puller.get(`/portal/registries/${reg}/scanning`);
      assert.ok([403, 404].includes(screen.status), String(screen.status));

      const change = await puller.post(`/portal/registries/${reg}/scanning`, { failOn: 'never', allow: '' });
      assert.ok([403, 404].includes(change.status), String(change.status));
      assert.deepEqual(await call('GET', `/api/registries/${reg}/scanPolicy`), policy);

      const scannedAt = (await settled()).scannedAt;
      const scan = await puller.post(scanPage(), { action: 'scan' });
      assert.equal(scan.status, 403);
      assert.equal(((await call('GET', scanApi())) as { status: string }).status, 'succeeded');
      assert.equal((await settled()).scannedAt, scannedAt, 'not scanned again');

      for (const state of ['Failed', 'Quarantined']) {
        const q = await puller.post(scanPage(), { action: 'quarantine', state });
        assert.equal(q.status, 403, state);
      }
      assert.equal(await quarantineState(), 'Passed');
    });
  });
}
