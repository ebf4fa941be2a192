import { RegistryError } from '../../domain/errors.js';
import { send } from '../context.js';
import { portalPath, seg } from './api.js';
import type { PortalEnv } from './common.js';
import { html, type Html, type Value } from './html.js';
import { page, REGISTRY_TABS, sendPage, type Viewer } from './layout.js';

// The portal's building blocks, shared by every feature's screens: page frames, forms (each with
// the session's CSRF token), tables with sorting and paging, typed confirmation, secrets shown
// once, and live fragments. Everything renders through `html`, so every value is escaped.

export const viewerOf = (env: PortalEnv): Viewer => ({ name: env.session!.principal.name, csrf: env.session!.csrf });

/** Sends a deployment-level screen (status 200 unless given). */
export function screen(env: PortalEnv, o: { title: string; current?: string; body: Html; status?: number }): void {
  sendPage(env.ctx, o.status ?? 200, page({ title: o.title, viewer: viewerOf(env), current: o.current, body: o.body }));
}

/**
 * Sends one of a registry's screens: breadcrumbs, the registry's name, its tabs (`tab` is the
 * current tab's segment, '' for the overview) and the body.
 */
export function registryScreen(
  env: PortalEnv,
  reg: string,
  tab: string,
  o: { title?: string; crumbs?: Html; body: Html; status?: number },
): void {
  const base = portalPath.registry(reg);
  const tabs = html`<nav aria-label="Registry">
    <ul class="tabs">
      ${REGISTRY_TABS.map(
        (t) =>
          html`<li>
            <a href="${t.segment ? `${base}/${t.segment}` : base}" ${t.segment === tab ? html`aria-current="page"` : ''}>${t.label}</a>
          </li>`,
      )}
    </ul>
  </nav>`;
  screen(env, {
    title: o.title ? `${o.title} – ${reg}` : reg,
    current: portalPath.registries,
    status: o.status,
    body: html`<p class="crumbs"><a href="${portalPath.registries}">Registries</a> / <a href="${base}">${reg}</a>${o.crumbs ?? ''}</p>
      <h1>${o.title ?? reg}</h1>
      ${tabs}${o.body}`,
  });
}

/** After a change: 303 to a screen (Post/Redirect/Get), with `done` naming a message of that screen's notice(). */
export function redirect(env: PortalEnv, to: string, done?: string): void {
  const url = done ? `${to}${to.includes('?') ? '&' : '?'}done=${encodeURIComponent(done)}` : to;
  sendPage(env.ctx, 303, html``, { Location: url });
}

/**
 * The message a redirect asked for (?done=code), from the screen's own fixed messages: a link
 * cannot make the portal show text of its choosing.
 */
export function notice(env: PortalEnv, messages: Record<string, string>): Html {
  const code = env.ctx.url.searchParams.get('done');
  const text = code && Object.hasOwn(messages, code) ? messages[code] : undefined;
  return text ? html`<p class="notice" role="status">${text}</p>` : html``;
}

export const csrfField = (env: PortalEnv): Html => html`<input type="hidden" name="_csrf" value="${env.session!.csrf}" />`;

/** A form posting to `action`; `body` holds its fields and buttons. */
export function postForm(env: PortalEnv, action: string, body: Html, o: { inline?: boolean; label?: string } = {}): Html {
  return html`<form
    method="post"
    action="${action}"
    ${o.inline ? html`class="inline"` : ''}
    ${o.label ? html`aria-label="${o.label}"` : ''}
  >
    ${csrfField(env)}${body}
  </form>`;
}

/** One button that posts (with hidden fields): lock, ping, retry, run... */
export function postButton(
  env: PortalEnv,
  action: string,
  label: string,
  o: { fields?: Record<string, string>; danger?: boolean; secondary?: boolean; title?: string } = {},
): Html {
  const hidden = Object.entries(o.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`);
  const cls = o.danger ? 'danger' : o.secondary ? 'secondary' : '';
  return postForm(
    env,
    action,
    html`${hidden}<button type="submit" ${cls ? html`class="${cls}"` : ''} ${o.title ? html`title="${o.title}"` : ''}>${label}</button>`,
    { inline: true },
  );
}

let fieldSeq = 0;
const fieldId = (name: string) => `f-${name.replace(/[^a-zA-Z0-9_-]/g, '-')}-${++fieldSeq}`;

/** A labelled input; `hint` is shown below it and tied to it (aria-describedby). */
export function field(o: {
  label: string;
  name: string;
  type?: 'text' | 'password' | 'number' | 'url' | 'search' | 'date' | 'email';
  value?: string | number;
  required?: boolean;
  hint?: string;
  placeholder?: string;
  /** Extra attributes: constant markup (raw()) or html``. */
  attrs?: Html;
}): Html {
  const id = fieldId(o.name);
  const hintId = `${id}-hint`;
  return html`<div class="field">
    <label for="${id}">${o.label}</label>
    <input
      type="${o.type ?? 'text'}"
      id="${id}"
      name="${o.name}"
      ${o.value !== undefined ? html`value="${String(o.value)}"` : ''}
      ${o.required ? html`required` : ''}
      ${o.placeholder ? html`placeholder="${o.placeholder}"` : ''}
      ${o.hint !== undefined ? html`aria-describedby="${hintId}"` : ''}
      ${o.attrs ?? ''}
    />
    ${o.hint !== undefined ? html`<div class="hint muted" id="${hintId}" aria-live="polite">${o.hint}</div>` : ''}
  </div>`;
}

export function textarea(o: { label: string; name: string; value?: string; hint?: string; required?: boolean }): Html {
  const id = fieldId(o.name);
  return html`<div class="field">
    <label for="${id}">${o.label}</label>
    <textarea id="${id}" name="${o.name}" ${o.required ? html`required` : ''} ${o.hint ? html`aria-describedby="${id}-hint"` : ''}>
${o.value ?? ''}</textarea>
    ${o.hint ? html`<div class="hint muted" id="${id}-hint">${o.hint}</div>` : ''}
  </div>`;
}

export function select(o: {
  label: string;
  name: string;
  options: readonly (readonly [string, string])[];
  value?: string;
  hint?: string;
}): Html {
  const id = fieldId(o.name);
  return html`<div class="field">
    <label for="${id}">${o.label}</label>
    <select id="${id}" name="${o.name}">
      ${o.options.map(([v, l]) => html`<option value="${v}" ${v === o.value ? html`selected` : ''}>${l}</option>`)}
    </select>
    ${o.hint ? html`<div class="hint muted">${o.hint}</div>` : ''}
  </div>`;
}

/** A checkbox; a form posts name=on when it is checked (read with checked()). */
export function checkbox(o: { label: string; name: string; checked?: boolean; value?: string }): Html {
  return html`<div class="field">
    <label class="check"
      ><input type="checkbox" name="${o.name}" value="${o.value ?? 'on'}" ${o.checked ? html`checked` : ''} />${o.label}</label
    >
  </div>`;
}

/** A posted form's field ('' when absent). */
export const formValue = (env: PortalEnv, name: string): string => env.form?.get(name) ?? '';
/** Whether a posted checkbox was checked. */
export const checked = (env: PortalEnv, name: string): boolean => env.form?.has(name) ?? false;

/**
 * A deletion that asks for the name to be typed: the button stays disabled until it matches
 * (portal.js), and the server checks it again (requireTyped).
 */
export function typedConfirm(
  env: PortalEnv,
  o: { action: string; name: string; what: string; button?: string; consequence?: string },
): Html {
  const id = fieldId('confirm');
  return html`<section class="danger-zone" aria-labelledby="${id}-h">
    <h2 id="${id}-h">Delete ${o.what}</h2>
    ${o.consequence ? html`<p>${o.consequence}</p>` : ''}
    ${postForm(
      env,
      o.action,
      html`<div class="field">
          <label for="${id}">Type <strong>${o.name}</strong> to confirm</label>
          <input type="text" id="${id}" name="confirm" autocomplete="off" spellcheck="false" required data-confirm="${o.name}" />
        </div>
        <button type="submit" class="danger">${o.button ?? `Delete ${o.what}`}</button>`,
    )}
  </section>`;
}

/** Refuses a deletion whose typed confirmation does not match the name. */
export function requireTyped(env: PortalEnv, name: string): void {
  if (formValue(env, 'confirm') !== name)
    throw new RegistryError('REQUEST_INVALID', `to confirm, type the name exactly ("${name}"); nothing was deleted`);
}

/** A secret shown once (a generated password): never stored where it can be shown again. */
export function secretOnce(label: string, value: string, hint = 'Copy it now: Berth keeps only a hash and cannot show it again.'): Html {
  return html`<div class="secret" role="status">
    <p><strong>${label}</strong></p>
    <p><code>${value}</code> ${copyButton(value)}</p>
    <p class="muted">${hint}</p>
  </div>`;
}

/** A copy button for `text`; hidden until portal.js runs (without script, the text is there to select). */
export const copyButton = (text: string): Html =>
  html`<button type="button" class="secondary" data-copy="${text}" hidden aria-label="Copy to clipboard">Copy</button>`;

/** A command (docker pull …) with a copy button. */
export const copyable = (text: string): Html => html`<span class="copyable"><code>${text}</code> ${copyButton(text)}</span>`;

export interface Column {
  label: string;
  /** The sort key this column sorts by, when sortable. */
  sort?: string;
  num?: boolean;
}

/**
 * A table. Sortable columns link to `sortHref(key, dir)` and say their state (aria-sort); rows
 * are `<tr>` markup.
 */
export function dataTable(o: {
  caption: Value;
  columns: readonly Column[];
  rows: readonly Html[];
  sorted?: { key: string; dir: 'asc' | 'desc' };
  sortHref?: (key: string, dir: 'asc' | 'desc') => string;
  empty?: string;
  /** A class for the wrapper, for a screen's own cell styles (wrapping long values…). */
  className?: string;
}): Html {
  if (o.rows.length === 0) return html`<p class="muted">${o.empty ?? 'Nothing here yet.'}</p>`;
  const head = o.columns.map((c) => {
    const cls = c.num ? html` class="num"` : '';
    if (!c.sort || !o.sortHref) return html`<th scope="col" ${cls}>${c.label}</th>`;
    const active = o.sorted?.key === c.sort;
    const dir = active && o.sorted!.dir === 'asc' ? 'desc' : 'asc';
    const aria = active ? (o.sorted!.dir === 'asc' ? 'ascending' : 'descending') : undefined;
    return html`<th scope="col" ${aria ? html`aria-sort="${aria}"` : ''}${cls}>
      <a href="${o.sortHref(c.sort, dir)}">${c.label}${active ? (o.sorted!.dir === 'asc' ? ' ▲' : ' ▼') : ''}</a>
    </th>`;
  });
  // A table wider than the screen scrolls inside its wrapper, which keyboard users must be able to
  // reach and scroll too: a focusable region named by the table's caption.
  const id = fieldId('table');
  return html`<div class="${o.className ? `table-wrap ${o.className}` : 'table-wrap'}" role="region" tabindex="0" aria-labelledby="${id}">
    <table>
      <caption class="muted" id="${id}">
        ${o.caption}
      </caption>
      <thead>
        <tr>
          ${head}
        </tr>
      </thead>
      <tbody>
        ${o.rows}
      </tbody>
    </table>
  </div>`;
}

/** Links to the next (and previous) page, when there is one. */
export function pager(o: { next?: string; prev?: string; label?: string }): Html {
  if (!o.next && !o.prev) return html``;
  return html`<nav class="actions" aria-label="${o.label ?? 'Pages'}">
    ${o.prev ? html`<a href="${o.prev}">Previous page</a>` : ''} ${o.next ? html`<a href="${o.next}" rel="next">Next page</a>` : ''}
  </nav>`;
}

/** A point in time, shown to the minute (UTC), with the exact value for machines. */
export function when(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">–</span>`;
  const s = String(iso);
  return html`<time datetime="${s}">${s.slice(0, 16).replace('T', ' ')}</time>`;
}

/** Bytes in binary units: 1.5 GiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Usage against a limit: the figures as text and a <meter> (no inline style, which the CSP forbids). */
export function usageBar(used: number, limit: number | null | undefined): Html {
  if (!limit) return html`${bytes(used)}`;
  const pct = Math.min(100, Math.round((used / limit) * 100));
  return html`<span>${bytes(used)} of ${bytes(limit)} (${pct}%)</span>
    <meter
      min="0"
      max="${String(limit)}"
      low="${String(limit * 0.8)}"
      high="${String(limit * 0.95)}"
      optimum="0"
      value="${String(used)}"
      aria-label="${`${pct}% of the quota used`}"
    ></meter>`;
}

/**
 * An element that portal.js refreshes from `url` (an HTML fragment) every `intervalMs`, until the
 * fragment says it is done. Without script it shows its first content and a reload link.
 */
export function live(url: string, body: Html, intervalMs = 2000): Html {
  return html`<div data-live="${url}" data-interval="${String(intervalMs)}" aria-live="polite">${body}</div>`;
}

/** Whether the request is portal.js asking for a live fragment. */
export const wantsFragment = (env: PortalEnv): boolean => env.ctx.req.headers['x-berth-fragment'] === '1';

/** Answers a live fragment; `done` stops the refreshing. */
export function sendFragment(env: PortalEnv, body: Html, done: boolean): void {
  send(
    env.ctx,
    200,
    { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...(done ? { 'X-Berth-Live': 'done' } : {}) },
    body.text,
  );
}

/** JSON for portal.js (name availability): same-origin only, never cached. */
export function sendJsonSmall(env: PortalEnv, value: unknown): void {
  send(env.ctx, 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }, JSON.stringify(value));
}

export { seg };
