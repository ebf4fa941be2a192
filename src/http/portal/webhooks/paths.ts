import { RegistryError } from '../../../domain/errors.js';
import { WEBHOOK_ACTIONS } from '../../../domain/webhook.js';
import type { WebhookService } from '../../../services/webhooks/webhooks.js';
import { apiPath, portalPath, seg } from '../api.js';
import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, formValue, select, textarea } from '../ui.js';

// Addresses and form pieces shared by the webhook screens.

export const webhooksPath = (reg: string) => `${portalPath.registry(reg)}/webhooks`;
export const webhookPath = (reg: string, name: string) => `${webhooksPath(reg)}/${seg(name)}`;
export const webhooksApi = (reg: string) => `${apiPath.registry(reg)}/webhooks`;
export const webhookApi = (reg: string, name: string) => `${webhooksApi(reg)}/${seg(name)}`;

export const ACTIONS: readonly string[] = WEBHOOK_ACTIONS;

/** A webhook as the API answers (GET one, create and PATCH add the egress verdict; create the secret). */
export type WebhookView = ReturnType<WebhookService['view']> & {
  egress?: { verdict: string; reason?: string };
  warnings?: string[];
  secret?: string;
};
/** One delivery attempt, as …/listEvents answers. */
export type Delivery = Awaited<ReturnType<WebhookService['events']>>[number];

/** The actions' checkboxes in a fieldset (a form posts one "actions" value per checked box). */
export function actionBoxes(current: readonly string[]): Html {
  return html`<fieldset>
    <legend>Actions that trigger it</legend>
    ${ACTIONS.map((a) => checkbox({ label: a, name: 'actions', value: a, checked: current.includes(a) }))}
  </fieldset>`;
}

export const statusSelect = (value = 'enabled'): Html =>
  select({
    label: 'Status',
    name: 'status',
    value,
    options: [
      ['enabled', 'enabled'],
      ['disabled', 'disabled'],
    ],
  });

export const formatSelect = (value = 'acr'): Html =>
  select({
    label: 'Payload format',
    name: 'format',
    value,
    options: [
      ['acr', 'ACR (JSON as Azure Container Registry sends it)'],
      ['cloudevents', 'CloudEvents 1.0'],
    ],
  });

export const headersArea = (hint: string): Html => textarea({ label: 'Custom headers', name: 'customHeaders', hint });

/**
 * The custom headers textarea: one "Name: value" a line, blank lines ignored. Which names and
 * values are allowed is the API's to say; only the line's shape is checked here.
 */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RegistryError('REQUEST_INVALID', `custom headers, line ${i + 1}: write one "Name: value" a line`);
    out[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return out;
}

/** The checked actions of a posted form. */
export const postedActions = (env: PortalEnv): string[] => env.form?.getAll('actions') ?? [];

/** A posted text field, or undefined when it was left empty (PATCH: keep the current value). */
export function given(env: PortalEnv, name: string): string | undefined {
  const v = formValue(env, name);
  return v === '' ? undefined : v;
}
