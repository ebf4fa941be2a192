import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html } from '../html.js';
import { dataTable, field, formValue, notice, postForm, registryScreen, secretOnce } from '../ui.js';
import {
  actionBoxes,
  formatSelect,
  headersArea,
  parseHeaders,
  postedActions,
  statusSelect,
  webhookPath,
  webhooksApi,
  webhooksPath,
  type WebhookView,
} from './paths.js';

// A registry's webhooks (GET /portal/registries/{r}/webhooks): the list as GET
// /api/registries/{r}/webhooks shows it (URIs and header values masked), and the form that
// creates one (POST …/webhooks), whose signing secret is shown once on the page that answers.

const createForm = (env: PortalEnv, reg: string) =>
  postForm(
    env,
    webhooksPath(reg),
    html`${field({ label: 'Name', name: 'name', required: true, hint: '5–50 letters and digits.', attrs: html`autocomplete="off"` })}
      ${field({ label: 'Service URI', name: 'serviceUri', type: 'url', required: true, hint: 'Where Berth POSTs each event: http(s)://host/path.' })}
      ${actionBoxes(['push'])}
      ${field({ label: 'Scope', name: 'scope', hint: '"repo:tag", "repo:*" or "repo" (= repo:latest); empty for every repository.' })}
      ${headersArea('One "Name: value" a line, e.g. Authorization: Bearer …')} ${statusSelect()} ${formatSelect()}
      <button type="submit">Create webhook</button>`,
    { label: 'Create a webhook' },
  );

export const webhookListScreens = [
  route('GET /portal/registries/:reg/webhooks', {
    handler: async (env) => {
      const reg = env.params.reg;
      const hooks = ((await api(env, 'GET', webhooksApi(reg))) as { value: WebhookView[] }).value;
      const rows = hooks.map(
        (w) =>
          html`<tr>
            <td><a href="${webhookPath(reg, w.name)}">${w.name}</a></td>
            <td><code>${w.serviceUri}</code></td>
            <td class="wrap">${w.actions.join(', ')}</td>
            <td>${w.scope ? html`<code>${w.scope}</code>` : html`<span class="muted">all</span>`}</td>
            <td>${w.status}</td>
            <td>${w.format}</td>
          </tr>`,
      );
      registryScreen(env, reg, 'webhooks', {
        title: 'Webhooks',
        body: html`${notice(env, { deleted: 'The webhook was deleted.' })}
          ${dataTable({
            caption: `${hooks.length} ${hooks.length === 1 ? 'webhook' : 'webhooks'}`,
            columns: [
              { label: 'Name' },
              { label: 'Service URI' },
              { label: 'Actions' },
              { label: 'Scope' },
              { label: 'Status' },
              { label: 'Format' },
            ],
            rows,
            empty: 'No webhooks yet.',
          })}
          <h2>Create a webhook</h2>
          ${createForm(env, reg)}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/webhooks', {
    handler: async (env) => {
      const reg = env.params.reg;
      const headers = formValue(env, 'customHeaders');
      const made = (await api(env, 'POST', webhooksApi(reg), {
        json: {
          name: formValue(env, 'name'),
          serviceUri: formValue(env, 'serviceUri'),
          actions: postedActions(env),
          scope: formValue(env, 'scope'),
          status: formValue(env, 'status') || undefined,
          format: formValue(env, 'format') || undefined,
          ...(headers.trim() ? { customHeaders: parseHeaders(headers) } : {}),
        },
      })) as WebhookView;
      // The secret is rendered here, once, and never put in a URL.
      registryScreen(env, reg, 'webhooks', {
        title: 'Webhook created',
        body: html`<p class="notice" role="status">Webhook <strong>${made.name}</strong> was created.</p>
          ${(made.warnings ?? []).map((w) => html`<p class="error">${w}</p>`)}
          ${secretOnce(
            'Signing secret',
            made.secret ?? '',
            'Each delivery carries X-Berth-Signature-256: sha256=<HMAC-SHA256 of the body with this secret>. Copy it now: it is not shown again.',
          )}
          <p><a href="${webhookPath(reg, made.name)}">Open webhook ${made.name}</a> · <a href="${webhooksPath(reg)}">All webhooks</a></p>`,
      });
    },
  }),
];
