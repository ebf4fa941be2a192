import { type Command, Option, type OptionValues } from 'commander';
import { CliError, enc, type ApiClient } from '../client.js';
import { client, common, outputOption, print, textOutput } from '../command-kit.js';
import { purgeTable } from '../tables.js';

// `berth purge` (acr purge: on demand, or scheduled like `az acr task create --cmd "acr purge ..."
// --schedule CRON`), `berth config retention` (az acr config retention) and `berth immutability`.

interface PurgeRun {
  id: number;
  state: string;
  lastError: string | null;
  result: PurgeResult | null;
}

interface PurgeResult {
  registry: string;
  dryRun: boolean;
  repositories: { repository: string; deletedTags: number; deletedManifests: number }[];
  deletedTags: number;
  deletedManifests: number;
  tags: string[];
  manifests: string[];
  truncated: boolean;
  skipped: { repository: string; tag?: string; digest?: string; reason: string }[];
  error?: string;
}

const num = (name: string, min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new CliError(`${name} must be a whole number from ${min} to ${max}, got "${v}"`, 2);
  return Number(v);
};

/** acr-cli's summary lines; a dry run lists what would go. */
export function purgeText(r: PurgeResult): string {
  const lines: string[] = [];
  if (r.error) return `purge did not run: ${r.error}`;
  const verb = r.dryRun ? 'Would delete' : 'Deleted';
  for (const repo of r.repositories)
    lines.push(
      `${repo.repository}: ${r.dryRun ? 'would delete' : 'deleted'} ${repo.deletedTags} tag(s), ${repo.deletedManifests} manifest(s)`,
    );
  if (r.dryRun) {
    for (const t of r.tags) lines.push(`${verb} ${r.registry}/${t}`);
    for (const m of r.manifests) lines.push(`${verb} ${r.registry}/${m}`);
    if (r.truncated) lines.push('(list truncated; the counts are complete)');
  }
  lines.push(`Number of ${r.dryRun ? 'tags to be deleted' : 'deleted tags'}: ${r.deletedTags}`);
  lines.push(`Number of ${r.dryRun ? 'manifests to be deleted' : 'deleted manifests'}: ${r.deletedManifests}`);
  if (r.skipped.length) {
    lines.push(`Skipped (locked or immutable): ${r.skipped.length}`);
    for (const s of r.skipped)
      lines.push(`  ${s.repository}${s.tag !== undefined ? `:${s.tag}` : ''}${s.digest !== undefined ? `@${s.digest}` : ''}  ${s.reason}`);
  }
  return lines.join('\n');
}

async function waitFor(api: ApiClient, registry: string, jobId: number, timeoutSeconds: number): Promise<PurgeRun> {
  const end = Date.now() + timeoutSeconds * 1000;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    const run = await api.json<PurgeRun>('GET', `/api/registries/${enc(registry)}/purge/runs/${jobId}`);
    if (run.state === 'succeeded') return run;
    if (run.state === 'dead') throw new CliError(`purge job ${jobId} failed: ${run.lastError ?? 'unknown error'}`);
    if (Date.now() > end)
      throw new CliError(`purge job ${jobId} is still ${run.state} after ${timeoutSeconds} s; follow it with berth job show --id ${jobId}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

function spec(o: OptionValues): Record<string, unknown> {
  if (!o.untaggedOnly && (!o.filter || o.filter.length === 0))
    throw new CliError('give at least one --filter "<repository regex>:<tag regex>" (or --untagged-only)', 2);
  if (o.ago === undefined) throw new CliError('give --ago, e.g. 1d, 2d3h6m or 0d (everything)', 2);
  return {
    ...(o.filter ? { filters: o.filter } : {}),
    ago: o.ago,
    ...(o.untagged ? { untagged: true } : {}),
    ...(o.untaggedOnly ? { untaggedOnly: true } : {}),
    ...(o.keep !== undefined ? { keep: o.keep } : {}),
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
  };
}

export function registerPurgeCommands(program: Command): void {
  // The purge options live on `purge` itself; `purge schedule create` reads them from there
  // (commander hands a parent's options to the parent even after a subcommand).
  const purge = program
    .command('purge')
    .description('delete tags (and untagged manifests) by repository/tag regex and age, like acr purge; runs as a server job')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)')
    .option('-u, --username <name>', 'user name (env BERTH_USERNAME; default: the sign-in from berth account login)')
    .option('-p, --password <secret>', 'password (env BERTH_PASSWORD)')
    .addOption(outputOption("acr purge's summary"))
    .option('-r, --registry <registry>', 'registry name')
    .option(
      '-f, --filter <repo-regex:tag-regex>',
      'repository and tag regular expressions (each matched against the whole name); repeat for more',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--ago <duration>', 'only tags (and manifests) last updated longer ago than this: 1d, 2d3h6m, 90m; 0d = everything')
    .option('--untagged', 'after the tags, also delete manifests left without tags (older than --ago)')
    .option(
      '--untagged-only',
      'only delete untagged manifests (the tag part of --filter is ignored; --filter defaults to every repository)',
    )
    .option('--keep <n>', 'keep the n most recent of the tags that would be deleted', num('--keep', 0, 1_000_000))
    .option('--dry-run', 'show what would be deleted; delete nothing')
    .option('--concurrency <n>', 'manifest deletions in parallel (1-32, default 4)', num('--concurrency', 1, 32))
    .option('--no-wait', 'queue the purge job and print its id without waiting for it')
    .option('--timeout <seconds>', 'how long to wait for the job', num('--timeout', 1, 86400 * 7), 3600)
    .action(async (o) => {
      if (!o.registry) throw new CliError('give -r/--registry', 2);
      const api = client(o);
      const body = { ...spec(o), ...(o.dryRun ? { dryRun: true } : {}) };
      const res = await api.request('POST', `/api/registries/${enc(o.registry)}/purge`, body);
      let result: PurgeResult;
      if (res.status === 200) result = res.body as PurgeResult;
      else {
        const { jobId } = res.body as { jobId: number };
        if (!o.wait) return print({ jobId, status: 'queued' }, o);
        const run = await waitFor(api, o.registry, jobId, o.timeout);
        result = run.result!;
      }
      if (textOutput(o)) process.stdout.write(`${purgeText(result)}\n`);
      else print(result, o, { table: purgeTable });
    });

  const schedule = purge
    .command('schedule')
    .description('purge on a cron schedule (like an ACR purge task: az acr task create --cmd "acr purge ..." --schedule)');
  const globals = (c: Command) => c.optsWithGlobals();
  const base = (o: OptionValues) => {
    if (!o.registry) throw new CliError('give -r/--registry', 2);
    return `/api/registries/${enc(o.registry)}/purge/schedules`;
  };
  const named = (o: OptionValues) => {
    if (!o.name) throw new CliError('give --name', 2);
    return `${base(o)}/${enc(o.name)}`;
  };
  // These subcommands take -r/--registry, --server, -u, -p and -o (and, for create, the purge options) from `berth purge`.
  schedule
    .command('create')
    .description('create a purge schedule: -r REG --name NAME --schedule CRON --filter ... --ago ... [--untagged] [--keep N]')
    .option('--name <name>', 'schedule name (1-50 letters, digits, "-" or "_")')
    .option('--schedule <cron>', 'five-field cron expression in UTC, e.g. "0 0 * * *"')
    .addOption(new Option('--status <status>', 'enabled (default) or disabled').choices(['enabled', 'disabled']))
    .action(async (_o, c: Command) => {
      const o = globals(c);
      if (!o.schedule) throw new CliError('give --schedule, e.g. "0 0 * * *" (UTC)', 2);
      if (o.dryRun) throw new CliError('a schedule cannot be a dry run; preview it with berth purge --dry-run', 2);
      if (!o.name) throw new CliError('give --name', 2);
      print(
        await client(o).json('POST', base(o), {
          name: o.name,
          schedule: o.schedule,
          ...(o.status ? { status: o.status } : {}),
          ...spec(o),
        }),
        o,
      );
    });
  schedule
    .command('list')
    .description('list the purge schedules of a registry (-r REG)')
    .action(async (_o, c: Command) => {
      const o = globals(c);
      print((await client(o).json<{ value: unknown[] }>('GET', base(o))).value, o);
    });
  schedule
    .command('show')
    .description('show a purge schedule (-r REG --name NAME)')
    .option('--name <name>', 'schedule name')
    .action(async (_o, c: Command) => {
      const o = globals(c);
      print(await client(o).json('GET', named(o)), o);
    });
  schedule
    .command('delete')
    .description('delete a purge schedule (-r REG --name NAME)')
    .option('--name <name>', 'schedule name')
    .action(async (_o, c: Command) => {
      const o = globals(c);
      await client(o).request('DELETE', named(o));
    });
  schedule
    .command('run')
    .description('run a purge schedule now (-r REG --name NAME), waiting for it unless --no-wait')
    .option('--name <name>', 'schedule name')
    .action(async (_o, c: Command) => {
      const o = globals(c);
      const api = client(o);
      const { jobId } = await api.json<{ jobId: number }>('POST', `${named(o)}/run`);
      if (!o.wait) return print({ jobId, status: 'queued' }, o);
      const run = await waitFor(api, o.registry, jobId, o.timeout);
      if (textOutput(o)) process.stdout.write(`${purgeText(run.result!)}\n`);
      else print(run.result, o, { table: purgeTable });
    });
}

export function registerRetentionCommands(program: Command): void {
  // `config` is main.ts's local group (validate, keys); other agents add to it the same way.
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('configuration tools');
  const retention = config
    .command('retention')
    .description('retention policy for untagged manifests (like az acr config retention; Premium)');
  const path = (o: { registry: string }) => `/api/registries/${enc(o.registry)}/retention`;
  common(retention.command('show').description('show the retention policy of a registry'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', path(o)), o));
  common(retention.command('update').description('set the retention policy: --status enabled --days 7 --type UntaggedManifests'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .addOption(new Option('--status <status>', 'enabled or disabled').choices(['enabled', 'disabled']))
    .option('--days <days>', 'days after which an untagged manifest is deleted (0-365, default 7)', num('--days', 0, 365))
    .addOption(new Option('--type <type>', 'policy type').choices(['UntaggedManifests']).default('UntaggedManifests'))
    .action(async (o) => {
      if (o.status === undefined && o.days === undefined) throw new CliError('nothing to update: give --status and/or --days', 2);
      print(
        await client(o).json('PUT', path(o), {
          ...(o.status ? { status: o.status } : {}),
          ...(o.days !== undefined ? { days: o.days } : {}),
          type: o.type,
        }),
        o,
      );
    });
}

export function registerImmutabilityCommands(program: Command): void {
  const imm = program
    .command('immutability')
    .description('write-once tags: policies of repository and tag globs (* within a path segment, ** across, ?)');
  const path = (o: { registry: string; name?: string }) =>
    `/api/registries/${enc(o.registry)}/immutability${o.name !== undefined ? `/${enc(o.name)}` : ''}`;
  common(imm.command('add').description('add a policy: tags matching --tag in repositories matching --repository become immutable'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .requiredOption('--name <name>', 'policy name (named in refusals)')
    .option('--repository <glob>', 'repository glob, e.g. prod/** (default ** = every repository)', '**')
    .option('--tag <glob>', 'tag glob, e.g. v* (default * = every tag)', '*')
    .action(async (o) =>
      print(await client(o).json('POST', path({ registry: o.registry }), { name: o.name, repository: o.repository, tag: o.tag }), o),
    );
  common(imm.command('list').description('list the immutability policies of a registry'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .action(async (o) => print((await client(o).json<{ value: unknown[] }>('GET', path({ registry: o.registry }))).value, o));
  common(imm.command('show').description('show an immutability policy'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .requiredOption('--name <name>', 'policy name')
    .action(async (o) => print(await client(o).json('GET', path(o)), o));
  common(imm.command('remove').description('remove an immutability policy (its tags become mutable again)'))
    .requiredOption('-r, --registry <registry>', 'registry name')
    .requiredOption('--name <name>', 'policy name')
    .action(async (o) => {
      await client(o).request('DELETE', path(o));
    });
}
