import { type Command, Option } from 'commander';
import { CliError, enc } from '../client.js';
import { client, common, print, confirm, boolArg, quotaArg } from '../command-kit.js';
import { usageTable } from '../tables.js';

// Shaped like `az acr`: same groups, flags and output formats.

export function registerRegistryCommands(program: Command): void {
  common(program.command('create').description('create a registry (like az acr create)'))
    .requiredOption('-n, --name <name>', 'registry name: 5-50 letters and digits, unique regardless of case')
    .addOption(new Option('--sku <sku>', 'service tier').choices(['Basic', 'Standard', 'Premium']).default('Basic'))
    .option(
      '--admin-enabled [bool]',
      'enable the admin user (true, or the flag alone): user name = registry name, two passwords (berth credential show)',
      boolArg('--admin-enabled'),
    )
    .option('-l, --location <region>', 'home region (berth region list); default the region of the node that answers')
    .action(async (o) =>
      print(
        await client(o).json('POST', '/api/registries', {
          name: o.name,
          sku: o.sku,
          ...(o.adminEnabled !== undefined ? { adminUserEnabled: o.adminEnabled } : {}),
          ...(o.location !== undefined ? { location: o.location } : {}),
        }),
        o,
      ),
    );

  common(program.command('show-endpoints').description("show a registry's login server and data endpoints (like az acr show-endpoints)"))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => {
      const c = client(o);
      const reg = await c.json<{ loginServer: string; location: string }>('GET', `/api/registries/${enc(o.name)}`);
      const replicas = await c.json<{ value: { location: string; regionEndpoint?: string }[] }>(
        'GET',
        `/api/registries/${enc(o.name)}/replications`,
      );
      // Berth serves blobs itself from each region's nodes, so a region's data endpoint is the host
      // of its regional endpoint (the login server's host when the deployment has one region).
      const host = reg.loginServer.split('/')[0]!;
      const dataEndpoints = replicas.value.map((r) => ({
        region: r.location,
        endpoint: r.regionEndpoint ? new URL(r.regionEndpoint).host : host,
      }));
      print({ loginServer: reg.loginServer, dataEndpoints }, o);
    });

  common(program.command('list').description('list registries')).action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', '/api/registries')).value, o),
  );

  common(program.command('show').description('show a registry'))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}`), o));

  common(program.command('update').description('update a registry'))
    .requiredOption('-n, --name <name>', 'registry name')
    .addOption(new Option('--sku <sku>', 'service tier').choices(['Basic', 'Standard', 'Premium']))
    .option(
      '--admin-enabled [bool]',
      'enable (true) or disable (false) the admin user: user name = registry name, two passwords (berth credential show)',
      boolArg('--admin-enabled'),
    )
    .option(
      '--anonymous-pull-enabled [bool]',
      'let anyone pull from every repository (Standard and Premium); see also berth repository update',
      boolArg('--anonymous-pull-enabled'),
    )
    .addOption(
      new Option(
        '--quarantine-policy <status>',
        'quarantine: new images stay hidden from pulls and listings until marked Passed (AcrQuarantineWriter)',
      ).choices(['enabled', 'disabled']),
    )
    .option(
      '--storage-quota-gb <n|none>',
      'refuse pushes beyond this many GiB in the registry (dedup-aware); none removes the quota',
      (v) => quotaArg(v, '--storage-quota-gb', 1024 ** 3),
    )
    .action(async (o) => {
      const patch: Record<string, unknown> = {};
      if (o.sku) patch.sku = o.sku;
      if (o.adminEnabled !== undefined) patch.adminUserEnabled = o.adminEnabled;
      if (o.anonymousPullEnabled !== undefined) patch.anonymousPullEnabled = o.anonymousPullEnabled;
      if (o.quarantinePolicy !== undefined) patch.policies = { quarantinePolicy: { status: o.quarantinePolicy } };
      if (Object.keys(patch).length === 0 && o.storageQuotaGb === undefined)
        throw new CliError(
          'nothing to update: give --sku, --admin-enabled, --anonymous-pull-enabled, --quarantine-policy or --storage-quota-gb',
          2,
        );
      const c = client(o);
      if (o.storageQuotaGb !== undefined)
        await c.json('PUT', `/api/registries/${enc(o.name)}/quota`, {
          storageQuotaBytes: o.storageQuotaGb === 'none' ? null : o.storageQuotaGb,
        });
      print(
        Object.keys(patch).length
          ? await c.json('PATCH', `/api/registries/${enc(o.name)}`, patch)
          : await c.json('GET', `/api/registries/${enc(o.name)}`),
        o,
      );
    });

  common(
    program
      .command('show-usage')
      .description("show storage, webhooks, geo-replications, tokens and scope maps against the tier's limits (az acr show-usage)"),
  )
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/usages`), o, { table: usageTable }));

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
