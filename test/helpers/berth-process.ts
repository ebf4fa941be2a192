import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freshMetadataUrl, type Backend } from './backends.js';
import { ADMIN_PASSWORD, ADMIN_USER, adminAuthHeader, TEST_PASSWORD_HASH_COST } from './credentials.js';
import { ROOT } from './root.js';
import { asDeployment, freshStorage, type Deployment, type Storage } from './storages.js';

// The one real-process fixture: `node dist/main.js serve`, exactly what users run, for the tests
// that need a real process (clients such as skopeo and podman, TLS, crashes and restarts, signals).
// Every server starts with a clean environment (no BERTH_* or client credential locations leak in
// from the caller), the owner account admin / ADMIN_PASSWORD unless told otherwise, and password
// hashes at the lowest cost (TEST_PASSWORD_HASH_COST).

export { ROOT };
export const MAIN = path.join(ROOT, 'dist', 'main.js');

let built = false;
/** Builds dist/ when it is missing (`npm test` builds first, so this only matters for direct runs). */
export function ensureBuilt(): void {
  if (built || existsSync(MAIN)) {
    built = true;
    return;
  }
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(MAIN)) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
  built = true;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `berth-e2e-${prefix}-`));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a child that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Variables that point clients at credentials: a child must not use the caller's. */
const CREDENTIAL_LOCATIONS = new Set(['DOCKER_CONFIG', 'REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME']);

/** The environment a child gets: the caller's minus BERTH_* and the credential locations, plus env. */
export function cleanEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('BERTH_') && !CREDENTIAL_LOCATIONS.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** What every test server is started with; a caller's env wins. */
export function serverEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  return cleanEnv({
    BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
    BERTH_LOG_ACCESS: 'false',
    BERTH_AUTH_PASSWORD_HASH_COST: String(TEST_PASSWORD_HASH_COST),
    ...env,
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BerthProcess {
  /** Where to reach it: http(s)://127.0.0.1:PORT (also when it listens on every address). */
  url: string;
  /** 127.0.0.1:PORT, as image references use it */
  host: string;
  port: number;
  /** The URL the process announced ("berth listening on URL"). */
  announced: string;
  dataDir: string;
  metadataUrl: string;
  proc: ChildProcess;
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Everything the process wrote (stderr + stdout), for diagnostics. */
  output(): string;
  /** Sends a signal and waits for the exit (SIGKILL after timeoutMs). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface StartOptions {
  dataDir: string;
  /** '' = SQLite in the data dir. */
  metadataUrl?: string;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Fixed port (to restart on the same address); default a free one. */
  port?: number;
  /** More `berth serve` flags (--tls-cert, --domain, --insecure-http...). */
  args?: string[];
  /** BERTH_* configuration over serverEnv's defaults (e.g. another BERTH_ADMIN_PASSWORD). */
  env?: Record<string, string | undefined>;
  readyTimeoutMs?: number;
}

const LISTENING = /berth listening on (\S+)/;

/** Starts `node dist/main.js serve` and resolves once it announces its URL (it is then serving). */
export async function startBerth(opts: StartOptions): Promise<BerthProcess> {
  ensureBuilt();
  const port = opts.port ?? (await freePort());
  const host = opts.host ?? '127.0.0.1';
  const listen = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const args = [MAIN, 'serve', '--listen', listen, '--data', opts.dataDir, '--log-level', 'warn', ...(opts.args ?? [])];
  if (opts.metadataUrl) args.push('--metadata', opts.metadataUrl);
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: serverEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  const output = () => Buffer.concat(chunks).toString('utf8');
  const exited = new Promise<Exit>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let exit: Exit | undefined;
  void exited.then((e) => {
    exit = e;
  });

  const announced = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`berth serve did not start on ${listen}:\n${output()}`));
    }, opts.readyTimeoutMs ?? 30_000);
    let ready = false;
    const onData = (b: Buffer) => {
      chunks.push(b);
      if (ready) return;
      const m = LISTENING.exec(output());
      if (m) {
        ready = true;
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`berth serve exited before it was ready (code ${e.code}, signal ${e.signal}):\n${output()}`));
    });
  });
  const url = `${new URL(announced).protocol}//127.0.0.1:${port}`;

  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    announced,
    dataDir: opts.dataDir,
    metadataUrl: opts.metadataUrl ?? '',
    proc,
    pid: proc.pid!,
    exited,
    output,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (exit) return exit;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const e = await exited;
      clearTimeout(timer);
      return e;
    },
  };
}

/**
 * A server with its own data dir, metadata (fresh PostgreSQL schema for 'postgres') and storage (a
 * fresh container for 'azure'; a bare backend means fs), that can be killed and restarted on the
 * same port, data, metadata and storage; cleanup() removes everything.
 */
export class BerthFixture {
  server!: BerthProcess;
  readonly dataDir = tempDir('data');
  /** containers-auth.json with the owner's credentials for this server (what `podman login` writes), for --authfile. */
  readonly authFile = path.join(tempDir('auth'), 'auth.json');
  private port?: number;
  private drop: () => Promise<void> = async () => {};
  private dropStorage: () => Promise<void> = async () => {};
  metadataUrl = '';

  private constructor(
    readonly backend: Backend,
    readonly storage: Storage,
    private readonly env: Record<string, string>,
  ) {}

  static async start(target: Backend | Deployment, env: Record<string, string> = {}): Promise<BerthFixture> {
    const { backend, storage } = asDeployment(target);
    const store = await freshStorage(storage);
    const f = new BerthFixture(backend, storage, { ...store.env, ...env });
    f.dropStorage = store.drop;
    const meta = await freshMetadataUrl(backend);
    f.metadataUrl = meta.url;
    f.drop = meta.drop;
    await f.restart();
    return f;
  }

  get url(): string {
    return this.server.url;
  }

  get host(): string {
    return this.server.host;
  }

  /** Starts the server (again) on the same port, data dir and metadata. */
  async restart(env: Record<string, string> = {}): Promise<BerthProcess> {
    this.server = await startBerth({ dataDir: this.dataDir, metadataUrl: this.metadataUrl, port: this.port, env: { ...this.env, ...env } });
    this.port = this.server.port;
    writeAuthFile(this.authFile, this.server.host);
    return this.server;
  }

  /** Creates a registry through the management API, as the owner. */
  async createRegistry(name: string): Promise<string> {
    const body = JSON.stringify({ name, sku: 'Basic' });
    // agent: false: no pooled connection outlives a restart.
    const [status, text] = await new Promise<[number, string]>((resolve, reject) => {
      const req = http.request(
        `${this.url}/api/registries`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: adminAuthHeader() },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve([res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')]));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    if (status !== 201) throw new Error(`creating registry ${name}: HTTP ${status} ${text}`);
    return name;
  }

  async cleanup(): Promise<void> {
    if (this.server) await this.server.stop('SIGTERM', 10_000);
    await this.drop().catch(() => {});
    await this.dropStorage().catch(() => {});
    removeDir(this.dataDir);
    removeDir(path.dirname(this.authFile));
  }
}

/** Writes a containers-auth.json (containers-auth.json(5)) holding the owner's credentials for host. */
export function writeAuthFile(file: string, host: string): void {
  const auth = Buffer.from(`${ADMIN_USER}:${ADMIN_PASSWORD}`).toString('base64');
  writeFileSync(file, JSON.stringify({ auths: { [host]: { auth } } }, null, 2), { mode: 0o600 });
}
