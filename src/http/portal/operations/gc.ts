import type { GcReport, GcStatus } from '../../../services/lifecycle/gc.js';
import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { bytes, dataTable, live, notice, postButton, redirect, sendFragment, wantsFragment, when } from '../ui.js';
import { opsPath, opsScreen, stateBadge } from './common.js';

// Garbage collection (GET /portal/operations/gc): what awaits collection (GET /api/gc), the last
// runs, a button that starts a run (POST /api/gc/runs) and one that shows what a run would remove
// (a dry run: nothing changes, so its report is shown at once), and a run's screen that follows
// it live until it ends.

function counts(r: GcReport): Html {
  return html`<dt>Referrers removed</dt>
    <dd>${r.referrersRemoved}</dd>
    <dt>Links marked / removed</dt>
    <dd>${r.linksMarked} / ${r.linksRemoved}</dd>
    <dt>Blobs marked / removed</dt>
    <dd>${r.blobsMarked} / ${r.blobsRemoved}</dd>
    <dt>Files removed</dt>
    <dd>${r.filesRemoved}</dd>
    <dt>Space reclaimed</dt>
    <dd>${bytes(r.bytesReclaimed)}</dd>`;
}

function runFacts(r: GcReport): Html {
  return html`<dl class="facts">
    <dt>Status</dt>
    <dd>${stateBadge(r.status)}${r.dryRun ? ' (dry run)' : ''}</dd>
    <dt>Node</dt>
    <dd>${r.node}</dd>
    <dt>Started</dt>
    <dd>${when(r.startedAt)}</dd>
    <dt>Finished</dt>
    <dd>${when(r.finishedAt)}</dd>
    ${counts(r)}
    ${
      r.error
        ? html`<dt>Error</dt>
            <dd class="error">${r.error}</dd>`
        : ''
    }
  </dl>`;
}

function pending(s: GcStatus): Html {
  const p = s.pending;
  return html`<dl class="facts">
    <dt>Unreferenced links</dt>
    <dd>
      ${p.links} (${p.marked.links} marked)${p.reclaimableAfter.links ? html`, removable after ${when(p.reclaimableAfter.links)}` : ''}
    </dd>
    <dt>Unreferenced blobs</dt>
    <dd>
      ${p.blobs}, ${bytes(p.bytes)} (${p.marked.blobs}
      marked)${p.reclaimableAfter.blobs ? html`, removable after ${when(p.reclaimableAfter.blobs)}` : ''}
    </dd>
    <dt>Dangling referrers</dt>
    <dd>${p.manifests}${p.reclaimableAfter.manifests ? html`, removable after ${when(p.reclaimableAfter.manifests)}` : ''}</dd>
    <dt>In the recycle bin</dt>
    <dd>${p.recycleBin.manifests} manifests${p.recycleBin.until ? html`, kept until ${when(p.recycleBin.until)} at the latest` : ''}</dd>
    <dt>Grace period</dt>
    <dd>${Math.round(s.gracePeriodSeconds / 60)} minutes</dd>
    <dt>Next scheduled run</dt>
    <dd>${s.nextRunAt ? when(s.nextRunAt) : html`<span class="muted">none: collection runs only when started</span>`}</dd>
  </dl>`;
}

const NOTICES = { started: 'Garbage collection started. This screen follows the run until it ends.' };

const ended = (r: GcReport) => r.status !== 'running';

function runsTable(runs: GcReport[]): Html {
  return dataTable({
    caption: 'The last runs, newest first',
    columns: [
      { label: 'Run' },
      { label: 'Status' },
      { label: 'Started' },
      { label: 'Finished' },
      { label: 'Blobs removed', num: true },
      { label: 'Reclaimed', num: true },
      { label: 'Error' },
    ],
    rows: runs.map(
      (r) =>
        html`<tr>
          <td><a href="${opsPath.gcRun(r.id)}">Run ${r.id}</a>${r.dryRun ? ' (dry run)' : ''}</td>
          <td>${stateBadge(r.status)}</td>
          <td>${when(r.startedAt)}</td>
          <td>${when(r.finishedAt)}</td>
          <td class="num">${r.blobsRemoved}</td>
          <td class="num">${bytes(r.bytesReclaimed)}</td>
          <td class="wrap">${r.error ?? ''}</td>
        </tr>`,
    ),
    empty: 'No runs yet.',
  });
}

function actions(env: PortalEnv, running: GcReport | null): Html {
  if (running)
    return html`<p>
      A run is going on: <a href="${opsPath.gcRun(running.id)}">run ${running.id}</a>, started ${when(running.startedAt)}.
    </p>`;
  return html`<div class="actions">
    ${postButton(env, `${opsPath.gc}/runs`, 'Run garbage collection now')}
    ${postButton(env, `${opsPath.gc}/runs`, 'Dry run: show what it would remove', { secondary: true, fields: { dryRun: 'on' } })}
  </div>`;
}

export const gcScreens = [
  route('GET /portal/operations/gc', {
    handler: async (env) => {
      const s = (await api(env, 'GET', '/api/gc')) as GcStatus;
      opsScreen(env, opsPath.gc, {
        title: 'Garbage collection',
        body: html`${notice(env, NOTICES)}
          <p class="muted">
            Blobs are shared by every registry of the deployment: a collection removes what no manifest references any more, a grace period
            after it was first seen unreferenced.
          </p>
          <h2>Awaiting collection</h2>
          ${pending(s)} ${actions(env, s.running)}
          <h2>Recent runs</h2>
          ${runsTable(s.lastRuns)}`,
      });
    },
  }),
  route('POST /portal/operations/gc/runs', {
    handler: async (env) => {
      if (env.form?.get('dryRun') === 'on') {
        // A dry run changes nothing: its report is the answer (no redirect, nothing to go back to).
        const r = (await api(env, 'POST', '/api/gc/runs', { json: { dryRun: true } })) as GcReport;
        return opsScreen(env, opsPath.gc, {
          title: 'Garbage collection: dry run',
          crumbs: html`<a href="${opsPath.gc}">Garbage collection</a>`,
          body: html`<p role="status">What a run would do now. Nothing was changed.</p>
            ${runFacts(r)}`,
        });
      }
      const r = (await api(env, 'POST', '/api/gc/runs', { json: {} })) as GcReport;
      redirect(env, opsPath.gcRun(r.id), 'started');
    },
  }),
  route('GET /portal/operations/gc/runs/:id', {
    handler: async (env) => {
      const r = (await api(env, 'GET', `/api/gc/runs/${encodeURIComponent(env.params.id)}`)) as GcReport;
      const facts = runFacts(r);
      if (wantsFragment(env)) return sendFragment(env, facts, ended(r));
      opsScreen(env, opsPath.gc, {
        title: `Garbage collection run ${r.id}`,
        crumbs: html`<a href="${opsPath.gc}">Garbage collection</a>`,
        body: html`${notice(env, NOTICES)}${live(opsPath.gcRun(r.id), facts)}`,
      });
    },
  }),
];
