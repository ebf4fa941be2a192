import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { freshMetadataUrl, type Backend } from './backends.js';
import { ADMIN_PASSWORD } from './credentials.js';

export { ADMIN_USER, ADMIN_PASSWORD, adminAuthHeader, basicAuthHeader } from './credentials.js';

export interface TestApp {
  app: App;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** host:port, as image references use it */
  host: string;
  dataDir: string;
  backend: Backend;
  /** Creates a registry through the service layer and returns its name. */
  createRegistry(name?: string, sku?: 'Basic' | 'Standard' | 'Premium'): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlain(v) && isPlain(out[k]) ? deepMerge(out[k] as Plain, v) : v;
  return out;
}

/**
 * Starts Berth in this process on 127.0.0.1:0 with a fresh data dir and fresh metadata; the owner
 * account is admin / ADMIN_PASSWORD. overrides are merged key by key over these defaults, so e.g.
 * { auth: { accessTokenSeconds: 60 } } keeps the admin password.
 */
export async function startTestApp(backend: Backend, overrides: Record<string, unknown> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  const meta = await freshMetadataUrl(backend);
  const config = loadConfig({
    env: {},
    overrides: deepMerge({
      listen: '127.0.0.1:0', dataDir, metadata: { url: meta.url }, log: { level: 'silent', access: false }, shutdownTimeoutSeconds: 2,
      auth: { adminPassword: ADMIN_PASSWORD },
    }, overrides),
  });
  const app = await startApp(config, silentLogger);
  const host = new URL(app.url).host;
  return {
    app, url: app.url, host, dataDir, backend,
    async createRegistry(name, sku = 'Basic') {
      const n = name ?? `reg${process.pid}x${++counter}`;
      await app.services.registries.create(n, sku);
      return n;
    },
    async close() {
      await app.close();
      await meta.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
