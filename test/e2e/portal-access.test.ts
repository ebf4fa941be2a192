import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BerthFixture, removeDir, tempDir } from '../helpers/berth-process.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { browserSignIn } from '../helpers/portal.js';
import { requireTool, run } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The Access screens in Debian's Chromium against a real `berth serve`: the owner makes a scope
// map and a token, generates its password and hands it to skopeo (allowed where the map says,
// refused elsewhere and once the token is disabled); creates a user and gives it AcrPull; axe-core
// on every Access screen; /portal/access on a 375 px phone.

const gate = chromiumGate();
const tools = requireTool('skopeo');
const work = tempDir('portal-access-e2e');
const REG = 'accesse2e';

async function noSeriousAxe(page: Page, what: string): Promise<void> {
  const bad = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], what);
}

/** Clicks a submit control and waits for the page it leads to. */
async function submit(page: Page, click: () => Promise<void>): Promise<void> {
  await Promise.all([page.waitForNavigation(), click()]);
}

describe('the Access screens in Chromium', { skip: gate.skip ?? tools.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  let layout: OciLayout;

  before(async () => {
    f = await BerthFixture.start('sqlite');
    await f.createRegistry(REG);
    layout = new OciLayout(path.join(work, 'src'));
    layout.tag('web', layout.addImage({ files: { 'index.html': '<h1>access</h1>\n' } }));
    layout.write();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    removeDir(work);
  });

  /** skopeo copy of the test image to REG/<repo>:1 as user:password; true when it succeeded. */
  async function pushAs(user: string, password: string, repo: string): Promise<{ ok: boolean; stderr: string }> {
    const r = await run(
      'skopeo',
      [
        'copy',
        '--dest-creds',
        `${user}:${password}`,
        '--dest-tls-verify=false',
        `oci:${layout.dir}:web`,
        `docker://${f.host}/${REG}/${repo}:1`,
      ],
      { timeoutMs: 60_000 },
    );
    return { ok: r.code === 0, stderr: r.stderr };
  }

  test('a scope map and a token: its generated password pushes where the map allows, nowhere else, and not once disabled', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      const access = `${f.url}/portal/registries/${REG}/access`;
      await page.goto(access);
      await page.getByRole('heading', { name: 'Access', level: 1 }).waitFor();
      await noSeriousAxe(page, "a registry's Access screen");

      // A scope map: read and write on allowed/app.
      await page.getByText('Create a scope map').click();
      const mapForm = page.locator('form[aria-label="Create a scope map"]');
      await mapForm.getByLabel('Scope map name').fill('pushmap');
      const row = mapForm.locator('fieldset', { hasText: 'Repository 1' });
      await row.getByLabel('Repository name').fill('allowed/app');
      await row.getByLabel('content/read').check();
      await row.getByLabel('content/write').check();
      await submit(page, () => mapForm.getByRole('button', { name: 'Create scope map' }).click());
      await page.getByRole('heading', { name: 'Scope map pushmap', level: 1 }).waitFor();
      assert.ok((await page.textContent('main'))?.includes('Scope map created.'));
      await noSeriousAxe(page, 'a scope map');

      // A token with that map, then a fresh password1 for it.
      await page.goto(access);
      await page.getByText('Create a token').click();
      const tokenForm = page.locator('form[aria-label="Create a token"]');
      await tokenForm.getByLabel('Token name').fill('pushtoken');
      await tokenForm.getByLabel('Scope map').selectOption('pushmap');
      await submit(page, () => tokenForm.getByRole('button', { name: 'Create token' }).click());
      await page.getByRole('heading', { name: 'Token pushtoken created', level: 1 }).waitFor();
      assert.equal(await page.locator('.secret').count(), 2, 'both passwords, once');
      await noSeriousAxe(page, 'the passwords shown once');
      const first = (await page.locator('.secret code').first().textContent())!;

      await submit(page, () => page.getByRole('link', { name: 'Go to the token' }).click());
      await page.getByRole('heading', { name: 'Token pushtoken', level: 1 }).waitFor();
      assert.ok(!(await page.content()).includes(first), 'the token page does not show a password');
      await noSeriousAxe(page, 'a token');
      await submit(page, () => page.getByRole('button', { name: 'Generate password1' }).click());
      await page.getByRole('heading', { name: 'New password1 of pushtoken', level: 1 }).waitFor();
      const password = (await page.locator('.secret code').first().textContent())!;
      assert.ok(password.length >= 12 && password !== first);

      const allowed = await pushAs('pushtoken', password, 'allowed/app');
      assert.ok(allowed.ok, `push to allowed/app: ${allowed.stderr}`);
      const other = await pushAs('pushtoken', password, 'other/app');
      assert.ok(!other.ok, 'push to other/app is refused');
      assert.match(other.stderr, /denied|unauthorized|authentication required|403|401/i);
      const old = await pushAs('pushtoken', first, 'allowed/app');
      assert.ok(!old.ok, 'the replaced password1 no longer works');

      // Disable the token: its password stops working.
      await page.goto(`${access}/tokens/pushtoken`);
      await submit(page, () => page.getByRole('button', { name: 'Disable' }).click());
      await page.getByText('Token disabled').waitFor();
      const disabled = await pushAs('pushtoken', password, 'allowed/app');
      assert.ok(!disabled.ok, 'a disabled token is refused');
    } finally {
      await context.close();
    }
  });

  test('create a user and give it AcrPull on a registry; it then sees that registry', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD);
    try {
      await page.goto(`${f.url}/portal/access`);
      await page.getByRole('heading', { name: 'Access', level: 1 }).waitFor();
      await noSeriousAxe(page, 'the Access screen');

      await page.getByText('Create a user').click();
      const userForm = page.locator('form[aria-label="Create a user"]');
      await userForm.getByLabel('User name').fill('carol');
      await userForm.getByLabel('Password').fill('carol password 1');
      await submit(page, () => userForm.getByRole('button', { name: 'Create user' }).click());
      await page.getByRole('heading', { name: 'carol', level: 1 }).waitFor();
      await noSeriousAxe(page, "a user's screen");

      await page.goto(`${f.url}/portal/registries/${REG}/access`);
      await page.getByText('Add a role assignment').click();
      const roleForm = page.locator('form[aria-label="Add a role assignment"]');
      await roleForm.getByLabel('Assignee').fill('carol');
      await roleForm.getByLabel('Role').selectOption('AcrPull');
      await submit(page, () => roleForm.getByRole('button', { name: 'Add role assignment' }).click());
      await page.getByText('Role assignment added.').waitFor();
      await page.getByRole('cell', { name: 'carol', exact: true }).waitFor();

      const carol = await browserSignIn(browser, f.url, 'carol', 'carol password 1');
      try {
        // AcrPull lists the registry's repositories (its catalog power).
        const reg = await carol.page.goto(`${f.url}/portal/registries/${REG}`);
        assert.equal(reg?.status(), 200);
        // AcrPull does not open the Access screens.
        const refused = await carol.page.goto(`${f.url}/portal/access`);
        assert.equal(refused?.status(), 403);
      } finally {
        await carol.context.close();
      }
    } finally {
      await context.close();
    }
  });

  test('a service principal: its screen passes axe; /portal/access fits a 375 px phone', async () => {
    const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD, { width: 375, height: 740 });
    try {
      await page.goto(`${f.url}/portal/access`);
      await page.getByText('Create a service principal').click();
      const spForm = page.locator('form[aria-label="Create a service principal"]');
      await spForm.getByLabel('Display name').fill('ci pipeline');
      await submit(page, () => spForm.getByRole('button', { name: 'Create service principal' }).click());
      await page.getByRole('heading', { name: 'Service principal created', level: 1 }).waitFor();
      await submit(page, () => page.getByRole('link', { name: 'Go to the service principal' }).click());
      await page.getByRole('heading', { name: 'ci pipeline', level: 1 }).waitFor();
      await noSeriousAxe(page, "a service principal's screen");

      await page.goto(`${f.url}/portal/access`);
      await page.getByRole('heading', { name: 'Access', level: 1 }).waitFor();
      for (const summary of ['Create a user', 'Create a service principal', 'Add a role assignment']) await page.getByText(summary).click();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `/portal/access is ${width} px wide`);
    } finally {
      await context.close();
    }
  });
});
