import { type Command, Option } from 'commander';
import { createClient, CliError, type ApiClient } from './client.js';
import { compileQuery, format, OUTPUT_FORMATS, type RenderOptions } from './output.js';

import { cliFlags, debug } from './transport.js';
import { VERSION } from './version.js';

export { warn, note } from './transport.js';

// What every `berth` management command shares: the common flags, the API client, output, image
// references, confirmation prompts and az-style flag parsers.

interface Common {
  server?: string;
  username?: string;
  password?: string;
  output?: string;
  query?: string;
}

/** The API client for a command: flags, else BERTH_* environment, else the stored sign-in (berth account login). */
export function client(o: Common): ApiClient {
  return createClient(o);
}

/**
 * Prints a command's result as az does: --query (JMESPath) first, then -o. `table` shapes the
 * value into rows for -o table (az's table transformer) when the value's own fields would lose its
 * main information; it is not used when --query chose the fields.
 */
export function print(value: unknown, o: Common, opts: RenderOptions = {}): void {
  const text = format(value, { output: o.output === 'text' ? 'json' : o.output, query: o.query }, opts);
  if (text) process.stdout.write(`${text}\n`);
}

/**
 * -o/--output. Commands whose default is a human summary (check-health, purge, config keys) pass
 * `text` (its help line): it becomes the default choice, and --query alone then prints json.
 */
export function outputOption(text?: string): Option {
  const choices: string[] = text ? ['text', ...OUTPUT_FORMATS] : [...OUTPUT_FORMATS];
  const help = text
    ? `output format: text (default: ${text}), ${OUTPUT_FORMATS.join(', ')}`
    : `output format: json (default), ${OUTPUT_FORMATS.filter((f) => f !== 'json').join(', ')}`;
  const opt = new Option('-o, --output <format>', help).choices(choices);
  return text ? opt.default('text') : opt;
}

/** True when a text-default command should print its summary (no -o, no --query). */
export const textOutput = (o: { output?: string; query?: string }) => (o.output === undefined || o.output === 'text') && !o.query;

/** The options every command takes (added to the whole tree by addGlobalOptions). */
export function globalOptions(): Option[] {
  return [
    new Option('--query <JMESPath>', 'JMESPath query applied to the result before it is formatted (see https://jmespath.org)').argParser(
      (v: string) => {
        compileQuery(v);
        return v;
      },
    ),
    new Option('--only-show-errors', 'only show errors on stderr: no warnings or progress'),
    new Option('--debug', 'trace each HTTP request (method, URL, status, duration; credentials redacted) and show stack traces'),
  ];
}

/**
 * Gives every command of the tree -o/--output, --query, --only-show-errors and --debug (once:
 * commands that declare their own -o keep it), and reads the process-wide switches before a
 * command runs. Run it after every command is registered. Options go on leaf commands and on
 * commands that already have -o (a group's options would otherwise capture its subcommands').
 */
export function addGlobalOptions(program: Command): void {
  const visit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      const hasOutput = sub.options.some((x) => x.long === '--output');
      if (sub.commands.length === 0 || hasOutput) {
        if (!hasOutput) sub.addOption(outputOption());
        for (const opt of globalOptions()) if (!sub.options.some((x) => x.long === opt.long)) sub.addOption(opt);
      }
      visit(sub);
    }
  };
  visit(program);
  program.hook('preAction', (_root, action) => {
    const o = action.optsWithGlobals();
    cliFlags.debug = !!o.debug;
    cliFlags.onlyShowErrors = !!o.onlyShowErrors;
    const path: string[] = [];
    for (let c: Command | null = action; c && c !== program; c = c.parent) path.unshift(c.name());
    debug(`berth ${VERSION}, node ${process.version}: running "${path.join(' ')}"`);
  });
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
    .addOption(outputOption());
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
