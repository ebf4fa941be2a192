#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError } from './cli/client.js';
import { cliFlags } from './cli/transport.js';
import { ConfigError } from './config/config.js';
import { buildProgram } from './program.js';

const program = buildProgram();

// A closed pipe (`berth ... | head`) is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (cliFlags.debug && e instanceof Error && !(e instanceof CommanderError)) process.stderr.write(`DEBUG: ${e.stack ?? e.message}\n`);
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof CliError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`configuration error:\n${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') process.stderr.write(`error: the listen address is already in use (${err.message})\n`);
    else process.stderr.write(`error: ${err.message ?? String(e)}\n`);
    process.exitCode = 1;
  }
}

void main();
