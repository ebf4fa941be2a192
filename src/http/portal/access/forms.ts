import { ROLES, SCOPE_MAP_ACTIONS } from '../../../auth/model.js';
import { RegistryError } from '../../../domain/errors.js';
import type { RoleAssignmentView } from '../../../services/identity/views.js';
import { api, seg, type CallOpts } from '../api.js';
import type { PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, dataTable, field, formValue, postButton, postForm, select, when } from '../ui.js';

// Pieces both Access screens share: role assignments (table and form), the scope-map action
// editor, and reading a path parameter. Every change goes through /api (api()); these only turn
// form fields into the API's request bodies.

/** A GET of an /api listing ({ value: [...] }), typed as the identity service's views. */
export async function list<T>(env: PortalEnv, path: string, query?: CallOpts['query']): Promise<T[]> {
  return ((await api(env, 'GET', path, { query })) as { value: T[] }).value;
}

/** A GET or change of one /api object, typed as the identity service's view. */
export async function one<T>(env: PortalEnv, method: 'GET' | 'POST' | 'PATCH', path: string, json?: Record<string, unknown>): Promise<T> {
  return (await api(env, method, path, json ? { json } : {})) as T;
}

export const accessPath = {
  deployment: '/portal/access',
  user: (name: string) => `/portal/access/users/${seg(name)}`,
  sp: (appId: string) => `/portal/access/service-principals/${seg(appId)}`,
  registry: (reg: string) => `/portal/registries/${seg(reg)}/access`,
  token: (reg: string, name: string) => `/portal/registries/${seg(reg)}/access/tokens/${seg(name)}`,
  scopeMap: (reg: string, name: string) => `/portal/registries/${seg(reg)}/access/scope-maps/${seg(name)}`,
};

export const ROLE_OPTIONS: readonly (readonly [string, string])[] = ROLES.map((r) => [r.name, `${r.name}: ${r.description}`] as const);

/**
 * The API's scope from a form's registry and repository fields: the deployment when both are
 * empty, a registry, or a repository (or prefix/*) in it.
 */
export function scopeFromForm(env: PortalEnv, fixedRegistry?: string): string {
  const reg = fixedRegistry ?? formValue(env, 'registry').trim();
  const repo = formValue(env, 'repository').trim();
  if (!reg) {
    if (repo) throw new RegistryError('REQUEST_INVALID', 'a repository scope needs its registry: give the registry too');
    return '/';
  }
  return repo ? `/registries/${reg}/repositories/${repo}` : `/registries/${reg}`;
}

/** The fields of a new role assignment (assignee, role, and the scope unless the screen fixes the registry). */
export function roleAssignmentForm(env: PortalEnv, action: string, o: { registry?: string } = {}): Html {
  return postForm(
    env,
    action,
    html`${field({
        label: 'Assignee',
        name: 'assignee',
        required: true,
        hint: 'A user name, or a service principal’s app id.',
        attrs: html`autocomplete="off"`,
      })}
      ${select({ label: 'Role', name: 'role', options: ROLE_OPTIONS, value: 'AcrPull' })}
      ${
        o.registry === undefined
          ? field({ label: 'Registry', name: 'registry', hint: 'Leave empty for the whole deployment.', attrs: html`autocomplete="off"` })
          : ''
      }
      ${field({
        label: 'Repository',
        name: 'repository',
        hint: 'Optional: a repository, or a prefix ending in /* (for example team/*). Empty: the whole registry.',
        attrs: html`autocomplete="off"`,
      })} <button type="submit">Add role assignment</button>`,
    { label: 'Add a role assignment' },
  );
}

/** Creates a role assignment from the form; the API checks the caller may assign roles there. */
export async function createRoleAssignment(env: PortalEnv, registry?: string): Promise<void> {
  await api(env, 'POST', '/api/role-assignments', {
    json: { assignee: formValue(env, 'assignee').trim(), role: formValue(env, 'role'), scope: scopeFromForm(env, registry) },
  });
}

/** Role assignments with a Remove button each, posting to `removeAction(id)` (with `back`, the screen to return to). */
export function roleAssignmentTable(
  env: PortalEnv,
  rows: RoleAssignmentView[],
  removeAction: (id: string) => string,
  caption: string,
  back?: string,
): Html {
  return dataTable({
    caption,
    empty: 'No role assignments here.',
    columns: [{ label: 'Principal' }, { label: 'Type' }, { label: 'Role' }, { label: 'Scope' }, { label: 'Created' }, { label: 'Action' }],
    rows: rows.map(
      (a) =>
        html`<tr>
          <td>
            ${a.principalType === 'User' ? html`<a href="${accessPath.user(a.principalName)}">${a.principalName}</a>` : a.principalName}
          </td>
          <td>${a.principalType === 'User' ? 'User' : 'Service principal'}</td>
          <td>${a.roleDefinitionName}</td>
          <td><code>${a.scope}</code></td>
          <td>${when(a.createdOn)}</td>
          <td>
            ${postButton(env, removeAction(a.id), 'Remove', {
              fields: back ? { back } : {},
              danger: true,
              title: `Remove ${a.roleDefinitionName} of ${a.principalName} at ${a.scope}`,
            })}
          </td>
        </tr>`,
    ),
  });
}

/** A scope map's rules grouped by repository: repository -> the actions checked. */
export function rulesByRepository(actions: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const a of actions) {
    const m = /^repositories\/(.+)\/(content\/(?:read|write|delete)|metadata\/(?:read|write))$/.exec(a);
    if (!m) continue;
    const set = out.get(m[1]!) ?? new Set<string>();
    set.add(m[2]!);
    out.set(m[1]!, set);
  }
  return out;
}

/** Extra empty rows offered for new repositories (without script a form cannot grow). */
const BLANK_ROWS = 3;

/** One fieldset per repository: its name and a checkbox per action. */
export function scopeMapEditor(actions: readonly string[] = []): Html {
  const rows = [...rulesByRepository(actions)];
  for (let i = 0; i < BLANK_ROWS; i++) rows.push(['', new Set()]);
  return html`${rows.map(
    ([repo, set], i) =>
      html`<fieldset class="access-rule">
        <legend>Repository ${i + 1}</legend>
        ${field({
          label: 'Repository name',
          name: `repo-${i}`,
          value: repo,
          hint: i === 0 ? 'A repository, or a prefix ending in /* (team/*). Leave a row empty to skip it.' : undefined,
          attrs: html`autocomplete="off"`,
        })}
        <div class="access-actions">
          ${SCOPE_MAP_ACTIONS.map((a) => checkbox({ label: a, name: `actions-${i}`, value: a, checked: set.has(a) }))}
        </div>
      </fieldset>`,
  )}`;
}

/** The scope-map actions the editor's rows describe ("repositories/<repo>/<action>"). */
export function actionsFromForm(env: PortalEnv): string[] {
  const form = env.form!;
  const out: string[] = [];
  for (const [key, value] of form) {
    const m = /^repo-(\d{1,3})$/.exec(key);
    const repo = value.trim();
    if (!m || !repo) continue;
    const checked = form.getAll(`actions-${m[1]}`);
    if (checked.length === 0)
      throw new RegistryError('REQUEST_INVALID', `repository "${repo.slice(0, 80)}": check at least one action, or empty its name`);
    for (const a of checked) out.push(`repositories/${repo}/${a}`);
  }
  return out;
}
