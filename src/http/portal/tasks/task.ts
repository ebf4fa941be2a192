import { api, apiPath } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  dataTable,
  field,
  formValue,
  notice,
  postButton,
  postForm,
  redirect,
  registryScreen,
  requireTyped,
  typedConfirm,
  when,
} from '../ui.js';
import { runRows, RUN_COLUMNS } from './runs.js';
import { platformText, runPath, runsApi, runsPath, taskApi, taskPath, tasksNav, tasksPath, type RunView, type TaskView } from './paths.js';

// One task (GET /portal/registries/{r}/tasks/{name}): its definition as GET …/tasks/{name} shows
// it (secret arguments and values are never read: the screen does not ask for secure
// properties), its triggers and timers, the user names of its registry credentials, its recent
// runs, and the actions: Run now (POST …/scheduleRun TaskRunRequest), enable/disable, add or remove
// a timer or a credential, delete. Each action is the API's call, with the API's authorization.

type Env = PortalEnv & { params: { reg: string; task: string } };

const RECENT_RUNS = 10;

const NOTICES = {
  created: 'The task was created.',
  enabled: 'The task is enabled.',
  disabled: 'The task is disabled: its triggers do not run it (Run now still does).',
  timerAdded: 'The timer was added.',
  timerRemoved: 'The timer was removed.',
  credentialSet: 'The credential was saved.',
  credentialRemoved: 'The credential was removed.',
  baseImageTrigger: 'The base image trigger was changed.',
};

/** Arguments or values: name = value, a secret one as "(secret)". */
function nameValues(list: readonly { name: string; value: string | null; isSecret: boolean }[]): Html {
  if (!list.length) return html`<span class="muted">none</span>`;
  return html`<ul>
    ${list.map((a) => html`<li><code>${a.name}</code> = ${a.isSecret ? html`<span class="muted">(secret)</span>` : html`<code>${a.value ?? ''}</code>`}</li>`)}
  </ul>`;
}

/** The step's own facts: a Dockerfile build, a task file, or an encoded task file (shown decoded, as text). */
function stepFacts(step: TaskView['step']): Html {
  if (step.type === 'Docker')
    return html`<dt>Dockerfile</dt>
      <dd><code>${step.dockerFilePath}</code></dd>
      <dt>Images</dt>
      <dd>
        ${step.imageNames?.length ? step.imageNames.map((n, i) => html`${i ? ', ' : ''}<code>${n}</code>`) : html`<span class="muted">none</span>`}
      </dd>
      <dt>Push</dt>
      <dd>${step.isPushEnabled ? 'yes' : 'no'}</dd>
      <dt>Cache</dt>
      <dd>${step.noCache ? 'not used' : 'used'}</dd>
      <dt>Target stage</dt>
      <dd>${step.target ?? html`<span class="muted">the last</span>`}</dd>
      <dt>Build arguments</dt>
      <dd>${nameValues(step.arguments ?? [])}</dd>`;
  if (step.type === 'FileTask')
    return html`<dt>Task file</dt>
      <dd><code>${step.taskFilePath}</code></dd>
      <dt>Values</dt>
      <dd>${nameValues(step.values ?? [])}</dd>`;
  return html`<dt>Task file</dt>
    <dd><pre tabindex="0" class="body task-file">${Buffer.from(step.encodedTaskContent ?? '', 'base64').toString('utf8')}</pre></dd>
    <dt>Values</dt>
    <dd>${nameValues(step.values ?? [])}</dd>`;
}

function triggerFacts(env: Env, t: TaskView): Html {
  const base = t.trigger.baseImageTrigger;
  const on = base?.status === 'Enabled';
  const src = t.trigger.sourceTriggers;
  return html`<dl class="facts">
    <dt>Base image update</dt>
    <dd>
      ${base ? html`${base.status} (${base.baseImageTriggerType})` : html`<span class="muted">none</span>`}
      ${postButton(env, `${taskPath(env.params.reg, t.name)}/base-image-trigger`, on ? 'Turn off' : 'Turn on', {
        fields: { enabled: on ? 'false' : 'true' },
        secondary: true,
      })}
    </dd>
    <dt>Source</dt>
    <dd>
      ${
        src.length
          ? src.map(
              (s) =>
                html`<code>${s.sourceRepository.repositoryUrl}</code> branch <code>${s.sourceRepository.branch}</code>:
                  ${s.sourceTriggerEvents.join(', ') || 'no events'} (${s.status}${s.poll ? ', polled' : ''})`,
            )
          : html`<span class="muted">none</span>`
      }
    </dd>
    ${
      t.sourceTriggerWebhook
        ? html`<dt>Source webhook</dt>
            <dd><code>${t.sourceTriggerWebhook.url}</code></dd>`
        : ''
    }
  </dl>`;
}

function timersSection(env: Env, t: TaskView): Html {
  const base = taskPath(env.params.reg, t.name);
  const rows = t.trigger.timerTriggers.map(
    (x) =>
      html`<tr>
        <td>${x.name}</td>
        <td><code>${x.schedule}</code></td>
        <td>${x.status}</td>
        <td>
          ${postButton(env, `${base}/timers/${encodeURIComponent(x.name)}/delete`, 'Remove', { secondary: true, title: `Remove timer ${x.name}` })}
        </td>
      </tr>`,
  );
  return html`<section aria-labelledby="timers-h">
    <h2 id="timers-h">Timers</h2>
    ${dataTable({
      caption: 'Schedules that run the task (cron, UTC)',
      columns: [{ label: 'Name' }, { label: 'Schedule' }, { label: 'Status' }, { label: 'Remove' }],
      rows,
      empty: 'No timers.',
    })}
    ${postForm(
      env,
      `${base}/timers`,
      html`<div class="filters">
        ${field({ label: 'Timer name', name: 'name', required: true, hint: '1–50 letters, digits, _ or -.' })}
        ${field({ label: 'Schedule (cron, UTC)', name: 'schedule', required: true, placeholder: '0 3 * * *' })}
        <button type="submit">Add timer</button>
      </div>`,
      { label: 'Add a timer' },
    )}
  </section>`;
}

function credentialsSection(env: Env, t: TaskView, creds: Record<string, { userName: { value: string } | null }>): Html {
  const base = taskPath(env.params.reg, t.name);
  const rows = Object.entries(creds).map(
    ([server, c]) =>
      html`<tr>
        <td><code>${server}</code></td>
        <td>${c.userName?.value ?? '–'}</td>
        <td>
          ${postButton(env, `${base}/credentials/${encodeURIComponent(server)}/delete`, 'Remove', { secondary: true, title: `Remove the credential for ${server}` })}
        </td>
      </tr>`,
  );
  return html`<section aria-labelledby="creds-h">
    <h2 id="creds-h">Registry credentials</h2>
    <p class="muted">Logins the task's steps use for other registries. Passwords are never shown.</p>
    ${dataTable({
      caption: 'Credentials by login server',
      columns: [{ label: 'Login server' }, { label: 'User name' }, { label: 'Remove' }],
      rows,
      empty: 'No credentials.',
    })}
    ${postForm(
      env,
      `${base}/credentials`,
      html`<div class="filters">
        ${field({ label: 'Login server', name: 'loginServer', required: true, placeholder: 'registry.example.com' })}
        ${field({ label: 'User name', name: 'username', required: true, attrs: html`autocomplete="off"` })}
        ${field({ label: 'Password', name: 'password', type: 'password', required: true, attrs: html`autocomplete="new-password"` })}
        <button type="submit">Save credential</button>
      </div>`,
      { label: 'Add a credential' },
    )}
  </section>`;
}

export const taskScreens = [
  route('GET /portal/registries/:reg/tasks/:task', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      const t = (await api(env, 'GET', taskApi(reg, task))) as TaskView;
      const creds = (await api(env, 'GET', `${taskApi(reg, task)}/credentials`)) as Record<string, { userName: { value: string } | null }>;
      const runs = ((await api(env, 'GET', runsApi(reg), { query: { task: t.name, top: RECENT_RUNS } })) as { value: RunView[] }).value;
      const base = taskPath(reg, t.name);
      registryScreen(env, reg, 'tasks', {
        title: `Task ${t.name}`,
        crumbs: html` / <a href="${tasksPath(reg)}">Tasks</a>`,
        body: html`${tasksNav(reg, 'tasks')}${notice(env, NOTICES)}
          <div class="actions">
            ${postButton(env, `${base}/run`, 'Run now')}
            ${postButton(env, `${base}/status`, t.status === 'Enabled' ? 'Disable' : 'Enable', {
              fields: { status: t.status === 'Enabled' ? 'Disabled' : 'Enabled' },
              secondary: true,
            })}
          </div>
          <dl class="facts">
            <dt>Status</dt>
            <dd>${t.status}</dd>
            <dt>Step</dt>
            <dd>${t.step.type}</dd>
            <dt>Context</dt>
            <dd><code>${t.step.contextPath}</code></dd>
            ${stepFacts(t.step)}
            <dt>Platform</dt>
            <dd>${platformText(t.platform)}</dd>
            <dt>Timeout</dt>
            <dd>${t.timeout} s</dd>
            ${
              t.agentPoolName
                ? html`<dt>Agent pool</dt>
                    <dd>${t.agentPoolName}</dd>`
                : ''
            }
            <dt>Created</dt>
            <dd>${when(t.creationDate)}</dd>
          </dl>
          <h2>Triggers</h2>
          ${triggerFacts(env, t)} ${timersSection(env, t)} ${credentialsSection(env, t, creds)}
          <section aria-labelledby="runs-h">
            <h2 id="runs-h">Recent runs</h2>
            ${dataTable({
              caption: `The last ${RECENT_RUNS} runs of ${t.name}, newest first`,
              columns: RUN_COLUMNS,
              rows: runRows(env, reg, runs),
              empty: 'The task has not run yet.',
            })}
            <p><a href="${runsPath(reg)}?task=${encodeURIComponent(t.name)}">All runs of ${t.name}</a></p>
          </section>
          ${typedConfirm(env, {
            action: `${base}/delete`,
            name: t.name,
            what: 'task',
            consequence: 'Its triggers and timers stop; its past runs and their logs stay in the run list.',
          })}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/run', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      const run = (await api(env, 'POST', `${apiPath.registry(reg)}/scheduleRun`, {
        json: { type: 'TaskRunRequest', taskName: task },
      })) as RunView;
      redirect(env, runPath(reg, run.runId), 'queued');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/status', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      const status = formValue(env, 'status') === 'Disabled' ? 'Disabled' : 'Enabled';
      await api(env, 'PATCH', taskApi(reg, task), { json: { status } });
      redirect(env, taskPath(reg, task), status === 'Disabled' ? 'disabled' : 'enabled');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/base-image-trigger', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      await api(env, 'PATCH', taskApi(reg, task), { json: { baseImageTriggerEnabled: formValue(env, 'enabled') === 'true' } });
      redirect(env, taskPath(reg, task), 'baseImageTrigger');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/timers', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      await api(env, 'POST', `${taskApi(reg, task)}/timers`, {
        json: { name: formValue(env, 'name').trim(), schedule: formValue(env, 'schedule').trim() },
      });
      redirect(env, taskPath(reg, task), 'timerAdded');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/timers/:timer/delete', {
    handler: async (env: Env & { params: { timer: string } }) => {
      const { reg, task, timer } = env.params;
      await api(env, 'DELETE', `${taskApi(reg, task)}/timers/${encodeURIComponent(timer)}`);
      redirect(env, taskPath(reg, task), 'timerRemoved');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/credentials', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      await api(env, 'POST', `${taskApi(reg, task)}/credentials`, {
        json: {
          loginServer: formValue(env, 'loginServer').trim(),
          username: formValue(env, 'username'),
          password: formValue(env, 'password'),
        },
      });
      redirect(env, taskPath(reg, task), 'credentialSet');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/credentials/:server/delete', {
    handler: async (env: Env & { params: { server: string } }) => {
      const { reg, task, server } = env.params;
      await api(env, 'DELETE', `${taskApi(reg, task)}/credentials/${encodeURIComponent(server)}`);
      redirect(env, taskPath(reg, task), 'credentialRemoved');
    },
  }),
  route('POST /portal/registries/:reg/tasks/:task/delete', {
    handler: async (env: Env) => {
      const { reg, task } = env.params;
      requireTyped(env, task);
      await api(env, 'DELETE', taskApi(reg, task));
      redirect(env, tasksPath(reg), 'deleted');
    },
  }),
];
