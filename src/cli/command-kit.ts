import { type Command, Option } from 'commander';
import { createClient, CliError, type ApiClient } from './client.js';
import { parseOutput, render } from './output.js';

// What every `berth` management command shares: the common flags, the API client, output, image
// references, confirmation prompts and az-style flag parsers.

interface Common {
  server?: string;
  username?: string;
  password?: string;
  output?: string;
}

/** The API client for a command: flags, else BERTH_* environment, else the stored sign-in (berth account login). */
export function client(o: Common): ApiClient {
  return createClient(o);
}

export function print(value: unknown, o: Common): void {
  const text = render(value, parseOutput(o.output));
  if (text) process.stdout.write(`${text}\n`);
}

/** Adds the options every command shares. */
export function common(cmd: Command): Command {
  return cmd
    .option(
      '--server <url>',
      'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)',
      undefined,
    )
    .option('-u, --username <name>', 'user name (env BERTH_USERNAME; default: the sign-in from berth account login)')
    .option('-p, --password <secret>', 'password (env BERTH_PASSWORD)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'jsonc', 'table', 'tsv', 'none']).default('json'));
}

/** "repo:tag", "repo@sha256:...", "repo:tag@sha256:..." (the digest wins, as in docker) or "repo" (then :latest). */
export function parseImage(image: string): { repository: string; reference: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const named = at >= 0 ? image.slice(0, at) : image;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const repository = colon > slash ? named.slice(0, colon) : named;
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  if (!repository) throw new CliError(`"${image}" names no repository: use repo:tag or repo@digest`, 2);
  if (digest !== undefined) {
    if (!digest) throw new CliError(`"${image}" has an empty digest after "@"`, 2);
    return { repository, reference: digest };
  }
  if (tag === '') throw new CliError(`"${image}" has an empty tag after ":"`, 2);
  return { repository, reference: tag ?? 'latest' };
}

export function confirmOrFail(o: { yes?: boolean }, what: string): void {
  if (o.yes) return;
  if (!process.stdin.isTTY) throw new CliError(`refusing to ${what} without confirmation: pass --yes`, 2);
}

async function ask(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} (y/n): `)).trim());
  } finally {
    rl.close();
  }
}

export async function confirm(o: { yes?: boolean }, what: string): Promise<boolean> {
  confirmOrFail(o, what);
  return o.yes ? true : ask(`Are you sure you want to ${what}?`);
}

/** A boolean flag as az takes it: alone it means true, or with true|false. */
export function boolArg(flag: string): (v: string) => boolean {
  return (v) => {
    if (/^(true|yes|1)$/i.test(v)) return true;
    if (/^(false|no|0)$/i.test(v)) return false;
    throw new CliError(`${flag} takes true or false, got "${v}"`, 2);
  };
}

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} must be a positive whole number, got "${v}"`, 2);
  return n;
}

/** A quota flag: a non-negative number of units (fractions allowed), or none; returns bytes or 'none'. */
export function quotaArg(v: string, flag: string, unit: number): number | 'none' {
  if (v.toLowerCase() === 'none') return 'none';
  if (!/^\d+(\.\d+)?$/.test(v)) throw new CliError(`${flag} takes a non-negative number or none, got "${v}"`, 2);
  return Math.round(Number(v) * unit);
}
