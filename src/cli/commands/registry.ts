import { Command, Option } from 'commander';
import { createClient, CliError, enc, repoPath, type ApiClient } from '../client.js';
import { parseOutput, render } from '../output.js';

// Management commands shaped like `az acr`: same groups, flags and output formats.

interface Common {
  server?: string;
  username?: string;
  password?: string;
  output?: string;
}

/** The API client for a command: flags, else BERTH_* environment, else the stored sign-in (berth account login). */
export function client(o: Common): ApiClient {
  return createClient(o);
}

export function print(value: unknown, o: Common): void {
  const text = render(value, parseOutput(o.output));
  if (text) process.stdout.write(`${text}\n`);
}

/** Adds the options every command shares. */
export function common(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)', undefined)
    .option('-u, --username <name>', 'user name (env BERTH_USERNAME; default: the sign-in from berth account login)')
    .option('-p, --password <secret>', 'password (env BERTH_PASSWORD)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'jsonc', 'table', 'tsv', 'none']).default('json'));
}

/** "repo:tag", "repo@sha256:...", "repo:tag@sha256:..." (the digest wins, as in docker) or "repo" (then :latest). */
export function parseImage(image: string): { repository: string; reference: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const named = at >= 0 ? image.slice(0, at) : image;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const repository = colon > slash ? named.slice(0, colon) : named;
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  if (!repository) throw new CliError(`"${image}" names no repository: use repo:tag or repo@digest`, 2);
  if (digest !== undefined) {
    if (!digest) throw new CliError(`"${image}" has an empty digest after "@"`, 2);
    return { repository, reference: digest };
  }
  if (tag === '') throw new CliError(`"${image}" has an empty tag after ":"`, 2);
  return { repository, reference: tag ?? 'latest' };
}

function confirmOrFail(o: { yes?: boolean }, what: string): void {
  if (o.yes) return;
  if (!process.stdin.isTTY) throw new CliError(`refusing to ${what} without confirmation: pass --yes`, 2);
}

async function ask(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} (y/n): `)).trim());
  } finally {
    rl.close();
  }
}

async function confirm(o: { yes?: boolean }, what: string): Promise<boolean> {
  confirmOrFail(o, what);
  return o.yes ? true : ask(`Are you sure you want to ${what}?`);
}

export function registerRegistryCommands(program: Command): void {
  common(program.command('create').description('create a registry (like az acr create)'))
    .requiredOption('-n, --name <name>', 'registry name: 5-50 letters and digits, unique regardless of case')
    .addOption(new Option('--sku <sku>', 'service tier').choices(['Basic', 'Standard', 'Premium']).default('Basic'))
    .action(async (o) => print(await client(o).json('POST', '/api/registries', { name: o.name, sku: o.sku }), o));

  common(program.command('list').description('list registries'))
    .action(async (o) => print((await client(o).json<{ value: unknown[] }>('GET', '/api/registries')).value, o));

  common(program.command('show').description('show a registry'))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}`), o));

  common(program.command('update').description('update a registry'))
    .requiredOption('-n, --name <name>', 'registry name')
    .addOption(new Option('--sku <sku>', 'service tier').choices(['Basic', 'Standard', 'Premium']))
    .option('--admin-enabled [bool]', 'enable (true) or disable (false) the admin user: user name = registry name, two passwords (berth credential show)', boolArg('--admin-enabled'))
    .option('--anonymous-pull-enabled [bool]', 'let anyone pull from every repository (Standard and Premium); see also berth repository update', boolArg('--anonymous-pull-enabled'))
    .option('--storage-quota-gb <n|none>', 'refuse pushes beyond this many GiB in the registry (dedup-aware); none removes the quota', (v) => quotaArg(v, '--storage-quota-gb', 1024 ** 3))
    .action(async (o) => {
      const patch: Record<string, unknown> = {};
      if (o.sku) patch.sku = o.sku;
      if (o.adminEnabled !== undefined) patch.adminUserEnabled = o.adminEnabled;
      if (o.anonymousPullEnabled !== undefined) patch.anonymousPullEnabled = o.anonymousPullEnabled;
      if (Object.keys(patch).length === 0 && o.storageQuotaGb === undefined) throw new CliError('nothing to update: give --sku, --admin-enabled, --anonymous-pull-enabled or --storage-quota-gb', 2);
      const c = client(o);
      if (o.storageQuotaGb !== undefined) await c.json('PUT', `/api/registries/${enc(o.name)}/quota`, { storageQuotaBytes: o.storageQuotaGb === 'none' ? null : o.storageQuotaGb });
      print(Object.keys(patch).length ? await c.json('PATCH', `/api/registries/${enc(o.name)}`, patch) : await c.json('GET', `/api/registries/${enc(o.name)}`), o);
    });

  common(program.command('show-usage').description('show storage, webhooks, geo-replications, tokens and scope maps against the tier\'s limits (az acr show-usage)'))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/usages`), o));

  common(program.command('delete').description('delete a registry and everything in it'))
    .requiredOption('-n, --name <name>', 'registry name')
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete registry ${o.name} and all its repositories`))) return;
      await client(o).request('DELETE', `/api/registries/${enc(o.name)}`);
    });

  common(program.command('check-name').description('check whether a registry name is valid and free'))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('POST', '/api/registries/check-name', { name: o.name }), o));
}

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
    .action(async (o) => {
      const c = client(o);
      const out: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await c.json<{ value: string[]; nextLink?: string }>('GET', `${reg(o)}?n=1000${last ? `&last=${enc(last)}` : ''}`);
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
      if (o.image) return print(await c.json('GET', acrPath(o.name, o.image)), o);
      if (!o.repository) throw new CliError('give --repository or --image', 2);
      print(await c.json('GET', `/acr/v1/${enc(o.name)}/${repoPath(o.repository)}`), o);
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
        const page = await c.json<{ value: { name: string; lastUpdateTime: string }[]; nextLink?: string }>('GET', `${reg(o)}/${repoPath(o.repository)}/_tags?n=1000${last ? `&last=${enc(last)}` : ''}`);
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
        const page = await c.json<{ value: Record<string, unknown>[]; nextLink?: string }>('GET', `${reg(o)}/${repoPath(o.repository)}/_manifests?n=1000${last ? `&last=${enc(last)}` : ''}`);
        all.push(...page.value);
        if (!page.nextLink) break;
        last = page.value[page.value.length - 1]?.digest as string;
      }
      all.sort((a, b) => String(a.createdTime).localeCompare(String(b.createdTime)));
      const top = o.top ? all.slice(0, o.top) : all;
      print(o.detail ? top : top.map((m) => ({ digest: m.digest, tags: m.tags, timestamp: m.createdTime })), o);
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

  base(repo.command('update').description('lock or unlock a repository or image (changeable attributes), or open a repository (or PREFIX/*) to anonymous pull'))
    .option('--repository <repo>', 'repository name, or PREFIX/* with --anonymous-pull-enabled')
    .option('-t, --image <image>', 'repo:tag or repo@digest')
    .option('--write-enabled <bool>', 'false forbids overwriting and deleting', boolArg('--write-enabled'))
    .option('--delete-enabled <bool>', 'false forbids deleting', boolArg('--delete-enabled'))
    .option('--list-enabled <bool>', 'false hides it from listings', boolArg('--list-enabled'))
    .option('--read-enabled <bool>', 'false forbids pulling', boolArg('--read-enabled'))
    .option('--anonymous-pull-enabled [bool]', 'true (or no value) opens the repository to anonymous pull, false closes it', boolArg('--anonymous-pull-enabled'))
    .action(async (o) => {
      const attrs: Record<string, boolean> = {};
      if (o.writeEnabled !== undefined) attrs.writeEnabled = o.writeEnabled;
      if (o.deleteEnabled !== undefined) attrs.deleteEnabled = o.deleteEnabled;
      if (o.listEnabled !== undefined) attrs.listEnabled = o.listEnabled;
      if (o.readEnabled !== undefined) attrs.readEnabled = o.readEnabled;
      if (o.anonymousPullEnabled !== undefined) {
        if (!o.repository || o.image || Object.keys(attrs).length > 0) throw new CliError('--anonymous-pull-enabled goes with --repository alone', 2);
        const path = `/api/registries/${enc(o.name)}/anonymous-pull/${repoPath(o.repository)}`;
        return print(await client(o).json(o.anonymousPullEnabled ? 'PUT' : 'DELETE', path), o);
      }
      if (Object.keys(attrs).length === 0) throw new CliError('give --write-enabled, --delete-enabled, --list-enabled, --read-enabled or --anonymous-pull-enabled', 2);
      if (!o.repository === !o.image) throw new CliError('give --repository or --image', 2);
      const path = o.image ? acrPath(o.name, o.image) : `/acr/v1/${enc(o.name)}/${repoPath(o.repository)}`;
      print(await client(o).json('PATCH', path, attrs), o);
    });

  base(repo.command('set-quota').description('set (or with none remove) the storage quota of a repository; pushes beyond it are refused'))
    .requiredOption('--repository <repo>', 'repository name')
    .requiredOption('--storage-quota-mb <n|none>', 'quota in MiB (fractions allowed), or none', (v) => quotaArg(v, '--storage-quota-mb', 1024 ** 2))
    .action(async (o) => print(await client(o).json('PUT', `${reg(o)}/${repoPath(o.repository)}/_quota`, { storageQuotaBytes: o.storageQuotaMb === 'none' ? null : o.storageQuotaMb }), o));

  base(repo.command('show-usage').description('show the storage a repository uses and its quota'))
    .requiredOption('--repository <repo>', 'repository name')
    .action(async (o) => print(await client(o).json('GET', `${reg(o)}/${repoPath(o.repository)}/_usage`), o));

  base(repo.command('list-anonymous').description('show whether the registry is open to anonymous pull, and which repositories are'))
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/anonymous-pull`), o));
}

export function registerManifestCommands(program: Command): void {
  const man = program.command('manifest').description('inspect manifests (like az acr manifest)');
  const base = (c: Command) => common(c)
    .requiredOption('-r, --registry <registry>', 'registry name')
    .requiredOption('-n, --name <image>', 'repo:tag or repo@digest');

  base(man.command('show').description('show a manifest as stored'))
    .option('--raw', 'print the exact stored bytes')
    .action(async (o) => {
      const img = parseImage(o.name);
      const res = await client(o).request('GET', `/api/registries/${enc(o.registry)}/repositories/${repoPath(img.repository)}/_manifests/${enc(img.reference)}`);
      if (o.raw) process.stdout.write(res.text);
      else print(JSON.parse(res.text), o);
    });

  base(man.command('list-referrers').description('list artifacts (signatures, SBOMs...) that refer to a manifest'))
    .option('--artifact-type <type>', 'only this artifactType')
    .action(async (o) => {
      const img = parseImage(o.name);
      const q = o.artifactType ? `?artifactType=${enc(o.artifactType)}` : '';
      print(await client(o).json('GET', `/api/registries/${enc(o.registry)}/repositories/${repoPath(img.repository)}/_referrers/${enc(img.reference)}${q}`), o);
    });
}

/** A boolean flag as az takes it: alone it means true, or with true|false. */
function boolArg(flag: string): (v: string) => boolean {
  return (v) => {
    if (/^(true|yes|1)$/i.test(v)) return true;
    if (/^(false|no|0)$/i.test(v)) return false;
    throw new CliError(`${flag} takes true or false, got "${v}"`, 2);
  };
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} must be a positive whole number, got "${v}"`, 2);
  return n;
}

/** A quota flag: a non-negative number of units (fractions allowed), or none; returns bytes or 'none'. */
function quotaArg(v: string, flag: string, unit: number): number | 'none' {
  if (v.toLowerCase() === 'none') return 'none';
  if (!/^\d+(\.\d+)?$/.test(v)) throw new CliError(`${flag} takes a non-negative number or none, got "${v}"`, 2);
  return Math.round(Number(v) * unit);
}
