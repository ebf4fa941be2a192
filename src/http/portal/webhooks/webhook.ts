import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  checked,
  field,
  formValue,
  notice,
  postButton,
  postForm,
  redirect,
  registryScreen,
  requireTyped,
  typedConfirm,
  when,
} from '../ui.js';
import {
  actionBoxes,
  formatSelect,
  given,
  headersArea,
  parseHeaders,
  postedActions,
  statusSelect,
  webhookApi,
  webhookPath,
  webhooksPath,
  type Delivery,
  type WebhookView,
} from './paths.js';

// One webhook (GET /portal/registries/{r}/webhooks/{name}): its settings as GET …/webhooks/{name}
// shows them (with the egress verdict on its URI), ping, enable/disable, edit (PATCH), delete, and
// its delivery log (…/listEvents): each attempt's request and response, shown as text. Response
// bodies come from whatever server the URI names, so they are only ever interpolated by html``.

type Env = PortalEnv & { params: { reg: string; name: string } };

const LOG_SIZE = 50;

/** Headers as a request shows them: one "Name: value" a line. */
const headerLines = (h: Record<string, string> | undefined) =>
  Object.entries(h ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');

/** A JSON payload pretty-printed; any other text as it came. */
const bodyText = (content: unknown) => (typeof content === 'string' ? content : JSON.stringify(content, null, 2));

function outcome(d: Delivery): Html {
  const bad = d.outcome !== 'succeeded';
  return html`<span class="badge ${bad ? 'bad' : 'ok'}">${d.outcome}</span>`;
}

function delivery(env: Env, d: Delivery, i: number): Html {
  const { reg, name } = env.params;
  const req = d.eventRequestMessage;
  const res = d.eventResponseMessage;
  return html`<details class="delivery" ${i === 0 ? html`open` : ''}>
    <summary>${when(d.createdAt)} · ${d.action} · ${res ? `HTTP ${res.statusCode}` : 'no response'} · ${outcome(d)}</summary>
    <div class="delivery-body">
      <dl class="facts">
        <dt>Event id</dt>
        <dd><code>${d.id}</code></dd>
        <dt>Attempt</dt>
        <dd>${d.attempt}</dd>
        <dt>Duration</dt>
        <dd>${d.durationMs ?? '–'} ms</dd>
        ${
          d.error
            ? html`<dt>Error</dt>
                <dd>${d.error}</dd>`
            : ''
        }
      </dl>
      <h3>Request</h3>
      <p><code>${req.method} ${req.requestUri}</code></p>
      <p class="muted">Headers</p>
      <pre tabindex="0" class="body">${headerLines(req.headers)}</pre>
      <p class="muted">Body</p>
      <pre tabindex="0" class="body request-body">${bodyText(req.content)}</pre>
      <h3>Response</h3>
      ${
        res
          ? html`<p>Status <strong>${res.statusCode}</strong></p>
              <p class="muted">Headers</p>
              <pre tabindex="0" class="body">${headerLines(res.headers)}</pre>
              <p class="muted">Body</p>
              <pre tabindex="0" class="body response-body">${res.content}</pre>`
          : html`<p class="muted">No response was received.</p>`
      }
      <div class="actions">
        ${postButton(env, `${webhookPath(reg, name)}/redeliver`, 'Redeliver', { fields: { eventId: d.id }, secondary: true })}
      </div>
    </div>
  </details>`;
}

function editForm(env: Env, w: WebhookView): Html {
  const names = Object.keys(w.customHeaders ?? {});
  return postForm(
    env,
    `${webhookPath(env.params.reg, w.name)}/edit`,
    html`${field({ label: 'Service URI', name: 'serviceUri', type: 'url', hint: `Now ${w.serviceUri}. Leave empty to keep it.` })}
      ${actionBoxes(w.actions)}
      ${field({ label: 'Scope', name: 'scope', value: w.scope, hint: '"repo:tag", "repo:*" or "repo"; empty for every repository.' })}
      ${headersArea(
        names.length
          ? `Now: ${names.join(', ')} (values hidden). Leave empty to keep them; write new lines to replace them all.`
          : 'None now. One "Name: value" a line.',
      )}
      ${names.length ? html`${checkboxClear()}` : ''} ${statusSelect(w.status)} ${formatSelect(w.format)}
      <button type="submit">Save changes</button>`,
    { label: 'Edit the webhook' },
  );
}

const checkboxClear = () =>
  html`<div class="field">
    <label class="check"><input type="checkbox" name="clearHeaders" value="on" />Remove all custom headers</label>
  </div>`;

export const webhookScreens = [
  route('GET /portal/registries/:reg/webhooks/:name', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      const w = (await api(env, 'GET', webhookApi(reg, name))) as WebhookView;
      const n = env.ctx.url.searchParams.get('n') ?? LOG_SIZE;
      const events = ((await api(env, 'GET', `${webhookApi(reg, name)}/listEvents`, { query: { n } })) as { value: Delivery[] }).value;
      const base = webhookPath(reg, name);
      registryScreen(env, reg, 'webhooks', {
        title: `Webhook ${w.name}`,
        crumbs: html` / <a href="${webhooksPath(reg)}">Webhooks</a>`,
        body: html`${notice(env, {
            updated: 'The webhook was updated.',
            enabled: 'The webhook is enabled.',
            disabled: 'The webhook is disabled: no events are sent to it.',
            pinged: 'A ping was queued; its delivery shows in the log below within seconds (reload to see it).',
            redelivered: 'The event was queued again; the new attempt shows in the log below within seconds.',
          })}
          ${(w.warnings ?? []).map((t) => html`<p class="error">${t}</p>`)}
          <dl class="facts">
            <dt>Status</dt>
            <dd>${w.status}</dd>
            <dt>Service URI</dt>
            <dd><code>${w.serviceUri}</code></dd>
            <dt>Actions</dt>
            <dd>${w.actions.join(', ')}</dd>
            <dt>Scope</dt>
            <dd>${w.scope ? html`<code>${w.scope}</code>` : 'every repository'}</dd>
            <dt>Format</dt>
            <dd>${w.format}</dd>
            <dt>Egress</dt>
            <dd>${w.egress?.verdict ?? '–'}${w.egress?.reason ? html` (${w.egress.reason})` : ''}</dd>
            <dt>Created</dt>
            <dd>${when(w.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>${when(w.updatedAt)}</dd>
          </dl>
          <div class="actions">
            ${postButton(env, `${base}/ping`, 'Ping')}
            ${postButton(env, `${base}/status`, w.status === 'enabled' ? 'Disable' : 'Enable', {
              fields: { status: w.status === 'enabled' ? 'disabled' : 'enabled' },
              secondary: true,
            })}
          </div>
          <h2>Delivery log</h2>
          <p class="muted">
            The last ${events.length} delivery attempts, newest first. Response bodies are shown as text. <a href="${base}">Reload</a>
          </p>
          ${events.length ? events.map((d, i) => delivery(env, d, i)) : html`<p class="muted">No deliveries yet.</p>`}
          <h2>Edit</h2>
          ${editForm(env, w)}
          ${typedConfirm(env, {
            action: `${base}/delete`,
            name: w.name,
            what: 'webhook',
            consequence: 'No more events are sent to it, and its delivery log is deleted with it.',
          })}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/webhooks/:name/edit', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      const headers = formValue(env, 'customHeaders');
      await api(env, 'PATCH', webhookApi(reg, name), {
        json: {
          serviceUri: given(env, 'serviceUri'),
          actions: postedActions(env),
          scope: formValue(env, 'scope'),
          status: given(env, 'status'),
          format: given(env, 'format'),
          ...(headers.trim() ? { customHeaders: parseHeaders(headers) } : checked(env, 'clearHeaders') ? { customHeaders: {} } : {}),
        },
      });
      redirect(env, webhookPath(reg, name), 'updated');
    },
  }),
  route('POST /portal/registries/:reg/webhooks/:name/status', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      const status = formValue(env, 'status');
      await api(env, 'PATCH', webhookApi(reg, name), { json: { status } });
      redirect(env, webhookPath(reg, name), status === 'disabled' ? 'disabled' : 'enabled');
    },
  }),
  route('POST /portal/registries/:reg/webhooks/:name/ping', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      await api(env, 'POST', `${webhookApi(reg, name)}/ping`);
      redirect(env, webhookPath(reg, name), 'pinged');
    },
  }),
  route('POST /portal/registries/:reg/webhooks/:name/redeliver', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      await api(env, 'POST', `${webhookApi(reg, name)}/redeliver`, { json: { eventId: formValue(env, 'eventId') } });
      redirect(env, webhookPath(reg, name), 'redelivered');
    },
  }),
  route('POST /portal/registries/:reg/webhooks/:name/delete', {
    handler: async (env: Env) => {
      const { reg, name } = env.params;
      requireTyped(env, name);
      await api(env, 'DELETE', webhookApi(reg, name));
      redirect(env, webhooksPath(reg), 'deleted');
    },
  }),
];
