import type { Command } from 'commander';
import { enc } from '../client.js';
import { client, common, confirm, print } from '../command-kit.js';
import { privateEndpointTable } from '../tables.js';

// Private endpoints (docs/private-endpoints.md): a listener (ADDRESS:PORT or unix:/path) connected
// to a Premium registry. `berth private-endpoint` creates and manages them; the same connections
// are reachable under az acr's names (`berth private-endpoint-connection`, -r registry -n name).

const path = (registry: string, name?: string) =>
  `/api/registries/${enc(registry)}/private-endpoint-connections${name === undefined ? '' : `/${enc(name)}`}`;

type State = 'Approved' | 'Rejected';

export function registerPrivateEndpointCommands(program: Command): void {
  const pe = program
    .command('private-endpoint')
    .description("a Premium registry's private endpoints: extra listeners only connected registries answer on");
  // -n is the registry here (as elsewhere in berth); --name is the endpoint.
  const flags = (c: Command) =>
    common(c).requiredOption('-n, --registry <registry>', 'registry name').requiredOption('--name <name>', 'private endpoint name');

  flags(
    pe
      .command('create')
      .description('connect a registry to a listener (bound on every node, or on the nodes of --location; another registry may share it)'),
  )
    .requiredOption('--listen <address>', 'ADDRESS:PORT (an IP address: 10.0.0.5:5000, [fd00::5]:5000) or unix:/path/to.sock')
    .option('--request-message <text>', 'a message for whoever approves the connection (at most 140 characters)')
    .option('--manual', 'the connection waits in Pending until approved (berth private-endpoint approve); default: approved at once')
    .option(
      '-l, --location <region>',
      "only this region's nodes bind the listener and serve the connection (berth region list); default: every region",
    )
    .action(async (o) =>
      print(
        await client(o).json('POST', path(o.registry), {
          name: o.name,
          listen: o.listen,
          ...(o.requestMessage !== undefined ? { requestMessage: o.requestMessage } : {}),
          ...(o.manual ? { manual: true } : {}),
          ...(o.location !== undefined ? { location: o.location } : {}),
        }),
        o,
      ),
    );
  common(pe.command('list').description("list a registry's private endpoint connections"))
    .requiredOption('-n, --registry <registry>', 'registry name')
    .action(async (o) =>
      print((await client(o).json<{ value: unknown[] }>('GET', path(o.registry))).value, o, { table: privateEndpointTable }),
    );
  flags(pe.command('show').description('show a private endpoint connection, its listener on each node and who shares it')).action(
    async (o) => print(await client(o).json('GET', path(o.registry, o.name)), o),
  );
  const state = (c: Command, to: State) =>
    flags(c)
      .option('--description <text>', 'why (at most 140 characters)')
      .action(async (o) =>
        print(
          await client(o).json('PUT', path(o.registry, o.name), {
            privateLinkServiceConnectionState: { status: to, ...(o.description !== undefined ? { description: o.description } : {}) },
          }),
          o,
        ),
      );
  state(pe.command('approve').description('approve a Pending connection: the registry answers on the listener'), 'Approved');
  state(pe.command('reject').description('reject a connection: the registry no longer answers on the listener (final)'), 'Rejected');
  flags(pe.command('delete').description('delete a private endpoint connection (the listener stops when no connection names it)'))
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete private endpoint ${o.name} of ${o.registry}`))) return;
      await client(o).request('DELETE', path(o.registry, o.name));
    });

  // az acr private-endpoint-connection: -r registry, -n connection name.
  const az = program
    .command('private-endpoint-connection')
    .description('private endpoint connections under az acr private-endpoint-connection names (-r registry, -n name)');
  const azFlags = (c: Command) =>
    common(c).requiredOption('-r, --registry-name <registry>', 'registry name').requiredOption('-n, --name <name>', 'connection name');
  common(az.command('list').description("list a registry's private endpoint connections"))
    .requiredOption('-r, --registry-name <registry>', 'registry name')
    .action(async (o) =>
      print((await client(o).json<{ value: unknown[] }>('GET', path(o.registryName))).value, o, { table: privateEndpointTable }),
    );
  azFlags(az.command('show').description('show a private endpoint connection')).action(async (o) =>
    print(await client(o).json('GET', path(o.registryName, o.name)), o),
  );
  for (const [verb, to] of [
    ['approve', 'Approved'],
    ['reject', 'Rejected'],
  ] as const)
    azFlags(az.command(verb).description(`${verb} a private endpoint connection`))
      .option('--description <text>', 'why (at most 140 characters)')
      .action(async (o) =>
        print(
          await client(o).json('PUT', path(o.registryName, o.name), {
            privateLinkServiceConnectionState: { status: to, ...(o.description !== undefined ? { description: o.description } : {}) },
          }),
          o,
        ),
      );
  azFlags(az.command('delete').description('delete a private endpoint connection'))
    .option('-y, --yes', 'do not prompt for confirmation')
    .action(async (o) => {
      if (!(await confirm(o, `delete private endpoint connection ${o.name} of ${o.registryName}`))) return;
      await client(o).request('DELETE', path(o.registryName, o.name));
    });
}
