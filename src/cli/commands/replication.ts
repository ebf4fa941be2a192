import type { Command } from 'commander';
import { CliError, enc } from '../client.js';
import { boolArg, client, common, confirm, print } from '../command-kit.js';
import { replicationTable } from '../tables.js';

// Geo-replication, shaped like `az acr replication`: replicas of a Premium registry in the
// deployment's other regions (berth region list shows them), with Berth's lag fields.

const tagsArg = (v: string, prev: Record<string, string> = {}) => {
  const i = v.indexOf('=');
  if (i <= 0) throw new CliError(`--tags takes KEY=VALUE, got "${v}"`, 2);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
};

const settings = (o: Record<string, unknown>) => ({
  ...(o.regionEndpointEnabled !== undefined ? { regionEndpointEnabled: o.regionEndpointEnabled } : {}),
  ...(o.globalEndpointRouting !== undefined ? { regionEndpointEnabled: o.globalEndpointRouting } : {}),
  ...(o.zoneRedundancy !== undefined ? { zoneRedundancy: o.zoneRedundancy === true ? 'Enabled' : o.zoneRedundancy } : {}),
  ...(o.tags !== undefined ? { tags: o.tags } : {}),
});

export function registerReplicationCommands(program: Command): void {
  const region = program.command('region').description("the deployment's regions (geo-replication)");
  common(region.command('list').description('list the regions a registry can be replicated to')).action(async (o) => {
    const r = await client(o).json<{ value: { name: string; url?: string }[]; serving: string }>('GET', '/api/regions');
    print(
      r.value.map((x) => ({ ...x, serving: x.name === r.serving })),
      o,
    );
  });

  const rep = program.command('replication').description("a Premium registry's replicas in other regions (like az acr replication)");
  const flags = (c: Command, location: 'required' | 'optional' = 'required') => {
    const cmd = common(c).requiredOption('-r, --registry <registry>', 'the registry');
    return location === 'required'
      ? cmd.requiredOption('-l, --location <region>', 'the region (berth region list)')
      : cmd.option('-l, --location <region>', 'the region (berth region list)');
  };
  const settingFlags = (c: Command) =>
    c
      .option(
        '--region-endpoint-enabled <bool>',
        "route the global endpoint's traffic to this replica (false: it still replicates and serves its regional endpoint)",
        boolArg('--region-endpoint-enabled'),
      )
      .option('--global-endpoint-routing <bool>', "az acr's newer name for --region-endpoint-enabled", boolArg('--global-endpoint-routing'))
      .option(
        '--zone-redundancy [state]',
        'Enabled (the flag alone) or Disabled: recorded as ACR records it (Berth has no zones)',
        (v: string) => {
          const state = ['Enabled', 'Disabled'].find((x) => x.toLowerCase() === v.toLowerCase());
          if (!state) throw new CliError(`--zone-redundancy takes Enabled or Disabled, got "${v}"`, 2);
          return state;
        },
      )
      .option('--tags <key=value>', 'a tag (repeat for more)', tagsArg);

  settingFlags(flags(rep.command('create').description('replicate a Premium registry to a region (what it holds is copied there too)')))
    .option('-n, --name <name>', "the replica's name: its location (as ACR defaults it)")
    .action(async (o) => {
      if (o.name !== undefined && o.name !== o.location)
        throw new CliError(`a replica is named after its location: give -n ${o.location} or leave -n out`, 2);
      print(await client(o).json('POST', `/api/registries/${enc(o.registry)}/replications`, { location: o.location, ...settings(o) }), o, {
        table: replicationTable,
      });
    });
  settingFlags(flags(rep.command('update').description("change a replica's routing or tags"))).action(async (o) => {
    const body = settings(o);
    if (Object.keys(body).length === 0)
      throw new CliError('nothing to update: give --region-endpoint-enabled, --global-endpoint-routing, --zone-redundancy or --tags', 2);
    print(await client(o).json('PATCH', `/api/registries/${enc(o.registry)}/replications/${enc(o.location)}`, body), o, {
      table: replicationTable,
    });
  });
  flags(rep.command('delete').description('stop replicating a registry to a region (not its home region)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete the replica of ${o.registry} in ${o.location}`))) return;
      await client(o).request('DELETE', `/api/registries/${enc(o.registry)}/replications/${enc(o.location)}`);
    });
  flags(rep.command('list').description("a registry's replicas, its home region first, with their lag"), 'optional').action(async (o) =>
    print((await client(o).json<{ value: unknown[] }>('GET', `/api/registries/${enc(o.registry)}/replications`)).value, o, {
      table: replicationTable,
    }),
  );
  flags(rep.command('show').description('a replica: status (Ready, Syncing, Disabled), lagSeconds, pendingBlobs, pendingBytes')).action(
    async (o) =>
      print(await client(o).json('GET', `/api/registries/${enc(o.registry)}/replications/${enc(o.location)}`), o, {
        table: replicationTable,
      }),
  );
}
