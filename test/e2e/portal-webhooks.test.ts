import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BerthFixture, removeDir, tempDir } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';
import { mustRun, waitFor } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The webhook and policy screens in Chromium against a real `berth serve` (egress to loopback
// allowed): a webhook created in the browser receives a skopeo push, its delivery log shows the
// request body and the receiver's hostile answer as text (no script runs), redeliver reaches the
// receiver again; a purge is previewed as a dry run and a purge schedule is set. axe-core on each
// screen, and the webhook screens at 375 px.

const gate = chromiumGate();
const work = tempDir('portal-webhooks-e2e');
const REG = 'hookportal';
const HOSTILE = `<script>alert(1)</script> "quoted" 'single' ünïcødé ✓`;

async function noSeriousViolations(page: Page, screen: string) {
  const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], screen);
}

describe('webhook and policy screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  // One signed-in browser context for every test: the flows build on each other, as a user's would.
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const received: { id: string; action: string }[] = [];
  let receiver: http.Server;
  let receiverUrl = '';

  before(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body) as { id: string; action: string });
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(HOSTILE);
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    f = await BerthFixture.start('sqlite', { BERTH_EGRESS_ALLOW_PRIVATE: 'true' });
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
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    removeDir(work);
  });

  async function skopeoPush(tag: string) {
    const layout = new OciLayout(path.join(work, `src-${tag}`));
    layout.tag('web', layout.addImage({ files: { 'index.html': `<h1>${tag}</h1>\n` } }));
    layout.write();
    await mustRun(
      'skopeo',
      ['copy', '--authfile', f.authFile, '--dest-tls-verify=false', `oci:${layout.dir}:web`, `docker://${f.host}/${REG}/site/web:${tag}`],
      { timeoutMs: 60_000 },
    );
  }

  test('create a webhook, push with skopeo, read the delivery in the log, redeliver it', async () => {
    await page.goto(`${f.url}/portal/registries/${REG}/webhooks`);
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await noSeriousViolations(page, 'webhooks list (empty)');

    const form = page.getByRole('form', { name: 'Create a webhook' });
    await form.getByLabel('Name', { exact: true }).fill('sitehook');
    await form.getByLabel('Service URI').fill(receiverUrl);
    await form.getByLabel('delete', { exact: true }).check();
    await Promise.all([page.waitForURL(/\/webhooks$/), form.getByRole('button', { name: 'Create webhook' }).click()]);
    await page.getByRole('heading', { name: 'Webhook created', level: 1 }).waitFor();
    assert.match((await page.locator('.secret code').textContent()) ?? '', /^[A-Za-z0-9_-]{40,}$/);
    await noSeriousViolations(page, 'webhook created (secret shown once)');

    await Promise.all([page.waitForURL(/\/webhooks\/sitehook$/), page.getByRole('link', { name: 'Open webhook sitehook' }).click()]);
    await skopeoPush('2.1');
    const first = await waitFor('the push at the receiver', () => Promise.resolve(received.find((r) => r.action === 'push')));
    await waitFor('the delivery in the log', async () => {
      await page.reload();
      return (await page.locator('.response-body').count()) > 0 || undefined;
    });
    const requestBody = (await page.locator('.request-body').first().textContent()) ?? '';
    assert.equal((JSON.parse(requestBody) as { id: string }).id, first.id);
    assert.match(requestBody, /"repository": "site\/web"/);
    assert.equal(await page.locator('.response-body').first().textContent(), HOSTILE, 'the answer as text');
    assert.equal(await page.locator('main script, main img').count(), 0, 'no markup from the answer');
    await noSeriousViolations(page, "a webhook's screen with its delivery log");

    const before = received.length;
    await Promise.all([page.waitForURL(/done=redelivered/), page.getByRole('button', { name: 'Redeliver' }).first().click()]);
    await page.getByText('The event was queued again').waitFor();
    const again = await waitFor('the redelivery at the receiver', () => Promise.resolve(received.slice(before)[0]));
    assert.equal(again.id, first.id);
    assert.deepEqual(dialogs, [], 'no script ran');
  });

  test('set a purge schedule; preview a purge as a dry run, which deletes nothing, then run it', async () => {
    await page.goto(`${f.url}/portal/registries/${REG}/policies`);
    await page.getByRole('heading', { name: 'Policies', level: 1 }).waitFor();
    await noSeriousViolations(page, 'policies');

    const schedule = page.getByRole('form', { name: 'Create a purge schedule' });
    await schedule.getByLabel('Schedule name').fill('nightly');
    await schedule.getByLabel('When (cron, UTC)').fill('0 3 * * *');
    await schedule.getByLabel('Filters', { exact: true }).fill('site/.*:.*');
    await schedule.getByLabel('Older than').fill('30d');
    await Promise.all([page.waitForURL(/done=scheduleAdded/), schedule.getByRole('button', { name: 'Create schedule' }).click()]);
    await page.getByRole('cell', { name: 'nightly', exact: true }).waitFor();

    const purge = page.getByRole('form', { name: 'Purge now' });
    await purge.getByLabel('Filters', { exact: true }).fill('site/web:.*');
    await purge.getByLabel('Older than').fill('0d');
    await Promise.all([page.waitForURL(/\/purge\/preview$/), purge.getByRole('button', { name: 'Preview' }).click()]);
    await page.getByRole('heading', { name: 'Purge preview', level: 1 }).waitFor();
    await page.getByText('Dry run: nothing was deleted').waitFor();
    await page.getByText('site/web:2.1', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Purge now' }).waitFor();
    await noSeriousViolations(page, 'purge preview');

    // The preview deleted nothing: the tag is still listed on its repository's screen.
    const other = await context.newPage();
    await other.goto(`${f.url}/portal/registries/${REG}/repositories/site/web`);
    await other.getByRole('cell', { name: '2.1', exact: true }).waitFor();
    await other.close();

    // Confirmed: the run's screen follows it (live) until it has deleted the tag.
    await Promise.all([page.waitForURL(/\/purge\/runs\/\d+/), page.getByRole('button', { name: 'Purge now' }).click()]);
    await page.getByText('succeeded', { exact: true }).waitFor({ timeout: 20_000 });
    await page.getByText('site/web:2.1', { exact: true }).waitFor();
    await noSeriousViolations(page, 'a purge run');
  });

  test('on a 375 px wide phone the webhook and policy screens need no sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    for (const at of [
      `/portal/registries/${REG}/webhooks`,
      `/portal/registries/${REG}/webhooks/sitehook`,
      `/portal/registries/${REG}/policies`,
    ]) {
      await page.goto(`${f.url}${at}`);
      await page.locator('h1').waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `${at} is ${width} px wide`);
    }
  });
});
