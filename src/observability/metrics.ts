import { sql } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../meta/db.js';

// Prometheus metrics: ACR's registry metrics (SuccessfulPullCount, TotalPullCount,
// SuccessfulPushCount, TotalPushCount, StorageUsed, each with a `registry` label), HTTP request
// counts and latency by route family, and Node's process/runtime metrics. Recording is a few
// in-memory increments per request; a scrape never scans tables more than once a minute.

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/** Bytes used per registry name. */
export type StorageUsage = () => Promise<Map<string, number>>;

export class Metrics {
  readonly registry = new Registry();
  private readonly pullTotal: Counter<'registry'>;
  private readonly pullOk: Counter<'registry'>;
  private readonly pushTotal: Counter<'registry'>;
  private readonly pushOk: Counter<'registry'>;
  private readonly duration: Histogram<'route' | 'method' | 'status'>;
  private readonly requests: Counter<'route' | 'method' | 'status'>;

  constructor(usage?: StorageUsage) {
    const registers = [this.registry];
    this.pullTotal = new Counter({ name: 'TotalPullCount', help: 'Manifest GETs (by tag or digest) per registry, failures included', labelNames: ['registry'], registers });
    this.pullOk = new Counter({ name: 'SuccessfulPullCount', help: 'Successful manifest GETs per registry', labelNames: ['registry'], registers });
    this.pushTotal = new Counter({ name: 'TotalPushCount', help: 'Manifest PUTs per registry, failures included', labelNames: ['registry'], registers });
    this.pushOk = new Counter({ name: 'SuccessfulPushCount', help: 'Successful manifest PUTs per registry', labelNames: ['registry'], registers });
    this.duration = new Histogram({
      name: 'berth_http_request_duration_seconds', help: 'HTTP request duration by route family, method and status class',
      labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.requests = new Counter({ name: 'berth_http_requests_total', help: 'HTTP requests by route family, method and status class', labelNames: ['route', 'method', 'status'], registers });
    if (usage) {
      new Gauge({
        name: 'StorageUsed', help: 'Bytes used by each registry (distinct blobs and manifests; refreshed at most once a minute)', labelNames: ['registry'], registers,
        async collect() {
          this.reset();
          for (const [name, bytes] of await usage()) this.set({ registry: name }, bytes);
        },
      });
    }
    collectDefaultMetrics({ register: this.registry });
  }

  // Label children by key: recording a request is then two Map lookups and plain increments, with
  // no per-request label hashing.
  private readonly http = new Map<string, { observe(v: number): void; inc(): void }>();
  private readonly regs = new Map<string, { pullTotal: () => void; pullOk: () => void; pushTotal: () => void; pushOk: () => void }>();

  /** Called once per finished request. `registry` is set only for requests to an existing registry. */
  record(route: string | undefined, method: string | undefined, status: number, seconds: number, registry: string | undefined): void {
    const m = method && METHODS.has(method) ? method : 'other';
    const r = route ?? 'other';
    const cls = status >= 100 && status < 600 ? Math.floor(status / 100) : 0;
    const key = `${r} ${m} ${cls}`;
    let h = this.http.get(key);
    if (!h) {
      const labels = { route: r, method: m, status: `${cls}xx` };
      const hist = this.duration.labels(labels);
      const count = this.requests.labels(labels);
      h = { observe: (v) => hist.observe(v), inc: () => count.inc() };
      this.http.set(key, h);
    }
    h.observe(seconds);
    h.inc();
    if (registry === undefined || r !== 'manifests' || (m !== 'GET' && m !== 'PUT')) return;
    let c = this.regs.get(registry);
    if (!c) {
      const [pt, po, ut, uo] = [this.pullTotal, this.pullOk, this.pushTotal, this.pushOk].map((x) => x.labels({ registry }));
      c = { pullTotal: () => pt!.inc(), pullOk: () => po!.inc(), pushTotal: () => ut!.inc(), pushOk: () => uo!.inc() };
      this.regs.set(registry, c);
    }
    const ok = cls === 2;
    if (m === 'GET') {
      c.pullTotal();
      if (ok) c.pullOk();
    } else {
      c.pushTotal();
      if (ok) c.pushOk();
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * StorageUsed from the metadata: the registry's storage counter (distinct blobs linked into its
 * repositories plus distinct manifests, kept exact transactionally: src/meta/usage.ts), cached
 * for `ttlMs` (concurrent scrapes share one query).
 */
export function cachedStorageUsage(db: Db, ttlMs = 60_000): StorageUsage {
  let at = 0;
  let value: Promise<Map<string, number>> | undefined;
  return () => {
    const now = Date.now();
    if (!value || now - at >= ttlMs) {
      at = now;
      value = storageUsage(db).catch((e) => {
        at = 0; // retry on the next scrape
        throw e;
      });
    }
    return value;
  };
}

export async function storageUsage(db: Db): Promise<Map<string, number>> {
  // The same number as show-usage's Size: one row per registry, no scan of blobs or manifests.
  const { rows } = await sql<{ name: string; used: number | string | null }>`
    select r.name as name, coalesce(u.bytes, 0) as used
    from registries r left join registry_usage u on u.registry_id = r.id`.execute(db.kysely);
  return new Map(rows.map((r) => [r.name, Number(r.used ?? 0)]));
}
