import { RegistryError } from '../../../domain/errors.js';
import { api } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, checked, dataTable, field, formValue, notice, postForm, redirect, registryScreen, select, textarea } from '../ui.js';
import { lines, runBadge, runPath, runsApi, taskPath, tasksApi, tasksNav, tasksPath, type RunView, type TaskView } from './paths.js';

// A registry's tasks (the Tasks tab, /portal/registries/{r}/tasks): the list as GET
// /api/registries/{r}/tasks shows it, each with its last run, and the form that creates one
// (POST …/tasks: the registry's write power). A refused creation shows the API's message above
// the form, with what was typed still in it.

/** What the create form holds: empty, or as it was posted. */
interface Draft {
  name: string;
  contextPath: string;
  file: string;
  cmd: string;
  images: string;
  timeout: string;
  baseImageTrigger: boolean;
  baseImageTriggerType: string;
  timerSchedule: string;
}

const EMPTY: Draft = {
  name: '',
  contextPath: '',
  file: '',
  cmd: '',
  images: '',
  timeout: '',
  baseImageTrigger: true,
  baseImageTriggerType: 'Runtime',
  timerSchedule: '',
};

const draftOf = (env: PortalEnv): Draft => ({
  name: formValue(env, 'name').trim(),
  contextPath: formValue(env, 'contextPath').trim(),
  file: formValue(env, 'file').trim(),
  cmd: formValue(env, 'cmd').trim(),
  images: formValue(env, 'images'),
  timeout: formValue(env, 'timeout').trim(),
  baseImageTrigger: checked(env, 'baseImageTrigger'),
  baseImageTriggerType: formValue(env, 'baseImageTriggerType') || 'Runtime',
  timerSchedule: formValue(env, 'timerSchedule').trim(),
});

function createForm(env: PortalEnv, reg: string, d: Draft): Html {
  return postForm(
    env,
    tasksPath(reg),
    html`${field({
        label: 'Name',
        name: 'name',
        value: d.name,
        required: true,
        hint: '5–50 letters, digits, - or _, starting with a letter or digit.',
        attrs: html`autocomplete="off"`,
      })}
      ${field({
        label: 'Context',
        name: 'contextPath',
        value: d.contextPath,
        required: true,
        hint: 'A git URL (https://…/repo.git#branch:folder), a tarball URL, oci://… or /dev/null for a task that needs no files.',
      })}
      ${field({
        label: 'File',
        name: 'file',
        value: d.file,
        hint: 'A Dockerfile or a task file (*.yaml) in the context; empty: Dockerfile. Leave it empty when you give a command.',
      })}
      ${field({
        label: 'Command',
        name: 'cmd',
        value: d.cmd,
        hint: 'Instead of a file: an image and its arguments to run, as az acr task create --cmd (e.g. alpine echo hello).',
      })}
      ${textarea({
        label: 'Images',
        name: 'images',
        value: d.images,
        hint: 'For a Dockerfile: the images to build and push, one a line (repository:tag, {{.Run.ID}} allowed).',
      })}
      ${field({
        label: 'Timeout (seconds)',
        name: 'timeout',
        type: 'number',
        value: d.timeout,
        hint: 'Empty: the default of this deployment.',
        attrs: html`min="300" max="28800"`,
      })}
      <fieldset>
        <legend>Triggers</legend>
        ${checkbox({ label: 'Run when a base image is updated', name: 'baseImageTrigger', checked: d.baseImageTrigger })}
        ${select({
          label: 'Base images that count',
          name: 'baseImageTriggerType',
          value: d.baseImageTriggerType,
          options: [
            ['Runtime', 'Runtime (the final stage’s base)'],
            ['All', 'All (every stage’s base)'],
          ],
        })}
        ${field({
          label: 'Timer (cron, UTC)',
          name: 'timerSchedule',
          value: d.timerSchedule,
          hint: 'Optional: e.g. 0 3 * * * runs it daily at 03:00 UTC.',
        })}
      </fieldset>
      <button type="submit">Create task</button>`,
    { label: 'Create a task' },
  );
}

/** A task's list row; `last` is its newest run, if any. */
function taskRow(reg: string, t: TaskView, last: RunView | undefined): Html {
  const trig = t.trigger;
  const triggers = [
    ...(trig.baseImageTrigger?.status === 'Enabled' ? [`base image (${trig.baseImageTrigger.baseImageTriggerType})`] : []),
    ...(trig.timerTriggers.length ? [`${trig.timerTriggers.length} ${trig.timerTriggers.length === 1 ? 'timer' : 'timers'}`] : []),
    ...(trig.sourceTriggers.length ? ['source'] : []),
  ];
  return html`<tr>
    <td><a href="${taskPath(reg, t.name)}">${t.name}</a></td>
    <td>${t.status}</td>
    <td>${t.step.type}</td>
    <td class="wrap"><code>${t.step.contextPath}</code></td>
    <td class="wrap">${triggers.join(', ') || html`<span class="muted">manual only</span>`}</td>
    <td>
      ${last ? html`<a href="${runPath(reg, last.runId)}">${last.runId}</a> ${runBadge(last.status)}` : html`<span class="muted">never run</span>`}
    </td>
  </tr>`;
}

async function listScreen(env: PortalEnv, reg: string, o: { draft: Draft; error?: RegistryError }): Promise<void> {
  const tasks = ((await api(env, 'GET', tasksApi(reg))) as { value: TaskView[] }).value;
  const lastRuns = await Promise.all(
    tasks.map(async (t) => ((await api(env, 'GET', runsApi(reg), { query: { task: t.name, top: 1 } })) as { value: RunView[] }).value[0]),
  );
  registryScreen(env, reg, 'tasks', {
    title: 'Tasks',
    status: o.error?.status,
    body: html`${tasksNav(reg, 'tasks')}${notice(env, { deleted: 'The task was deleted.' })}
      ${dataTable({
        caption: `${tasks.length} ${tasks.length === 1 ? 'task' : 'tasks'}`,
        columns: [
          { label: 'Name' },
          { label: 'Status' },
          { label: 'Step' },
          { label: 'Context' },
          { label: 'Triggers' },
          { label: 'Last run' },
        ],
        rows: tasks.map((t, i) => taskRow(reg, t, lastRuns[i])),
        empty: 'No tasks yet.',
      })}
      <section aria-labelledby="create-h">
        <h2 id="create-h">Create a task</h2>
        ${o.error ? html`<p class="error" role="alert">${o.error.message}</p>` : ''} ${createForm(env, reg, o.draft)}
      </section>`,
  });
}

export const taskListScreens = [
  route('GET /portal/registries/:reg/tasks', {
    handler: (env) => listScreen(env, env.params.reg, { draft: EMPTY }),
  }),
  route('POST /portal/registries/:reg/tasks', {
    handler: async (env) => {
      const reg = env.params.reg;
      const d = draftOf(env);
      const images = lines(d.images);
      try {
        const made = (await api(env, 'POST', tasksApi(reg), {
          json: {
            name: d.name,
            contextPath: d.contextPath,
            ...(d.cmd ? { cmd: d.cmd } : d.file ? { file: d.file } : {}),
            ...(images.length ? { imageNames: images } : {}),
            ...(d.timeout ? { timeout: Number(d.timeout) } : {}),
            baseImageTriggerEnabled: d.baseImageTrigger,
            baseImageTriggerType: d.baseImageTriggerType,
            ...(d.timerSchedule ? { timers: [{ name: 't1', schedule: d.timerSchedule }] } : {}),
          },
        })) as TaskView;
        redirect(env, taskPath(reg, made.name), 'created');
      } catch (e) {
        if (!(e instanceof RegistryError) || e.status >= 500) throw e;
        await listScreen(env, reg, { draft: d, error: e });
      }
    },
  }),
];
