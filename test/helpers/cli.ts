import { Command, CommanderError } from 'commander';
import { CliError } from '../../src/cli/client.js';
import { addGlobalOptions } from '../../src/cli/command-kit.js';
import { registerManagementCommands } from '../../src/cli/management.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a berth command in this process, as main.ts would: the same commands, the same exit codes
 * (2 usage, CliError's own otherwise), its text output captured. args are passed verbatim.
 */
export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('berth').exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  registerManagementCommands(program);
  addGlobalOptions(program);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be restored as is, and called only with .call(process.stdout)
  const write = process.stdout.write;
  // Only the command's text output is captured; the test runner's own (binary) stream passes.
  process.stdout.write = (chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') {
      stdout += chunk;
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  };
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof CliError) {
      code = e.exitCode;
      stderr += `error: ${e.message}\n`;
    } else throw e;
  } finally {
    process.stdout.write = write;
  }
  return { code, stdout, stderr };
}
