// The registries a local run measures, each started fresh in its own temp dir on a free port of
// 127.0.0.1 and removed afterwards: Berth from this checkout's dist/ (with an owner password made
// up for the run, and one registry to push into), and CNCF Distribution from Debian's
// docker-registry package (without auth, its usual benchmark setup), when it is installed.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The path of Debian's docker-registry binary, or null. */
export function findDistribution() {
  const r = spawnSync('sh', ['-c', 'command -v docker-registry'], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  return found || null;
}

/** A child process whose output is kept (the last 64 KiB) for the error when it fails to start. */
function launch(cmd, args, env, cpus = '') {
  // taskset execs the command, so the child's pid stays the server's (for /proc/PID reads).
  const child = cpus
    ? spawn('taskset', ['-c', cpus, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b) => {
    output = (output + b.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => output };
}

async function stopChild(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await proc.exited;
  clearTimeout(timer);
}

/** Polls GET url until it answers 200 (with headers), or fails with the child's output. */
async function waitReady(name, url, proc, headers = {}) {
  const until = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < until) {
    if (proc.child.exitCode !== null)
      throw new Error(`${name} exited (code ${proc.child.exitCode}) before it was ready:\n${proc.output()}`);
    try {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer ${url} within ${READY_TIMEOUT_MS / 1000} s (${last}):\n${proc.output()}`);
}

/**
 * Starts `node dist/main.js serve` from root with a fresh data dir. The owner account is admin with
 * a password made up here and set through BERTH_ADMIN_PASSWORD; one Premium registry, `registry`,
 * is created for the bench's repositories (unless createRegistry is false: a second node of the
 * same deployment). metadata: a PostgreSQL URL, or '' for SQLite in the dir. azure: { connectionString,
 * container } to store blobs in Azure Blob Storage (Azurite). config: a config file (--config);
 * env: extra variables (BERTH_*), which win over the bench's own; cpus: a taskset CPU list.
 * password: the owner's (nodes of one deployment share it).
 */
export async function startBerth({
  root,
  registry,
  metadata = '',
  azure = null,
  config = '',
  env: extraEnv = {},
  cpus = '',
  password = randomBytes(18).toString('base64url'),
  createRegistry = true,
}) {
  const main = path.join(root, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first (npm run bench does)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const username = 'admin';
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [main, 'serve', '--listen', `127.0.0.1:${port}`, '--data', dir];
  if (metadata) args.push('--metadata', metadata);
  if (config) args.push('--config', config);
  if (azure) args.push('--storage', 'azure');
  const env = {
    ...process.env,
    // BERTH_AUTH_ADMIN_PASSWORD would win over BERTH_ADMIN_PASSWORD: the run's own password must be the one.
    BERTH_AUTH_ADMIN_PASSWORD: '',
    BERTH_ADMIN_PASSWORD: password,
    BERTH_LOG_LEVEL: 'warn',
    // Distribution runs with its access log off too: neither pays for per-request logging.
    BERTH_LOG_ACCESS: 'false',
    ...(azure ? { BERTH_STORAGE_AZURE_CONNECTION_STRING: azure.connectionString, BERTH_STORAGE_AZURE_CONTAINER: azure.container } : {}),
    ...extraEnv,
  };
  const proc = launch(process.execPath, args, env, cpus);
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const stop = async () => {
    await stopChild(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady('berth serve', `${url}/v2/`, proc, { Authorization: basic });
    if (!createRegistry) return { url, username, password, pid: proc.child.pid, metadata, stop };
    const res = await fetch(`${url}/api/registries`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: basic },
      body: JSON.stringify({ name: registry, sku: 'Premium' }),
    });
    if (res.status !== 201) throw new Error(`creating registry ${registry} failed: HTTP ${res.status} ${await res.text()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, username, password, pid: proc.child.pid, metadata, stop };
}

/**
 * Starts Distribution (`docker-registry serve CONFIG`) with a config written here: filesystem
 * storage in a fresh temp dir, deletes enabled, the in-memory blob descriptor cache of Debian's
 * default config, logs at warn without the access log, upload purging off (it would run mid-bench).
 */
export async function startDistribution(binary, { cpus = '' } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'distribution-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}`,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString('hex')}`,
      '',
    ].join('\n'),
  );
  // REGISTRY_* variables override the config file: the run must use the config above.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
  const proc = launch(binary, ['serve', config], env, cpus);
  const stop = async () => {
    await stopChild(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady('docker-registry', `${url}/v2/`, proc);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, pid: proc.child.pid, stop };
}

/**
 * Azurite's blob service (the project's devDependency) on a free port with a temp --location, for
 * Berth's azure driver. Its well-known development account key is public (Microsoft documents it).
 */
export async function startAzurite(root, { cpus = '' } = {}) {
  const bin = path.join(root, 'node_modules', '.bin', 'azurite-blob');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm ci (azurite is a devDependency)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'azurite-bench-'));
  const port = await freePort();
  const args = ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--skipApiVersionCheck'];
  const proc = launch(bin, [...args, '--disableTelemetry', '--silent', '--loose'], process.env, cpus);
  const stop = async () => {
    await stopChild(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  const account = 'devstoreaccount1';
  const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
  const endpoint = `http://127.0.0.1:${port}/${account}`;
  const until = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.child.exitCode !== null) {
      await stop();
      throw new Error(`azurite exited before it was ready:\n${proc.output()}`);
    }
    // Any HTTP answer (an unauthenticated request gets 400/403) means it listens.
    const up = await fetch(`${endpoint}?comp=list`).then(
      (r) => r.arrayBuffer().then(() => true),
      () => false,
    );
    if (up) break;
    if (Date.now() > until) {
      await stop();
      throw new Error(`azurite did not answer on port ${port}:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: proc.child.pid,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};BlobEndpoint=${endpoint};`,
    stop,
  };
}
