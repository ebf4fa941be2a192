import { api, seg } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { dataTable, field, formValue, notice, postButton, postForm, redirect, registryScreen, select, when } from '../ui.js';
import { purgeScreens } from './purge.js';
import {
  numberField,
  policiesApi,
  policiesPath,
  postedSpec,
  purgeRunPath,
  specFields,
  type ImmutabilityPolicy,
  type PurgeScheduleView,
  type RegistryView,
  type RetentionPolicyView,
  type SoftDeletePolicy,
} from './spec.js';

// A registry's policies (GET /portal/registries/{r}/policies), each read and changed through its
// /api route: the quarantine policy (PATCH /api/registries/{r} policies.quarantinePolicy), the
// retention policy (…/retention), soft delete (…/softDeletePolicy), immutability rules
// (…/immutability), purge schedules (…/purge/schedules) and a purge on demand, previewed first
// (purge.ts).

type Env = PortalEnv & { params: { reg: string } };

const statusSelect = (value: string, label = 'Status') =>
  select({
    label,
    name: 'status',
    value,
    options: [
      ['enabled', 'enabled'],
      ['disabled', 'disabled'],
    ],
  });

const MESSAGES = {
  quarantine: 'The quarantine policy was saved.',
  retention: 'The retention policy was saved.',
  softDelete: 'The soft delete policy was saved.',
  ruleAdded: 'The immutability rule was added.',
  ruleDeleted: 'The immutability rule was deleted.',
  scheduleAdded: 'The purge schedule was created.',
  scheduleDeleted: 'The purge schedule was deleted.',
};

function immutabilitySection(env: Env, rules: ImmutabilityPolicy[]): Html {
  const reg = env.params.reg;
  return html`<section aria-labelledby="immutability-h">
    <h2 id="immutability-h">Immutability rules</h2>
    <p class="muted">Tags matching a rule cannot be overwritten or deleted once pushed.</p>
    ${dataTable({
      caption: 'Immutability rules',
      columns: [{ label: 'Name' }, { label: 'Repository' }, { label: 'Tag' }, { label: 'Created' }, { label: 'Delete' }],
      rows: rules.map(
        (r) =>
          html`<tr>
            <td>${r.name}</td>
            <td><code>${r.repository}</code></td>
            <td><code>${r.tag}</code></td>
            <td>${when(r.createdAt)}</td>
            <td>
              ${postButton(env, `${policiesPath(reg)}/immutability/${seg(r.name)}/delete`, 'Delete', {
                danger: true,
                title: `Delete rule ${r.name}`,
              })}
            </td>
          </tr>`,
      ),
      empty: 'No immutability rules.',
    })}
    <h3>Add a rule</h3>
    ${postForm(
      env,
      `${policiesPath(reg)}/immutability`,
      html`${field({ label: 'Rule name', name: 'name', required: true, hint: '1–50 letters, digits, "-" or "_".' })}
        ${field({ label: 'Repository pattern', name: 'repository', placeholder: '**', hint: 'e.g. prod/** (empty: every repository).' })}
        ${field({ label: 'Tag pattern', name: 'tag', placeholder: '*', hint: 'e.g. v* (empty: every tag).' })}
        <button type="submit">Add rule</button>`,
      { label: 'Add an immutability rule' },
    )}
  </section>`;
}

function schedulesSection(env: Env, schedules: PurgeScheduleView[]): Html {
  const reg = env.params.reg;
  return html`<section aria-labelledby="schedules-h">
    <h2 id="schedules-h">Purge schedules</h2>
    ${dataTable({
      caption: 'Purge schedules',
      columns: [
        { label: 'Name' },
        { label: 'Schedule (UTC)' },
        { label: 'Status' },
        { label: 'Filters' },
        { label: 'Older than' },
        { label: 'Keep', num: true },
        { label: 'Next run' },
        { label: 'Last run' },
        { label: 'Actions' },
      ],
      rows: schedules.map((s) => {
        const base = `${policiesPath(reg)}/schedules/${seg(s.name)}`;
        return html`<tr>
          <td>${s.name}</td>
          <td><code>${s.schedule}</code></td>
          <td>${s.status}</td>
          <td>
            ${s.filters.map((f) => html`<code>${f}</code> `)}${s.untaggedOnly ? ' (untagged only)' : s.untagged ? ' (+ untagged)' : ''}
          </td>
          <td>${s.ago}</td>
          <td class="num">${s.keep ?? '–'}</td>
          <td>${when(s.nextRunTime)}</td>
          <td>${s.lastJobId ? html`<a href="${purgeRunPath(reg, s.lastJobId)}">${when(s.lastRunTime)}</a>` : when(s.lastRunTime)}</td>
          <td>
            ${postButton(env, `${base}/run`, 'Run now', { secondary: true, title: `Run schedule ${s.name} now` })}
            ${postButton(env, `${base}/delete`, 'Delete', { danger: true, title: `Delete schedule ${s.name}` })}
          </td>
        </tr>`;
      }),
      empty: 'No purge schedules.',
    })}
    <h3>Create a schedule</h3>
    ${postForm(
      env,
      `${policiesPath(reg)}/schedules`,
      html`${field({ label: 'Schedule name', name: 'name', required: true, hint: '1–50 letters, digits, "-" or "_".' })}
        ${field({ label: 'When (cron, UTC)', name: 'schedule', required: true, placeholder: '0 0 * * *', hint: 'Five fields: minute hour day month weekday.' })}
        ${specFields()} ${statusSelect('enabled')} <button type="submit">Create schedule</button>`,
      { label: 'Create a purge schedule' },
    )}
  </section>`;
}

export const policiesScreens = [
  route('GET /portal/registries/:reg/policies', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      const base = policiesApi(reg);
      // The registry first: a caller who may not read it gets the API's refusal, not four.
      const registry = (await api(env, 'GET', base)) as RegistryView;
      const [retention, softDelete, rules, schedules] = (await Promise.all([
        api(env, 'GET', `${base}/retention`),
        api(env, 'GET', `${base}/softDeletePolicy`),
        api(env, 'GET', `${base}/immutability`),
        api(env, 'GET', `${base}/purge/schedules`),
      ])) as [RetentionPolicyView, SoftDeletePolicy, { value: ImmutabilityPolicy[] }, { value: PurgeScheduleView[] }];
      const path = policiesPath(reg);
      const quarantine = registry.policies.quarantinePolicy.status;
      registryScreen(env, reg, 'policies', {
        title: 'Policies',
        body: html`${notice(env, MESSAGES)}
          <section aria-labelledby="quarantine-h">
            <h2 id="quarantine-h">Quarantine</h2>
            <p class="muted">
              When enabled, a newly pushed image stays hidden from ordinary pulls until it is marked Passed (by a scan or an
              AcrQuarantineWriter).
            </p>
            ${postForm(
              env,
              `${path}/quarantine`,
              html`${statusSelect(quarantine, 'Quarantine policy')} <button type="submit">Save</button>`,
              { label: 'Quarantine policy' },
            )}
          </section>
          <section aria-labelledby="retention-h">
            <h2 id="retention-h">Retention of untagged manifests</h2>
            <p class="muted">
              Deletes manifests that have had no tag for the given days (Premium only). Last changed: ${when(retention.lastUpdatedTime)}.
            </p>
            ${postForm(
              env,
              `${path}/retention`,
              html`${statusSelect(retention.status, 'Retention policy')}
                ${field({ label: 'Days', name: 'days', type: 'number', value: retention.days, attrs: html`min="0" max="365"`, hint: '0–365.' })}
                <button type="submit">Save</button>`,
              { label: 'Retention policy' },
            )}
          </section>
          <section aria-labelledby="softdelete-h">
            <h2 id="softdelete-h">Soft delete</h2>
            <p class="muted">Deleted manifests and tags go to a recycle bin for the given days, where they can be restored.</p>
            ${postForm(
              env,
              `${path}/soft-delete`,
              html`${statusSelect(softDelete.status, 'Soft delete policy')}
                ${field({
                  label: 'Retention days',
                  name: 'retentionDays',
                  type: 'number',
                  value: softDelete.retentionDays,
                  attrs: html`min="1" max="90"`,
                  hint: '1–90.',
                })} <button type="submit">Save</button>`,
              { label: 'Soft delete policy' },
            )}
          </section>
          ${immutabilitySection(env, rules.value)} ${schedulesSection(env, schedules.value)}
          <section aria-labelledby="purge-h">
            <h2 id="purge-h">Purge now</h2>
            <p class="muted">Shows what would be deleted first (a dry run); nothing is deleted until you confirm.</p>
            ${postForm(env, `${path}/purge/preview`, html`${specFields()} <button type="submit">Preview</button>`, {
              label: 'Purge now',
            })}
          </section>`,
      });
    },
  }),
  route('POST /portal/registries/:reg/policies/quarantine', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      await api(env, 'PATCH', policiesApi(reg), { json: { policies: { quarantinePolicy: { status: formValue(env, 'status') } } } });
      redirect(env, policiesPath(reg), 'quarantine');
    },
  }),
  route('POST /portal/registries/:reg/policies/retention', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      await api(env, 'PATCH', `${policiesApi(reg)}/retention`, {
        json: { status: formValue(env, 'status') || undefined, days: numberField(env, 'days') },
      });
      redirect(env, policiesPath(reg), 'retention');
    },
  }),
  route('POST /portal/registries/:reg/policies/soft-delete', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      await api(env, 'PATCH', `${policiesApi(reg)}/softDeletePolicy`, {
        json: { status: formValue(env, 'status') || undefined, retentionDays: numberField(env, 'retentionDays') },
      });
      redirect(env, policiesPath(reg), 'softDelete');
    },
  }),
  route('POST /portal/registries/:reg/policies/immutability', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      await api(env, 'POST', `${policiesApi(reg)}/immutability`, {
        json: {
          name: formValue(env, 'name'),
          repository: formValue(env, 'repository') || undefined,
          tag: formValue(env, 'tag') || undefined,
        },
      });
      redirect(env, policiesPath(reg), 'ruleAdded');
    },
  }),
  route('POST /portal/registries/:reg/policies/immutability/:name/delete', {
    handler: async (env: Env & { params: { name: string } }) => {
      const { reg, name } = env.params;
      await api(env, 'DELETE', `${policiesApi(reg)}/immutability/${seg(name)}`);
      redirect(env, policiesPath(reg), 'ruleDeleted');
    },
  }),
  route('POST /portal/registries/:reg/policies/schedules', {
    handler: async (env: Env) => {
      const reg = env.params.reg;
      await api(env, 'POST', `${policiesApi(reg)}/purge/schedules`, {
        json: {
          name: formValue(env, 'name'),
          schedule: formValue(env, 'schedule'),
          status: formValue(env, 'status') || undefined,
          ...postedSpec(env),
        },
      });
      redirect(env, policiesPath(reg), 'scheduleAdded');
    },
  }),
  route('POST /portal/registries/:reg/policies/schedules/:name/run', {
    handler: async (env: Env & { params: { name: string } }) => {
      const { reg, name } = env.params;
      const queued = (await api(env, 'POST', `${policiesApi(reg)}/purge/schedules/${seg(name)}/run`)) as { jobId: number };
      redirect(env, purgeRunPath(reg, queued.jobId), 'queued');
    },
  }),
  route('POST /portal/registries/:reg/policies/schedules/:name/delete', {
    handler: async (env: Env & { params: { name: string } }) => {
      const { reg, name } = env.params;
      await api(env, 'DELETE', `${policiesApi(reg)}/purge/schedules/${seg(name)}`);
      redirect(env, policiesPath(reg), 'scheduleDeleted');
    },
  }),
  ...purgeScreens,
];
