import type { Command } from 'commander';
import { client, common, print } from '../command-kit.js';
import { encryptionGroup } from './encryption.js';

// `berth encryption status`: encryption at rest of the whole deployment (which key protects the
// blob store; the progress of encrypting an existing clear-text store). Per-registry keys are the
// other subcommands of the group (encryption.ts, which owns it); this file only adds to it.

export function registerEncryptionStatusCommand(program: Command): void {
  const group = encryptionGroup(program);
  common(
    group
      .command('status')
      .description(
        'encryption at rest of the deployment: berth-managed, key-file or off, and the progress of encrypting objects stored in clear before',
      ),
  ).action(async (o) => print(await client(o).json('GET', '/api/encryption'), o, { table: encryptionStatusTable }));
}

/**
 * One row: the key, then the migration's counters flattened (migration.state, migration.objectsDone, …);
 * with regions, each region's migration state in one column (REGION=STATE …).
 */
function encryptionStatusTable(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  const { migration, regions, ...rest } = value as Record<string, unknown>;
  const row: Record<string, unknown> = { ...rest };
  if (Array.isArray(regions))
    row.regions = (regions as { name: string; migration: { state: string } | null }[])
      .map((r) => `${r.name}=${r.migration?.state ?? 'none'}`)
      .join(' ');
  if (migration && typeof migration === 'object')
    for (const [k, v] of Object.entries(migration as Record<string, unknown>)) row[`migration.${k}`] = v ?? '';
  else row.migration = 'none';
  return row;
}
