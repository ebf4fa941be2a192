import type { Command } from 'commander';
import { CliError, enc, repoPath } from '../client.js';
import { boolArg, client, common, parseImage, positiveInt, print } from '../command-kit.js';
import { scanListTable, scanShowTable } from '../tables.js';

// `berth scan`: vulnerability scans of a registry's images (beyond ACR, which sells Defender for it).

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'none', 'unknown'];
const FAIL_ON = ['critical', 'high', 'medium', 'low', 'never'];

interface ScanView {
  status: string;
}

function choice(list: string[], flag: string): (v: string) => string {
  return (v) => {
    const x = v.toLowerCase();
    if (!list.includes(x)) throw new CliError(`${flag} must be one of ${list.join(', ')}, got "${v}"`, 2);
    return x;
  };
}

const scanPath = (registry: string, image: string) => {
  const { repository, reference } = parseImage(image);
  return `/api/registries/${enc(registry)}/repositories/${repoPath(repository)}/_manifests/${enc(reference)}/_scan`;
};

export function registerScanCommands(program: Command): void {
  const scan = program.command('scan').description('vulnerability scans of images: findings, SBOMs, the policy for quarantined images');

  common(scan.command('show').description("an image's scan: status, summary by severity and findings"))
    .requiredOption('-n, --name <registry>', 'registry name')
    .requiredOption('--image <image>', 'REPO:TAG or REPO@DIGEST')
    .action(async (o) => print(await client(o).json('GET', scanPath(o.name, o.image)), o, { table: scanShowTable }));

  common(scan.command('list').description("a registry's scans, newest first"))
    .requiredOption('-n, --name <registry>', 'registry name')
    .option(
      '--min-severity <severity>',
      `only images with a finding this severe or worse (${SEVERITIES.join(', ')})`,
      choice(SEVERITIES, '--min-severity'),
    )
    .option('--top <n>', 'at most this many', (v) => positiveInt(v, '--top'), 100)
    .action(async (o) => {
      const q = new URLSearchParams({ n: String(o.top) });
      if (o.minSeverity) q.set('minSeverity', o.minSeverity);
      const page = await client(o).json<{ value: unknown[] }>('GET', `/api/registries/${enc(o.name)}/scans?${q}`);
      print(page.value, o, { table: scanListTable });
    });

  common(scan.command('run').description('scan an image again (layers included); --wait follows it to the end'))
    .requiredOption('-n, --name <registry>', 'registry name')
    .requiredOption('--image <image>', 'REPO:TAG or REPO@DIGEST')
    .option('--wait', 'wait until the scan has finished')
    .option('--timeout <seconds>', 'with --wait: give up after this long', (v) => positiveInt(v, '--timeout'), 300)
    .action(async (o) => {
      const api = client(o);
      const path = scanPath(o.name, o.image);
      let view = await api.json<ScanView>('POST', path);
      const until = Date.now() + o.timeout * 1000;
      while (o.wait && (view.status === 'queued' || view.status === 'running')) {
        if (Date.now() > until)
          throw new CliError(`the scan of ${o.image} has not finished after ${o.timeout} s (status ${view.status})`, 1);
        await new Promise((r) => setTimeout(r, 500));
        view = await api.json<ScanView>('GET', path);
      }
      print(view, o, { table: scanShowTable });
      if (view.status === 'failed') throw new CliError(`the scan of ${o.image} failed`, 1);
    });

  const policy = scan.command('policy').description('what fails an image held in quarantine (quarantine policy enabled)');
  common(policy.command('show').description("the registry's scan policy"))
    .requiredOption('-n, --name <registry>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/scanPolicy`), o));
  common(policy.command('update').description("change the registry's scan policy"))
    .requiredOption('-n, --name <registry>', 'registry name')
    .option('--fail-on <severity>', `lowest severity that fails an image (${FAIL_ON.join(', ')})`, choice(FAIL_ON, '--fail-on'))
    .option('--ignore-unfixed <bool>', 'findings without a fixed version never fail an image', boolArg('--ignore-unfixed'))
    .option('--allow <id[=expiry]...>', 'advisories that never fail an image, e.g. CVE-2024-1234=2027-01-31 (replaces the list)')
    .option('--clear-allow', 'empty the allow list')
    .action(async (o) => {
      const body: Record<string, unknown> = {};
      if (o.failOn) body.failOn = o.failOn;
      if (o.ignoreUnfixed !== undefined) body.ignoreUnfixed = o.ignoreUnfixed;
      if (o.clearAllow) body.allow = [];
      if (o.allow)
        body.allow = (o.allow as string[]).map((a) => {
          const [id, expires] = a.split('=');
          return expires ? { id, expires } : { id };
        });
      if (Object.keys(body).length === 0)
        throw new CliError('nothing to change: give --fail-on, --ignore-unfixed, --allow or --clear-allow', 2);
      print(await client(o).json('PUT', `/api/registries/${enc(o.name)}/scanPolicy`, body), o);
    });
}
