import type { Command } from 'commander';
import { registerCheckHealthCommand } from './commands/check-health.js';
import { registerGcCommands } from './commands/gc.js';
import { registerManifestCommands } from './commands/manifest.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerRepositoryCommands } from './commands/repository.js';
import { registerIdentityCommands } from './commands/identity.js';
import { registerImportCommands } from './commands/import.js';
import { registerLoginCommands } from './commands/login.js';
import { registerSoftDeleteCommands } from './commands/soft-delete.js';
import { registerImmutabilityCommands, registerPurgeCommands, registerRetentionCommands } from './commands/purge.js';
import { registerVulndbCommands } from './commands/vulndb.js';
import { registerJobCommands, registerWebhookCommands } from './commands/webhooks.js';
import { registerScanCommands } from './commands/scan.js';
import { registerTaskCommands } from './commands/tasks.js';
import { registerReplicationCommands } from './commands/replication.js';
import { registerTrustCommands } from './commands/trust.js';
import { registerEncryptionCommands } from './commands/encryption.js';
import { registerPrivateEndpointCommands } from './commands/private-endpoint.js';
import { registerEncryptionStatusCommand } from './commands/encryption-status.js';

/** Every command that talks to a server: the one list main.ts registers and docs/cli.md must cover. */
export function registerManagementCommands(program: Command): void {
  registerRegistryCommands(program);
  registerEncryptionCommands(program);
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
  registerVulndbCommands(program);
  registerScanCommands(program);
  registerReplicationCommands(program);
  registerTrustCommands(program);
  registerPrivateEndpointCommands(program);
  registerTaskCommands(program);
  // Last: it adds `status` to the encryption group when another file made it.
  registerEncryptionStatusCommand(program);
}
