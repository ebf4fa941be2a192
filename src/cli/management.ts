import type { Command } from 'commander';
import { registerCheckHealthCommand } from './check-health.js';
import { registerGcCommands } from './gc-commands.js';
import { registerManifestCommands, registerRegistryCommands, registerRepositoryCommands } from './commands.js';
import { registerIdentityCommands } from './identity-commands.js';
import { registerImportCommands } from './import-commands.js';
import { registerLoginCommands } from './login-commands.js';
import { registerSoftDeleteCommands } from './soft-delete-commands.js';
import { registerImmutabilityCommands, registerPurgeCommands, registerRetentionCommands } from './purge-commands.js';
import { registerJobCommands, registerWebhookCommands } from './webhook-commands.js';

/** Every command that talks to a server: the one list main.ts registers and docs/cli.md must cover. */
export function registerManagementCommands(program: Command): void {
  registerRegistryCommands(program);
  registerRepositoryCommands(program);
  registerManifestCommands(program);
  registerIdentityCommands(program);
  registerLoginCommands(program);
  registerCheckHealthCommand(program);
  registerWebhookCommands(program);
  registerJobCommands(program);
  // After the repository and manifest groups, and main.ts's config group: it adds to them.
  registerSoftDeleteCommands(program);
  registerGcCommands(program);
  registerImportCommands(program);
  registerPurgeCommands(program);
  registerRetentionCommands(program);
  registerImmutabilityCommands(program);
}
