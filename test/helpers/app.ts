import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { freshMetadataUrl, type Backend } from './backends.js';
import { ADMIN_PASSWORD, TEST_PASSWORD_HASH_COST } from './credentials.js';
import { inProcessFetch, type FetchLike } from './inject.js';
import { V2, type V2Options } from './oci.js';
import { asDeployment, freshStorage, type Deployment, type Storage } from './storages.js';

export { ADMIN_USER, ADMIN_PASSWORD, adminAuthHeader, basicAuthHeader } from './credentials.js';
export type { FetchLike } from './inject.js';

export interface TestApp {
  app: App;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** host:port, as image references use it */
  host: string;
  dataDir: string;
  backend: Backend;
  storage: Storage;
  /**
   * fetch for this server without a socket (the handler runs in process): takes URLs on `url`
   * or bare paths; other URLs go to the network. The listener on `url` stays for real clients.
   */
  fetch: FetchLike;
  /** A /v2 client for this server over `fetch` (in process). */
  v2(opts?: V2Options): V2;
  /** Creates a registry through the service layer and returns its name. */
  createRegistry(name?: string, sku?: 'Basic' | 'Standard' | 'Premium'): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlain(v) && isPlain(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

/**
 * The configuration of an in-process test deployment: 127.0.0.1:0, silent logs, a short shutdown,
 * the owner account admin / ADMIN_PASSWORD, and passwords hashed at the lowest cost the config
 * accepts (tests check behaviour, not hash strength). overrides are merged key by key over these
 * (dataDir and metadata.url are the caller's to give).
 */
export function testConfig(overrides: Record<string, unknown>): Config {
  return loadConfig({
    env: {},
    overrides: deepMerge(
      {
        listen: '127.0.0.1:0',
        log: { level: 'silent', access: false },
        shutdownTimeoutSeconds: 2,
        auth: { adminPassword: ADMIN_PASSWORD, passwordHashCost: TEST_PASSWORD_HASH_COST },
      },
      overrides,
    ),
  });
}

/**
 * Starts Berth in this process on 127.0.0.1:0 with a fresh data dir, fresh metadata and fresh
 * storage (see testConfig): a bare backend means that backend on fs, a Deployment names the
 * storage too (azure: a new container on the file's Azurite). overrides are merged key by key over
 * the defaults, so e.g. { auth: { accessTokenSeconds: 60 } } keeps the admin password.
 */
export async function startTestApp(target: Backend | Deployment, overrides: Record<string, unknown> = {}): Promise<TestApp> {
  const { backend, storage } = asDeployment(target);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  const meta = await freshMetadataUrl(backend);
  const store = await freshStorage(storage);
  const config = testConfig(deepMerge(deepMerge({ dataDir, metadata: { url: meta.url } }, store.config), overrides));
  const app = await startApp(config, silentLogger);
  const host = new URL(app.url).host;
  const fetch = inProcessFetch(app.http.server, app.url);
  return {
    app,
    url: app.url,
    host,
    dataDir,
    backend,
    storage,
    fetch,
    v2: (opts = {}) => new V2(app.url, { fetch, ...opts }),
    async createRegistry(name, sku = 'Basic') {
      const n = name ?? `reg${process.pid}x${++counter}`;
      await app.services.registries.create(n, sku);
      return n;
    },
    async close() {
      await app.close();
      await meta.drop();
      await store.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
