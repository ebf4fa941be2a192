import { send } from '../../context.js';
import { api, portalPath } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  dataTable,
  live,
  notice,
  postButton,
  redirect,
  registryScreen,
  select,
  sendFragment,
  wantsFragment,
  when,
  type Column,
} from '../ui.js';
import {
  duration,
  localRepository,
  outputImage,
  runApi,
  runBadge,
  runEnded,
  runPath,
  runsApi,
  runsPath,
  RUN_STATUSES,
  taskPath,
  tasksNav,
  type RunView,
} from './paths.js';

// A registry's runs (/portal/registries/{r}/runs?status=&task=&top=, from GET …/runs) and one
// run (/portal/registries/{r}/runs/{runId}): its facts, outputs with their digests, base images,
// error, a Cancel button while it is queued or running, and its log (GET …/runs/{runId}/logs) as
// text. While the run has not ended, the facts and the log are one live fragment that portal.js
// re-renders every two seconds: the status is read before the log, so the fragment that first sees
// a final status carries the whole log (a run's status and its stored log change together).

type Env = PortalEnv & { params: { reg: string; run: string } };

const PAGE = 25;
const MAX_TOP = 1000;
/** The most of a log the page shows (its end); the whole log is at …/log. */
const LOG_SHOWN = 256 * 1024;

export const RUN_COLUMNS: readonly Column[] = [
  { label: 'Run' },
  { label: 'Task' },
  { label: 'Status' },
  { label: 'Trigger' },
  { label: 'Started' },
  { label: 'Duration' },
  { label: 'Output images' },
];

export function runRows(env: PortalEnv, reg: string, runs: readonly RunView[]): Html[] {
  return runs.map(
    (r) =>
      html`<tr>
        <td><a href="${runPath(reg, r.runId)}">${r.runId}</a></td>
        <td>${r.task ? html`<a href="${taskPath(reg, r.task)}">${r.task}</a>` : html`<span class="muted">${r.runType}</span>`}</td>
        <td>${runBadge(r.status)}</td>
        <td>${r.trigger}</td>
        <td>${when(r.startTime ?? r.createTime)}</td>
        <td>${duration(r.runDurationSeconds)}</td>
        <td class="wrap">
          ${r.outputImages.length ? r.outputImages.map((o, i) => html`${i ? ', ' : ''}${outputImage(env, reg, o)}`) : '–'}
        </td>
      </tr>`,
  );
}

function filterForm(reg: string, status: string, task: string): Html {
  return html`<form method="get" action="${runsPath(reg)}" class="filters" aria-label="Filter runs">
    ${select({ label: 'Status', name: 'status', value: status, options: [['', 'Any'], ...RUN_STATUSES.map((s) => [s, s] as const)] })}
    ${task ? html`<input type="hidden" name="task" value="${task}" />` : ''}
    <button type="submit" class="secondary">Filter</button>
  </form>`;
}

/** The run's facts, outputs, error and log: the part of the page that follows the run. */
async function runBody(env: Env, r: RunView): Promise<Html> {
  const { reg } = env.params;
  const log = (await api(env, 'GET', `${runApi(reg, r.runId)}/logs`, { query: { follow: 'false' } })) as string;
  const shown = Buffer.byteLength(log) > LOG_SHOWN ? Buffer.from(log).subarray(-LOG_SHOWN).toString('utf8') : log;
  const ended = runEnded(r);
  return html`<dl class="facts">
      <dt>Status</dt>
      <dd>${runBadge(r.status)}${r.cancelRequested && !ended ? html` <span class="muted">(cancel requested)</span>` : ''}</dd>
      <dt>Task</dt>
      <dd>${r.task ? html`<a href="${taskPath(reg, r.task)}">${r.task}</a>` : html`<span class="muted">none (a quick run)</span>`}</dd>
      <dt>Type</dt>
      <dd>${r.runType}</dd>
      <dt>Trigger</dt>
      <dd>${r.trigger}</dd>
      <dt>Platform</dt>
      <dd>${r.platform ? `${r.platform.os}/${r.platform.architecture}${r.platform.variant ? `/${r.platform.variant}` : ''}` : '–'}</dd>
      <dt>Created</dt>
      <dd>${when(r.createTime)}${r.createdBy ? ` by ${r.createdBy}` : ''}</dd>
      <dt>Started</dt>
      <dd>${when(r.startTime)}</dd>
      <dt>Finished</dt>
      <dd>${when(r.finishTime)}</dd>
      <dt>Duration</dt>
      <dd>${duration(r.runDurationSeconds)}</dd>
      ${
        r.runErrorMessage
          ? html`<dt>Error</dt>
              <dd class="error">${r.runErrorMessage}</dd>`
          : ''
      }
    </dl>
    ${ended ? '' : html`<div class="actions">${postButton(env, `${runPath(reg, r.runId)}/cancel`, 'Cancel run', { danger: true })}</div>`}
    <h2>Output images</h2>
    ${dataTable({
      caption: 'Images the run pushed',
      columns: [{ label: 'Image' }, { label: 'Digest' }],
      rows: r.outputImages.map((o) => {
        const repo = localRepository(env.opts.domain, reg, o);
        return html`<tr>
          <td>${outputImage(env, reg, o)}</td>
          <td>
            ${repo ? html`<a href="${portalPath.manifest(reg, repo, o.digest)}"><code>${o.digest}</code></a>` : html`<code>${o.digest}</code>`}
          </td>
        </tr>`;
      }),
      empty: ended ? 'The run pushed no images.' : 'None yet.',
    })}
    <h2>Base images</h2>
    ${dataTable({
      caption: 'Images the build started from',
      columns: [{ label: 'Image' }, { label: 'Digest' }, { label: 'Stage' }],
      rows: r.baseImages.map(
        (b) =>
          html`<tr>
            <td><code>${b.image}</code></td>
            <td><code>${b.digest}</code></td>
            <td>${b.runtime ? 'runtime' : 'build'}</td>
          </tr>`,
      ),
      empty: ended ? 'No base images.' : 'None yet.',
    })}
    <h2>Log</h2>
    <p class="muted">
      ${ended ? 'The whole log' : 'The log so far, followed while the run goes on'}${shown.length < log.length ? ` (its last ${LOG_SHOWN / 1024} KiB)` : ''}.
      <a href="${runPath(reg, r.runId)}/log">Open as text</a>
    </p>
    <pre tabindex="0" class="body run-log">${shown || (ended ? '(empty)' : '(nothing yet)')}</pre>`;
}

export const runScreens = [
  route('GET /portal/registries/:reg/runs', {
    handler: async (env) => {
      const reg = env.params.reg;
      const q = env.ctx.url.searchParams;
      const status = q.get('status') ?? '';
      const task = q.get('task') ?? '';
      const top = Math.min(Math.max(Number(q.get('top')) || PAGE, 1), MAX_TOP);
      const runs = ((await api(env, 'GET', runsApi(reg), { query: { status, task, top } })) as { value: RunView[] }).value;
      const more = new URLSearchParams({
        ...(status ? { status } : {}),
        ...(task ? { task } : {}),
        top: String(Math.min(top * 2, MAX_TOP)),
      });
      registryScreen(env, reg, 'tasks', {
        title: 'Runs',
        body: html`${tasksNav(reg, 'runs')}${notice(env, { deleted: 'The run was deleted.' })} ${filterForm(reg, status, task)}
        ${dataTable({
          caption: `The ${runs.length} newest runs${status ? ` with status ${status}` : ''}${task ? ` of task ${task}` : ''}`,
          columns: RUN_COLUMNS,
          rows: runRows(env, reg, runs),
          empty: status || task ? 'No runs match.' : 'No runs yet.',
        })}
        ${
          runs.length === top && top < MAX_TOP
            ? html`<nav class="actions" aria-label="More runs">
                <a href="${runsPath(reg)}?${more.toString()}" rel="next">Show more runs</a>
              </nav>`
            : ''
        }`,
      });
    },
  }),
  route('GET /portal/registries/:reg/runs/:run', {
    handler: async (env: Env) => {
      const { reg, run } = env.params;
      const r = (await api(env, 'GET', runApi(reg, run))) as RunView;
      const body = await runBody(env, r);
      if (wantsFragment(env)) return sendFragment(env, body, runEnded(r));
      registryScreen(env, reg, 'tasks', {
        title: `Run ${r.runId}`,
        crumbs: html` / <a href="${runsPath(reg)}">Runs</a>`,
        body: html`${tasksNav(reg, 'runs')}${notice(env, {
          queued: 'The run is queued. This screen follows it until it ends.',
          canceled: 'The run was canceled (a running one stops within seconds).',
        })}
        ${runEnded(r) ? body : live(runPath(reg, r.runId), body)}`,
      });
    },
  }),
  route('GET /portal/registries/:reg/runs/:run/log', {
    handler: async (env: Env) => {
      const { reg, run } = env.params;
      const log = (await api(env, 'GET', `${runApi(reg, run)}/logs`, { query: { follow: 'false' } })) as string;
      // Text, never HTML (X-Content-Type-Options: nosniff is set on every portal answer).
      send(env.ctx, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }, log);
    },
  }),
  route('POST /portal/registries/:reg/runs/:run/cancel', {
    handler: async (env: Env) => {
      const { reg, run } = env.params;
      await api(env, 'POST', `${runApi(reg, run)}/cancel`);
      redirect(env, runPath(reg, run), 'canceled');
    },
  }),
];
