import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { dataTable, live, notice, postForm, redirect, registryScreen, sendFragment, wantsFragment, when } from '../ui.js';
import { hiddenSpec, policiesApi, policiesPath, postedSpec, purgeRunPath, type PurgeResult, type PurgeRun } from './spec.js';

// Purging on demand, preview first: POST …/policies/purge/preview asks the API for a dry run
// (POST /api/registries/{r}/purge with dryRun: true) and shows what would be deleted, with a
// button that posts the same spec to …/policies/purge, which queues the real run and goes to its
// screen (…/purge/runs/{id}, GET /api/registries/{r}/purge/runs/{id}), refreshed until it ends.

type Env = PortalEnv & { params: { reg: string } };

/** Names listed on a page; the counts above them are complete. */
const SHOWN = 500;

function nameList(title: string, names: string[]): Html {
  if (names.length === 0) return html``;
  const shown = names.slice(0, SHOWN);
  return html`<h3>${title}</h3>
    <ul class="names">
      ${shown.map((n) => html`<li><code>${n}</code></li>`)}
    </ul>
    ${names.length > SHOWN ? html`<p class="muted">… and ${names.length - SHOWN} more.</p>` : ''}`;
}

/** A PurgeResult: counts, per repository, the names, and what was skipped and why. */
export function purgeResult(r: PurgeResult): Html {
  const repos = r.repositories ?? [];
  const skipped = r.skipped ?? [];
  return html`<dl class="facts">
      <dt>Cut-off</dt>
      <dd>${when(r.cutoff)}</dd>
      <dt>Tags</dt>
      <dd>${r.deletedTags}</dd>
      <dt>Manifests</dt>
      <dd>${r.deletedManifests}</dd>
    </dl>
    ${dataTable({
      caption: 'By repository',
      columns: [{ label: 'Repository' }, { label: 'Tags', num: true }, { label: 'Manifests', num: true }],
      rows: repos.map(
        (x) =>
          html`<tr>
            <td>${x.repository}</td>
            <td class="num">${x.deletedTags}</td>
            <td class="num">${x.deletedManifests}</td>
          </tr>`,
      ),
      empty: 'No repository matches.',
    })}
    ${nameList('Tags', r.tags ?? [])} ${nameList('Manifests', r.manifests ?? [])}
    ${r.truncated ? html`<p class="muted">The lists stop at 10,000 names; the counts are complete.</p>` : ''}
    ${
      skipped.length
        ? dataTable({
            caption: 'Skipped',
            columns: [{ label: 'Repository' }, { label: 'Tag or digest' }, { label: 'Reason' }],
            rows: skipped.map(
              (s) =>
                html`<tr>
                  <td>${s.repository}</td>
                  <td><code>${s.tag ?? s.digest ?? ''}</code></td>
                  <td class="wrap">${s.reason}</td>
                </tr>`,
            ),
          })
        : ''
    }`;
}

const DONE = new Set(['succeeded', 'dead']);

function runBody(run: PurgeRun): Html {
  return html`<dl class="facts">
      <dt>State</dt>
      <dd>${run.state}</dd>
      <dt>Requested by</dt>
      <dd>${run.requestedBy ?? '–'}${run.schedule ? html` (schedule ${run.schedule})` : ''}</dd>
      <dt>Queued</dt>
      <dd>${when(run.createdAt)}</dd>
      <dt>Updated</dt>
      <dd>${when(run.updatedAt)}</dd>
      ${
        run.lastError
          ? html`<dt>Last error</dt>
              <dd>${run.lastError}</dd>`
          : ''
      }
    </dl>
    ${
      run.result
        ? html`<h2>Deleted</h2>
            ${purgeResult(run.result)}`
        : ''
    }`;
}

export const purgeScreens = [
  route('POST /portal/registries/:reg/policies/purge/preview', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      const spec = postedSpec(env);
      const plan = (await api(env, 'POST', `${policiesApi(reg)}/purge`, { json: { ...spec, dryRun: true } })) as PurgeResult;
      registryScreen(env, reg, 'policies', {
        title: 'Purge preview',
        crumbs: html` / <a href="${policiesPath(reg)}">Policies</a>`,
        body: html`<p class="notice" role="status">
            Dry run: nothing was deleted. This is what a purge with these filters would delete now.
          </p>
          <dl class="facts">
            <dt>Filters</dt>
            <dd>${spec.filters.map((f) => html`<code>${f}</code> `)}</dd>
            <dt>Older than</dt>
            <dd>${spec.ago}</dd>
          </dl>
          ${purgeResult(plan)}
          ${postForm(
            env,
            `${policiesPath(reg)}/purge`,
            html`${hiddenSpec(spec)}
              <p>The run deletes what matches when it starts, which may differ if images are pushed meanwhile.</p>
              <div class="actions"><button type="submit" class="danger">Purge now</button> <a href="${policiesPath(reg)}">Cancel</a></div>`,
            { label: 'Confirm the purge' },
          )}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/policies/purge', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      const queued = (await api(env, 'POST', `${policiesApi(reg)}/purge`, { json: { ...postedSpec(env) } })) as { jobId: number };
      redirect(env, purgeRunPath(reg, queued.jobId), 'queued');
    },
  }),
  route('GET /portal/registries/:reg/policies/purge/runs/:id', {
    handler: async (env: PortalEnv & { params: { reg: string; id: string } }) => {
      const { reg, id } = env.params;
      const run = (await api(env, 'GET', `${policiesApi(reg)}/purge/runs/${encodeURIComponent(id)}`)) as PurgeRun;
      if (wantsFragment(env)) return sendFragment(env, runBody(run), DONE.has(run.state));
      const path = purgeRunPath(reg, id);
      registryScreen(env, reg, 'policies', {
        title: `Purge run ${run.id}`,
        crumbs: html` / <a href="${policiesPath(reg)}">Policies</a>`,
        body: html`${notice(env, { queued: 'The purge was queued; this page follows it until it ends.' })}
          ${DONE.has(run.state) ? runBody(run) : live(path, runBody(run))}
          <p><a href="${path}">Reload</a> · <a href="${policiesPath(reg)}">Back to the policies</a></p>`,
      });
    },
  }),
];
