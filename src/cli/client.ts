import { CliError } from './errors.js';
import {
  basicToken,
  DEFAULT_SERVER,
  expiredMessage,
  getAccount,
  isExpired,
  loadAccounts,
  normalizeServer,
  type Account,
} from './credentials/store.js';
import { cliFetch } from './transport.js';

// A small HTTP client for the management API, used by every CLI command, and how a command finds
// its server and credentials.

export { CliError };

export interface ClientOptions {
  server: string;
  username?: string;
  password?: string;
  /** The stored sign-in (berth account login) to use when no username is given. */
  account?: Account;
}

/** What every command may be given: flags, else environment, else the stored sign-in. */
export interface CredentialFlags {
  server?: string;
  username?: string;
  password?: string;
}

/** --server, else BERTH_SERVER, else the one server signed in to (if exactly one), else http://127.0.0.1:5000. */
export function resolveServer(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.BERTH_SERVER) return env.BERTH_SERVER;
  const stored = Object.values(loadAccounts(env));
  if (stored.length === 1) return stored[0]!.server;
  return DEFAULT_SERVER;
}

/**
 * Server and credentials for a command: --username/--password (or BERTH_USERNAME/BERTH_PASSWORD)
 * when given, else the refresh token stored by `berth account login` for that server (sent as
 * Basic 00000000-0000-0000-0000-000000000000:<token>), else none.
 */
export function resolveClientOptions(o: CredentialFlags, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const server = resolveServer(o.server, env);
  const username = o.username ?? env.BERTH_USERNAME;
  const password = o.password ?? env.BERTH_PASSWORD;
  if (username !== undefined) return { server, username, password };
  const account = getAccount(server, env);
  if (account && isExpired(account.expiresAt)) throw new CliError(expiredMessage(account));
  return { server, account };
}

export function createClient(o: CredentialFlags): ApiClient {
  return new ApiClient(resolveClientOptions(o));
}

/** A request body sent as it is: bytes, or a stream of them (read once). */
export interface RawBody {
  body: Uint8Array | AsyncIterable<Uint8Array>;
  contentType: string;
}

export interface Response {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

export class ApiClient {
  readonly server: string;
  constructor(private readonly opts: ClientOptions) {
    this.server = normalizeServer(opts.server);
  }

  /** The Authorization header value these options send, if any. */
  authorization(): string | undefined {
    if (this.opts.username !== undefined)
      return `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ''}`).toString('base64')}`;
    if (this.opts.account) return `Basic ${basicToken(this.opts.account.refreshToken)}`;
    return undefined;
  }

  /** Who the requests are sent as: a user name, "<name> (signed in)" or undefined for anonymous. */
  get identity(): { username?: string; account?: Account } {
    return { username: this.opts.username, account: this.opts.account };
  }

  /** A JSON request (`body` is sent as JSON), or with `raw` a body sent as it is (a file's bytes, a stream). */
  async request(method: string, path: string, body?: unknown, accept404 = false, raw?: RawBody): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (raw) headers['Content-Type'] = raw.contentType;
    else if (body !== undefined) headers['Content-Type'] = 'application/json';
    const auth = this.authorization();
    if (auth) headers.Authorization = auth;
    let res: globalThis.Response;
    try {
      // A streamed body needs duplex "half" (fetch sends it while the answer may already come).
      const init: RequestInit & { duplex?: 'half' } = raw
        ? { method, headers, body: raw.body as BodyInit, duplex: 'half' }
        : { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
      res = await cliFetch(this.server + path, init);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach Berth at ${this.server}: ${cause?.code ?? cause?.message ?? (e as Error).message}. Is "berth serve" running there? (set --server or BERTH_SERVER)`,
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.status >= 400 && !(accept404 && res.status === 404)) {
      const err = (parsed as { errors?: { code: string; message: string }[] })?.errors?.[0];
      const message = err ? `${err.message} (${err.code}, HTTP ${res.status})` : `HTTP ${res.status} from ${method} ${path}`;
      if (res.status === 401 && this.opts.account && this.opts.username === undefined) {
        throw new CliError(
          `the server refused the sign-in stored for ${this.server}: ${message}. Run \`berth account login --server ${this.server}\``,
          1,
          res.status,
        );
      }
      throw new CliError(message, 1, res.status);
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  /** A request with the caller's own headers and bytes (the /v2 registry API), answered as it comes; never throws for a status. */
  async raw(method: string, path: string, headers: Record<string, string>, body?: Uint8Array): Promise<globalThis.Response> {
    const auth = this.authorization();
    try {
      return await cliFetch(this.server + path, {
        method,
        headers: { ...headers, ...(auth ? { Authorization: auth } : {}) },
        body: body as BodyInit | undefined,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach Berth at ${this.server}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
  }

  async json<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.request(method, path, body)).body as T;
  }

  /** Sends `raw` as the request body (streamed) and returns the JSON answer. */
  async upload<T = unknown>(method: string, path: string, raw: RawBody): Promise<T> {
    return (await this.request(method, path, undefined, false, raw)).body as T;
  }
}

export const enc = (s: string) => encodeURIComponent(s);
/** A repository path for the API: components encoded one by one, "/" kept. */
export const repoPath = (repo: string) => repo.split('/').map(enc).join('/');
