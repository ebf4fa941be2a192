// A small HTTP client for the management API, used by every CLI command.

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ClientOptions {
  server: string;
  username?: string;
  password?: string;
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
    let u: URL;
    try {
      u = new URL(opts.server);
    } catch {
      throw new CliError(`--server "${opts.server}" is not a URL; use e.g. http://127.0.0.1:5000`, 2);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`--server must be an http:// or https:// URL, got "${opts.server}"`, 2);
    this.server = u.origin;
  }

  async request(method: string, path: string, body?: unknown, accept404 = false): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.opts.username !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ''}`).toString('base64')}`;
    }
    let res: globalThis.Response;
    try {
      res = await fetch(this.server + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach Berth at ${this.server}: ${cause?.code ?? cause?.message ?? (e as Error).message}. Is "berth serve" running there? (set --server or BERTH_SERVER)`);
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
      throw new CliError(err ? `${err.message} (${err.code}, HTTP ${res.status})` : `HTTP ${res.status} from ${method} ${path}`);
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  async json<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.request(method, path, body)).body as T;
  }
}

export const enc = (s: string) => encodeURIComponent(s);
/** A repository path for the API: components encoded one by one, "/" kept. */
export const repoPath = (repo: string) => repo.split('/').map(enc).join('/');
