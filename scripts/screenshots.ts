// Regenerates the portal screenshots in docs/screenshots/ (npm run screenshots): starts a real
// `berth serve` on SQLite with sample content (two registries, images pushed with skopeo, a
// token, a webhook), signs in through Debian's Chromium and captures the main screens in the light
// theme, one in the dark theme and one on a phone-sized viewport. Needs skopeo and
// /usr/bin/chromium, like the portal's browser tests.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthFixture, removeDir, tempDir } from '../test/helpers/berth-process.js';
import { launchChromium } from '../test/helpers/browser.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader } from '../test/helpers/credentials.js';
import { browserSignIn } from '../test/helpers/portal.js';
import { mustRun } from '../test/e2e/helpers.js';
import { OciLayout } from '../test/e2e/oci-layout.js';

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');

async function api(f: BerthFixture, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${f.url}${p}`, {
    method,
    headers: { Authorization: adminAuthHeader(), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const work = tempDir('screenshots');
  const f = await BerthFixture.start('sqlite');
  const browser = await launchChromium();
  try {
    for (const r of ['contoso', 'fabrikam', 'northwind']) await f.createRegistry(r);
    const layout = new OciLayout(path.join(work, 'src'));
    for (const [tag, arch] of [
      ['1.0', 'amd64'],
      ['1.1', 'amd64'],
      ['1.1-arm64', 'arm64'],
    ] as const)
      layout.tag(tag, layout.addImage({ architecture: arch, files: { 'index.html': `<h1>site ${tag}</h1>\n` } }));
    layout.write();
    for (const [tag, repo] of [
      ['1.0', 'web/site'],
      ['1.1', 'web/site'],
      ['1.1-arm64', 'web/site'],
      ['1.0', 'tools/cli'],
    ] as const) {
      await mustRun('skopeo', [
        'copy',
        '--authfile',
        f.authFile,
        '--dest-tls-verify=false',
        `oci:${layout.dir}:${tag}`,
        `docker://${f.host}/contoso/${repo}:${tag}`,
      ]);
    }
    await api(f, 'POST', '/api/registries/contoso/scope-maps', { name: 'ci-push', actions: ['repositories/web/site/content/write'] }).catch(
      () => undefined,
    );
    await api(f, 'POST', '/api/registries/contoso/webhooks', {
      name: 'deployhook',
      serviceUri: 'http://127.0.0.1:9/hook',
      actions: ['push'],
    }).catch(() => undefined);
    await api(f, 'POST', '/api/registries/contoso/tasks', {
      name: 'nightly-check',
      contextPath: '/dev/null',
      cmd: 'alpine echo hello',
      timers: [{ name: 'nightly', schedule: '0 3 * * *' }],
    }).catch(() => undefined);
    // The server runs no tasks: the run stays queued, as a run waiting for a build node shows.
    const run = (await api(f, 'POST', '/api/registries/contoso/scheduleRun', { type: 'TaskRunRequest', taskName: 'nightly-check' }).catch(
      () => undefined,
    )) as { runId?: string } | undefined;

    const shots: { name: string; path: string; dark?: boolean; phone?: boolean }[] = [
      { name: 'sign-in', path: '/portal' },
      { name: 'registries', path: '/portal/registries' },
      { name: 'registry-overview', path: '/portal/registries/contoso' },
      { name: 'repositories', path: '/portal/registries/contoso/repositories' },
      { name: 'repository', path: '/portal/registries/contoso/repositories/web/site' },
      { name: 'access', path: '/portal/registries/contoso/access' },
      { name: 'scanning', path: '/portal/registries/contoso/scanning' },
      { name: 'webhooks', path: '/portal/registries/contoso/webhooks' },
      { name: 'policies', path: '/portal/registries/contoso/policies' },
      { name: 'tasks', path: '/portal/registries/contoso/tasks' },
      { name: 'task', path: '/portal/registries/contoso/tasks/nightly-check' },
      ...(run?.runId ? [{ name: 'task-run', path: `/portal/registries/contoso/runs/${run.runId}` }] : []),
      { name: 'operations', path: '/portal/operations' },
      { name: 'repository-dark', path: '/portal/registries/contoso/repositories/web/site', dark: true },
      { name: 'registries-phone', path: '/portal/registries', phone: true },
    ];
    for (const s of shots) {
      const viewport = s.phone ? { width: 375, height: 740 } : { width: 1280, height: 800 };
      const { context, page } = await browserSignIn(browser, f.url, ADMIN_USER, ADMIN_PASSWORD, viewport);
      try {
        await page.emulateMedia({ colorScheme: s.dark ? 'dark' : 'light' });
        if (s.name === 'sign-in') await context.clearCookies();
        const res = await page.goto(`${f.url}${s.path}`);
        if (!res || res.status() !== 200) throw new Error(`${s.path}: ${res?.status()}`);
        const file = path.join(OUT, `${s.name}.png`);
        await page.screenshot({ path: file, fullPage: false });
        process.stdout.write(`${file}\n`);
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await f.cleanup();
    removeDir(work);
  }
}

await main();
