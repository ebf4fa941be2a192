import type { JobView } from '../../../services/operations/jobs.js';
import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { importPath, progressFacts, type ImportView } from '../imports/view.js';
import { dataTable, live, notice, postButton, redirect, select, field, sendFragment, wantsFragment, when } from '../ui.js';
import { opsPath, opsScreen, pretty, stateBadge, withQuery } from './common.js';

// The job queue (GET /portal/operations): every job the workers run (imports, purges, scans,
// webhook deliveries), filtered by state and kind as GET /api/jobs is; the dead ones with their
// error text and a retry button (POST /api/jobs/{id}/retry); and one job's screen, which follows
// the job live until it ends.

const STATES = ['queued', 'running', 'succeeded', 'dead'] as const;
const KINDS = ['import', 'purge', 'scan', 'scan-rematch', 'webhook.deliver'] as const;

const jobError = (j: JobView): Html => (j.lastError ? html`<td class="wrap">${j.lastError}</td>` : html`<td class="muted">–</td>`);

function filters(env: PortalEnv, q: { state: string; kind: string; n: string }): Html {
  const kinds = (KINDS as readonly string[]).includes(q.kind) || !q.kind ? KINDS : [...KINDS, q.kind];
  return html`<form method="get" action="${opsPath.jobs}" class="filters ops-filters" aria-label="Filter jobs">
    ${select({ label: 'State', name: 'state', value: q.state, options: [['', 'Any state'], ...STATES.map((s) => [s, s] as const)] })}
    ${select({ label: 'Kind', name: 'kind', value: q.kind, options: [['', 'Any kind'], ...kinds.map((k) => [k, k] as const)] })}
    ${field({ label: 'At most', name: 'n', type: 'number', value: q.n, attrs: html`min="1" max="1000"` })}
    <div class="field ops-submit"><button type="submit">Filter</button></div>
  </form>`;
}

function jobRows(env: PortalEnv, jobs: JobView[], o: { retry?: boolean } = {}): Html[] {
  return jobs.map(
    (j) =>
      html`<tr>
        <td><a href="${opsPath.job(j.id)}">Job ${j.id}</a></td>
        <td>${j.kind}</td>
        <td>${stateBadge(j.state)}</td>
        <td class="num">${j.attempts} of ${j.maxAttempts}</td>
        <td>${when(j.updatedAt)}</td>
        ${jobError(j)}
        ${o.retry ? html`<td>${postButton(env, `${opsPath.job(j.id)}/retry`, 'Retry', { secondary: true, title: `Retry job ${j.id}` })}</td>` : ''}
      </tr>`,
  );
}

const COLUMNS = [
  { label: 'Job' },
  { label: 'Kind' },
  { label: 'State' },
  { label: 'Attempts', num: true },
  { label: 'Updated' },
  { label: 'Last error' },
];

const NOTICES = { retried: 'The job is queued again: a worker picks it up on its next poll.' };

/** A job's facts: what the live fragment refreshes. For an import, its progress too (when the viewer may read it). */
async function jobFacts(env: PortalEnv, j: JobView): Promise<Html> {
  let extra: Html = html``;
  const payload = j.payload as { registry?: unknown } | null;
  const reg = typeof payload?.registry === 'string' ? payload.registry : undefined;
  if (j.kind === 'import' && reg) {
    const view = (await api(env, 'GET', `/api/registries/${encodeURIComponent(reg)}/imports/${j.id}`).catch(() => undefined)) as
      ImportView | undefined;
    extra = html`<h2>Import</h2>
      <p><a href="${importPath(reg, j.id)}">The import's screen</a></p>
      ${view ? progressFacts(view) : ''}`;
  }
  return html`<dl class="facts">
      <dt>State</dt>
      <dd>${stateBadge(j.state)}</dd>
      <dt>Kind</dt>
      <dd>${j.kind}</dd>
      <dt>Attempts</dt>
      <dd>${j.attempts} of ${j.maxAttempts}</dd>
      <dt>Runs after</dt>
      <dd>${when(j.runAfter)}</dd>
      <dt>Held by</dt>
      <dd>${j.leaseOwner ? html`${j.leaseOwner} until ${when(j.leaseUntil)}` : html`<span class="muted">no worker</span>`}</dd>
      <dt>Created</dt>
      <dd>${when(j.createdAt)}</dd>
      <dt>Updated</dt>
      <dd>${when(j.updatedAt)}</dd>
    </dl>
    <h2>Last error</h2>
    ${j.lastError ? html`<pre class="body">${j.lastError}</pre>` : html`<p class="muted">None.</p>`} ${extra}
    <h2>Payload</h2>
    <pre class="body">${pretty(j.payload)}</pre>`;
}

const ended = (state: string) => state === 'succeeded' || state === 'dead';

export const jobScreens = [
  route('GET /portal/operations', {
    handler: async (env) => {
      const sp = env.ctx.url.searchParams;
      const q = { state: sp.get('state') ?? '', kind: sp.get('kind') ?? '', n: sp.get('n') ?? '' };
      const { value: jobs } = (await api(env, 'GET', '/api/jobs', { query: q })) as { value: JobView[] };
      // The overview (no filter chosen) leads with what needs a person: the dead jobs.
      const overview = !q.state && !q.kind;
      const dead = !overview
        ? []
        : ((await api(env, 'GET', '/api/jobs', { query: { state: 'dead', n: 20 } })) as { value: JobView[] }).value;
      const failures = !overview
        ? html``
        : html`<section aria-labelledby="failed-h">
            <h2 id="failed-h">Failed jobs</h2>
            ${dataTable({
              caption: 'Jobs that failed for good (dead), newest first, with their last error',
              columns: [...COLUMNS, { label: 'Retry' }],
              rows: jobRows(env, dead, { retry: true }),
              empty: 'No failed jobs.',
            })}
          </section>`;
      opsScreen(env, opsPath.jobs, {
        title: 'Jobs',
        body: html`${notice(env, NOTICES)}${failures}
          <section aria-labelledby="jobs-h">
            <h2 id="jobs-h">Job queue</h2>
            ${filters(env, q)}
            ${dataTable({
              caption: `${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'}, newest first${q.state ? `, ${q.state}` : ''}${q.kind ? `, of kind ${q.kind}` : ''}`,
              columns: COLUMNS,
              rows: jobRows(env, jobs),
              empty: q.state || q.kind ? 'No job matches these filters.' : 'No jobs yet.',
            })}
            ${
              jobs.length > 0 && jobs.length === Number(q.n || 100)
                ? html`<p class="muted">
                    Only the newest ${jobs.length} are shown:
                    <a href="${withQuery(opsPath.jobs, { ...q, n: Math.min(1000, jobs.length * 2) })}">show more</a>.
                  </p>`
                : ''
            }
          </section>`,
      });
    },
  }),
  route('GET /portal/operations/jobs/:id', {
    handler: async (env) => {
      const id = env.params.id;
      const j = (await api(env, 'GET', `/api/jobs/${encodeURIComponent(id)}`)) as JobView;
      const facts = await jobFacts(env, j);
      if (wantsFragment(env)) return sendFragment(env, facts, ended(j.state));
      opsScreen(env, opsPath.jobs, {
        title: `Job ${j.id}`,
        crumbs: html`<a href="${opsPath.jobs}">Jobs</a> / ${j.kind}`,
        body: html`${notice(env, NOTICES)} ${ended(j.state) ? '' : html`<p class="muted">This screen follows the job until it ends.</p>`}
        ${live(opsPath.job(j.id), facts)}
        ${j.state === 'running' ? '' : html`<div class="actions">${postButton(env, `${opsPath.job(j.id)}/retry`, 'Retry this job')}</div>`}`,
      });
    },
  }),
  route('POST /portal/operations/jobs/:id/retry', {
    handler: async (env) => {
      const id = env.params.id;
      await api(env, 'POST', `/api/jobs/${encodeURIComponent(id)}/retry`);
      redirect(env, opsPath.job(id), 'retried');
    },
  }),
];
