import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BerthFixture, MAIN, removeDir, ROOT, tempDir } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';
import { cliServer, mustRun, request, waitFor } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The scanning screens in Chromium against a real `berth serve`: vulnerability data imported with
// `berth vulndb import` (the scanner's OSV fixtures), an affected image pushed with skopeo, its
// findings opened from the registry's scanning screen, filtered by severity, and its SBOM viewed;
// axe-core on each screen (no serious or critical violation) and the findings on a 375 px phone.

const gate = chromiumGate();
const work = tempDir('portal-scanning-e2e');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'scan', 'osv');
const reg = 'scanportal';
const repo = 'tools/app';

/** The image: a Debian 12 dpkg database (openssl's libssl3), lodash and urllib3, each named by a fixture advisory. */
const FILES = {
  'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  'var/lib/dpkg/status':
    'Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n',
  'usr/lib/node_modules/lodash/package.json': JSON.stringify({ name: 'lodash', version: '4.17.15', license: 'MIT' }),
  'usr/lib/python3/dist-packages/urllib3-1.26.4.dist-info/METADATA': 'Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.4\n',
};

async function noSeriousViolations(page: Page, screen: string): Promise<void> {
  const found = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(found, [], screen);
}

describe('the scanning screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  let digest = '';

  before(async () => {
    f = await BerthFixture.start('sqlite');
    await f.createRegistry(reg);
    const loaded = await mustRun(process.execPath, [MAIN, 'vulndb', 'import', FIXTURES, '--source', 'test', ...cliServer(f.url)], {
      timeoutMs: 30_000,
    });
    assert.match(loaded.stdout, /9 records/);
    const layout = new OciLayout(path.join(work, 'src'));
    layout.tag('app', layout.addImage({ files: FILES }));
    layout.write();
    await mustRun(
      'skopeo',
      ['copy', '--authfile', f.authFile, '--dest-tls-verify=false', `oci:${layout.dir}:app`, `docker://${f.host}/${reg}/${repo}:1.0`],
      { timeoutMs: 60_000 },
    );
    const scan = await waitFor(
      'the scan of the pushed image',
      async () => {
        const res = await request('GET', `${f.url}/api/registries/${reg}/repositories/${repo}/_manifests/1.0/_scan`);
        const v = JSON.parse(res.body.toString('utf8')) as { status: string; digest: string };
        return v.status === 'succeeded' ? v : undefined;
      },
      30_000,
      100,
    );
    digest = scan.digest;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    removeDir(work);
  });

  const findingsUrl = () => `${f.url}/portal/registries/${reg}/repositories/${repo}/_manifests/${encodeURIComponent(digest)}/_scan`;

  test('from the scanning screen to the findings, filtered by severity, then the SBOM; axe on each screen', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.goto(`${f.url}/portal/registries/${reg}/scanning`);
      await page.getByRole('heading', { name: 'Scanning', level: 1 }).waitFor();
      await page.getByRole('heading', { name: 'Vulnerability data' }).waitFor();
      assert.ok((await page.textContent('main'))?.includes('2 high'), 'the badges of the image');
      await noSeriousViolations(page, 'the registry scanning screen');

      await Promise.all([page.waitForURL(/\/_scan$/), page.getByRole('link', { name: new RegExp(`^${repo}@`) }).click()]);
      const findings = page.getByRole('table', { name: /findings/ });
      await findings.waitFor();
      for (const id of ['DSA-5532-1', 'GHSA-35jh-r3h4-6jhm', 'GHSA-q2q7-5pp4-w6pg']) await findings.getByText(id).waitFor();
      await noSeriousViolations(page, 'the findings screen');

      await page.getByLabel('Minimum severity').selectOption('high');
      await Promise.all([page.waitForURL(/minSeverity=high/), page.getByRole('button', { name: 'Filter' }).click()]);
      await page.getByRole('table', { name: /2 of 3 findings/ }).waitFor();
      assert.equal(await page.getByText('DSA-5532-1').count(), 0, 'the unknown-severity finding is filtered out');
      await page.getByRole('cell', { name: 'lodash npm' }).waitFor();

      await Promise.all([page.waitForURL(/_sbom\?format=cyclonedx$/), page.getByRole('link', { name: 'packages' }).first().click()]);
      await page.getByRole('heading', { name: /^SBOM of/, level: 1 }).waitFor();
      for (const name of ['libssl3', 'lodash', 'urllib3']) await page.getByRole('cell', { name, exact: true }).waitFor();
      await noSeriousViolations(page, 'the SBOM screen');
    } finally {
      await context.close();
    }
  });

  test('on a 375 px wide phone the findings page needs no sideways scrolling', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD, { width: 375, height: 740 });
    try {
      await page.goto(findingsUrl());
      await page.getByRole('table', { name: /findings/ }).waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `the page is ${width} px wide`);
    } finally {
      await context.close();
    }
  });
});
