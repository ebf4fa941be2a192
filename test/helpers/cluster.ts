import { randomBytes } from 'node:crypto';
import { startAzurite, type RestartableAzurite } from './azurite.js';
import { freshMetadataUrl } from './backends.js';
import { removeDir, startBerth, tempDir, type BerthProcess } from './berth-process.js';
import { adminAuthHeader } from './credentials.js';
import { request } from '../e2e/helpers.js';

// N real `berth serve --storage azure` nodes on one PostgreSQL schema and one Azurite container:
// the scale-out topology, for fault tests and the soak (soak/run.ts). Each node has its own data
// dir (which holds no blob bytes) and its own port; any node may serve any request.

/** A retry budget that surfaces a storage outage in about a second, so tests stay short. */
export const SHORT_STORAGE_RETRY = {
  BERTH_STORAGE_AZURE_RETRY_MAX_TRIES: '3',
  BERTH_STORAGE_AZURE_RETRY_DELAY_MS: '100',
  BERTH_STORAGE_AZURE_RETRY_MAX_DELAY_MS: '400',
  BERTH_STORAGE_AZURE_RETRY_OPERATION_TIMEOUT_MS: '5000',
};

export interface ClusterOptions {
  nodes: number;
  /** PostgreSQL metadata URL; default a fresh schema, dropped by stop(). */
  metadataUrl?: string;
  /** More BERTH_* settings for every node. */
  env?: Record<string, string>;
  /** 'short' (default): SHORT_STORAGE_RETRY, for fault tests; 'default': the shipped retry budget, for load. */
  storageRetry?: 'short' | 'default';
}

export class AzureCluster {
  readonly nodes: (BerthProcess | undefined)[] = [];
  private readonly dirs: string[] = [];
  private dropMetadata: () => Promise<void> = async () => {};
  azurite!: RestartableAzurite;
  metadataUrl = '';
  readonly container = `c${randomBytes(6).toString('hex')}`;

  private constructor(private readonly opts: ClusterOptions) {}

  static async start(opts: ClusterOptions): Promise<AzureCluster> {
    const c = new AzureCluster(opts);
    try {
      c.azurite = await startAzurite();
      if (opts.metadataUrl) c.metadataUrl = opts.metadataUrl;
      else {
        const meta = await freshMetadataUrl('postgres');
        c.metadataUrl = meta.url;
        c.dropMetadata = meta.drop;
      }
      // One at a time: the first node migrates the schema and creates the owner account.
      for (let i = 0; i < opts.nodes; i++) await c.startNode(i);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** Starts node i (again, on a new port when it was killed). */
  async startNode(i: number): Promise<BerthProcess> {
    const dataDir = (this.dirs[i] ??= tempDir(`node${i}`));
    const node = await startBerth({
      dataDir,
      metadataUrl: this.metadataUrl,
      args: ['--storage', 'azure'],
      env: {
        BERTH_STORAGE_AZURE_CONNECTION_STRING: this.azurite.connectionString,
        BERTH_STORAGE_AZURE_CONTAINER: this.container,
        ...(this.opts.storageRetry === 'default' ? {} : SHORT_STORAGE_RETRY),
        ...this.opts.env,
      },
    });
    this.nodes[i] = node;
    return node;
  }

  node(i: number): BerthProcess {
    const n = this.nodes[i];
    if (!n) throw new Error(`node ${i} is not running`);
    return n;
  }

  /** Creates a registry through node 0's management API. */
  async createRegistry(name: string, sku = 'Premium'): Promise<string> {
    const r = await request('POST', `${this.node(0).url}/api/registries`, {
      body: JSON.stringify({ name, sku }),
      headers: { 'content-type': 'application/json', authorization: adminAuthHeader() },
    });
    if (r.status !== 201) throw new Error(`creating registry ${name}: HTTP ${r.status} ${r.body.toString()}`);
    return name;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n?.stop('SIGTERM', 10_000).catch(() => undefined);
    await this.azurite?.stop().catch(() => undefined);
    await this.dropMetadata().catch(() => undefined);
    for (const d of this.dirs) removeDir(d);
  }
}
