import type { Command } from 'commander';
import { enc } from '../client.js';
import { client, common, print } from '../command-kit.js';

// Customer-managed keys, as az acr encryption: show a registry's key and its state, rotate it.
// A registry gets its key when it is created (berth create --key-encryption-key URI).

/** The `encryption` group (other files may add subcommands to it). */
export function encryptionGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'encryption') ??
    program
      .command('encryption')
      .description("encryption at rest: the deployment's key and migration (status), a registry's customer-managed key (show, rotate-key)")
  );
}

export function registerEncryptionCommands(program: Command): void {
  const group = encryptionGroup(program);
  common(
    group.command('show').description("show a registry's customer-managed key and its state, checked now (like az acr encryption show)"),
  )
    .requiredOption('-n, --name <name>', 'registry name')
    .action(async (o) => print(await client(o).json('GET', `/api/registries/${enc(o.name)}/encryption`), o));
  common(
    group
      .command('rotate-key')
      .description(
        "re-wrap a registry's data key with its key's current version, or with another key (like az acr encryption rotate-key); no data is rewritten",
      ),
  )
    .requiredOption('-n, --name <name>', 'registry name')
    .option(
      '--key-encryption-key <uri>',
      'another key-encryption key (a key URI, e.g. file:///etc/berth/keys/new.kek); default the same key',
    )
    .action(async (o) =>
      print(
        await client(o).json('POST', `/api/registries/${enc(o.name)}/encryption/rotate-key`, {
          ...(o.keyEncryptionKey !== undefined ? { keyIdentifier: o.keyEncryptionKey } : {}),
        }),
        o,
      ),
    );
}
