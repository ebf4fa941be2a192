import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BerthFixture } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { FakeUpstream, makeImage } from '../helpers/fake-upstream.js';
import { browserSignIn } from '../helpers/portal.js';

// The operations screens in Chromium against a real `berth serve`: an import started from the
// Imports tab whose status changes to Succeeded on the screen without a reload (portal.js follows
// the live fragment), a garbage collection run, the activity log filtered, axe-core on every
// screen of the area, and the jobs screen on a 375 px wide phone.

const gate = chromiumGate();
const REG = 'opsportal';

async function assertAccessible(page: Page, what: string): Promise<void> {
  const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], what);
}

describe('the operations screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let up: FakeUpstream;
  let browser: Browser;
  /** The owner, signed in once for the desktop tests. */
  let page: Page;

  before(async () => {
    // A slow upstream (about 2 s for the image), so the import is seen running before it ends.
    up = new FakeUpstream({ bytesPerSecond: 512 * 1024 });
    up.add('team/app', 'v1', makeImage([1024 * 1024]));
    await up.start();
    f = await BerthFixture.start('sqlite', { BERTH_EGRESS_ALLOW_PRIVATE: 'true', BERTH_JOBS_POLL_INTERVAL_MS: '100' });
    await f.createRegistry(REG);
    browser = await launchChromium();
    ({ page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD));
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    await up?.close();
  });

  test('an import started from the Imports tab turns Succeeded on its screen without a reload', async () => {
    await page.goto(`${f.url}/portal/registries/${REG}/imports`);
    await assertAccessible(page, 'the imports tab');
    await page.getByLabel('Source registry').fill(up.host);
    await page.getByLabel('Source image').fill('team/app:v1');
    await page.getByLabel('Target tags').fill('app:v1');
    await Promise.all([page.waitForURL(/\/imports\/\d+\?done=started$/), page.getByRole('button', { name: 'Start import' }).click()]);
    const live = page.locator('[data-live]');
    assert.match((await live.textContent()) ?? '', /Queued|Running/);
    // The same document all along: a reload would lose this mark.
    await page.evaluate(() => ((globalThis as unknown as { mark: number }).mark = 42));
    await live.getByText('Succeeded', { exact: true }).waitFor({ timeout: 20_000 });
    assert.equal(await page.evaluate(() => (globalThis as unknown as { mark?: number }).mark), 42, 'no reload');
    assert.match((await live.textContent()) ?? '', /sha256:[0-9a-f]{64}/);
    await assertAccessible(page, "an import's screen");
    await page.goto(`${f.url}/portal/registries/${REG}/imports`);
    await page
      .getByRole('cell', { name: `${up.host}/team/app:v1` })
      .first()
      .waitFor();
  });

  test('garbage collection: run it now and see the run end; every operations screen passes axe', async () => {
    await page.goto(`${f.url}/portal/operations/gc`);
    await assertAccessible(page, 'garbage collection');
    await Promise.all([
      page.waitForURL(/\/portal\/operations\/gc\/runs\/\d+\?done=started$/),
      page.getByRole('button', { name: 'Run garbage collection now' }).click(),
    ]);
    await page.locator('[data-live]').getByText('succeeded', { exact: true }).waitFor({ timeout: 20_000 });
    await assertAccessible(page, 'a garbage collection run');

    await page.goto(`${f.url}/portal/operations`);
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    await assertAccessible(page, 'jobs');
    await Promise.all([
      page.waitForURL(/\/portal\/operations\/jobs\/\d+$/),
      page
        .getByRole('link', { name: /^Job \d+$/ })
        .first()
        .click(),
    ]);
    await assertAccessible(page, "a job's screen");
    for (const [path, what] of [
      ['/portal/operations/audit', 'the login log'],
      ['/portal/operations/audit?log=repository', 'the repository log'],
    ] as const) {
      await page.goto(`${f.url}${path}`);
      await assertAccessible(page, what);
    }
  });

  test('the activity log filtered by operation and result', async () => {
    await page.goto(`${f.url}/portal/operations/activity`);
    await assertAccessible(page, 'the activity log');
    await page.getByLabel('Operation', { exact: true }).fill('Microsoft.ContainerRegistry/registries/importImage/action');
    await page.getByLabel('Result', { exact: true }).selectOption('Accepted');
    await Promise.all([page.waitForURL(/result=Accepted/), page.getByRole('button', { name: 'Filter' }).click()]);
    const rows = page.locator('tbody tr');
    assert.equal(await rows.count(), 1, 'the one accepted import request');
    assert.match((await rows.first().textContent()) ?? '', /importImage\/action[\s\S]*Accepted/);
    assert.equal(await page.getByLabel('Result', { exact: true }).inputValue(), 'Accepted', 'the form keeps the filters');
  });

  test('on a 375 px wide phone the jobs screen needs no sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${f.url}/portal/operations`);
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide`);
  });
});
