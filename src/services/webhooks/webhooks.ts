import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { seal, unseal } from '../../auth/crypto.js';
import { RegistryError } from '../../domain/errors.js';
import { PermanentJobError, type JobQueue } from '../../jobs/queue.js';
import type { AccessStore } from '../../meta/access-store.js';
import type { Selectable } from 'kysely';
import type { EventsTable, WebhooksTable } from '../../meta/schema.js';
import { isUniqueViolation, type MetaStore, type RegistryRow } from '../../meta/store.js';
import type { Logger } from '../../observability/logger.js';
import { EgressRefused, egressRequest, type EgressOptions } from '../../net/egress.js';

// Webhooks as ACR's (actions, scope, custom headers, status, payloads field for field, ping,
// get-config, list-events, per-SKU count), delivered on the durable job queue with retries,
// an HMAC-SHA256 signature, an optional CloudEvents 1.0 envelope and redelivery.
//
// Flow: every change writes an `events` row in its own transaction (the outbox). The dispatcher
// (run on each queue poll) takes undelivered events, and in one transaction enqueues one
// delivery job per matching webhook and marks the events dispatched: a committed change always
// yields its deliveries, exactly once; a rolled-back one never does.

export const WEBHOOK_ACTIONS = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete'] as const;
export const WEBHOOK_LIMITS: Record<string, number> = { Basic: 2, Standard: 10, Premium: 500 };
export const SIGNATURE_HEADER = 'X-Berth-Signature-256';
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const JOB_KIND = 'webhook.deliver';
const EXCERPT = 4096;

type WebhookRow = Selectable<WebhooksTable>;
type EventRow = Selectable<EventsTable>;

export interface WebhookInput {
  name?: string;
  serviceUri?: string;
  actions?: string[];
  scope?: string;
  customHeaders?: Record<string, string>;
  status?: string;
  format?: string;
}

interface DeliveryJob {
  webhookId: number;
  eventId: string;
  action: string;
  body: string;
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

function mask(v: string): string {
  return v.length <= 8 ? '****' : `****${v.slice(-2)}`;
}

function excerpt(s: string): string {
  return s.length > EXCERPT ? s.slice(0, EXCERPT) : s;
}

export interface WebhookServiceOptions {
  egress: EgressOptions;
  /** Attempts for a delivery before it is dead. */
  maxAttempts: number;
}

export class WebhookService {
  constructor(
    private readonly meta: MetaStore,
    private readonly access: AccessStore,
    readonly queue: JobQueue,
    private readonly opts: WebhookServiceOptions,
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
    this.meta.db.selectFrom('registries').select('name').where('id', '=', registryId).executeTakeFirst()
      .then((r) => {
        if (!r) return;
        this.registryNames.set(registryId, r.name);
        notify(r.name);
      })
      .catch(() => undefined);
  }

  private readonly registryNames = new Map<number, string>();

  view(w: WebhookRow, reg: RegistryRow) {
    const headers = JSON.parse(w.headers) as Record<string, string>;
    return {
      name: w.name, registry: reg.name, type: 'Microsoft.ContainerRegistry/registries/webhooks',
      status: w.status, scope: w.scope, actions: JSON.parse(w.actions) as string[], format: w.format,
      serviceUri: (() => {
        try {
          const u = new URL(w.uri);
          return `${u.protocol}//${u.host}/****`;
        } catch {
          return '****';
        }
      })(),
      customHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, mask(v)])),
      provisioningState: 'Succeeded', createdAt: w.created_at, updatedAt: w.updated_at,
    };
  }

  private validate(input: WebhookInput, partial: boolean): Partial<Omit<WebhookRow, 'id'>> {
    const out: Partial<Omit<WebhookRow, 'id'>> = {};
    if (input.serviceUri !== undefined || !partial) {
      const uri = input.serviceUri ?? '';
      let u: URL;
      try {
        u = new URL(uri);
      } catch {
        throw new RegistryError('REQUEST_INVALID', `--uri "${uri.slice(0, 200)}" is not a URL; give http(s)://host/path`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RegistryError('REQUEST_INVALID', 'the webhook URI must be http or https');
      out.uri = uri;
    }
    if (input.actions !== undefined || !partial) {
      const actions = [...new Set(input.actions ?? [])];
      if (actions.length === 0) throw new RegistryError('REQUEST_INVALID', `a webhook needs one or more actions: ${WEBHOOK_ACTIONS.join(', ')}`);
      for (const a of actions) if (!(WEBHOOK_ACTIONS as readonly string[]).includes(a)) throw new RegistryError('REQUEST_INVALID', `unknown action "${a}"; use ${WEBHOOK_ACTIONS.join(', ')}`);
      out.actions = JSON.stringify(actions);
    }
    if (input.scope !== undefined || !partial) {
      const scope = (input.scope ?? '').trim();
      if (scope.length > 256 || /\s/.test(scope)) throw new RegistryError('REQUEST_INVALID', 'scope is "repo:tag", "repo:*", "repo" (= repo:latest) or empty');
      out.scope = scope;
    }
    if (input.customHeaders !== undefined || !partial) {
      const h = input.customHeaders ?? {};
      if (typeof h !== 'object' || Array.isArray(h)) throw new RegistryError('REQUEST_INVALID', 'customHeaders must be an object of strings');
      for (const [k, v] of Object.entries(h)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || typeof v !== 'string' || /[\r\n\0]/.test(v)) throw new RegistryError('REQUEST_INVALID', `invalid header "${k.slice(0, 60)}"`);
        if (/^(content-length|host|transfer-encoding|connection)$/i.test(k) || k.toLowerCase() === SIGNATURE_HEADER.toLowerCase()) throw new RegistryError('REQUEST_INVALID', `header "${k}" cannot be set`);
      }
      out.headers = JSON.stringify(h);
    }
    if (input.status !== undefined || !partial) {
      const st = input.status ?? 'enabled';
      if (st !== 'enabled' && st !== 'disabled') throw new RegistryError('REQUEST_INVALID', 'status is enabled or disabled');
      out.status = st;
    }
    if (input.format !== undefined || !partial) {
      const f = input.format ?? 'acr';
      if (f !== 'acr' && f !== 'cloudevents') throw new RegistryError('REQUEST_INVALID', 'format is acr or cloudevents');
      out.format = f;
    }
    return out;
  }

  private async find(reg: RegistryRow, name: string): Promise<WebhookRow> {
    const w = await this.meta.db.selectFrom('webhooks').selectAll().where('registry_id', '=', reg.id).where('name_key', '=', name.toLowerCase()).executeTakeFirst();
    if (!w) throw new RegistryError('RESOURCE_UNKNOWN', `webhook "${name}" does not exist in registry ${reg.name}`);
    return w;
  }

  async create(reg: RegistryRow, input: WebhookInput) {
    const name = input.name ?? '';
    if (!/^[A-Za-z0-9]{5,50}$/.test(name)) throw new RegistryError('REQUEST_INVALID', 'a webhook name is 5-50 letters and digits');
    const fields = this.validate(input, false);
    const limit = WEBHOOK_LIMITS[reg.sku] ?? 2;
    const secret = randomBytes(32).toString('base64url');
    const sealed = seal(secret, await this.access.sealKey());
    const t = new Date().toISOString();
    try {
      const row = await this.meta.transaction(async (trx) => {
        const count = await trx.selectFrom('webhooks').select((eb) => eb.fn.countAll<number>().as('n')).where('registry_id', '=', reg.id).executeTakeFirstOrThrow();
        if (Number(count.n) >= limit) throw new RegistryError('CONFLICT', `registry ${reg.name} (${reg.sku}) already has ${Number(count.n)} webhooks, the most its SKU allows (${limit}); delete one or move to a higher SKU`);
        return trx.insertInto('webhooks').values({
          registry_id: reg.id, name, name_key: name.toLowerCase(), uri: fields.uri!, actions: fields.actions!, scope: fields.scope!, headers: fields.headers!,
          status: fields.status!, format: fields.format!, secret: sealed, created_at: t, updated_at: t,
        }).returningAll().executeTakeFirstOrThrow();
      });
      return { ...this.view(row, reg), secret };
    } catch (e) {
      if (isUniqueViolation(e)) throw new RegistryError('CONFLICT', `webhook "${name}" already exists in registry ${reg.name}`);
      throw e;
    }
  }

  async update(reg: RegistryRow, name: string, input: WebhookInput) {
    const w = await this.find(reg, name);
    const fields = this.validate(input, true);
    await this.meta.db.updateTable('webhooks').set({ ...fields, updated_at: new Date().toISOString() }).where('id', '=', w.id).execute();
    return this.view(await this.find(reg, name), reg);
  }

  async delete(reg: RegistryRow, name: string): Promise<void> {
    const w = await this.find(reg, name);
    await this.meta.db.deleteFrom('webhooks').where('id', '=', w.id).execute();
  }

  async list(reg: RegistryRow) {
    const rows = await this.meta.db.selectFrom('webhooks').selectAll().where('registry_id', '=', reg.id).orderBy('name_key').execute();
    return rows.map((w) => this.view(w, reg));
  }

  async show(reg: RegistryRow, name: string) {
    return this.view(await this.find(reg, name), reg);
  }

  /** ACR's getCallbackConfig: the URI and custom headers in full (callers need write power). */
  async config(reg: RegistryRow, name: string) {
    const w = await this.find(reg, name);
    return { serviceUri: w.uri, customHeaders: JSON.parse(w.headers) as Record<string, string> };
  }

  /** Queues a ping event; its delivery shows in list-events. */
  async ping(reg: RegistryRow, name: string): Promise<{ id: string }> {
    const w = await this.find(reg, name);
    const eventId = randomUUID();
    const body = this.envelope(w, reg, 'ping', { id: eventId, timestamp: new Date().toISOString(), action: 'ping' }, '');
    await this.queue.enqueue(this.meta.db, JOB_KIND, { webhookId: w.id, eventId, action: 'ping', body } satisfies DeliveryJob, { maxAttempts: this.opts.maxAttempts });
    return { id: eventId };
  }

  async events(reg: RegistryRow, name: string, limit = 100) {
    const w = await this.find(reg, name);
    const rows = await this.meta.db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', w.id).orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => {
      let content: unknown = r.request_body;
      try {
        content = JSON.parse(r.request_body);
      } catch { /* keep the text */ }
      return {
        id: r.event_id,
        eventRequestMessage: { content, headers: JSON.parse(r.request_headers), method: 'POST', requestUri: r.request_uri, version: '1.1' },
        eventResponseMessage: r.response_status === null ? null : {
          content: r.response_body ?? '', headers: r.response_headers ? JSON.parse(r.response_headers) : {}, statusCode: String(r.response_status), version: '1.1',
        },
        action: r.action, attempt: r.attempt, outcome: r.outcome, error: r.error, durationMs: r.duration_ms, createdAt: r.created_at,
      };
    });
  }

  /** Sends a past event again (the same body and event id) as a new delivery job. */
  async redeliver(reg: RegistryRow, name: string, eventId: string): Promise<{ id: string; job: number }> {
    const w = await this.find(reg, name);
    const d = await this.meta.db.selectFrom('webhook_deliveries').select(['action', 'request_body']).where('webhook_id', '=', w.id).where('event_id', '=', eventId).orderBy('id', 'desc').executeTakeFirst();
    if (!d) throw new RegistryError('RESOURCE_UNKNOWN', `webhook ${name} has no event ${eventId.slice(0, 80)}`);
    const job = await this.queue.enqueue(this.meta.db, JOB_KIND, { webhookId: w.id, eventId, action: d.action, body: d.request_body } satisfies DeliveryJob, { maxAttempts: this.opts.maxAttempts });
    return { id: eventId, job };
  }

  /** The outbox dispatcher: turns undispatched events into delivery jobs, in one transaction each batch. */
  async dispatch(batch = 100): Promise<number> {
    return this.meta.transaction(async (trx) => {
      let q = trx.selectFrom('events').selectAll().where('dispatched', '=', 0).orderBy('id').limit(batch);
      if (this.meta.dialect === 'postgres') q = q.forUpdate().skipLocked();
      const events = await q.execute();
      if (events.length === 0) return 0;
      const regIds = [...new Set(events.map((e) => e.registry_id))];
      const hooks = await trx.selectFrom('webhooks').selectAll().where('registry_id', 'in', regIds).where('status', '=', 'enabled').execute();
      const regs = hooks.length ? await trx.selectFrom('registries').select(['id', 'name', 'sku', 'admin_enabled', 'anonymous_pull_enabled', 'created_at', 'updated_at']).where('id', 'in', regIds).execute() : [];
      for (const e of events) {
        const mine = hooks.filter((h) => h.registry_id === e.registry_id);
        if (mine.length === 0) continue;
        const reg = regs.find((r) => r.id === e.registry_id)!;
        const action = await this.webhookAction(trx, e);
        if (!action) continue;
        for (const h of mine) {
          if (!(JSON.parse(h.actions) as string[]).includes(action)) continue;
          if (!scopeMatches(h.scope, e.repository, e.tag)) continue;
          const eventId = randomUUID();
          const body = this.envelope(h, reg, action, this.payload(e, action, eventId), e.tag ? `${e.repository}:${e.tag}` : e.repository);
          await this.queue.enqueue(trx, JOB_KIND, { webhookId: h.id, eventId, action, body } satisfies DeliveryJob, { maxAttempts: this.opts.maxAttempts });
        }
      }
      await trx.updateTable('events').set({ dispatched: 1 }).where('id', 'in', events.map((e) => e.id)).execute();
      return events.length;
    });
  }

  /** push/delete, or chart_push/chart_delete for Helm charts; null for events webhooks do not report (untag). */
  private async webhookAction(trx: Parameters<Parameters<MetaStore['transaction']>[0]>[0], e: EventRow): Promise<string | null> {
    if (e.action !== 'push' && e.action !== 'delete') return null;
    if (e.action === 'push' && e.digest) {
      const m = await trx.selectFrom('manifests').innerJoin('repositories', 'repositories.id', 'manifests.repository_id')
        .select(['manifests.content']).where('repositories.registry_id', '=', e.registry_id).where('repositories.name', '=', e.repository)
        .where('manifests.digest', '=', e.digest).executeTakeFirst();
      if (m) {
        try {
          const doc = JSON.parse(Buffer.from(m.content).toString('utf8')) as { config?: { mediaType?: string } };
          if (doc.config?.mediaType === HELM_CONFIG) return 'chart_push';
        } catch { /* not JSON: not a chart */ }
      }
    }
    return e.action;
  }

  /** ACR's payload for the action, field for field. */
  payload(e: EventRow, action: string, eventId: string): Record<string, unknown> {
    const base = { id: eventId, timestamp: e.created_at, action };
    const request = { id: e.request_id ?? '', host: e.request_host ?? '', method: e.request_method ?? (action === 'delete' ? 'DELETE' : 'PUT'), useragent: e.request_useragent ?? '' };
    if (action === 'push') {
      return { ...base, target: { mediaType: e.media_type ?? '', size: e.size ?? 0, digest: e.digest ?? '', length: e.size ?? 0, repository: e.repository, tag: e.tag ?? '' }, request };
    }
    if (action === 'delete') {
      return { ...base, target: { mediaType: e.media_type ?? '', digest: e.digest ?? '', repository: e.repository }, request };
    }
    // chart_push / chart_delete: ACR names the chart after the repository and the version after the tag.
    const name = e.repository.slice(e.repository.lastIndexOf('/') + 1);
    return { ...base, target: { mediaType: 'application/vnd.acr.helm.chart', size: e.size ?? 0, digest: e.digest ?? '', repository: e.repository, tag: e.tag ?? '', name, version: e.tag ?? '' } };
  }

  /** The body as sent: ACR's JSON, or a CloudEvents 1.0 structured event carrying it as data. */
  private envelope(w: WebhookRow, reg: { name: string }, action: string, payload: Record<string, unknown>, subject: string): string {
    if (w.format !== 'cloudevents') return JSON.stringify(payload);
    const types: Record<string, string> = {
      push: 'Microsoft.ContainerRegistry.ImagePushed', delete: 'Microsoft.ContainerRegistry.ImageDeleted',
      chart_push: 'Microsoft.ContainerRegistry.ChartPushed', chart_delete: 'Microsoft.ContainerRegistry.ChartDeleted', ping: 'Berth.Webhook.Ping',
    };
    return JSON.stringify({
      specversion: '1.0', id: payload.id, source: `/registries/${reg.name}`, type: types[action] ?? `Berth.Webhook.${action}`,
      time: payload.timestamp, ...(subject ? { subject } : {}), datacontenttype: 'application/json', data: payload,
    });
  }

  /** The delivery job: one POST with the egress rules; non-2xx or a network error is retried by the queue. */
  async deliver(job: DeliveryJob, attempt: number, maxAttempts = Infinity): Promise<void> {
    const w = await this.meta.db.selectFrom('webhooks').selectAll().where('id', '=', job.webhookId).executeTakeFirst();
    if (!w) return; // deleted since: nothing to deliver
    if (w.status !== 'enabled' && job.action !== 'ping') return;
    const secret = unseal(w.secret, await this.access.sealKey());
    const custom = JSON.parse(w.headers) as Record<string, string>;
    const headers: Record<string, string> = {};
    if (!Object.keys(custom).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = w.format === 'cloudevents' ? 'application/cloudevents+json' : 'application/json';
    Object.assign(headers, custom);
    headers[SIGNATURE_HEADER] = `sha256=${createHmac('sha256', secret).update(job.body).digest('hex')}`;
    const started = Date.now();
    const shownHeaders = { ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k in custom ? mask(v) : v])) };
    const record = async (r: { outcome: string; status?: number; headers?: Record<string, string>; body?: string; error?: string }) => {
      await this.meta.db.insertInto('webhook_deliveries').values({
        webhook_id: w.id, event_id: job.eventId, action: job.action, attempt, outcome: r.outcome, request_uri: w.uri,
        request_headers: JSON.stringify(shownHeaders), request_body: job.body, response_status: r.status ?? null,
        response_headers: r.headers ? JSON.stringify(r.headers) : null, response_body: r.body !== undefined ? excerpt(r.body) : null,
        error: r.error ?? null, duration_ms: Date.now() - started, created_at: new Date().toISOString(),
      }).execute();
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
    await record({ outcome: ok ? 'succeeded' : 'failed', status: res.status, headers: res.headers, body: res.body.subarray(0, EXCERPT).toString('utf8') });
    this.outcome(w.registry_id, ok ? 'success' : attempt >= maxAttempts ? 'dead' : 'failure');
    if (!ok) throw new Error(`${w.uri.replace(/\?.*$/, '')} answered ${res.status}`);
    this.log.debug({ webhook: w.name, event: job.eventId, status: res.status }, 'webhook delivered');
  }
}
