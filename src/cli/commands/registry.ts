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
    .option(
      '--key-encryption-key <uri>',
      "a customer-managed key (Premium): the registry's data key is wrapped by it, e.g. file:///etc/berth/keys/reg.kek (berth encryption show)",
    )
    .action(async (o) =>
      print(
        await client(o).json('POST', '/api/registries', {
          name: o.name,
          sku: o.sku,
          ...(o.adminEnabled !== undefined ? { adminUserEnabled: o.adminEnabled } : {}),
          ...(o.location !== undefined ? { location: o.location } : {}),
          ...(o.keyEncryptionKey !== undefined ? { encryption: { keyVaultProperties: { keyIdentifier: o.keyEncryptionKey } } } : {}),
        }),
        o,
      ),
    );

  common(program.command('show-endpoints').description("show a registry's login server and data endpoints (like az acr show-endpoints)"))
    .requiredOption('-n, --name <name>', 'registry name')
    // One data endpoint per region the registry is served from: its dedicated data host there
    // (--data-endpoint-enabled), else the region's own endpoint (Berth's nodes serve blobs themselves).
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/endpoints`), o));

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
    .option(
      '--public-network-enabled <bool>',
      'false refuses every client of the login server (Premium; management under /api stays reachable)',
      boolArg('--public-network-enabled'),
    )
    .addOption(
      new Option('--default-action <action>', 'what a client no IP rule allows gets (Premium; see berth network-rule)').choices([
        'Allow',
        'Deny',
      ]),
    )
    .option(
      '--data-endpoint-enabled <bool>',
      "redirect blob downloads to the registry's dedicated data endpoint (Premium; the deployment needs dataEndpoint.listen)",
      boolArg('--data-endpoint-enabled'),
    )
    .action(async (o) => {
      const patch: Record<string, unknown> = {};
      if (o.sku) patch.sku = o.sku;
      if (o.dataEndpointEnabled !== undefined) patch.dataEndpointEnabled = o.dataEndpointEnabled;
      if (o.publicNetworkEnabled !== undefined) patch.publicNetworkAccess = o.publicNetworkEnabled ? 'Enabled' : 'Disabled';
      if (o.defaultAction !== undefined) patch.networkRuleSet = { defaultAction: o.defaultAction };
      if (o.adminEnabled !== undefined) patch.adminUserEnabled = o.adminEnabled;
      if (o.anonymousPullEnabled !== undefined) patch.anonymousPullEnabled = o.anonymousPullEnabled;
      if (o.quarantinePolicy !== undefined) patch.policies = { quarantinePolicy: { status: o.quarantinePolicy } };
      if (Object.keys(patch).length === 0 && o.storageQuotaGb === undefined)
        throw new CliError(
          'nothing to update: give --sku, --admin-enabled, --anonymous-pull-enabled, --quarantine-policy, --storage-quota-gb, --public-network-enabled, --default-action or --data-endpoint-enabled',
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

  // IP rules of a Premium registry, like az acr network-rule (list prints the IP rules).
  const rule = program.command('network-rule').description("a Premium registry's IP rules (like az acr network-rule)");
  const rules = (view: { networkRuleSet: { ipRules: unknown[] } }) => view.networkRuleSet.ipRules;
  common(rule.command('add').description('allow an IP address or CIDR range (takes effect with --default-action Deny)'))
    .requiredOption('-n, --name <name>', 'registry name')
    .requiredOption('--ip-address <cidr>', 'an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.0/24')
    .action(async (o) =>
      print(
        rules(await client(o).json('POST', `/api/registries/${enc(o.name)}/network-rules`, { action: 'Allow', value: o.ipAddress })),
        o,
      ),
    );
  common(rule.command('remove').description('remove an IP rule'))
    .requiredOption('-n, --name <name>', 'registry name')
    .requiredOption('--ip-address <cidr>', 'the address or range of the rule')
    .action(async (o) =>
      print(
        rules(await client(o).json('DELETE', `/api/registries/${enc(o.name)}/network-rules?value=${encodeURIComponent(o.ipAddress)}`)),
        o,
      ),
    );
  common(rule.command('list').description("list a registry's IP rules"))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(rules(await client(o).json('GET', `/api/registries/${enc(o.name)}/network-rules`)), o));

  common(program.command('check-name').description('check whether a registry name is valid and free'))
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('POST', '/api/registries/check-name', { name: o.name }), o));
}
