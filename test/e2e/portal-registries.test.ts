import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BerthFixture, removeDir, tempDir } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';
import { mustRun, requireTool } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The registries screens in Chromium against a real `berth serve`: create a registry (the name's
// availability shown as it is typed), find it in the list, change its SKU, regenerate an admin
// password and push with it through skopeo, then delete the registry by typing its name. axe-core
// on each screen (no serious or critical violation) and the list on a 375 px wide phone.

const gate = chromiumGate().skip ? chromiumGate() : requireTool('skopeo');
const work = tempDir('portal-registries-e2e');

async function noSeriousAxe(page: Page, screen: string): Promise<void> {
  const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], screen);
}

async function fitsPhone(page: Page, url: string): Promise<void> {
  await page.goto(url);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `${url} is ${width} px wide at 375 px`);
}

describe('the registries screens in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  const taken = 'e2etakenname';
  const name = 'e2eportalreg';
  let layoutDir: string;

  before(async () => {
    f = await BerthFixture.start('sqlite');
    await f.createRegistry(taken);
    const layout = new OciLayout(path.join(work, 'src'));
    layout.tag('app', layout.addImage({ files: { 'hello.txt': 'hello from the portal test\n' } }));
    layout.write();
    layoutDir = layout.dir;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    removeDir(work);
  });

  test('create, list, change the SKU, regenerate a password and push with it, delete by typing the name', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.getByRole('heading', { name: 'Registries', level: 1 }).waitFor();
      await noSeriousAxe(page, 'registries list');

      // Create: the availability message appears as the name is typed.
      await Promise.all([page.waitForURL(/\/portal\/registries\/new$/), page.getByRole('link', { name: 'Create registry' }).click()]);
      await noSeriousAxe(page, 'create registry');
      const field = page.getByLabel('Registry name');
      await field.fill(taken);
      await page.getByText(`The registry ${taken} is already in use.`).waitFor({ timeout: 5_000 });
      await field.fill(name);
      await page.getByText(`${name} is available.`).waitFor({ timeout: 5_000 });
      await page.getByLabel('SKU').selectOption('Basic');
      await page.getByLabel(/Enable the admin user/).check();
      await Promise.all([
        page.waitForURL(new RegExp(`/portal/registries/${name}\\?done=created$`)),
        page.getByRole('button', { name: 'Create registry' }).click(),
      ]);
      await page.getByText('The registry was created.').waitFor();
      assert.ok((await page.textContent('main'))?.includes(`docker login ${f.host}/${name}`));
      await noSeriousAxe(page, 'registry overview');

      // Listed.
      await page.goto(`${f.url}/portal/registries`);
      await page.getByRole('link', { name, exact: true }).waitFor();

      // Settings: change the SKU.
      await page.goto(`${f.url}/portal/registries/${name}/settings`);
      await noSeriousAxe(page, 'registry settings');
      await page.getByLabel('SKU').selectOption('Standard');
      await Promise.all([page.waitForURL(/done=saved$/), page.getByRole('button', { name: 'Save settings' }).click()]);
      await page.getByText('The settings were saved.').waitFor();
      assert.equal(await page.getByLabel('SKU').inputValue(), 'Standard');

      // Regenerate password and push with it.
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Regenerate password', exact: true }).click()]);
      await page.getByText(`New password for ${name}`).waitFor();
      const password = (await page.locator('.secret code').textContent())?.trim() ?? '';
      assert.ok(password.length >= 20, `a new password is shown: "${password}"`);
      await mustRun(
        'skopeo',
        [
          'copy',
          '--dest-creds',
          `${name}:${password}`,
          '--dest-tls-verify=false',
          `oci:${layoutDir}:app`,
          `docker://${f.host}/${name}/hello/app:1`,
        ],
        { timeoutMs: 60_000 },
      );
      await page.goto(`${f.url}/portal/registries/${name}`);
      await page.getByText('1 repository: see them on the').waitFor();

      // Delete with typed confirmation: the button waits for the exact name.
      await page.goto(`${f.url}/portal/registries/${name}/settings`);
      const del = page.getByRole('button', { name: 'Delete registry' });
      assert.equal(await del.isDisabled(), true);
      await page.getByLabel(/Type .* to confirm/).fill(name);
      assert.equal(await del.isDisabled(), false);
      await Promise.all([page.waitForURL(/\/portal\/registries\?done=deleted$/), del.click()]);
      await page.getByText('The registry was deleted.').waitFor();
      assert.equal(await page.getByRole('link', { name, exact: true }).count(), 0);

      // On a phone: the list (and the other screens) fit 375 px.
      await page.setViewportSize({ width: 375, height: 740 });
      await fitsPhone(page, `${f.url}/portal/registries`);
      await fitsPhone(page, `${f.url}/portal/registries/new`);
      await fitsPhone(page, `${f.url}/portal/registries/${taken}`);
      await fitsPhone(page, `${f.url}/portal/registries/${taken}/settings`);
    } finally {
      await context.close();
    }
  });
});
