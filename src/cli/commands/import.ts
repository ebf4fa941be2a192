import { type Command, Option } from 'commander';
import { type ApiClient, CliError, enc } from '../client.js';
import { client, note, outputOption, print } from '../command-kit.js';
import { flatten } from '../tables.js';

// `berth import` (az acr import): the server copies an image from another registry. As in az,
// -u/--username and -p/--password are the SOURCE registry's credentials (aliases of
// --source-username/--source-password), unlike every other berth command where they are Berth's
// own. So Berth itself is signed in to here only through BERTH_USERNAME/BERTH_PASSWORD or
// `berth account login`, and Berth's own secrets given as source credentials are refused here
// (and by the server, which knows every credential of the deployment) before anything is sent.

/** What works for Berth's own credentials on import, said wherever they are missing or refused. */
const BERTH_CREDENTIALS_HINT =
  'set BERTH_USERNAME and BERTH_PASSWORD or run `berth account login`; -u/-p (--source-username/--source-password) ' +
  "are the source registry's credentials, as in az acr import";

interface ImportView {
  id: number;
  status: string;
  progress: {
    phase: string;
    manifests: { done: number; total: number };
    blobs: { done: number; total: number; skipped: number };
    bytes: { done: number; total: number };
  };
  error?: { code: string; message: string } | null;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function progressLine(v: ImportView): string {
  const p = v.progress;
  return (
    `import ${v.id}: ${v.status.toLowerCase()}, ${p.phase}: blobs ${p.blobs.done}/${p.blobs.total}${p.blobs.skipped ? ` (${p.blobs.skipped} already present)` : ''}, ` +
    `${mib(p.bytes.done)}/${mib(p.bytes.total)}, manifests ${p.manifests.done}/${p.manifests.total}`
  );
}

/** host[:port] of a fully qualified source (HOST/REPOSITORY:TAG), lower-cased; undefined when the first part is no host. */
function sourceHost(source: string): string | undefined {
  const slash = source.indexOf('/');
  const first = slash > 0 ? source.slice(0, slash) : '';
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first.toLowerCase() : undefined;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** Does the source name the Berth server itself (where Berth's own credentials are the source's)? */
function isServer(host: string | undefined, server: string): boolean {
  if (!host) return false;
  const u = new URL(server);
  if (host === u.host) return true;
  const [name, port] = [host.replace(/:\d+$/, ''), /:(\d+)$/.exec(host)?.[1]];
  return LOOPBACK.test(name) && LOOPBACK.test(u.hostname) && port === u.port;
}

/** The source credentials from --source-username/--source-password or their az aliases -u/-p. */
function sourceCredentials(o: Record<string, string | undefined>): { username: string; password: string } | undefined {
  const pick = (long: string, alias: string, what: string) => {
    if (o[long] !== undefined && o[alias] !== undefined && o[long] !== o[alias])
      throw new CliError(`--source-${what} and its alias --${what} (-${what[0]}) disagree: give one of them`, 2);
    return o[long] ?? o[alias];
  };
  const username = pick('sourceUsername', 'username', 'username');
  const password = pick('sourcePassword', 'password', 'password');
  if ((username === undefined) !== (password === undefined))
    throw new CliError(
      'give both --source-username and --source-password (or -u and -p) for the source registry, or neither for a public image',
      2,
    );
  return username === undefined ? undefined : { username, password: password! };
}

/**
 * Refuses Berth's own secrets as source credentials before anything is sent: the password of
 * BERTH_PASSWORD, or the token stored by `berth account login`. (Only the server can tell whether
 * another password is one of Berth's: it checks, and refuses too.)
 */
function refuseOwnSecrets(creds: { password: string }, api: ApiClient, host: string | undefined): void {
  if (isServer(host, api.server)) return;
  const own = [process.env.BERTH_PASSWORD, api.identity.account?.refreshToken].filter((s): s is string => !!s);
  if (!own.includes(creds.password)) return;
  throw new CliError(
    `refusing to send Berth's own credentials to the source registry${host ? ` ${host}` : ''}: on \`berth import\`, ` +
      "-u/--username and -p/--password are the SOURCE registry's credentials (aliases of --source-username/--source-password, " +
      "as in az acr import), and Berth's own come only from BERTH_USERNAME/BERTH_PASSWORD or `berth account login`. " +
      "Give the source registry's credentials, or none for a public image",
    2,
  );
}

export function registerImportCommands(program: Command): void {
  program
    .command('import')
    .description('import an image from another registry, server side (like az acr import)')
    .requiredOption('-n, --name <registry>', 'the registry to import into')
    .requiredOption(
      '--source <image>',
      'REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST, e.g. registry.example.com/library/nginx:1.27',
    )
    .option('-t, --image <repo:tag>', 'target REPOSITORY:TAG (repeatable); default: the source repository and tag', collect, [])
    .option('--repository <repo>', 'import the manifest by digest, untagged, into this repository (repeatable)', collect, [])
    .option('--source-username <name>', 'user name for the SOURCE registry')
    .option('--source-password <secret>', 'password or token for the SOURCE registry')
    .option('-u, --username <name>', "alias of --source-username, as in az acr import (not Berth's user: see BERTH_USERNAME)")
    .option('-p, --password <secret>', "alias of --source-password, as in az acr import (not Berth's password: see BERTH_PASSWORD)")
    // az's --registry names the source registry by its Azure resource id; Berth has no such ids.
    .addOption(new Option('-r, --registry <resource-id>').hideHelp())
    .option('--force', 'overwrite existing target tags (mode Force); locked tags are never overwritten')
    .option('--no-wait', 'return once the import is queued (poll GET /api/registries/<reg>/imports/<id>)')
    .option('--server <url>', 'Berth server URL (env BERTH_SERVER; default: the server signed in to, else http://127.0.0.1:5000)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      "\nBerth's own credentials: BERTH_USERNAME and BERTH_PASSWORD, else the sign-in from `berth account login`.\n" +
        "-u/-p are the SOURCE registry's credentials here, as in az acr import; Berth's own are refused as source credentials.",
    )
    .action(async (o) => {
      if (o.registry !== undefined)
        throw new CliError(
          '--registry (-r) names the source registry by an Azure resource id in az acr import; Berth has none: ' +
            'give the whole source instead, --source HOST/REPOSITORY:TAG',
          2,
        );
      const creds = sourceCredentials(o as Record<string, string | undefined>);
      // Berth's own credentials: environment or stored sign-in only (-u/-p name the source's).
      const api = client({ server: o.server as string | undefined, output: o.output as string });
      if (!api.authorization()) throw new CliError(`no Berth credentials for ${api.server}: ${BERTH_CREDENTIALS_HINT}`);
      if (creds) refuseOwnSecrets(creds, api, sourceHost(o.source as string));
      const body = {
        source: { sourceImage: o.source, ...(creds ? { credentials: creds } : {}) },
        targetTags: o.image as string[],
        untaggedTargetRepositories: o.repository as string[],
        mode: o.force ? 'Force' : 'NoForce',
      };
      let view: ImportView;
      try {
        view = await api.json<ImportView>('POST', `/api/registries/${enc(o.name)}/importImage`, body);
      } catch (e) {
        if (e instanceof CliError && e.httpStatus === 401)
          throw new CliError(`${e.message}. Berth's own credentials: ${BERTH_CREDENTIALS_HINT}`, 1, 401);
        throw e;
      }
      if (!o.wait) return print(view, o, { table: flatten });
      const tty = process.stderr.isTTY;
      let last = '';
      for (;;) {
        const line = progressLine(view);
        if (line !== last) {
          note(tty ? `\r\x1b[K${line}\r` : line);
          last = line;
        }
        if (view.status === 'Succeeded' || view.status === 'Failed') break;
        await new Promise((r) => setTimeout(r, 500));
        view = await api.json<ImportView>('GET', `/api/registries/${enc(o.name)}/imports/${view.id}`);
      }
      if (tty) note('\n');
      if (view.status === 'Failed')
        throw new CliError(`${view.error?.message ?? 'the import failed'}${view.error?.code ? ` (${view.error.code})` : ''}`);
      print(view, o, { table: flatten });
    });
}
