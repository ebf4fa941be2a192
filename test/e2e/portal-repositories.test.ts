import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BerthFixture, removeDir, tempDir } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';
import { mustFail, mustRun } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The repositories screens in Debian's Chromium against a real `berth serve`: an image pushed
// with skopeo is found from the repositories tab, its manifest page opened; a tag locked from the
// portal cannot be overwritten by skopeo; a tag deleted with its typed confirmation comes back
// from the recycle bin; axe-core on every screen; a 375 px phone needs no sideways scrolling.

const gate = chromiumGate();
const work = tempDir('portal-repos-e2e');
const REG = 'repose2e';
const REPO = 'site/web';

describe('the repositories screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  let layout: OciLayout;

  const skopeoCopy = (name: string, to: string) => [
    'copy',
    '--authfile',
    f.authFile,
    '--dest-tls-verify=false',
    `oci:${layout.dir}:${name}`,
    `docker://${f.host}/${REG}/${REPO}:${to}`,
  ];

  async function seriousViolations(page: Page, what: string): Promise<void> {
    const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad)}`);
  }

  /** Clicks something that loads a page (another, or the same again after a post), and waits for it. */
  async function go(page: Page, click: () => Promise<unknown>): Promise<void> {
    await Promise.all([page.waitForEvent('load'), click()]);
  }

  before(async () => {
    f = await BerthFixture.start('sqlite');
    await f.createRegistry(REG);
    const res = await fetch(`${f.url}/api/registries/${REG}/softDeletePolicy`, {
      method: 'PATCH',
      headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ status: 'enabled', retentionDays: 3 }),
    });
    assert.equal(res.status, 200, await res.text());
    layout = new OciLayout(path.join(work, 'src'));
    layout.tag('one', layout.addImage({ files: { 'index.html': '<h1>one</h1>\n' }, architecture: 'arm64' }));
    layout.tag('two', layout.addImage({ files: { 'index.html': '<h1>two</h1>\n' } }));
    layout.write();
    for (const [name, tag] of [
      ['one', '1.0'],
      ['one', 'old'],
    ])
      await mustRun('skopeo', skopeoCopy(name!, tag!), { timeoutMs: 60_000 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    removeDir(work);
  });

  test('from the repositories tab to the repository and its manifest page; axe on each', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.goto(`${f.url}/portal/registries/${REG}/repositories`);
      await page.getByRole('heading', { name: 'Repositories', level: 1 }).waitFor();
      await seriousViolations(page, 'repositories tab');
      await go(page, () => page.getByRole('link', { name: REPO, exact: true }).click());
      await page.getByRole('heading', { name: REPO, level: 1 }).waitFor();
      await page.getByRole('cell', { name: '1.0', exact: true }).waitFor();
      assert.ok((await page.textContent('main'))?.includes('linux/arm64'), 'the platform');
      await seriousViolations(page, 'tags');
      await go(page, () =>
        page
          .getByRole('row', { name: /^1\.0 / })
          .getByRole('link', { name: /^sha256:/ })
          .click(),
      );
      await page.getByRole('heading', { name: /^Manifest sha256:/, level: 1 }).waitFor();
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      const scan = await page.getByRole('link', { name: 'Vulnerabilities' }).first().getAttribute('href');
      assert.match(scan ?? '', /\/_manifests\/sha256%3A[0-9a-f]{64}\/_scan$/);
      assert.ok((await page.textContent('main'))?.includes('berth.e2e'), 'the config label');
      await seriousViolations(page, 'manifest page');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: 'Download the manifest' }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^sha256-[0-9a-f]{64}\.json$/);
      await go(page, () => page.getByRole('link', { name: REPO, exact: true }).click());
      for (const tab of ['Manifests', 'Deleted', 'Settings']) {
        await go(page, () => page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: tab }).click());
        await seriousViolations(page, tab);
      }
    } finally {
      await context.close();
    }
  });

  test('a tag locked in the portal cannot be overwritten by skopeo; unlocked, it can', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.goto(`${f.url}/portal/registries/${REG}/repositories/${REPO}`);
      await go(page, () => page.getByRole('button', { name: 'Lock write of tag 1.0' }).click());
      await page.getByText('The lock was changed.').waitFor();
      await page.getByRole('button', { name: 'Unlock write of tag 1.0' }).waitFor();
      const refused = await mustFail('skopeo', skopeoCopy('two', '1.0'), { timeoutMs: 60_000 });
      assert.match(refused.stderr, /denied|locked|403/i);
      await go(page, () => page.getByRole('button', { name: 'Unlock write of tag 1.0' }).click());
      await mustRun('skopeo', skopeoCopy('two', '1.0'), { timeoutMs: 60_000 });
    } finally {
      await context.close();
    }
  });

  test('delete a tag after typing its name, then restore it from the recycle bin', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.goto(`${f.url}/portal/registries/${REG}/repositories/${REPO}`);
      await go(page, () => page.getByRole('link', { name: 'Delete tag old' }).click());
      const button = page.getByRole('button', { name: 'Delete tag' });
      assert.ok(await button.isDisabled(), 'disabled until the name is typed');
      await seriousViolations(page, 'delete confirmation');
      await page.getByLabel('Type old to confirm').fill('old');
      assert.ok(await button.isEnabled());
      await go(page, () => button.click());
      await page.getByText('The tag was deleted.').waitFor();
      assert.equal(await page.getByRole('cell', { name: 'old', exact: true }).count(), 0);
      await go(page, () => page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Deleted' }).click());
      await go(page, () => page.getByRole('row', { name: /^old / }).getByRole('button', { name: 'Restore' }).click());
      await page.getByText('Restored.').waitFor();
      await page.goto(`${f.url}/portal/registries/${REG}/repositories/${REPO}`);
      await page.getByRole('cell', { name: 'old', exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  test('on a 375 px phone the repository and manifest screens need no sideways scrolling', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD, { width: 375, height: 740 });
    try {
      for (const at of [`/portal/registries/${REG}/repositories`, `/portal/registries/${REG}/repositories/${REPO}`]) {
        await page.goto(`${f.url}${at}`);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 375, `${at} is ${width} px wide`);
      }
      await page
        .getByRole('row', { name: /^1\.0 / })
        .getByRole('link', { name: /^sha256:/ })
        .click();
      await page.getByRole('heading', { name: 'Layers' }).waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `the manifest page is ${width} px wide`);
    } finally {
      await context.close();
    }
  });
});
