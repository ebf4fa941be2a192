import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Prometheus metrics: ACR's registry metrics (SuccessfulPullCount, TotalPullCount,
// SuccessfulPushCount, TotalPushCount, StorageUsed, each with a `registry` label), HTTP request
// counts and latency by route family, and Node's process/runtime metrics. Recording is a few
// in-memory increments per request; a scrape never scans tables more than once a minute.

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/** Bytes used per registry name. */
export type StorageUsage = () => Promise<Map<string, number>>;

/** Queued and running jobs by kind, with the creation time (ms) of the oldest queued one. */
export type QueueStats = () => Promise<{ kind: string; state: string; count: number; oldestMs: number | null }[]>;

export type WebhookResult = 'success' | 'failure' | 'dead';

export class Metrics {
  readonly registry = new Registry();
  private readonly pullTotal: Counter<'registry'>;
  private readonly pullOk: Counter<'registry'>;
  private readonly pushTotal: Counter<'registry'>;
  private readonly pushOk: Counter<'registry'>;
  private readonly duration: Histogram<'route' | 'method' | 'status'>;
  private readonly requests: Counter<'route' | 'method' | 'status'>;

  private readonly webhookDeliveries: Counter<'registry' | 'result'>;
  private readonly gcRuns: Counter<'outcome'>;
  private readonly gcRemoved: Counter<'kind'>;
  private readonly gcBytes: Counter;
  private readonly storageSeconds: Histogram<'driver' | 'operation'>;
  private readonly storageErrors: Counter<'driver' | 'operation'>;
  private readonly scanSeconds: Histogram<'outcome'>;
  private readonly scanFindings: Counter<'severity'>;
  private readonly signatureVerifications: Counter<'format' | 'outcome'>;
  private readonly pullPolicyRefusals: Counter<'registry' | 'level'>;
  private readonly networkRefusals: Counter<'registry'>;
  private readonly keyOperations: Counter<'op' | 'outcome'>;
  private readonly keyAccessible: Gauge<'registry'>;
  private readonly privateEndpointStates: Counter<'registry' | 'state'>;
  private readonly privateEndpointRefusals: Counter<'registry'>;
  private readonly dataEndpointRefusals: Counter;
  private readonly taskRunSeconds: Histogram<'status' | 'run_type'>;
  private readonly taskQueueWait: Histogram<'run_type'>;

  constructor(usage?: StorageUsage, queue?: QueueStats) {
    const registers = [this.registry];
    this.pullTotal = new Counter({
      name: 'TotalPullCount',
      help: 'Manifest GETs (by tag or digest) per registry, failures included',
      labelNames: ['registry'],
      registers,
    });
    this.pullOk = new Counter({
      name: 'SuccessfulPullCount',
      help: 'Successful manifest GETs per registry',
      labelNames: ['registry'],
      registers,
    });
    this.pushTotal = new Counter({
      name: 'TotalPushCount',
      help: 'Manifest PUTs per registry, failures included',
      labelNames: ['registry'],
      registers,
    });
    this.pushOk = new Counter({
      name: 'SuccessfulPushCount',
      help: 'Successful manifest PUTs per registry',
      labelNames: ['registry'],
      registers,
    });
    this.duration = new Histogram({
      name: 'berth_http_request_duration_seconds',
      help: 'HTTP request duration by route family, method and status class',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.requests = new Counter({
      name: 'berth_http_requests_total',
      help: 'HTTP requests by route family, method and status class',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    if (usage) {
      new Gauge({
        name: 'StorageUsed',
        help: 'Bytes used by each registry (distinct blobs and manifests; refreshed at most once a minute)',
        labelNames: ['registry'],
        registers,
        async collect() {
          this.reset();
          for (const [name, bytes] of await usage()) this.set({ registry: name }, bytes);
        },
      });
    }
    this.webhookDeliveries = new Counter({
      name: 'berth_webhook_deliveries_total',
      help: 'Webhook delivery attempts by registry and result: success, failure (will be retried) or dead (failed for good)',
      labelNames: ['registry', 'result'],
      registers,
    });
    if (queue) {
      // One grouped query over the (state, run_after) index, cached and shared by both gauges.
      // Kinds once seen stay (at 0) rather than vanishing, so alerts see the drop.
      const seen = new Set<string>();
      new Gauge({
        name: 'berth_job_queue_depth',
        help: 'Jobs queued or running, by kind and state (refreshed at most every 15 s)',
        labelNames: ['kind', 'state'],
        registers,
        async collect() {
          const rows = await queue();
          this.reset();
          for (const r of rows) seen.add(r.kind);
          for (const k of seen) this.set({ kind: k, state: 'queued' }, 0);
          for (const r of rows) this.set({ kind: r.kind, state: r.state }, r.count);
        },
      });
      new Gauge({
        name: 'berth_job_oldest_queued_age_seconds',
        help: 'Age of the oldest queued job by kind, 0 when none (refreshed at most every 15 s)',
        labelNames: ['kind'],
        registers,
        async collect() {
          const rows = await queue();
          const now = Date.now();
          this.reset();
          for (const r of rows) seen.add(r.kind);
          for (const k of seen) this.set({ kind: k }, 0);
          for (const r of rows)
            if (r.state === 'queued' && r.oldestMs !== null) this.set({ kind: r.kind }, Math.max(0, (now - r.oldestMs) / 1000));
        },
      });
    }
    this.gcRuns = new Counter({
      name: 'berth_gc_runs_total',
      help: 'Garbage collection runs on this node by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.gcRemoved = new Counter({
      name: 'berth_gc_removed_total',
      help: 'What garbage collection removed on this node: referrers, links, blobs, files',
      labelNames: ['kind'],
      registers,
    });
    this.gcBytes = new Counter({
      name: 'berth_gc_reclaimed_bytes_total',
      help: 'Bytes of storage garbage collection reclaimed on this node',
      registers,
    });
    this.storageSeconds = new Histogram({
      name: 'berth_storage_operation_duration_seconds',
      help: 'Storage operations by driver (fs, azure) and operation; a read is timed to its first byte',
      labelNames: ['driver', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.storageErrors = new Counter({
      name: 'berth_storage_errors_total',
      help: 'Failed storage operations by driver and operation (a missing key is not a failure)',
      labelNames: ['driver', 'operation'],
      registers,
    });
    this.scanSeconds = new Histogram({
      name: 'berth_scan_duration_seconds',
      help: 'Image scans on this node by outcome (succeeded, failed, unsupported): layers read, SBOMs pushed, matched',
      labelNames: ['outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.scanFindings = new Counter({
      name: 'berth_scan_findings_total',
      help: 'Vulnerability findings reported by scans on this node, by severity (the scan queue depth is berth_job_queue_depth{kind="scan"})',
      labelNames: ['severity'],
      registers,
    });
    this.signatureVerifications = new Counter({
      name: 'berth_signature_verifications_total',
      help: 'Signatures verified on this node (a verdict reached again; cached verdicts are not counted), by format and outcome',
      labelNames: ['format', 'outcome'],
      registers,
    });
    this.pullPolicyRefusals = new Counter({
      name: 'berth_pull_policy_refusals_total',
      help: 'Manifest GET/HEAD requests the trust policy refused (strict, permissive) or only logged (audit): images without a verified signature',
      labelNames: ['registry', 'level'],
      registers,
    });
    this.networkRefusals = new Counter({
      name: 'berth_network_refusals_total',
      help: "Requests a registry's network rules refused (publicNetworkAccess Disabled, or no IP rule matched under defaultAction Deny)",
      labelNames: ['registry'],
      registers,
    });
    this.keyOperations = new Counter({
      name: 'berth_key_operations_total',
      help: 'Wrap and unwrap calls to customer-managed key providers by outcome: ok, refused (revoked, replaced or wrong key), unavailable',
      labelNames: ['op', 'outcome'],
      registers,
    });
    this.keyAccessible = new Gauge({
      name: 'berth_key_accessible',
      help: "1 while a registry's customer-managed key unwraps its data key; 0 once it refused (the registry's content is unreadable)",
      labelNames: ['registry'],
      registers,
    });
    this.privateEndpointStates = new Counter({
      name: 'berth_private_endpoint_connection_changes_total',
      help: 'Private endpoint connections created, approved, rejected, disconnected or deleted through this node, by registry and new state',
      labelNames: ['registry', 'state'],
      registers,
    });
    this.privateEndpointRefusals = new Counter({
      name: 'berth_private_endpoint_refusals_total',
      help: 'Requests on a private endpoint listener for a registry with no Approved connection there (answered 404)',
      labelNames: ['registry'],
      registers,
    });
    this.dataEndpointRefusals = new Counter({
      name: 'berth_data_endpoint_refusals_total',
      help: 'Blob requests the data endpoint refused: no signature, a wrong one, or an expired one',
      registers,
    });
    this.taskRunSeconds = new Histogram({
      name: 'berth_task_run_duration_seconds',
      help: 'Task runs executed by this node, from start to end, by final status and run type (the count is the runs by outcome)',
      labelNames: ['status', 'run_type'],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers,
    });
    this.taskQueueWait = new Histogram({
      name: 'berth_task_run_queue_wait_seconds',
      help: 'How long task runs waited in the queue before this node started them, by run type',
      labelNames: ['run_type'],
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    // Includes nodejs_eventloop_lag_* (monitorEventLoopDelay): the stalls that show as request p99.
    collectDefaultMetrics({ register: this.registry });
  }

  /** One storage operation (a StorageObserver: storage/instrumented.ts). */
  storageOp(driver: string, operation: string, seconds: number, failed: boolean): void {
    if (seconds > 0) this.storageSeconds.observe({ driver, operation }, seconds);
    if (failed) this.storageErrors.inc({ driver, operation });
  }

  /** One finished scan (a ScanObserver: services/scan/scanner.ts). */
  scanned(outcome: string, seconds: number, summary?: Record<string, number>): void {
    this.scanSeconds.observe({ outcome }, seconds);
    if (!summary) return;
    for (const severity of ['critical', 'high', 'medium', 'low', 'none', 'unknown'])
      if (summary[severity]) this.scanFindings.inc({ severity }, summary[severity]);
  }

  /** A signature verified (a TrustObserver: services/trust/trust.ts). */
  signatureVerified(format: string, outcome: string): void {
    this.signatureVerifications.inc({ format, outcome });
  }

  /** A pull the trust policy refused, or logged under audit. */
  pullRefused(registry: string, level: string): void {
    this.pullPolicyRefusals.inc({ registry, level });
  }

  /** A request the network rules refused (a NetworkObserver: services/policy/access.ts). */
  networkRefused(registry: string): void {
    this.networkRefusals.inc({ registry });
  }

  /** A call to a customer-managed key provider (a KeyObserver: services/encryption). */
  keyOperation(op: string, outcome: string): void {
    this.keyOperations.inc({ op, outcome });
  }

  /** Whether a registry's customer-managed key worked when last used. */
  keyState(registry: string, accessible: boolean): void {
    this.keyAccessible.set({ registry }, accessible ? 1 : 0);
  }

  /** A private endpoint connection changed state (a PrivateEndpointObserver: services/policy/private-endpoints.ts). */
  privateEndpointState(registry: string, state: string): void {
    this.privateEndpointStates.inc({ registry, state });
  }

  /** A registry asked for on a private listener it is not connected to. */
  privateEndpointRefused(registry: string): void {
    this.privateEndpointRefusals.inc({ registry });
  }

  /** A data-endpoint request without a valid signature. */
  dataEndpointRefused(): void {
    this.dataEndpointRefusals.inc();
  }

  /** A task run started (its wait in the queue) or ended (its duration and status): a RunObserver of services/tasks. */
  taskRunStarted(runType: string, waitSeconds: number): void {
    this.taskQueueWait.observe({ run_type: runType }, Math.max(0, waitSeconds));
  }

  taskRunEnded(status: string, runType: string, seconds: number): void {
    this.taskRunSeconds.observe({ status, run_type: runType }, Math.max(0, seconds));
  }

  private readonly hooks = new Map<string, () => void>();

  /** One finished garbage collection run. */
  gcRun(
    outcome: 'succeeded' | 'failed',
    c: { referrersRemoved: number; linksRemoved: number; blobsRemoved: number; filesRemoved: number; bytesReclaimed: number },
  ): void {
    this.gcRuns.labels({ outcome }).inc();
    this.gcRemoved.labels({ kind: 'referrers' }).inc(c.referrersRemoved);
    this.gcRemoved.labels({ kind: 'links' }).inc(c.linksRemoved);
    this.gcRemoved.labels({ kind: 'blobs' }).inc(c.blobsRemoved);
    this.gcRemoved.labels({ kind: 'files' }).inc(c.filesRemoved);
    this.gcBytes.inc(c.bytesReclaimed);
  }

  /** One webhook delivery attempt's outcome. */
  webhookOutcome(registry: string, result: WebhookResult): void {
    const key = `${registry} ${result}`;
    let inc = this.hooks.get(key);
    if (!inc) {
      const c = this.webhookDeliveries.labels({ registry, result });
      inc = () => c.inc();
      this.hooks.set(key, inc);
    }
    inc();
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

  /**
   * Geo-replication lag per (registry, region): the age of the oldest image not yet complete
   * there, and how many images wait. A replica that caught up shows 0 (it does not vanish).
   */
  replicationLag(read: () => Promise<{ registry: string; region: string; seconds: number; manifests: number }[]>): void {
    const lag = cached(read, 5_000);
    const seen = new Map<string, { registry: string; region: string }>();
    const gauge = (name: string, help: string, value: (r: { seconds: number; manifests: number }) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['registry', 'region'],
        registers: [this.registry],
        async collect() {
          const rows = await lag();
          this.reset();
          for (const r of rows) seen.set(`${r.registry}\u0000${r.region}`, { registry: r.registry, region: r.region });
          for (const l of seen.values()) this.set(l, 0);
          for (const r of rows) this.set({ registry: r.registry, region: r.region }, value(r));
        },
      });
    gauge(
      'berth_replication_lag_seconds',
      'Age of the oldest image not yet complete in a replica region, 0 when none waits',
      (r) => r.seconds,
    );
    gauge('berth_replication_pending_manifests', 'Images waiting to be complete in a replica region', (r) => r.manifests);
  }

  /** This node's private endpoint listeners by state: an alert on Failed > 0 names the node that cannot bind. */
  privateListeners(read: () => { listening: number; failed: number }): void {
    new Gauge({
      name: 'berth_private_endpoint_listeners',
      help: "This node's private endpoint listeners: Listening, or Failed (cannot bind; retried on each poll)",
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const c = read();
        this.set({ state: 'Listening' }, c.listening);
        this.set({ state: 'Failed' }, c.failed);
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * StorageUsed from the metadata: the registry's storage counter (distinct blobs linked into its
 * repositories plus distinct manifests, kept exact transactionally: src/meta/usage.ts), read by
 * `read` (meta's storageUsedByRegistry) and cached for `ttlMs` (concurrent scrapes share one query).
 */
export function cachedStorageUsage(read: StorageUsage, ttlMs = 60_000): StorageUsage {
  return cached(read, ttlMs);
}

/** Job queue depth and oldest age, from one grouped query (meta's jobQueueDepth), cached for `ttlMs`. */
export function cachedQueueStats(read: QueueStats, ttlMs = 15_000): QueueStats {
  return cached(read, ttlMs);
}

function cached<T>(read: () => Promise<T>, ttlMs: number): () => Promise<T> {
  let at = 0;
  let value: Promise<T> | undefined;
  return () => {
    const now = Date.now();
    if (!value || now - at >= ttlMs) {
      at = now;
      value = read().catch((e) => {
        at = 0; // retry on the next scrape
        throw e;
      });
    }
    return value;
  };
}
