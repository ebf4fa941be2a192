import { mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { cleanEnv } from '../helpers/berth-process.js';
import { MAIN, ROOT, mustRun, run, tempDir, type RunResult } from './helpers.js';

// Helpers of the sign-in tests (berth account login, berth login, docker-credential-berth): the
// CLI and the credential helper run with their config locations pointed at temp dirs, podman with
// its own storage. Their servers are test/helpers/berth-process.ts's, started with OWNER_PASSWORD.

export const OWNER = 'admin';
export const OWNER_PASSWORD = 'login-test-owner-Secret-41c2';
export const TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';
export const HELPER = path.join(ROOT, 'dist', 'credential-helper.js');

/** Where a client keeps credentials: Berth's config dir, docker's config dir, the containers auth file. */
export class Home {
  readonly dir = tempDir('login-home');
  readonly berthConfig = path.join(this.dir, 'berth');
  readonly dockerConfig = path.join(this.dir, 'docker');
  readonly authFile = path.join(this.dir, 'containers', 'auth.json');
  readonly bin = path.join(this.dir, 'bin');

  constructor() {
    mkdirSync(this.bin, { recursive: true });
    // docker and podman find credential helpers on PATH as docker-credential-<name>.
    symlinkSync(HELPER, path.join(this.bin, 'docker-credential-berth'));
  }

  get credentialsFile(): string {
    return path.join(this.berthConfig, 'credentials.json');
  }

  get dockerConfigFile(): string {
    return path.join(this.dockerConfig, 'config.json');
  }

  env(extra: Record<string, string | undefined> = {}): Record<string, string> {
    return cleanEnv({
      BERTH_CONFIG_DIR: this.berthConfig,
      DOCKER_CONFIG: this.dockerConfig,
      REGISTRY_AUTH_FILE: this.authFile,
      PATH: `${this.bin}${path.delimiter}${process.env.PATH ?? ''}`,
      ...extra,
    });
  }

  /** Runs the berth CLI with this home (no BERTH_SERVER/USERNAME/PASSWORD unless given). */
  berth(args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<RunResult> {
    return runClean(process.execPath, [MAIN, ...args], this.env(opts.env), opts.input);
  }

  async berthOk(args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<RunResult> {
    const r = await this.berth(args, opts);
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  /** Runs docker-credential-berth <action> with stdin. */
  helper(action: string, input: string, env: Record<string, string | undefined> = {}): Promise<RunResult> {
    return runClean(HELPER, [action], this.env(env), input);
  }

  json<T = Record<string, unknown>>(file: string): T {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  }
}

/** run() with exactly this environment (not merged over the caller's). */
function runClean(cmd: string, args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  // helpers.run merges over process.env: blank out what must not leak in.
  const blanks: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (!(k in env)) blanks[k] = undefined;
  return run(cmd, args, { env: { ...blanks, ...env }, input, timeoutMs: 60_000 });
}

export function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** podman with its own vfs storage under dir, and the environment given (REGISTRY_AUTH_FILE…). */
export function podman(dir: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  return mustRun(
    'podman',
    [
      '--root',
      path.join(dir, 'root'),
      '--runroot',
      path.join(dir, 'run'),
      '--storage-driver',
      'vfs',
      '--tmpdir',
      tmp,
      '--events-backend',
      'none',
      ...args,
    ],
    { env: { ...env, TMPDIR: tmp }, timeoutMs: 120_000 },
  );
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP request; `host` overrides the Host header (host-style addressing without DNS). */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The user:password an auth file entry holds for host. */
export function authEntry(file: string, host: string): { user: string; password: string } | undefined {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> };
  const auth = doc.auths?.[host]?.auth;
  if (!auth) return undefined;
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export { tempDir };
