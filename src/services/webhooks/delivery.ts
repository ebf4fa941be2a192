import { createHmac, randomUUID } from 'node:crypto';
import { unseal } from '../../auth/crypto.js';
import { PermanentJobError, type JobQueue } from '../../jobs/queue.js';
import type { AccessStore } from '../../meta/access-store.js';
import type { Executor, MetaStore } from '../../meta/store.js';
import type { EventRow, WebhookOutbox, WebhookRow } from '../../meta/webhooks.js';
import type { ScanBrief } from '../../meta/scans.js';
import { scanAttribute } from '../../domain/scan/findings.js';
import type { Logger } from '../../observability/logger.js';
import { EgressRefused, egressRequest, egressVerdict, type EgressOptions } from '../../net/egress.js';

// Webhook delivery, through the outbox: every change writes an `events` row in its own
// transaction. The dispatcher (run on each queue poll) takes undelivered events, and in one
// transaction enqueues one delivery job per matching webhook and marks the events dispatched: a
// committed change always yields its deliveries, exactly once; a rolled-back one never does.
// Each delivery job is one POST with the egress rules, an HMAC-SHA256 signature and ACR's payload
// (or a CloudEvents 1.0 envelope), retried with backoff by the queue and logged for list-events.

export const SIGNATURE_HEADER = 'X-Berth-Signature-256';
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const JOB_KIND = 'webhook.deliver';
const EXCERPT = 4096;

export interface DeliveryJob {
  webhookId: number;
  eventId: string;
  action: string;
  body: string;
}

export interface WebhookDeliveryOptions {
  egress: EgressOptions;
  /** Attempts for a delivery before it is dead. */
  maxAttempts: number;
}

/** ACR's scope rule: '' = everything; "repo:tag" exact; "repo:*" every tag; "repo" = "repo:latest". */
export function normalizeScope(scope: string): string {
  const s = scope.trim();
  if (s === '') return '';
  const slash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  return colon > slash ? s : `${s}:latest`;
}

export function scopeMatches(scope: string, repository: string, tag: string | null): boolean {
  const s = normalizeScope(scope);
  if (s === '') return true;
  const i = s.lastIndexOf(':');
  const repo = s.slice(0, i);
  const t = s.slice(i + 1);
  if (repo !== repository) return false;
  if (t === '*') return true;
  return tag !== null && tag === t;
}

/** A header value as shown back (list-events, show): all but its last two characters hidden. */
export function mask(v: string): string {
  return v.length <= 8 ? '****' : `****${v.slice(-2)}`;
}

function excerpt(s: string): string {
  return s.length > EXCERPT ? s.slice(0, EXCERPT) : s;
}

export class WebhookDelivery {
  constructor(
    private readonly meta: MetaStore,
    private readonly outbox: WebhookOutbox,
    private readonly access: AccessStore,
    private readonly queue: JobQueue,
    private readonly opts: WebhookDeliveryOptions,
    private readonly log: Logger,
  ) {
    queue.handle(JOB_KIND, (p: DeliveryJob, job) => this.deliver(p, job.attempts, job.max_attempts));
    queue.onTick(() => this.dispatch().then(() => undefined));
  }

  private readonly outcomeListeners: ((registry: string, result: 'success' | 'failure' | 'dead') => void)[] = [];

  /** Called after each delivery attempt (metrics): success, failure (to be retried) or dead (failed for good). */
  onOutcome(fn: (registry: string, result: 'success' | 'failure' | 'dead') => void): void {
    this.outcomeListeners.push(fn);
  }

  private outcome(registryId: number, result: 'success' | 'failure' | 'dead'): void {
    if (this.outcomeListeners.length === 0) return;
    const notify = (name: string) => {
      for (const fn of this.outcomeListeners) fn(name, result);
    };
    const known = this.registryNames.get(registryId);
    if (known) return notify(known);
    this.outbox
      .registryName(registryId)
      .then((name) => {
        if (name === undefined) return;
        this.registryNames.set(registryId, name);
        notify(name);
      })
      .catch(() => undefined);
  }

  private readonly registryNames = new Map<number, string>();

  /** Queues one delivery outside the outbox (a ping, a redelivery); returns its job id. */
  enqueue(job: DeliveryJob): Promise<number> {
    return this.meta.transaction((trx) => this.queue.enqueue(trx, JOB_KIND, job, { maxAttempts: this.opts.maxAttempts }));
  }

  /** The outbox dispatcher: turns undispatched events into delivery jobs, in one transaction each batch. */
  async dispatch(batch = 100): Promise<number> {
    return this.meta.transaction(async (trx) => {
      // Locked until commit; on PostgreSQL another node's dispatcher skips them and takes the next ones.
      const events = await this.outbox.undispatched(trx, batch);
      if (events.length === 0) return 0;
      const regIds = [...new Set(events.map((e) => e.registry_id))];
      const hooks = await this.outbox.enabledWebhooks(trx, regIds);
      const regs = hooks.length ? await this.outbox.registries(trx, regIds) : [];
      for (const e of events) {
        const mine = hooks.filter((h) => h.registry_id === e.registry_id);
        if (mine.length === 0) continue;
        const reg = regs.find((r) => r.id === e.registry_id)!;
        const action = await this.webhookAction(trx, e);
        if (!action) continue;
        // Events store no payload: a scan event's result is read as it is now, within moments of
        // the scan (a later scan records an event of its own).
        const wanted = action === 'scan' && e.digest && mine.some((h) => (JSON.parse(h.actions) as string[]).includes('scan'));
        const scan = wanted ? await this.outbox.scanResult(trx, e.registry_id, e.repository, e.digest!) : undefined;
        for (const h of mine) {
          if (!(JSON.parse(h.actions) as string[]).includes(action)) continue;
          if (!scopeMatches(h.scope, e.repository, e.tag)) continue;
          // A per-replica webhook hears only that its region has the image; the others, the change itself.
          if ((h.location ?? null) !== (e.region ?? null)) continue;
          const eventId = randomUUID();
          const body = this.envelope(
            h,
            reg,
            action,
            this.payload(e, action, eventId, scan),
            e.tag ? `${e.repository}:${e.tag}` : e.repository,
          );
          await this.queue.enqueue(trx, JOB_KIND, { webhookId: h.id, eventId, action, body } satisfies DeliveryJob, {
            maxAttempts: this.opts.maxAttempts,
          });
        }
      }
      await this.outbox.markDispatched(
        trx,
        events.map((e) => e.id),
      );
      return events.length;
    });
  }

  /**
   * push/delete, or chart_push/chart_delete for Helm charts, or quarantine (a push under the
   * quarantine policy), or scan (Berth's: a scan finished); null for events webhooks do not report
   * (untag, other quarantine changes).
   */
  private async webhookAction(trx: Executor, e: EventRow): Promise<string | null> {
    if (e.action === 'quarantine' || e.action === 'scan') return e.action;
    if (e.action !== 'push' && e.action !== 'delete') return null;
    if (e.action === 'push' && e.digest) {
      const content = await this.outbox.manifestContent(trx, e.registry_id, e.repository, e.digest);
      if (content) {
        try {
          const doc = JSON.parse(Buffer.from(content).toString('utf8')) as { config?: { mediaType?: string } };
          if (doc.config?.mediaType === HELM_CONFIG) return 'chart_push';
        } catch {
          /* not JSON: not a chart */
        }
      }
    }
    return e.action;
  }

  /** ACR's payload for the action, field for field; scan: push's, with the scan's result (when the manifest is still there). */
  payload(e: EventRow, action: string, eventId: string, scan?: ScanBrief): Record<string, unknown> {
    const base = { id: eventId, timestamp: e.created_at, action };
    const request = {
      id: e.request_id ?? '',
      host: e.request_host ?? '',
      method: e.request_method ?? (action === 'delete' ? 'DELETE' : 'PUT'),
      useragent: e.request_useragent ?? '',
    };
    if (action === 'push' || action === 'scan') {
      return {
        ...base,
        target: {
          mediaType: e.media_type ?? '',
          size: e.size ?? 0,
          digest: e.digest ?? '',
          length: e.size ?? 0,
          repository: e.repository,
          tag: e.tag ?? '',
        },
        request,
        ...(action === 'scan' && scan ? { scan: scanAttribute(scan) } : {}),
      };
    }
    if (action === 'delete') {
      return { ...base, target: { mediaType: e.media_type ?? '', digest: e.digest ?? '', repository: e.repository }, request };
    }
    // ACR's quarantine event is the push event without mediaType.
    if (action === 'quarantine') {
      return {
        ...base,
        target: { size: e.size ?? 0, digest: e.digest ?? '', length: e.size ?? 0, repository: e.repository, tag: e.tag ?? '' },
        request,
      };
    }
    // chart_push / chart_delete: ACR names the chart after the repository and the version after the tag.
    const name = e.repository.slice(e.repository.lastIndexOf('/') + 1);
    return {
      ...base,
      target: {
        mediaType: 'application/vnd.acr.helm.chart',
        size: e.size ?? 0,
        digest: e.digest ?? '',
        repository: e.repository,
        tag: e.tag ?? '',
        name,
        version: e.tag ?? '',
      },
    };
  }

  /** The body as sent: ACR's JSON, or a CloudEvents 1.0 structured event carrying it as data. */
  envelope(w: WebhookRow, reg: { name: string }, action: string, payload: Record<string, unknown>, subject: string): string {
    if (w.format !== 'cloudevents') return JSON.stringify(payload);
    const types: Record<string, string> = {
      push: 'Microsoft.ContainerRegistry.ImagePushed',
      delete: 'Microsoft.ContainerRegistry.ImageDeleted',
      chart_push: 'Microsoft.ContainerRegistry.ChartPushed',
      chart_delete: 'Microsoft.ContainerRegistry.ChartDeleted',
      quarantine: 'Microsoft.ContainerRegistry.ImageQuarantined',
      scan: 'Berth.ContainerRegistry.ImageScanned',
      ping: 'Berth.Webhook.Ping',
    };
    return JSON.stringify({
      specversion: '1.0',
      id: payload.id,
      source: `/registries/${reg.name}`,
      type: types[action] ?? `Berth.Webhook.${action}`,
      time: payload.timestamp,
      ...(subject ? { subject } : {}),
      datacontenttype: 'application/json',
      data: payload,
    });
  }

  /** What the egress policy would say to a delivery to this URI now (create, update and ping warn with it). */
  checkTarget(uri: string): ReturnType<typeof egressVerdict> {
    return egressVerdict(uri, this.opts.egress.allowPrivate, Math.min(3000, this.opts.egress.connectTimeoutMs));
  }

  /** The delivery job: one POST with the egress rules; non-2xx or a network error is retried by the queue. */
  async deliver(job: DeliveryJob, attempt: number, maxAttempts = Infinity): Promise<void> {
    const w = await this.outbox.webhook(job.webhookId);
    if (!w) return; // deleted since: nothing to deliver
    if (w.status !== 'enabled' && job.action !== 'ping') return;
    const secret = unseal(w.secret, await this.access.sealKey());
    const custom = JSON.parse(w.headers) as Record<string, string>;
    const headers: Record<string, string> = {};
    if (!Object.keys(custom).some((k) => k.toLowerCase() === 'content-type'))
      headers['Content-Type'] = w.format === 'cloudevents' ? 'application/cloudevents+json' : 'application/json';
    Object.assign(headers, custom);
    headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', secret).update(job.body).digest('hex')}`;
    const started = Date.now();
    const shownHeaders = { ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k in custom ? mask(v) : v])) };
    const record = async (r: { outcome: string; status?: number; headers?: Record<string, string>; body?: string; error?: string }) => {
      await this.outbox.recordDelivery({
        webhook_id: w.id,
        event_id: job.eventId,
        action: job.action,
        attempt,
        outcome: r.outcome,
        request_uri: w.uri,
        request_headers: JSON.stringify(shownHeaders),
        request_body: job.body,
        response_status: r.status ?? null,
        response_headers: r.headers ? JSON.stringify(r.headers) : null,
        response_body: r.body !== undefined ? excerpt(r.body) : null,
        error: r.error ?? null,
        duration_ms: Date.now() - started,
        created_at: new Date().toISOString(),
      });
    };
    let res;
    try {
      res = await egressRequest(w.uri, 'POST', headers, Buffer.from(job.body), this.opts.egress);
    } catch (e) {
      const msg = (e as Error).message;
      if (e instanceof EgressRefused) {
        await record({ outcome: 'refused', error: msg });
        this.outcome(w.registry_id, 'dead');
        throw new PermanentJobError(msg);
      }
      await record({ outcome: 'failed', error: msg });
      this.outcome(w.registry_id, attempt >= maxAttempts ? 'dead' : 'failure');
      throw e;
    }
    const ok = res.status >= 200 && res.status < 300;
    await record({
      outcome: ok ? 'succeeded' : 'failed',
      status: res.status,
      headers: res.headers,
      body: res.body.subarray(0, EXCERPT).toString('utf8'),
    });
    this.outcome(w.registry_id, ok ? 'success' : attempt >= maxAttempts ? 'dead' : 'failure');
    if (!ok) throw new Error(`${w.uri.replace(/\?.*$/, '')} answered ${res.status}`);
    this.log.debug({ webhook: w.name, event: job.eventId, status: res.status }, 'webhook delivered');
  }
}
