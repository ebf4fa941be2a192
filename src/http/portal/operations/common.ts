import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { dataTable, screen } from '../ui.js';

// The frame of the deployment-wide operations screens: the Operations entry of the main
// navigation, and tabs for its parts (jobs, garbage collection, activity, audit logs).

export const OPS = '/portal/operations';

export const opsPath = {
  jobs: OPS,
  job: (id: number | string) => `${OPS}/jobs/${encodeURIComponent(String(id))}`,
  gc: `${OPS}/gc`,
  gcRun: (id: number | string) => `${OPS}/gc/runs/${encodeURIComponent(String(id))}`,
  activity: `${OPS}/activity`,
  audit: `${OPS}/audit`,
};

const TABS: readonly { path: string; label: string }[] = [
  { path: opsPath.jobs, label: 'Jobs' },
  { path: opsPath.gc, label: 'Garbage collection' },
  { path: opsPath.activity, label: 'Activity log' },
  { path: opsPath.audit, label: 'Audit logs' },
];

/** Sends an operations screen: its tabs (`tab` is the current one's path), the heading and the body. */
export function opsScreen(env: PortalEnv, tab: string, o: { title: string; crumbs?: Html; body: Html; status?: number }): void {
  screen(env, {
    title: o.title,
    current: OPS,
    status: o.status,
    body: html`${o.crumbs ? html`<p class="crumbs">${o.crumbs}</p>` : ''}
      <h1>${o.title}</h1>
      <nav aria-label="Operations">
        <ul class="tabs">
          ${TABS.map((t) => html`<li><a href="${t.path}" ${t.path === tab ? html`aria-current="page"` : ''}>${t.label}</a></li>`)}
        </ul>
      </nav>
      ${o.body}`,
  });
}

/** A status word as a badge: bad for failures, ok for successes, plain otherwise. */
export function stateBadge(state: string): Html {
  const s = state.toLowerCase();
  const cls = s === 'dead' || s === 'failed' || s === 'denied' ? 'bad' : s === 'succeeded' || s === 'granted' ? 'ok' : '';
  return html`<span class="badge ${cls}">${state}</span>`;
}

/** JSON for people: indented, shown as text. */
export const pretty = (v: unknown): string => JSON.stringify(v, null, 2) ?? '';

/** A URL of `path` with the non-empty values of `q`. */
export function withQuery(path: string, q: Record<string, string | number | undefined>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') s.set(k, String(v));
  const text = s.toString();
  return text ? `${path}?${text}` : path;
}

/** A table of log rows (cells wrap: long operations, user agents, bodies). */
export function logTable(o: { caption: string; columns: readonly string[]; rows: readonly Html[]; empty: string }): Html {
  return dataTable({
    caption: o.caption,
    columns: o.columns.map((label) => ({ label })),
    rows: o.rows,
    empty: o.empty,
    className: 'ops-log',
  });
}
