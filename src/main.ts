#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError } from './cli/client.js';
import { cliFlags } from './cli/transport.js';
import { ConfigError } from './config/errors.js';
import { buildProgram } from './program.js';
import { shortLivedProcess } from './cli/short-lived.js';

// Every command but `berth serve` is a short-lived process; the server keeps V8's defaults.
if (!process.argv.slice(2).includes('serve')) shortLivedProcess();

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
    const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
    if (err.code === 'EADDRINUSE') {
      const where =
        err.address === undefined ? 'the listen address' : `${err.address.includes(':') ? `[${err.address}]` : err.address}:${err.port}`;
      process.stderr.write(`error: ${where} is already in use; choose another address with --listen HOST:PORT\n`);
    } else process.stderr.write(`error: ${err.message ?? String(e)}\n`);
    process.exitCode = 1;
  }
}

void main();
