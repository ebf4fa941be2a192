import {
  accountForHost,
  expiredMessage,
  isExpired,
  jwtClaims,
  loadHelperEntries,
  refreshAccess,
  registryHost,
  TOKEN_USERNAME,
  TokenRefused,
  updateHelperEntries,
  exchange,
  type Account,
  type TokenAnswer,
} from './store.js';
import { CliError } from '../errors.js';

// The docker credential helper protocol (github.com/docker/docker-credential-helpers), served by
// the docker-credential-berth program: `store` (JSON on stdin), `get` and `erase` (a server URL on
// stdin), `list`. Entries live in <berth config dir>/docker-credentials.json (0600). `get` for a
// host that a stored Berth sign-in serves answers with a fresh token, so docker and podman keep
// working for as long as the sign-in lasts.

export interface Credentials {
  ServerURL: string;
  Username: string;
  Secret: string;
}

/** docker and podman treat exactly this answer from `get` as "no credentials" (and go on anonymously). */
export const NOT_FOUND = 'credentials not found in native keychain';

export class HelperNotFound extends CliError {
  constructor() {
    super(NOT_FOUND);
  }
}

/** Tokens handed out stay valid at least this long after `get`: a pull or push needs time. */
const MIN_VALIDITY_SECONDS = 300;

export function helperStore(c: Credentials, env: NodeJS.ProcessEnv = process.env): void {
  if (!c || typeof c.ServerURL !== 'string' || !c.ServerURL.trim())
    throw new CliError('store needs {"ServerURL", "Username", "Secret"} on stdin');
  if (typeof c.Username !== 'string' || typeof c.Secret !== 'string') throw new CliError('store needs string "Username" and "Secret"');
  const host = registryHost(c.ServerURL);
  updateHelperEntries((auths) => {
    auths[host] = { Username: c.Username, Secret: c.Secret };
  }, env);
}

export function helperErase(serverUrl: string, env: NodeJS.ProcessEnv = process.env): void {
  const host = registryHost(serverUrl);
  updateHelperEntries((auths) => {
    delete auths[host];
  }, env);
}

export function helperList(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [host, e] of Object.entries(loadHelperEntries(env))) out[host] = e.Username;
  return out;
}

/** A token's expiry: the entry's own record, else the JWT's exp; undefined for other secrets. */
function entryExpiry(secret: string, recorded: string | undefined): string | undefined {
  if (recorded) return recorded;
  const exp = jwtClaims(secret)?.exp;
  return typeof exp === 'number' ? new Date(exp * 1000).toISOString() : undefined;
}

/**
 * Credentials for a registry host: a stored user name and password as stored; a stored token while
 * it stays valid; otherwise a fresh token from the Berth sign-in that serves the host (minted with
 * POST /oauth2/token grant_type=refresh_token, or /oauth2/exchange for another login server of the
 * same deployment), remembered until shortly before it expires.
 */
export async function helperGet(serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials> {
  const host = registryHost(serverUrl);
  if (!host) throw new CliError('get needs a server URL on stdin');
  const entry = loadHelperEntries(env)[host];
  if (entry && entry.Username !== TOKEN_USERNAME) return { ServerURL: serverUrl, Username: entry.Username, Secret: entry.Secret };
  const until = entry ? entryExpiry(entry.Secret, entry.expiresAt) : undefined;
  if (entry && !isExpired(until, MIN_VALIDITY_SECONDS)) return { ServerURL: serverUrl, Username: TOKEN_USERNAME, Secret: entry.Secret };

  const served = accountForHost(host, env);
  if (!served) {
    if (entry)
      throw new CliError(
        `the token stored for ${host} expired at ${until}: run \`berth login -n <registry>\` (or \`berth account login\`) again`,
      );
    throw new HelperNotFound();
  }
  const fresh = await mint(served.account, served.service);
  updateHelperEntries((auths) => {
    auths[host] = { Username: TOKEN_USERNAME, Secret: fresh.token, expiresAt: fresh.expiresAt };
  }, env);
  return { ServerURL: serverUrl, Username: TOKEN_USERNAME, Secret: fresh.token };
}

async function mint(a: Account, service: string): Promise<TokenAnswer> {
  if (isExpired(a.expiresAt, 60)) throw new CliError(expiredMessage(a));
  try {
    // The sign-in's own service: refresh it into an access token. Another login server of the
    // deployment (host-style): exchange it for a refresh token for that login server.
    return service === a.service
      ? await refreshAccess(a.server, service, a.refreshToken)
      : await exchange(a.server, service, { token: a.refreshToken });
  } catch (e) {
    if (e instanceof TokenRefused && e.status === 401) {
      throw new CliError(
        `the server refused the sign-in stored for ${a.server} (${e.message}): run \`berth account login --server ${a.server}\``,
      );
    }
    throw e;
  }
}
