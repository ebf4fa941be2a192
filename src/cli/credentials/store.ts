import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '../errors.js';
import { cliFetch, traceRequest, withUserAgent } from '../transport.js';

// What `berth account login` remembers: one refresh token per Berth server, in the user's config
// directory (like az's ~/.azure), readable by the user only. Also the entries the docker
// credential helper (docker-credential-berth) keeps. Shared by the CLI and the helper.

/** The username that says "the password is a Berth token" (ACR's convention for az acr login). */
export const TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

/** Default server when nothing else says which. */
export const DEFAULT_SERVER = 'http://127.0.0.1:5000';

export interface LoginServer {
  /** The token service (JWT audience) clients at this host authenticate to. */
  service: string;
  /** Registry the host was logged in for (informational). */
  registry?: string;
}

export interface Account {
  /** Origin of the Berth server, e.g. http://127.0.0.1:5000 (the key). */
  server: string;
  username: string;
  /** Token service of the server's own host (the refresh token's audience). */
  service: string;
  refreshToken: string;
  /** ISO time the refresh token expires. */
  expiresAt: string;
  /** Hosts `berth login -n` wrote credentials for: the credential helper serves these. */
  loginServers?: Record<string, LoginServer>;
}

interface AccountsFile {
  version: 1;
  accounts: Record<string, Account>;
}

export interface HelperEntry {
  Username: string;
  Secret: string;
  /** For tokens the helper minted: when they expire (ISO). */
  expiresAt?: string;
}

interface HelperFile {
  version: 1;
  auths: Record<string, HelperEntry>;
}

/** $BERTH_CONFIG_DIR, else $XDG_CONFIG_HOME/berth, else ~/.config/berth. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_CONFIG_DIR) return path.resolve(env.BERTH_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'berth');
}

export const accountsPath = (env: NodeJS.ProcessEnv = process.env) => path.join(configDir(env), 'credentials.json');
export const helperPath = (env: NodeJS.ProcessEnv = process.env) => path.join(configDir(env), 'docker-credentials.json');

// ---------------------------------------------------------------- files

/** Reads a JSON file; undefined when it does not exist. A damaged file is an error, never silently replaced. */
export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as T;
  } catch (e) {
    throw new CliError(`${file} is not valid JSON (${(e as Error).message}); fix or remove it`);
  }
}

/**
 * Writes a file readable by its owner only (0600), atomically: a temporary file in the same
 * directory renamed over the target, so readers never see half a file. The directory is created
 * (0700) when missing; `privateDir` also tightens an existing one (for Berth's own directory).
 */
export function writePrivateFile(file: string, content: string, privateDir = false): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (privateDir) chmodSync(dir, 0o700);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, 0o600); // umask cannot widen it, but be explicit
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}

/** Runs fn holding an exclusive lock file beside `file` (read-modify-write from concurrent helpers). */
export function withFileLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  mkdirSync(path.dirname(lock), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30_000) unlinkSync(lock); // left by a killed process
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new CliError(`${lock} is held by another process; remove it if no berth command is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // nothing to do
    }
  }
}

// ---------------------------------------------------------------- accounts

export function normalizeServer(server: string): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new CliError(`--server "${server}" is not a URL; use e.g. ${DEFAULT_SERVER}`, 2);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CliError(`--server must be an http:// or https:// URL, got "${server}"`, 2);
  return u.origin;
}

export function loadAccounts(env: NodeJS.ProcessEnv = process.env): Record<string, Account> {
  const f = readJsonFile<AccountsFile>(accountsPath(env));
  const out: Record<string, Account> = {};
  for (const [k, a] of Object.entries(f?.accounts ?? {})) {
    if (a && typeof a === 'object' && typeof a.refreshToken === 'string' && typeof a.server === 'string') out[k] = a;
  }
  return out;
}

export function getAccount(server: string, env: NodeJS.ProcessEnv = process.env): Account | undefined {
  return loadAccounts(env)[normalizeServer(server)];
}

/** Changes the accounts file under its lock: fn edits the map in place. */
export function updateAccounts<T>(fn: (accounts: Record<string, Account>) => T, env: NodeJS.ProcessEnv = process.env): T {
  const file = accountsPath(env);
  return withFileLock(file, () => {
    const accounts = loadAccounts(env);
    const r = fn(accounts);
    writePrivateFile(file, `${JSON.stringify({ version: 1, accounts } satisfies AccountsFile, null, 2)}\n`, true);
    return r;
  });
}

export function isExpired(expiresAt: string | undefined, marginSeconds = 0): boolean {
  if (!expiresAt) return false;
  const t = Date.parse(expiresAt);
  return Number.isFinite(t) && t - marginSeconds * 1000 <= Date.now();
}

export function expiredMessage(a: Account): string {
  return `your sign-in to ${a.server} as ${a.username} expired at ${a.expiresAt}: run \`berth account login --server ${a.server}\``;
}

/** The account that serves a registry host: the server's own host, or a login server `berth login` wrote. */
export function accountForHost(host: string, env: NodeJS.ProcessEnv = process.env): { account: Account; service: string } | undefined {
  const h = host.toLowerCase();
  const accounts = Object.values(loadAccounts(env));
  for (const a of accounts) {
    const ls = a.loginServers?.[h];
    if (ls) return { account: a, service: ls.service };
  }
  for (const a of accounts) if (new URL(a.server).host === h) return { account: a, service: a.service };
  return undefined;
}

// ---------------------------------------------------------------- helper entries

export function loadHelperEntries(env: NodeJS.ProcessEnv = process.env): Record<string, HelperEntry> {
  return readJsonFile<HelperFile>(helperPath(env))?.auths ?? {};
}

export function updateHelperEntries<T>(fn: (auths: Record<string, HelperEntry>) => T, env: NodeJS.ProcessEnv = process.env): T {
  const file = helperPath(env);
  return withFileLock(file, () => {
    const auths = loadHelperEntries(env);
    const r = fn(auths);
    writePrivateFile(file, `${JSON.stringify({ version: 1, auths } satisfies HelperFile, null, 2)}\n`, true);
    return r;
  });
}

/** "https://host:5000/v1/" or "host:5000" -> "host:5000" (how docker names registries in config files). */
export function registryHost(serverUrl: string): string {
  const s = serverUrl.trim();
  const noScheme = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return noScheme.split('/')[0]!.toLowerCase();
}

// ---------------------------------------------------------------- tokens

/** The claims of a JWT, unverified (the server verifies; the client only reads exp). */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** When a token expires: its exp claim, else now + expiresIn seconds. */
export function tokenExpiry(token: string, expiresIn?: number): string {
  const exp = jwtClaims(token)?.exp;
  if (typeof exp === 'number') return new Date(exp * 1000).toISOString();
  return new Date(Date.now() + (expiresIn ?? 3600) * 1000).toISOString();
}

export const basicToken = (token: string) => Buffer.from(`${TOKEN_USERNAME}:${token}`).toString('base64');

// ---------------------------------------------------------------- talking to the token service

function networkError(server: string, e: unknown): CliError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new CliError(
    `cannot reach Berth at ${server}: ${cause?.code ?? cause?.message ?? (e as NodeJS.ErrnoException).code ?? (e as Error).message}. Is "berth serve" running there? (set --server or BERTH_SERVER)`,
  );
}

/**
 * The token service (JWT audience) for requests that reach `server` addressed to `host` (default:
 * the server's own host), read from the /v2/ challenge: the server's public URL when it has one,
 * else the host. Falls back to the host when there is no challenge.
 */
export function discoverService(server: string, host?: string): Promise<string> {
  const u = new URL(server);
  const want = (host ?? u.host).toLowerCase();
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const url = new URL('/v2/', u);
    const headers = withUserAgent({ Host: want, Accept: 'application/json' });
    const done = traceRequest('GET', url.toString(), headers);
    const req = lib.request(url, { method: 'GET', headers, agent: false }, (res) => {
      done(res.statusCode ?? 0);
      res.resume();
      const header = res.headers['www-authenticate'];
      const m = typeof header === 'string' ? /service="([^"]*)"/.exec(header) : null;
      resolve(m?.[1] || want);
    });
    req.on('error', (e) => {
      done(e);
      reject(networkError(u.origin, { cause: e }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

export interface TokenAnswer {
  token: string;
  expiresAt: string;
}

async function postForm(
  server: string,
  pathname: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await cliFetch(new URL(pathname, server), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
  } catch (e) {
    throw networkError(server, e);
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object') body = v as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

/** The server's error message, or "HTTP n". */
export function serverMessage(status: number, body: Record<string, unknown>): string {
  const err = (body.errors as { code?: string; message?: string }[] | undefined)?.[0];
  return err?.message ? `${err.message} (${err.code ?? 'ERROR'}, HTTP ${status})` : `HTTP ${status}`;
}

export class TokenRefused extends CliError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * POST /oauth2/exchange: a password, or a Berth token, for a refresh token for `service`. With a
 * password and session 'cli', a `berth account login` session instead (days, auth.cliSessionDays).
 */
export async function exchange(
  server: string,
  service: string,
  grant: { username: string; password: string; session?: 'cli' } | { token: string },
): Promise<TokenAnswer> {
  const form: Record<string, string> =
    'token' in grant
      ? { grant_type: 'refresh_token', service, refresh_token: grant.token }
      : {
          grant_type: 'password',
          service,
          username: grant.username,
          password: grant.password,
          ...(grant.session ? { session: grant.session } : {}),
        };
  const r = await postForm(server, '/oauth2/exchange', form);
  const token = r.body.refresh_token;
  if (r.status !== 200 || typeof token !== 'string') throw new TokenRefused(serverMessage(r.status, r.body), r.status);
  return { token, expiresAt: tokenExpiry(token, typeof r.body.expires_in === 'number' ? r.body.expires_in : undefined) };
}

/** POST /oauth2/token grant_type=refresh_token: an access token for `service` from a refresh token. */
export async function refreshAccess(server: string, service: string, refreshToken: string): Promise<TokenAnswer> {
  const r = await postForm(server, '/oauth2/token', { grant_type: 'refresh_token', service, refresh_token: refreshToken });
  const token = r.body.access_token;
  if (r.status !== 200 || typeof token !== 'string') throw new TokenRefused(serverMessage(r.status, r.body), r.status);
  return { token, expiresAt: tokenExpiry(token, typeof r.body.expires_in === 'number' ? r.body.expires_in : undefined) };
}

/**
 * A token a registry client can use as the password (username 00000000-…) at a login server,
 * from the stored account: a refresh token for that login server's service. Throws with a clear
 * "run berth account login" message when the stored sign-in is expired or refused.
 */
export async function tokenForLoginServer(a: Account, service: string): Promise<TokenAnswer> {
  if (isExpired(a.expiresAt)) throw new CliError(expiredMessage(a));
  try {
    return await exchange(a.server, service, { token: a.refreshToken });
  } catch (e) {
    if (e instanceof TokenRefused && e.status === 401) {
      throw new CliError(
        `the server refused the sign-in stored for ${a.server} (${e.message}): run \`berth account login --server ${a.server}\``,
      );
    }
    throw e;
  }
}
