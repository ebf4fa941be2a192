import type { Command } from 'commander';
import { saveRegistryLogin } from '../credentials/auth-files.js';
import { ApiClient, CliError, enc, resolveClientOptions, resolveServer } from '../client.js';
import {
  accountsPath,
  discoverService,
  exchange,
  getAccount,
  isExpired,
  loadAccounts,
  normalizeServer,
  TOKEN_USERNAME,
  TokenRefused,
  tokenForLoginServer,
  updateAccounts,
  updateHelperEntries,
  type Account,
  type TokenAnswer,
} from '../credentials/store.js';
import { common, note, print, warn } from '../command-kit.js';

// Signing in, shaped like az: `berth account login` (az login) keeps a refresh token for a Berth
// server in the user's config directory; `berth login -n REG` (az acr login) turns it into
// credentials docker, podman, skopeo and buildah use, or prints a token with --expose-token.

interface Flags {
  server?: string;
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  output?: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function prompt(question: string, secret: boolean): Promise<string> {
  if (secret) return readHidden(question);
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** Reads a line from the terminal in raw mode without echoing it (Enter ends, Backspace edits, Ctrl-C aborts). */
function readHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('cancelled', 2));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** User name and password from flags, BERTH_USERNAME/BERTH_PASSWORD, stdin, or a prompt on a terminal. */
async function passwordCredentials(o: Flags): Promise<{ username: string; password: string } | undefined> {
  if (o.passwordStdin && o.password !== undefined) throw new CliError('give --password or --password-stdin, not both', 2);
  let username = o.username ?? process.env.BERTH_USERNAME;
  let password = o.passwordStdin ? await readStdin() : (o.password ?? process.env.BERTH_PASSWORD);
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined) {
    if (!process.stdin.isTTY || o.passwordStdin) throw new CliError('a password needs a --username', 2);
    username = await prompt('Username: ', false);
  }
  if (password === undefined) {
    if (!process.stdin.isTTY) throw new CliError('give --password, or the password on stdin with --password-stdin', 2);
    password = await prompt('Password: ', true);
  }
  return { username, password };
}

function accountView(a: Account): Record<string, unknown> {
  return {
    server: a.server,
    username: a.username,
    expiresAt: a.expiresAt,
    expired: isExpired(a.expiresAt),
    loginServers: Object.keys(a.loginServers ?? {}),
  };
}

function signInFailed(e: unknown, server: string): unknown {
  if (e instanceof TokenRefused && (e.status === 401 || e.status === 403)) return new CliError(`sign-in to ${server} failed: ${e.message}`);
  return e;
}

export function registerLoginCommands(program: Command): void {
  const account = program.command('account').description('sign in to a Berth server (like az login / az account)');

  common(
    account
      .command('login')
      .description('sign in (like az login): exchange a user name and password for a CLI session kept in the user config directory'),
  )
    .option('--password-stdin', 'read the password from standard input')
    .action(async (o: Flags) => {
      const server = normalizeServer(resolveServer(o.server));
      let creds = await passwordCredentials(o);
      if (!creds) {
        if (!process.stdin.isTTY) throw new CliError('give --username and --password (or --password-stdin)', 2);
        creds = { username: await prompt('Username: ', false), password: await prompt('Password: ', true) };
      }
      if (creds.username === TOKEN_USERNAME) throw new CliError(`sign in with a user name and password, not ${TOKEN_USERNAME}`, 2);
      const service = await discoverService(server);
      let t: TokenAnswer;
      try {
        // A CLI session (days, like az login), not a registry token (hours).
        t = await exchange(server, service, { ...creds, session: 'cli' });
      } catch (e) {
        throw signInFailed(e, server);
      }
      const a = updateAccounts((accounts) => {
        const prev = accounts[server];
        const next: Account = {
          server,
          username: creds.username,
          service,
          refreshToken: t.token,
          expiresAt: t.expiresAt,
          loginServers: prev && prev.username === creds.username ? (prev.loginServers ?? {}) : {},
        };
        accounts[server] = next;
        return next;
      });
      note(`signed in to ${server} as ${a.username} until ${a.expiresAt} (saved in ${accountsPath()})`);
      print(accountView(a), o);
    });

  common(account.command('show').description('show the sign-in for a server (default: BERTH_SERVER, or the only one)')).action(
    (o: Flags) => {
      const server = normalizeServer(resolveServer(o.server));
      const a = getAccount(server);
      if (!a) throw new CliError(`not signed in to ${server}: run \`berth account login --server ${server}\``);
      print(accountView(a), o);
    },
  );

  common(account.command('list').description('list every stored sign-in')).action((o: Flags) =>
    print(Object.values(loadAccounts()).map(accountView), o),
  );

  common(account.command('logout').description('forget the sign-in for a server (the refresh token stays valid until it expires)'))
    .option('--all', 'forget every stored sign-in')
    .action((o: Flags & { all?: boolean }) => {
      const server = normalizeServer(resolveServer(o.server));
      const removed = updateAccounts((accounts) => {
        const gone = o.all ? Object.values(accounts) : accounts[server] ? [accounts[server]] : [];
        for (const a of gone) delete accounts[a.server];
        return gone;
      });
      // Tokens the credential helper minted from these sign-ins go too.
      const hosts = new Set(removed.flatMap((a) => [new URL(a.server).host, ...Object.keys(a.loginServers ?? {})]));
      if (hosts.size) {
        updateHelperEntries((auths) => {
          for (const h of hosts) if (auths[h]?.expiresAt) delete auths[h];
        });
      }
      if (removed.length === 0) note(`not signed in to ${o.all ? 'any server' : server}`);
      for (const a of removed) note(`signed out of ${a.server} (${a.username})`);
    });

  common(program.command('login').description('log in to a registry for docker, podman, skopeo and buildah (like az acr login)'))
    .requiredOption('-n, --name <registry>', 'registry name')
    .option('--expose-token', 'print a token and the login server instead of writing credential files')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (o: Flags & { name: string; exposeToken?: boolean }) => {
      const creds = await passwordCredentials(o);
      const opts = creds ? { server: resolveServer(o.server), ...creds } : resolveClientOptions(o);
      const api = new ApiClient(opts);
      const server = api.server;
      if (!creds && !opts.account) {
        throw new CliError(`not signed in to ${server}: run \`berth account login --server ${server}\`, or give --username and --password`);
      }

      // The registry's login server: HOST:PORT for path-style, <registry>.<domain> for host-style.
      let host: string;
      try {
        const reg = await api.json<{ loginServer?: string; name?: string }>('GET', `/api/registries/${enc(o.name)}`);
        host = String(reg.loginServer ?? '')
          .split('/')[0]!
          .toLowerCase();
        if (!host) throw new CliError(`the server reported no loginServer for ${o.name}`);
      } catch (e) {
        if (!(e instanceof CliError) || !/\bHTTP 403\b/.test(e.message)) throw e;
        // May pull and push but not read the registry's settings (e.g. only AcrPull): as az does,
        // fall back to the path-style login server.
        host = (await discoverService(server)).toLowerCase();
        warn(`cannot read registry ${o.name} (${e.message}); assuming its login server is ${host}`);
      }

      const service = await discoverService(server, host);
      let t: TokenAnswer;
      if (creds) {
        try {
          t = await exchange(server, service, creds);
        } catch (e) {
          throw signInFailed(e, server);
        }
      } else {
        t = await tokenForLoginServer(opts.account!, service);
        // Remember which Berth server serves this host: the credential helper answers for it.
        updateAccounts((accounts) => {
          const a = accounts[server];
          if (a) a.loginServers = { ...a.loginServers, [host]: { service, registry: o.name } };
        });
      }

      if (o.exposeToken) {
        note(
          `You can perform manual login using the provided access token below, for example: 'podman login ${host} --username ${TOKEN_USERNAME} --password-stdin'`,
        );
        print({ accessToken: t.token, loginServer: host, username: TOKEN_USERNAME }, o);
        return;
      }
      const saved = await saveRegistryLogin(host, t.token);
      for (const s of saved)
        note(
          s.via === 'file'
            ? `saved credentials for ${host} in ${s.file}`
            : `stored credentials for ${host} with docker-credential-${s.via} (configured in ${s.file})`,
        );
      process.stdout.write('Login Succeeded\n');
    });
}
