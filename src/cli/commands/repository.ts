import { type Command, Option } from 'commander';
import { CliError, enc, repoPath } from '../client.js';
import { client, common, print, parseImage, confirm, boolArg, positiveInt, quotaArg } from '../command-kit.js';
import { flatten, scanColumnsTable } from '../tables.js';

// Shaped like `az acr`: same groups, flags and output formats.

/** The /acr/v1 path of an image: repo:tag -> _tags/<tag>, repo@digest -> _manifests/<digest>. */
function acrPath(registry: string, image: string): string {
  const img = parseImage(image);
  const kind = img.reference.includes(':') ? '_manifests' : '_tags';
  return `/acr/v1/${enc(registry)}/${repoPath(img.repository)}/${kind}/${enc(img.reference)}`;
}

export function registerRepositoryCommands(program: Command): void {
  const repo = program.command('repository').description('manage repositories (like az acr repository)');
  const base = (c: Command) => common(c).requiredOption('-n, --name <registry>', 'registry name');
  const reg = (o: { name: string }) => `/api/registries/${enc(o.name)}/repositories`;

  base(repo.command('list').description('list repositories'))
    .option('--top <n>', 'at most this many', (v) => positiveInt(v, '--top'))
    .addOption(
      new Option('--orderby <order>', 'by last update, oldest or newest first (default: by name)').choices(['time_asc', 'time_desc']),
    )
    .action(async (o) => {
      const c = client(o);
      const out: string[] = [];
      // The server orders and pages (keyset on time and name), so --top needs only the first pages.
      const orderby = o.orderby ? `&orderby=${o.orderby === 'time_asc' ? 'timeasc' : 'timedesc'}` : '';
      let last: string | undefined;
      for (;;) {
        const n = o.top ? Math.min(1000, o.top - out.length) : 1000;
        const page = await c.json<{ value: string[]; nextLink?: string }>(
          'GET',
          `${reg(o)}?n=${n}${orderby}${last ? `&last=${enc(last)}` : ''}`,
        );
        out.push(...page.value);
        if (!page.nextLink || (o.top && out.length >= o.top)) break;
        last = page.value[page.value.length - 1];
      }
      print(o.top ? out.slice(0, o.top) : out, o);
    });

  base(repo.command('show').description('show a repository, or an image with --image'))
    .option('--repository <repo>', 'repository name')
    .option('-t, --image <image>', 'repo:tag or repo@digest')
    .action(async (o) => {
      const c = client(o);
      // ACR's attributes (changeableAttributes included) through the /acr/v1 data-plane API.
      if (o.image) return print(await c.json('GET', acrPath(o.name, o.image)), o, { table: flatten });
      if (!o.repository) throw new CliError('give --repository or --image', 2);
      print(await c.json('GET', `/acr/v1/${enc(o.name)}/${repoPath(o.repository)}`), o, { table: flatten });
    });

  base(repo.command('show-tags').description('list the tags of a repository'))
    .requiredOption('--repository <repo>', 'repository name')
    .option('--detail', 'show digest and times, not just names')
    .option('--top <n>', 'at most this many', (v) => positiveInt(v, '--top'))
    .addOption(new Option('--orderby <order>', 'order').choices(['time_asc', 'time_desc']))
    .action(async (o) => {
      const c = client(o);
      const all: { name: string; lastUpdateTime: string }[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await c.json<{ value: { name: string; lastUpdateTime: string }[]; nextLink?: string }>(
          'GET',
          `${reg(o)}/${repoPath(o.repository)}/_tags?n=1000${last ? `&last=${enc(last)}` : ''}`,
        );
        all.push(...page.value);
        if (!page.nextLink) break;
        last = page.value[page.value.length - 1]?.name;
      }
      if (o.orderby) all.sort((a, b) => (o.orderby === 'time_asc' ? 1 : -1) * a.lastUpdateTime.localeCompare(b.lastUpdateTime));
      const top = o.top ? all.slice(0, o.top) : all;
      print(o.detail ? top : top.map((t) => t.name), o);
    });

  base(repo.command('show-manifests').description('list the manifests of a repository'))
    .requiredOption('--repository <repo>', 'repository name')
    .option('--detail', 'show media types and sizes too')
    .option('--top <n>', 'at most this many', (v) => positiveInt(v, '--top'))
    .action(async (o) => {
      const c = client(o);
      const all: Record<string, unknown>[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await c.json<{ value: Record<string, unknown>[]; nextLink?: string }>(
          'GET',
          `${reg(o)}/${repoPath(o.repository)}/_manifests?n=1000${last ? `&last=${enc(last)}` : ''}`,
        );
        all.push(...page.value);
        if (!page.nextLink) break;
        last = page.value[page.value.length - 1]?.digest as string;
      }
      all.sort((a, b) => String(a.createdTime).localeCompare(String(b.createdTime)));
      const top = o.top ? all.slice(0, o.top) : all;
      if (o.detail) print(top, o, { table: scanColumnsTable });
      else
        print(
          top.map((m) => ({ digest: m.digest, tags: m.tags, timestamp: m.createdTime })),
          o,
        );
    });

  base(repo.command('delete').description('delete a repository, or an image (manifest and all its tags) with --image'))
    .option('--repository <repo>', 'repository to delete')
    .option('-t, --image <image>', 'repo:tag or repo@digest: deletes the manifest and every tag pointing at it')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      const c = client(o);
      if (o.image) {
        const img = parseImage(o.image);
        if (!(await confirm(o, `delete ${o.image} and all tags that point to it`))) return;
        return print(await c.json('DELETE', `${reg(o)}/${repoPath(img.repository)}/_manifests/${enc(img.reference)}`), o);
      }
      if (!o.repository) throw new CliError('give --repository or --image', 2);
      if (!(await confirm(o, `delete repository ${o.repository} with all its images`))) return;
      print(await c.json('DELETE', `${reg(o)}/${repoPath(o.repository)}`), o);
    });

  base(repo.command('untag').description('remove a tag; the manifest stays'))
    .requiredOption('-t, --image <image>', 'repo:tag')
    .action(async (o) => {
      const img = parseImage(o.image);
      if (img.reference.includes(':')) throw new CliError('untag takes repo:tag, not a digest', 2);
      await client(o).request('DELETE', `${reg(o)}/${repoPath(img.repository)}/_tags/${enc(img.reference)}`);
    });

  base(
    repo
      .command('update')
      .description('lock or unlock a repository or image (changeable attributes), or open a repository (or PREFIX/*) to anonymous pull'),
  )
    .option('--repository <repo>', 'repository name, or PREFIX/* with --anonymous-pull-enabled')
    .option('-t, --image <image>', 'repo:tag or repo@digest')
    .option('--write-enabled <bool>', 'false forbids overwriting and deleting', boolArg('--write-enabled'))
    .option('--delete-enabled <bool>', 'false forbids deleting', boolArg('--delete-enabled'))
    .option('--list-enabled <bool>', 'false hides it from listings', boolArg('--list-enabled'))
    .option('--read-enabled <bool>', 'false forbids pulling', boolArg('--read-enabled'))
    .option(
      '--anonymous-pull-enabled [bool]',
      'true (or no value) opens the repository to anonymous pull, false closes it',
      boolArg('--anonymous-pull-enabled'),
    )
    .action(async (o) => {
      const attrs: Record<string, boolean> = {};
      if (o.writeEnabled !== undefined) attrs.writeEnabled = o.writeEnabled;
      if (o.deleteEnabled !== undefined) attrs.deleteEnabled = o.deleteEnabled;
      if (o.listEnabled !== undefined) attrs.listEnabled = o.listEnabled;
      if (o.readEnabled !== undefined) attrs.readEnabled = o.readEnabled;
      if (o.anonymousPullEnabled !== undefined) {
        if (!o.repository || o.image || Object.keys(attrs).length > 0)
          throw new CliError('--anonymous-pull-enabled goes with --repository alone', 2);
        const path = `/api/registries/${enc(o.name)}/anonymous-pull/${repoPath(o.repository)}`;
        return print(await client(o).json(o.anonymousPullEnabled ? 'PUT' : 'DELETE', path), o);
      }
      if (Object.keys(attrs).length === 0)
        throw new CliError('give --write-enabled, --delete-enabled, --list-enabled, --read-enabled or --anonymous-pull-enabled', 2);
      if (!o.repository === !o.image) throw new CliError('give --repository or --image', 2);
      const path = o.image ? acrPath(o.name, o.image) : `/acr/v1/${enc(o.name)}/${repoPath(o.repository)}`;
      print(await client(o).json('PATCH', path, attrs), o, { table: flatten });
    });

  base(repo.command('set-quota').description('set (or with none remove) the storage quota of a repository; pushes beyond it are refused'))
    .requiredOption('--repository <repo>', 'repository name')
    .requiredOption('--storage-quota-mb <n|none>', 'quota in MiB (fractions allowed), or none', (v) =>
      quotaArg(v, '--storage-quota-mb', 1024 ** 2),
    )
    .action(async (o) =>
      print(
        await client(o).json('PUT', `${reg(o)}/${repoPath(o.repository)}/_quota`, {
          storageQuotaBytes: o.storageQuotaMb === 'none' ? null : o.storageQuotaMb,
        }),
        o,
      ),
    );

  base(repo.command('show-usage').description('show the storage a repository uses and its quota'))
    .requiredOption('--repository <repo>', 'repository name')
    .action(async (o) => print(await client(o).json('GET', `${reg(o)}/${repoPath(o.repository)}/_usage`), o));

  base(
    repo.command('list-anonymous').description('show whether the registry is open to anonymous pull, and which repositories are'),
  ).action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/anonymous-pull`), o));
}
