import { type Command, Option } from 'commander';
import { CliError, enc, repoPath } from '../client.js';
import { client, common, print } from '../command-kit.js';

// Soft delete, shaped like az acr: `config soft-delete show|update`, `repository list-deleted`,
// `manifest list-deleted|list-deleted-tags|restore`. Added to the existing groups (main.ts owns
// `config`; registerRepositoryCommands and registerManifestCommands own the other two).

function group(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

function days(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 90) throw new CliError(`--days must be a whole number from 1 to 90, got "${v}"`, 2);
  return n;
}

/** "repo" or "repo:tag" (a colon after the last slash starts the tag). */
function repoAndTag(name: string): { repository: string; tag?: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) {
    const tag = name.slice(colon + 1);
    if (!tag) throw new CliError(`"${name}" has an empty tag after ":"`, 2);
    return { repository: name.slice(0, colon), tag };
  }
  if (name.includes('@')) throw new CliError(`"${name}": give the digest with --digest, not after "@"`, 2);
  return { repository: name };
}

export function registerSoftDeleteCommands(program: Command): void {
  const config = group(program, 'config', 'configuration tools');
  const soft = config
    .command('soft-delete')
    .description('the soft delete policy of a registry: deleted images stay restorable for some days (like az acr config soft-delete)');
  const policyPath = (o: { registry: string }) => `/api/registries/${enc(o.registry)}/softDeletePolicy`;

  common(soft.command('show').description('show the soft delete policy'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', policyPath(o)), o));

  common(soft.command('update').description('enable or disable soft delete and set its retention days'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .option('--days <n>', 'days a deleted image stays restorable before it is purged (1-90; default 7)', days)
    .addOption(new Option('--status <status>', 'policy status').choices(['enabled', 'disabled']))
    .action(async (o) => {
      const patch: Record<string, unknown> = {};
      if (o.status !== undefined) patch.status = o.status;
      if (o.days !== undefined) patch.retentionDays = o.days;
      if (Object.keys(patch).length === 0) throw new CliError('nothing to update: give --status and/or --days', 2);
      print(await client(o).json('PATCH', policyPath(o), patch), o);
    });

  const repo = group(program, 'repository', 'manage repositories (like az acr repository)');
  common(repo.command('list-deleted').description('list soft-deleted repositories'))
    .requiredOption('-n, --name <registry>', 'registry name')
    .action(async (o) =>
      print((await client(o).json<{ value: unknown[] }>('GET', `/api/registries/${enc(o.name)}/deletedRepositories`)).value, o),
    );

  const man = group(program, 'manifest', 'inspect manifests (like az acr manifest)');
  const base = (c: Command, what: string) =>
    common(c).requiredOption('-r, --registry <registry>', 'registry name').requiredOption('-n, --name <name>', what);
  const repoApi = (registry: string, repository: string, sub: string) =>
    `/api/registries/${enc(registry)}/repositories/${repoPath(repository)}/${sub}`;

  /** Every page of a bin listing (nextLink is a query string for the same path). */
  const allPages = async (o: Record<string, unknown>, path: string, query: string) => {
    const c = client(o);
    const out: unknown[] = [];
    let next: string | undefined = query;
    for (let i = 0; next !== undefined && i < 10_000; i++) {
      const page: { value: unknown[]; nextLink?: string } = await c.json('GET', `${path}${next}`);
      out.push(...page.value);
      next = page.nextLink;
    }
    return out;
  };

  base(
    man.command('list-deleted').description('list soft-deleted manifests of a repository, newest deletion first'),
    'repository name',
  ).action(async (o) => {
    const { repository } = repoAndTag(o.name);
    print(await allPages(o, repoApi(o.registry, repository, '_deleted'), ''), o);
  });

  base(
    man.command('list-deleted-tags').description('list soft-deleted tags of a repository (repo:tag for one tag)'),
    'repo or repo:tag',
  ).action(async (o) => {
    const { repository, tag } = repoAndTag(o.name);
    const q = tag !== undefined ? `?tag=${enc(tag)}` : '';
    print(await allPages(o, repoApi(o.registry, repository, '_deletedTags'), q), o);
  });

  base(
    man.command('restore').description('restore a soft-deleted image by tag (the most recently deleted one) and/or digest'),
    'repo:tag, or repo with --digest',
  )
    .option('-d, --digest <digest>', 'the deleted manifest to restore (default: the one most recently deleted with the tag)')
    .option('-f, --force', 'move tags that now point to another manifest back to the restored one')
    .action(async (o) => {
      const { repository, tag } = repoAndTag(o.name);
      if (tag === undefined && o.digest === undefined) throw new CliError('name what to restore: -n repo:tag, and/or --digest', 2);
      print(
        await client(o).json('POST', repoApi(o.registry, repository, '_restore'), {
          ...(tag !== undefined ? { tag } : {}),
          ...(o.digest ? { digest: o.digest } : {}),
          ...(o.force ? { force: true } : {}),
        }),
        o,
      );
    });
}
