import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { IN_CI } from '../helpers/backends.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader } from '../helpers/credentials.js';
import { MAIN, ROOT, removeDir, tempDir } from '../helpers/berth-process.js';

export { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader } from '../helpers/credentials.js';
export {
  BerthFixture,
  MAIN,
  ROOT,
  ensureBuilt,
  freePort,
  removeDir,
  startBerth,
  tempDir,
  writeAuthFile,
  type BerthProcess,
  type Exit,
  type StartOptions,
} from '../helpers/berth-process.js';

// End-to-end helpers: external commands with timeouts, tool gates, and a small raw HTTP client
// that does not pool connections across server restarts. The `berth serve` child process itself
// is test/helpers/berth-process.ts (re-exported here); every helper here signs in as its owner
// admin / ADMIN_PASSWORD by default.

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ---------------------------------------------------------------- tools

/**
 * The shared launcher for Debian's docker-registry (CNCF Distribution): shared/bench sits beside
 * the repository (README, "Benchmarks"); BERTH_SHARED_BENCH points elsewhere, as for npm run bench.
 */
export const DISTRIBUTION_SH = path.join(process.env.BERTH_SHARED_BENCH ?? path.resolve(ROOT, '..', 'shared', 'bench'), 'distribution.sh');

/** Absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * node:test options for a test that needs external programs: {} when all are installed,
 * { skip: reason } when one is missing, and under CI (CI=true) a missing tool is an error, never a skip.
 */
export function requireTool(...names: string[]): { skip?: string } {
  const missing = names.filter((n) => which(n) === undefined);
  if (missing.length === 0) return {};
  const reason = `needs ${missing.join(', ')} on PATH`;
  if (IN_CI) throw new Error(`CI=true: ${reason}`);
  return { skip: reason };
}

// ---------------------------------------------------------------- commands

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
}

/** Runs a command to completion (SIGKILL after timeoutMs) and captures its output. Never throws for a failing exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 90_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    // A command that exits without reading its input (as cp does) can make this write fail
    // with EPIPE; its exit status says how it went, so that is not an error of the run.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function describeRun(cmd: string, args: string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')}\n  exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}\n  stdout: ${r.stdout.trim().slice(-3000)}\n  stderr: ${r.stderr.trim().slice(-3000)}`;
}

/** Runs a command and throws (with its output) unless it exits 0. */
export async function mustRun(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`command failed: ${describeRun(cmd, args, r)}`);
  return r;
}

/** Runs a command that is expected to fail; throws if it exits 0. */
export async function mustFail(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code === 0 || r.timedOut) throw new Error(`command should have failed: ${describeRun(cmd, args, r)}`);
  return r;
}

/** The berth CLI's connection options for a server, signed in as the owner. */
export function cliServer(server: string): string[] {
  return ['--server', server, '--username', ADMIN_USER, '--password', ADMIN_PASSWORD];
}

/** The berth CLI (dist/main.js) against a server, signed in as the owner, with -o json parsed. */
export async function berthJson<T = unknown>(server: string, args: string[]): Promise<T> {
  const r = await mustRun(process.execPath, [MAIN, ...args, ...cliServer(server), '-o', 'json'], { timeoutMs: 30_000 });
  const text = r.stdout.trim();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

// ---------------------------------------------------------------- raw HTTP

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  /** Default: no pooling (agent: false), so nothing survives a server restart. */
  agent?: http.Agent | false;
  timeoutMs?: number;
  /**
   * Authorization header value; default the owner's Basic credentials, false for none. An
   * Authorization header in `headers` wins.
   */
  auth?: string | false;
}

/** Adds the Authorization header (default: the owner's Basic credentials) unless headers have one. */
export function withAuthHeader(
  headers: Record<string, string | number> = {},
  auth: string | false = adminAuthHeader(),
): Record<string, string | number> {
  const out = { ...headers };
  if (auth && !Object.keys(out).some((k) => k.toLowerCase() === 'authorization')) out['authorization'] = auth;
  return out;
}

/** One HTTP request with node:http, as the owner unless told otherwise; rejects on network errors (e.g. the server was killed). */
export function request(method: string, url: string, opts: RequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const headers = withAuthHeader(opts.headers, opts.auth);
    if (body !== undefined) headers['content-length'] = body.length;
    const req = http.request(url, { method, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
    req.end(body);
  });
}

/** Absolute URL for a Location header (relative or absolute). */
export function resolveLocation(base: string, location: string | string[] | undefined): string {
  if (typeof location !== 'string') throw new Error(`no Location header (${String(location)})`);
  return new URL(location, base).toString();
}

/** "0-1023" -> 1024 bytes received (the spec's Range of an upload session). "0-0" counts as 0 here. */
export function rangeEnd(range: string | string[] | undefined): number {
  if (typeof range !== 'string') throw new Error(`no Range header (${String(range)})`);
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range);
  if (!m) throw new Error(`unexpected Range header ${range}`);
  const last = Number(m[1]);
  return last === 0 ? 0 : last + 1;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until fn returns a truthy value (or throws after timeoutMs). For waiting on state, never for asserting speed. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- buildah and podman

/**
 * buildah and podman with their own containers-storage (vfs) and their own auth file
 * (REGISTRY_AUTH_FILE) under a temp dir, so tests never touch or clash with the machine's images
 * or credentials; cleanup() removes it all.
 */
export class Containers {
  readonly dir = tempDir('containers');
  /** Where `login` stores credentials; both tools read it through REGISTRY_AUTH_FILE. */
  readonly authFile = path.join(this.dir, 'auth.json');
  private readonly env: Record<string, string>;

  constructor() {
    const tmp = path.join(this.dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    this.env = { TMPDIR: tmp, REGISTRY_AUTH_FILE: this.authFile };
  }

  /** `buildah login` or `podman login` to a Berth server as the owner (password on stdin), into authFile. */
  login(tool: 'buildah' | 'podman', host: string): Promise<RunResult> {
    const args = ['login', '--tls-verify=false', '--authfile', this.authFile, '-u', ADMIN_USER, '--password-stdin', host];
    if (tool === 'buildah')
      return mustRun('buildah', [...this.storage('buildah'), ...args], { timeoutMs: 60_000, env: this.env, input: ADMIN_PASSWORD });
    return mustRun(
      'podman',
      [...this.storage('podman'), '--tmpdir', path.join(this.dir, 'podman', 'tmp'), '--events-backend', 'none', ...args],
      { timeoutMs: 60_000, env: this.env, input: ADMIN_PASSWORD },
    );
  }

  private storage(tool: string): string[] {
    return ['--root', path.join(this.dir, tool, 'root'), '--runroot', path.join(this.dir, tool, 'run'), '--storage-driver', 'vfs'];
  }

  buildah(args: string[]): Promise<RunResult> {
    return mustRun('buildah', [...this.storage('buildah'), ...args], { timeoutMs: 120_000, env: this.env });
  }

  podman(args: string[]): Promise<RunResult> {
    return mustRun(
      'podman',
      [...this.storage('podman'), '--tmpdir', path.join(this.dir, 'podman', 'tmp'), '--events-backend', 'none', ...args],
      { timeoutMs: 120_000, env: this.env },
    );
  }

  /** buildah from scratch + copy + (config --arch) + commit: returns the image id (its config digest's hex). */
  async buildImage(name: string, opts: { files: Record<string, string>; arch?: string }): Promise<string> {
    const ctr = (await this.buildah(['from', 'scratch'])).stdout.trim().split('\n').pop()!;
    try {
      const src = mkdtempSync(path.join(this.dir, 'src-'));
      for (const [file, content] of Object.entries(opts.files)) {
        writeFileSync(path.join(src, path.basename(file)), content);
        await this.buildah(['copy', ctr, path.join(src, path.basename(file)), file]);
      }
      if (opts.arch) await this.buildah(['config', '--arch', opts.arch, '--os', 'linux', ctr]);
      return (await this.buildah(['commit', '-q', '--format', 'oci', ctr, name])).stdout.trim().split('\n').pop()!;
    } finally {
      await this.buildah(['rm', ctr]).catch(() => {});
    }
  }

  cleanup(): void {
    removeDir(this.dir);
  }
}

// ---------------------------------------------------------------- registry API shortcuts

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** GET /v2/<name>/manifests/<ref> accepting every manifest type. */
export function getManifest(base: string, name: string, ref: string, agent?: http.Agent): Promise<HttpResponse> {
  return request('GET', `${base}/v2/${name}/manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT }, agent });
}

/** A blob's bytes, following a redirect to storage (storage.reads: redirect) as clients do. */
export async function getBlob(base: string, name: string, digest: string, agent?: http.Agent): Promise<HttpResponse> {
  const r = await request('GET', `${base}/v2/${name}/blobs/${digest}`, { agent });
  const location = r.headers.location;
  if (r.status !== 307 || typeof location !== 'string') return r;
  return request('GET', new URL(location, base).toString(), { auth: false }); // storage gets no registry credentials
}

/** Monolithic blob push (POST ?digest=); throws unless 201. */
export async function pushBlob(base: string, name: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const r = await request('POST', `${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (r.status !== 201) throw new Error(`blob push ${digest}: HTTP ${r.status} ${r.body.toString()}`);
  return digest;
}

/** PUT a manifest; throws unless 201. */
export async function pushManifest(base: string, name: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
  const r = await request('PUT', `${base}/v2/${name}/manifests/${ref}`, { body: bytes, headers: { 'content-type': mediaType } });
  if (r.status !== 201) throw new Error(`manifest push ${name}:${ref}: HTTP ${r.status} ${r.body.toString()}`);
  return String(r.headers['docker-content-digest']);
}
