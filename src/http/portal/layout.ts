import { send, type Ctx } from '../context.js';
import { html, type Html } from './html.js';
import { SCRIPT, STYLESHEET } from './static.js';

/** Headers on every portal response: nothing inline runs, nothing frames the portal, no referrer leaves it. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** The main navigation: deployment-wide screens. A feature with such a screen adds one line. */
export const NAV: readonly { path: string; label: string }[] = [
  { path: '/portal/registries', label: 'Registries' },
  { path: '/portal/access', label: 'Access' },
  { path: '/portal/operations', label: 'Operations' },
];

/**
 * The tabs of a registry's screens, below /portal/registries/{name}: a feature with screens of a
 * registry adds one line ('' is the overview).
 */
export const REGISTRY_TABS: readonly { segment: string; label: string }[] = [
  { segment: '', label: 'Overview' },
  { segment: 'repositories', label: 'Repositories' },
  { segment: 'access', label: 'Access' },
  { segment: 'webhooks', label: 'Webhooks' },
  { segment: 'policies', label: 'Policies' },
  { segment: 'scanning', label: 'Scanning' },
  { segment: 'imports', label: 'Imports' },
  { segment: 'tasks', label: 'Tasks' },
  { segment: 'replication', label: 'Replication' },
  { segment: 'settings', label: 'Settings' },
];

export interface Viewer {
  name: string;
  csrf: string;
}

export interface PageOpts {
  title: string;
  /** The signed-in user (header, navigation, sign-out); absent on the sign-in and error pages of anonymous callers. */
  viewer?: Viewer;
  /** The navigation entry to mark as current. */
  current?: string;
  body: Html;
}

export function page(o: PageOpts): Html {
  const nav = o.viewer
    ? html`<nav aria-label="Main">
          <ul>
            ${NAV.map((n) => html`<li><a href="${n.path}" ${o.current === n.path ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}
          </ul>
        </nav>
        <div class="who">
          <span>Signed in as <strong>${o.viewer.name}</strong></span>
          <form method="post" action="/portal/sign-out">
            <input type="hidden" name="_csrf" value="${o.viewer.csrf}" /><button class="link" type="submit">Sign out</button>
          </form>
        </div>`
    : '';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} · Berth</title>
        <link rel="stylesheet" href="${STYLESHEET.path}" />
        <script src="${SCRIPT.path}" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header><a class="brand" href="/portal">Berth</a>${nav}</header>
        <main id="main">${o.body}</main>
      </body>
    </html> `;
}

/** Sends a page: HTML, never cached (it shows what one user may see). */
export function sendPage(ctx: Ctx, status: number, body: Html, headers: Record<string, string | string[]> = {}): void {
  send(ctx, status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...headers }, body.text);
}

/** A page that says what went wrong, in words. */
export function messagePage(title: string, message: string, viewer?: Viewer, back?: string): Html {
  return page({
    title,
    viewer,
    body: html`<h1>${title}</h1>
      <p class="error" role="alert">${message}</p>
      <p>${back ? html`<a href="${back}">Back to the form</a> · ` : ''}<a href="/portal">Back to the portal</a></p>`,
  });
}
