import { randomBytes, randomUUID } from 'node:crypto';
import { seal } from '../../auth/crypto.js';
import { RegistryError } from '../../domain/errors.js';
import type { AccessStore } from '../../meta/access-store.js';
import type { MetaStore, RegistryRow } from '../../meta/store.js';
import type { WebhookFields, WebhookRow, Webhooks } from '../../meta/webhooks.js';
import { tierOf } from '../policy/tiers.js';
import { mask, SIGNATURE_HEADER, type DeliveryJob, type WebhookDelivery } from './delivery.js';
import { WEBHOOK_ACTIONS } from '../../domain/webhook.js';

// Webhooks as ACR's (actions, scope, custom headers, status, payloads field for field, ping,
// get-config, list-events, per-SKU count), delivered on the durable job queue with retries,
// an HMAC-SHA256 signature, an optional CloudEvents 1.0 envelope and redelivery.
// This file manages them; delivery.ts turns events into deliveries through the outbox.

// The scope rule decides deliveries; it is tested, and known, as part of webhooks.

// scan is Berth's own: a scan of an image finished (ACR has no such action).

export interface WebhookInput {
  name?: string;
  serviceUri?: string;
  actions?: string[];
  scope?: string;
  customHeaders?: Record<string, string>;
  status?: string;
  format?: string;
  /** Per-replica webhook: the region whose completion of an image it reports; '' or none = where the push happened. */
  location?: string;
}

export class WebhookService {
  constructor(
    private readonly meta: MetaStore,
    private readonly store: Webhooks,
    private readonly access: AccessStore,
    private readonly delivery: WebhookDelivery,
  ) {}

  /**
   * Checks a per-replica webhook's region and returns what to store (null: fire where the push
   * happened, also on a deployment with one region). Set by app.ts from geo-replication.
   */
  location: (location: string) => string | null = (l) => {
    if (l) throw new RegistryError('REQUEST_INVALID', `region "${l.slice(0, 60)}" is not declared in this deployment`);
    return null;
  };

  /** Called after each delivery attempt (metrics): success, failure (to be retried) or dead (failed for good). */
  onOutcome(fn: (registry: string, result: 'success' | 'failure' | 'dead') => void): void {
    this.delivery.onOutcome(fn);
  }

  view(w: WebhookRow, reg: RegistryRow) {
    const headers = JSON.parse(w.headers) as Record<string, string>;
    return {
      name: w.name,
      registry: reg.name,
      type: 'Microsoft.ContainerRegistry/registries/webhooks',
      status: w.status,
      scope: w.scope,
      actions: JSON.parse(w.actions) as string[],
      format: w.format,
      ...(w.location ? { location: w.location } : {}),
      serviceUri: (() => {
        try {
          const u = new URL(w.uri);
          return `${u.protocol}//${u.host}/****`;
        } catch {
          return '****';
        }
      })(),
      customHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, mask(v)])),
      provisioningState: 'Succeeded',
      createdAt: w.created_at,
      updatedAt: w.updated_at,
    };
  }

  private validate(input: WebhookInput, partial: boolean): WebhookFields {
    const out: WebhookFields = {};
    if (input.serviceUri !== undefined || !partial) {
      const uri = input.serviceUri ?? '';
      let u: URL;
      try {
        u = new URL(uri);
      } catch {
        throw new RegistryError('REQUEST_INVALID', `--uri "${uri.slice(0, 200)}" is not a URL; give http(s)://host/path`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:')
        throw new RegistryError('REQUEST_INVALID', 'the webhook URI must be http or https');
      out.uri = uri;
    }
    if (input.actions !== undefined || !partial) {
      const actions = [...new Set(input.actions ?? [])];
      if (actions.length === 0)
        throw new RegistryError('REQUEST_INVALID', `a webhook needs one or more actions: ${WEBHOOK_ACTIONS.join(', ')}`);
      for (const a of actions)
        if (!(WEBHOOK_ACTIONS as readonly string[]).includes(a))
          throw new RegistryError('REQUEST_INVALID', `unknown action "${a}"; use ${WEBHOOK_ACTIONS.join(', ')}`);
      out.actions = JSON.stringify(actions);
    }
    if (input.scope !== undefined || !partial) {
      const scope = (input.scope ?? '').trim();
      if (scope.length > 256 || /\s/.test(scope))
        throw new RegistryError('REQUEST_INVALID', 'scope is "repo:tag", "repo:*", "repo" (= repo:latest) or empty');
      out.scope = scope;
    }
    if (input.customHeaders !== undefined || !partial) {
      const h = input.customHeaders ?? {};
      if (typeof h !== 'object' || Array.isArray(h))
        throw new RegistryError('REQUEST_INVALID', 'customHeaders must be an object of strings');
      for (const [k, v] of Object.entries(h)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || typeof v !== 'string' || /[\r\n\0]/.test(v))
          throw new RegistryError('REQUEST_INVALID', `invalid header "${k.slice(0, 60)}"`);
        if (/^(content-length|host|transfer-encoding|connection)$/i.test(k) || k.toLowerCase() === SIGNATURE_HEADER.toLowerCase())
          throw new RegistryError('REQUEST_INVALID', `header "${k}" cannot be set`);
      }
      out.headers = JSON.stringify(h);
    }
    if (input.status !== undefined || !partial) {
      const st = input.status ?? 'enabled';
      if (st !== 'enabled' && st !== 'disabled') throw new RegistryError('REQUEST_INVALID', 'status is enabled or disabled');
      out.status = st;
    }
    if (input.location !== undefined) out.location = this.location(input.location);
    if (input.format !== undefined || !partial) {
      const f = input.format ?? 'acr';
      if (f !== 'acr' && f !== 'cloudevents') throw new RegistryError('REQUEST_INVALID', 'format is acr or cloudevents');
      out.format = f;
    }
    return out;
  }

  private async find(reg: RegistryRow, name: string): Promise<WebhookRow> {
    const w = await this.store.find(reg.id, name);
    if (!w) throw new RegistryError('RESOURCE_UNKNOWN', `webhook "${name}" does not exist in registry ${reg.name}`);
    return w;
  }

  /**
   * The egress verdict on a webhook's URI, and the warnings it gives: told at once, on create,
   * update and show, rather than found later as 'refused' deliveries in list-events.
   */
  private async egress(w: WebhookRow) {
    const v = await this.delivery.checkTarget(w.uri);
    const warnings =
      v.verdict === 'refused'
        ? [`webhook ${w.name}: deliveries will be refused: ${v.reason}`]
        : v.verdict === 'unresolved'
          ? [`webhook ${w.name}: ${v.reason}; deliveries will fail until it does`]
          : [];
    return { egress: { verdict: v.verdict, ...(v.reason ? { reason: v.reason } : {}) }, ...(warnings.length ? { warnings } : {}) };
  }

  async create(reg: RegistryRow, input: WebhookInput) {
    const name = input.name ?? '';
    if (!/^[A-Za-z0-9]{5,50}$/.test(name)) throw new RegistryError('REQUEST_INVALID', 'a webhook name is 5-50 letters and digits');
    const fields = this.validate(input, false);
    const limit = tierOf(reg.sku).webhooks;
    const secret = randomBytes(32).toString('base64url');
    const sealed = seal(secret, await this.access.sealKey());
    const t = new Date().toISOString();
    const row = await this.meta.transaction(async (trx) => {
      const count = await this.store.count(trx, reg.id);
      if (count >= limit)
        throw new RegistryError(
          'CONFLICT',
          `registry ${reg.name} (${reg.sku}) already has ${count} webhooks, the most its SKU allows (${limit}); delete one or move to a higher SKU`,
        );
      const created = await this.store.insert(trx, {
        registry_id: reg.id,
        name,
        name_key: name.toLowerCase(),
        uri: fields.uri!,
        actions: fields.actions!,
        scope: fields.scope!,
        headers: fields.headers!,
        status: fields.status!,
        format: fields.format!,
        location: fields.location ?? null,
        secret: sealed,
        created_at: t,
        updated_at: t,
      });
      if (!created) throw new RegistryError('CONFLICT', `webhook "${name}" already exists in registry ${reg.name}`);
      return created;
    });
    return { ...this.view(row, reg), ...(await this.egress(row)), secret };
  }

  async update(reg: RegistryRow, name: string, input: WebhookInput) {
    const w = await this.find(reg, name);
    const fields = this.validate(input, true);
    await this.store.update(w.id, { ...fields, updated_at: new Date().toISOString() });
    const updated = await this.find(reg, name);
    return { ...this.view(updated, reg), ...(await this.egress(updated)) };
  }

  async delete(reg: RegistryRow, name: string): Promise<void> {
    const w = await this.find(reg, name);
    await this.store.delete(w.id);
  }

  async list(reg: RegistryRow) {
    const rows = await this.store.list(reg.id);
    return rows.map((w) => this.view(w, reg));
  }

  async show(reg: RegistryRow, name: string) {
    const w = await this.find(reg, name);
    return { ...this.view(w, reg), ...(await this.egress(w)) };
  }

  /** ACR's getCallbackConfig: the URI and custom headers in full (callers need write power). */
  async config(reg: RegistryRow, name: string) {
    const w = await this.find(reg, name);
    return { serviceUri: w.uri, customHeaders: JSON.parse(w.headers) as Record<string, string> };
  }

  /**
   * Queues a ping event; its delivery shows in list-events. A URI the egress policy refuses fails
   * at once with the reason (409), instead of a ping that could only ever be 'refused'.
   */
  async ping(reg: RegistryRow, name: string): Promise<{ id: string; warnings?: string[] }> {
    const w = await this.find(reg, name);
    const { egress, warnings } = await this.egress(w);
    if (egress.verdict === 'refused')
      throw new RegistryError('CONFLICT', `cannot ping webhook ${w.name}: ${egress.reason}`, { detail: { webhook: w.name } });
    const eventId = randomUUID();
    const body = this.delivery.envelope(w, reg, 'ping', { id: eventId, timestamp: new Date().toISOString(), action: 'ping' }, '');
    await this.delivery.enqueue({ webhookId: w.id, eventId, action: 'ping', body } satisfies DeliveryJob);
    return { id: eventId, ...(warnings ? { warnings } : {}) };
  }

  async events(reg: RegistryRow, name: string, limit = 100) {
    const w = await this.find(reg, name);
    const rows = await this.store.deliveries(w.id, limit);
    return rows.map((r) => {
      let content: unknown = r.request_body;
      try {
        content = JSON.parse(r.request_body);
      } catch {
        /* keep the text */
      }
      return {
        id: r.event_id,
        eventRequestMessage: {
          content,
          headers: JSON.parse(r.request_headers) as Record<string, string>,
          method: 'POST',
          requestUri: r.request_uri,
          version: '1.1',
        },
        eventResponseMessage:
          r.response_status === null
            ? null
            : {
                content: r.response_body ?? '',
                headers: r.response_headers ? (JSON.parse(r.response_headers) as Record<string, string>) : {},
                statusCode: String(r.response_status),
                version: '1.1',
              },
        action: r.action,
        attempt: r.attempt,
        outcome: r.outcome,
        error: r.error,
        durationMs: r.duration_ms,
        createdAt: r.created_at,
      };
    });
  }

  /** Sends a past event again (the same body and event id) as a new delivery job. */
  async redeliver(reg: RegistryRow, name: string, eventId: string): Promise<{ id: string; job: number }> {
    const w = await this.find(reg, name);
    const d = await this.store.lastDelivery(w.id, eventId);
    if (!d) throw new RegistryError('RESOURCE_UNKNOWN', `webhook ${name} has no event ${eventId.slice(0, 80)}`);
    const job = await this.delivery.enqueue({ webhookId: w.id, eventId, action: d.action, body: d.request_body } satisfies DeliveryJob);
    return { id: eventId, job };
  }
}
