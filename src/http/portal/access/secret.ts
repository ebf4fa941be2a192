import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { screen } from '../ui.js';

/**
 * The answer to a POST that generated a secret (a password, a token's passwords): the secret, once,
 * and a link on. It reads nothing else, so a caller who may create but not list still sees it.
 */
export function secretScreen(env: PortalEnv, o: { title: string; secret: Html; next: Html; current?: string }): void {
  screen(env, {
    title: o.title,
    current: o.current ?? '/portal/access',
    body: html`<h1>${o.title}</h1>
      ${o.secret}
      <p>${o.next}</p>`,
  });
}
