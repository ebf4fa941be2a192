import { ACTIVITY_OPERATIONS } from '../../../domain/activity.js';
import { RegistryError } from '../../../domain/errors.js';
import type { ActivityView } from '../../../services/identity/activity.js';
import type { LoginEventView, RepositoryEventView } from '../../../services/identity/views.js';
import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { field, select, when } from '../ui.js';
import { logTable, opsPath, opsScreen, pretty, stateBadge, withQuery } from './common.js';

// The audit logs: the activity log of management operations (/portal/operations/activity, from
// GET /api/audit/activity) and the login and repository logs (/portal/operations/audit?log=, from
// GET /api/audit/logins and /api/audit/repository). Each screen is a GET form of the filters its
// API takes, a page of events (newest first, paged on with the API's `before`), and downloads of
// every matching event as JSON lines or CSV. Who may read which log is the API's rule: Reader of a
// registry for its events, Reader of the deployment for all.

interface Filter {
  name: string;
  label: string;
  /** A select's options ([value, label]; '' first for "any"); a text field otherwise. */
  options?: readonly (readonly [string, string])[];
  hint?: string;
  /** A datalist of suggestions for a text field. */
  suggest?: readonly string[];
}

type AuditEvent = ActivityView | LoginEventView | RepositoryEventView;
interface Column {
  label: string;
  cell: (e: AuditEvent) => Html;
}
/** A log's columns, each written for the log's own kind of event. */
const columns = <E extends AuditEvent>(c: readonly { label: string; cell: (e: E) => Html }[]): readonly Column[] =>
  c as unknown as readonly Column[];

/** One page of an audit log, as the API answers it. */
interface AuditPage {
  value: AuditEvent[];
  nextLink?: string;
}

interface Log {
  key: 'activity' | 'logins' | 'repository';
  title: string;
  api: string;
  /** The screen's address (logins and repository share one, told apart by ?log=). */
  screen: string;
  export: string;
  filters: readonly Filter[];
  columns: readonly Column[];
  /** The fields of an event, in the order the CSV has them. */
  fields: readonly string[];
}

const COMMON: readonly Filter[] = [
  { name: 'registry', label: 'Registry', hint: 'empty: every registry (needs Reader on the deployment)' },
  { name: 'identity', label: 'Caller', hint: 'a user, service principal, token or admin user name' },
  { name: 'since', label: 'Since', hint: 'an ISO time (2026-01-05T10:00:00Z) or a span: 30m, 2h, 3d' },
  { name: 'until', label: 'Until', hint: 'only events before this time: an ISO time, or a span ago (1h)' },
];

const opt = (v: string): readonly [string, string] => [v, v];

const text = (v: string | number | null | undefined): Html =>
  v === null || v === undefined || v === '' ? html`<span class="muted">–</span>` : html`${v}`;

const details = (summary: string, v: unknown): Html =>
  html`<details>
    <summary>${summary}</summary>
    <pre class="body">${pretty(v)}</pre>
  </details>`;

const LOGS: Record<Log['key'], Log> = {
  activity: {
    key: 'activity',
    title: 'Activity log',
    api: '/api/audit/activity',
    screen: opsPath.activity,
    export: `${opsPath.activity}/export`,
    filters: [
      ...COMMON,
      {
        name: 'operation',
        label: 'Operation',
        hint: 'an operation name, or a prefix ending in /* (Microsoft.ContainerRegistry/registries/webhooks/*)',
        suggest: Object.keys(ACTIVITY_OPERATIONS),
      },
      { name: 'result', label: 'Result', options: [['', 'Any result'], opt('Accepted'), opt('Succeeded'), opt('Failed')] },
    ],
    columns: columns<ActivityView>([
      { label: 'Time', cell: (e) => when(e.time) },
      { label: 'Operation', cell: (e) => html`<code>${e.operationName}</code>` },
      { label: 'Registry', cell: (e) => text(e.registry) },
      { label: 'Resource', cell: (e) => html`<code>${e.resourceId}</code>` },
      { label: 'Result', cell: (e) => html`${stateBadge(String(e.resultType))} ${e.status ?? ''}` },
      { label: 'Caller', cell: (e) => html`${text(e.identity)} <span class="muted">${e.identityType}</span>` },
      { label: 'From', cell: (e) => text(e.callerIpAddress) },
      {
        label: 'Details',
        cell: (e) =>
          details(e.errorCode ? `${e.errorCode}: ${e.errorMessage ?? ''}` : 'Details', {
            userAgent: e.userAgent,
            httpMethod: e.httpMethod,
            correlationId: e.correlationId,
            durationMs: e.durationMs,
            ...(e.errorCode ? { errorCode: e.errorCode, errorMessage: e.errorMessage } : {}),
            properties: e.properties,
          }),
      },
    ]),
    fields: [
      'id',
      'time',
      'operationName',
      'registry',
      'resourceId',
      'resultType',
      'status',
      'errorCode',
      'errorMessage',
      'identity',
      'identityType',
      'callerIpAddress',
      'userAgent',
      'correlationId',
      'httpMethod',
      'durationMs',
      'properties',
    ],
  },
  logins: {
    key: 'logins',
    title: 'Login events',
    api: '/api/audit/logins',
    screen: opsPath.audit,
    export: `${opsPath.audit}/export`,
    filters: [
      ...COMMON,
      { name: 'result', label: 'Result', options: [['', 'Any result'], opt('Granted'), opt('Denied')] },
      {
        name: 'excludeUserAgentPrefix',
        label: 'Leave out user agents starting with',
        hint: 'e.g. berth-cli/ hides the CLI’s own sign-ins',
      },
    ],
    columns: columns<LoginEventView>([
      { label: 'Time', cell: (e) => when(e.time) },
      { label: 'Registry', cell: (e) => text(e.registry) },
      { label: 'Identity', cell: (e) => html`${text(e.identity)} <span class="muted">${e.identityType}</span>` },
      { label: 'Operation', cell: (e) => text(e.operation) },
      { label: 'Result', cell: (e) => html`${stateBadge(String(e.resultType))} ${e.status ?? ''}` },
      { label: 'Description', cell: (e) => html`<span class="wrap">${text(e.resultDescription)}</span>` },
      { label: 'From', cell: (e) => text(e.callerIpAddress) },
      { label: 'User agent', cell: (e) => text(e.userAgent) },
    ]),
    fields: [
      'id',
      'time',
      'registry',
      'identity',
      'identityType',
      'jwtId',
      'callerIpAddress',
      'userAgent',
      'operation',
      'resultType',
      'resultDescription',
      'status',
      'durationMs',
    ],
  },
  repository: {
    key: 'repository',
    title: 'Repository events',
    api: '/api/audit/repository',
    screen: opsPath.audit,
    export: `${opsPath.audit}/export`,
    filters: [
      ...COMMON,
      {
        name: 'operation',
        label: 'Operation',
        options: [['', 'Any operation'], ...['push', 'pull', 'delete', 'untag', 'purge', 'retention', 'quarantine', 'scan'].map(opt)],
      },
    ],
    columns: columns<RepositoryEventView>([
      { label: 'Time', cell: (e) => when(e.time) },
      { label: 'Registry', cell: (e) => text(e.registry) },
      { label: 'Operation', cell: (e) => text(e.operationName) },
      { label: 'Repository', cell: (e) => text(e.repository) },
      { label: 'Tag', cell: (e) => text(e.tag) },
      { label: 'Digest', cell: (e) => (e.digest ? html`<code title="${e.digest}">${String(e.digest).slice(0, 19)}…</code>` : text(null)) },
      { label: 'Caller', cell: (e) => text(e.identity) },
      { label: 'From', cell: (e) => text(e.callerIpAddress) },
      { label: 'User agent', cell: (e) => text(e.userAgent) },
    ]),
    fields: [
      'id',
      'time',
      'registry',
      'operationName',
      'repository',
      'tag',
      'digest',
      'mediaType',
      'size',
      'identity',
      'callerIpAddress',
      'userAgent',
      'correlationId',
      'loginServer',
      'requestMethod',
      'resultType',
    ],
  },
};

const PAGE_SIZES = ['25', '50', '100', '200'] as const;
/** The most events one download holds (the API's own JSON lines stream has no limit; a browser download should). */
const EXPORT_MAX = 100_000;

/** The request's filters for a log: only the names its API takes, empty ones left out. */
function filtersOf(env: PortalEnv, log: Log): Record<string, string> {
  const sp = env.ctx.url.searchParams;
  const out: Record<string, string> = {};
  for (const f of log.filters) {
    const v = sp.get(f.name)?.trim();
    if (v) out[f.name] = v;
  }
  return out;
}

function filterForm(log: Log, values: Record<string, string>, top: string): Html {
  return html`<form method="get" action="${log.screen}" class="filters ops-filters" aria-label="Filter the ${log.title.toLowerCase()}">
    ${log.screen === opsPath.audit ? html`<input type="hidden" name="log" value="${log.key}" />` : ''}
    ${log.filters.map((f) => {
      if (f.options) return select({ label: f.label, name: f.name, options: f.options, value: values[f.name] ?? '', hint: f.hint });
      const listId = f.suggest ? `${log.key}-${f.name}-list` : '';
      return html`${field({
        label: f.label,
        name: f.name,
        type: 'search',
        value: values[f.name] ?? '',
        hint: f.hint,
        attrs: f.suggest ? html`list="${listId}" autocomplete="off"` : undefined,
      })}${f.suggest ? html`<datalist id="${listId}">${f.suggest.map((s) => html`<option value="${s}"></option>`)}</datalist>` : ''}`;
    })}
    ${select({ label: 'Per page', name: 'top', options: PAGE_SIZES.map(opt), value: top })}
    <div class="field ops-submit"><button type="submit">Filter</button></div>
  </form>`;
}

/** The `before` of an API nextLink: where the next page starts. */
function nextBefore(nextLink: string | undefined): string | undefined {
  if (!nextLink) return undefined;
  return new URL(nextLink, 'http://x').searchParams.get('before') ?? undefined;
}

async function logScreen(env: PortalEnv, log: Log): Promise<void> {
  const values = filtersOf(env, log);
  const sp = env.ctx.url.searchParams;
  const top = (PAGE_SIZES as readonly string[]).includes(sp.get('top') ?? '') ? sp.get('top')! : '50';
  const before = sp.get('before') ?? '';
  const here = (extra: Record<string, string | undefined>) =>
    withQuery(log.screen, { ...(log.screen === opsPath.audit ? { log: log.key } : {}), ...values, top, ...extra });
  let status = 200;
  let results: Html;
  try {
    const page = (await api(env, 'GET', log.api, { query: { ...values, top, before } })) as AuditPage;
    const events = page.value;
    const next = nextBefore(page.nextLink);
    const exportQ = { ...(log.screen === opsPath.audit ? { log: log.key } : {}), ...values };
    results = html`<p class="actions">
        <a href="${withQuery(log.export, { ...exportQ, format: 'csv' })}" download>Download as CSV</a>
        <a href="${withQuery(log.export, { ...exportQ, format: 'jsonl' })}" download>Download as JSON lines</a>
        <span class="muted">(every matching event, not only this page)</span>
      </p>
      ${logTable({
        caption: `${log.title}, newest first${before ? ', older events' : ''}`,
        columns: log.columns.map((c) => c.label),
        rows: events.map(
          (e) =>
            html`<tr>
              ${log.columns.map((c) => html`<td>${c.cell(e)}</td>`)}
            </tr>`,
        ),
        empty: before ? 'No older events.' : 'No events match these filters.',
      })}
      ${
        before || next
          ? html`<nav class="actions" aria-label="Pages of events">
              ${before ? html`<a href="${here({})}">Newest events</a>` : ''}
              ${next ? html`<a href="${here({ before: next })}" rel="next">Older events</a>` : ''}
            </nav>`
          : ''
      }`;
  } catch (e) {
    // A refused or malformed filter: the form stays, with the API's reason.
    if (!(e instanceof RegistryError) || e.status >= 500) throw e;
    status = e.status;
    results = html`<p class="error" role="alert">${e.message}</p>`;
  }
  const logTabs =
    log.screen === opsPath.audit
      ? html`<p class="actions">
          ${(['logins', 'repository'] as const).map((k) =>
            k === log.key
              ? html`<strong aria-current="page">${LOGS[k].title}</strong>`
              : html`<a href="${withQuery(opsPath.audit, { log: k })}">${LOGS[k].title}</a>`,
          )}
        </p>`
      : '';
  opsScreen(env, log.screen, {
    title: log.screen === opsPath.audit ? `Audit logs: ${log.title.toLowerCase()}` : log.title,
    status,
    body: html`${logTabs}${filterForm(log, values, top)}${results}`,
  });
}

/** A CSV cell: quoted when needed, and text a spreadsheet would run as a formula (= + - @, tab, CR) starts with '. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'string') s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else s = JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Every event the filters match, as a download: pages of the API, written as they come. */
async function exportLog(env: PortalEnv, log: Log): Promise<void> {
  const format = env.ctx.url.searchParams.get('format') === 'jsonl' ? 'jsonl' : 'csv';
  const values = filtersOf(env, log);
  const fetchPage = async (before?: string) => (await api(env, 'GET', log.api, { query: { ...values, top: 1000, before } })) as AuditPage;
  // The first page before any header: a refusal is still an ordinary error page.
  let page = await fetchPage();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const { res } = env.ctx;
  res.statusCode = 200;
  res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="berth-${log.key}-${stamp}Z.${format}"`);
  res.setHeader('Cache-Control', 'no-store');
  const write = async (s: string) => {
    if (!res.write(s)) await new Promise((r) => res.once('drain', r));
  };
  if (format === 'csv') await write(`${log.fields.join(',')}\r\n`);
  let sent = 0;
  for (;;) {
    for (const e of page.value as unknown as Record<string, unknown>[]) {
      if (sent >= EXPORT_MAX) break;
      await write(format === 'csv' ? `${log.fields.map((f) => csvCell(e[f])).join(',')}\r\n` : `${JSON.stringify(e)}\n`);
      sent++;
    }
    const next = nextBefore(page.nextLink);
    if (!next || sent >= EXPORT_MAX || res.destroyed) break;
    page = await fetchPage(next);
  }
  res.end();
}

const auditLog = (env: PortalEnv): Log => (env.ctx.url.searchParams.get('log') === 'repository' ? LOGS.repository : LOGS.logins);

export const auditScreens = [
  route('GET /portal/operations/activity', { handler: (env) => logScreen(env, LOGS.activity) }),
  route('GET /portal/operations/activity/export', { handler: (env) => exportLog(env, LOGS.activity) }),
  route('GET /portal/operations/audit', { handler: (env) => logScreen(env, auditLog(env)) }),
  route('GET /portal/operations/audit/export', { handler: (env) => exportLog(env, auditLog(env)) }),
];
