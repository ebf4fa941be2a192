import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BerthFixture } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';

// The task screens in Chromium against a real `berth serve` (which runs no tasks: tasks.enabled is
// off, so a run stays Queued): create a --cmd task in the form, Run now to the run's screen, which
// follows the run live (a cancel through the API shows up without a reload), then Run now again
// and Cancel in the browser. The hostile command is shown as text; no script runs. axe-core on
// each screen.

const gate = chromiumGate();
const REG = 'taskportal';
const CMD = `alpine echo <script>alert(1)</script> "quoted"`;

async function noSeriousViolations(page: Page, screen: string) {
  const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], screen);
}

describe('task screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];

  before(async () => {
    f = await BerthFixture.start('sqlite');
    await f.createRegistry(REG);
    browser = await launchChromium();
    ({ context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await f?.cleanup();
  });

  test('create a task, run it, follow the run live, cancel it', async () => {
    await page.goto(`${f.url}/portal/registries/${REG}`);
    await Promise.all([page.waitForURL(/\/tasks$/), page.getByRole('link', { name: 'Tasks', exact: true }).first().click()]);
    await page.getByRole('heading', { name: 'Tasks', level: 1 }).waitFor();
    await page.getByText('No tasks yet.').waitFor();
    await noSeriousViolations(page, 'tasks list (empty)');

    const form = page.getByRole('form', { name: 'Create a task' });
    await form.getByLabel('Name', { exact: true }).fill('hello-task');
    await form.getByLabel('Context', { exact: true }).fill('/dev/null');
    await form.getByLabel('Command', { exact: true }).fill(CMD);
    await form.getByLabel('Timer (cron, UTC)').fill('0 3 * * *');
    await Promise.all([page.waitForURL(/\/tasks\/hello-task\?done=created$/), form.getByRole('button', { name: 'Create task' }).click()]);
    await page.getByRole('heading', { name: 'Task hello-task', level: 1 }).waitFor();
    assert.match(
      (await page.locator('pre.task-file').textContent()) ?? '',
      /alpine echo <script>alert\(1\)<\/script>/,
      'the command as text',
    );
    assert.equal(await page.locator('main script, main img').count(), 0, 'no markup from the command');
    await page.getByRole('cell', { name: '0 3 * * *', exact: true }).waitFor();
    await noSeriousViolations(page, "a task's screen");

    // Run now: the run's screen, live while the run is queued.
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+\?done=queued$/), page.getByRole('button', { name: 'Run now' }).click()]);
    const runId = /\/runs\/([^/?]+)/.exec(page.url())![1]!;
    await page.getByText('The run is queued').waitFor();
    await page.locator('[data-live] .badge', { hasText: 'Queued' }).waitFor();
    await noSeriousViolations(page, "a queued run's screen");

    // Canceled elsewhere (the API): the live fragment shows it without a reload.
    const res = await fetch(`${f.url}/api/registries/${REG}/runs/${runId}/cancel`, {
      method: 'POST',
      headers: { Authorization: adminAuthHeader() },
    });
    assert.equal(res.status, 202);
    await page.locator('[data-live] .badge', { hasText: 'Canceled' }).waitFor({ timeout: 6000 });
    await page.getByText('canceled before it started').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);

    // Run again, and cancel in the browser.
    await page.goto(`${f.url}/portal/registries/${REG}/tasks/hello-task`);
    await Promise.all([page.waitForURL(/\/runs\/[^/?]+\?done=queued$/), page.getByRole('button', { name: 'Run now' }).click()]);
    const second = /\/runs\/([^/?]+)/.exec(page.url())![1]!;
    assert.notEqual(second, runId);
    await Promise.all([page.waitForURL(/done=canceled$/), page.getByRole('button', { name: 'Cancel run' }).click()]);
    await page.getByText('The run was canceled').waitFor();
    await page.locator('.badge', { hasText: 'Canceled' }).waitFor();

    // The run list shows both, filtered by status.
    await page.goto(`${f.url}/portal/registries/${REG}/runs?status=Canceled`);
    await page.getByRole('link', { name: runId, exact: true }).waitFor();
    await page.getByRole('link', { name: second, exact: true }).waitFor();
    await noSeriousViolations(page, 'runs list');
    assert.deepEqual(dialogs, [], 'no script ran');

    // On a 375 px wide phone the screens need no sideways scrolling.
    await page.setViewportSize({ width: 375, height: 740 });
    for (const at of [
      `/portal/registries/${REG}/tasks`,
      `/portal/registries/${REG}/tasks/hello-task`,
      `/portal/registries/${REG}/runs/${second}`,
    ]) {
      await page.goto(`${f.url}${at}`);
      await page.locator('h1').waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `${at} is ${width} px wide`);
    }
  });
});
