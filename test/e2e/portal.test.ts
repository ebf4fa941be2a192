import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import path from 'node:path';
import { BerthFixture, removeDir, tempDir } from '../helpers/berth-process.js';
import { ADMIN_PASSWORD, ADMIN_USER } from '../helpers/credentials.js';
import { axeViolations, chromiumGate, launchChromium } from '../helpers/browser.js';
import { mustRun } from './helpers.js';
import { OciLayout } from './oci-layout.js';

// The portal in a real browser (Debian's Chromium through playwright-core) against a real
// `berth serve`: signing in, the registries screen, accessibility (axe-core: no serious or
// critical violation) and the layout on a phone-sized viewport.

const gate = chromiumGate();
const work = tempDir('portal-e2e');
const SESSION_COOKIE = 'berth_portal';

describe('the portal in Chromium', { skip: gate.skip }, () => {
  let f: BerthFixture;
  let browser: Browser;
  const registries = ['portalone', 'portaltwo', 'portalthree'];

  before(async () => {
    f = await BerthFixture.start('sqlite');
    for (const r of registries) await f.createRegistry(r);
    // One image, pushed with skopeo, to find in the portal.
    const layout = new OciLayout(path.join(work, 'src'));
    layout.tag('web', layout.addImage({ files: { 'index.html': '<h1>hello</h1>\n' } }));
    layout.write();
    await mustRun(
      'skopeo',
      [
        'copy',
        '--authfile',
        f.authFile,
        '--dest-tls-verify=false',
        `oci:${layout.dir}:web`,
        `docker://${f.host}/${registries[0]}/site/web:2.1`,
      ],
      { timeoutMs: 60_000 },
    );
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await f?.cleanup();
    removeDir(work);
  });

  /** A fresh browser context signed in as the owner, on the registries screen. */
  async function signedIn(viewport = { width: 1280, height: 800 }) {
    const context = await browser.newContext({ viewport, bypassCSP: false });
    const page = await context.newPage();
    const response = await page.goto(`${f.url}/portal`);
    assert.equal(response?.status(), 200);
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await Promise.all([page.waitForLoadState('load'), page.press('input[name=password]', 'Enter')]);
    return { context, page };
  }

  test('sign in as the owner: the registries screen lists every registry by name', async () => {
    const { context, page } = await signedIn();
    try {
      for (const r of registries) await page.getByText(r, { exact: true }).first().waitFor({ timeout: 10_000 });
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, 'a session cookie');
      assert.ok(session.httpOnly, 'HttpOnly');
      assert.notEqual(session.sameSite, 'None');
    } finally {
      await context.close();
    }
  });

  test('an image pushed with skopeo: from the registries to its repository, where the tag is listed', async () => {
    const { context, page } = await signedIn();
    try {
      await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: registries[0]!, exact: true }).click()]);
      await Promise.all([
        page.waitForLoadState('load'),
        page.getByRole('navigation', { name: 'Registry' }).getByRole('link', { name: 'Repositories', exact: true }).click(),
      ]);
      await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: 'site/web', exact: true }).click()]);
      await page.getByRole('heading', { name: 'site/web', level: 1 }).waitFor({ timeout: 10_000 });
      await page.getByRole('cell', { name: '2.1', exact: true }).first().waitFor({ timeout: 10_000 });
      assert.ok((await page.textContent('main'))?.includes(`docker pull ${f.host}/${registries[0]}/site/web:2.1`));
    } finally {
      await context.close();
    }
  });

  test('a wrong password shows the sign-in form again with a message, and no session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${f.url}/portal`);
      await page.fill('input[name=username]', ADMIN_USER);
      await page.fill('input[name=password]', 'not-the-password');
      await Promise.all([page.waitForLoadState('load'), page.press('input[name=password]', 'Enter')]);
      assert.equal(await page.locator('input[name=password]').count(), 1);
      assert.ok(!(await context.cookies()).some((c) => c.name === SESSION_COOKIE), 'no session cookie');
      for (const r of registries) assert.equal(await page.getByText(r, { exact: true }).count(), 0);
    } finally {
      await context.close();
    }
  });

  test('axe-core finds no serious or critical violation on the sign-in, registries and registry screens', async () => {
    // axe is injected as a script: this context lets it past the portal's Content-Security-Policy.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    try {
      await page.goto(`${f.url}/portal`);
      const atSignIn = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(atSignIn, [], 'sign-in screen');
      await page.fill('input[name=username]', ADMIN_USER);
      await page.fill('input[name=password]', ADMIN_PASSWORD);
      await Promise.all([page.waitForLoadState('load'), page.press('input[name=password]', 'Enter')]);
      await page.getByText(registries[0]!, { exact: true }).first().waitFor({ timeout: 10_000 });
      const atList = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(atList, [], 'registries screen');
      await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: registries[0]!, exact: true }).click()]);
      await page.getByRole('heading', { name: registries[0]!, level: 1 }).waitFor({ timeout: 10_000 });
      const atRegistry = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(atRegistry, [], "a registry's screen");
    } finally {
      await context.close();
    }
  });

  test('on a 375 px wide phone the registries screen needs no sideways scrolling', async () => {
    const { context, page } = await signedIn({ width: 375, height: 740 });
    try {
      await page.getByText(registries[0]!, { exact: true }).first().waitFor({ timeout: 10_000 });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `the page is ${width} px wide`);
    } finally {
      await context.close();
    }
  });
});
