import type { RoleAssignmentView, ScopeMapView, TokenPasswordView, TokenView } from '../../../services/identity/views.js';
import { api, apiPath, seg } from '../api.js';
import { route, type PortalEnv, loginServerOf } from '../common.js';
import { html, type Html } from '../html.js';
import {
  copyable,
  dataTable,
  field,
  formValue,
  notice,
  postButton,
  postForm,
  redirect,
  registryScreen,
  requireTyped,
  secretOnce,
  select,
  typedConfirm,
  when,
} from '../ui.js';
import {
  accessPath,
  actionsFromForm,
  createRoleAssignment,
  list,
  one,
  roleAssignmentForm,
  roleAssignmentTable,
  scopeMapEditor,
} from './forms.js';
import { secretScreen } from './secret.js';

// A registry's access (/portal/registries/{r}/access): repository-scoped tokens, the scope maps
// they use, and the role assignments at this registry or its repositories. Reads and changes go
// through the /api routes of the same names; a token's passwords are shown once, in the answer to
// the POST that generated them.

const NOTICES = {
  'token-enabled': 'Token enabled.',
  'token-disabled': 'Token disabled: its passwords no longer work.',
  'token-deleted': 'Token deleted.',
  'token-scope-map': 'Scope map of the token changed.',
  'password-deleted': 'Password deleted: it no longer works.',
  'map-created': 'Scope map created.',
  'map-saved': 'Scope map saved.',
  'map-deleted': 'Scope map deleted.',
  'role-added': 'Role assignment added.',
  'role-removed': 'Role assignment removed.',
};

type RegEnv = PortalEnv & { params: { reg: string } };

/** The registry as the API names it (404 or 403 from the API when it is unknown or not readable). */
async function registryName(env: RegEnv): Promise<string> {
  return (await one<{ name: string }>(env, 'GET', apiPath.registry(env.params.reg))).name;
}

const tokenApi = (reg: string, name?: string) => `${apiPath.registry(reg)}/tokens${name === undefined ? '' : `/${seg(name)}`}`;
const mapApi = (reg: string, name?: string) => `${apiPath.registry(reg)}/scope-maps${name === undefined ? '' : `/${seg(name)}`}`;

/** Role assignments at this registry or any of its repositories. */
function ofRegistry(all: RoleAssignmentView[], reg: string): RoleAssignmentView[] {
  const at = `/registries/${reg}`.toLowerCase();
  return all.filter((a) => {
    const s = a.scope.toLowerCase();
    return s === at || s.startsWith(`${at}/`);
  });
}

const statusBadge = (status: string): Html => (status === 'enabled' ? html`enabled` : html`<span class="badge bad">${status}</span>`);

function tokensTable(env: PortalEnv, reg: string, tokens: TokenView[]): Html {
  return dataTable({
    caption: `${tokens.length} ${tokens.length === 1 ? 'token' : 'tokens'}`,
    empty: 'No tokens yet.',
    columns: [{ label: 'Name (user name)' }, { label: 'Scope map' }, { label: 'Status' }, { label: 'Passwords' }, { label: 'Created' }],
    rows: tokens.map(
      (t) =>
        html`<tr>
          <td><a href="${accessPath.token(reg, t.name)}">${t.name}</a></td>
          <td>${t.scopeMapName}</td>
          <td>${statusBadge(t.status)}</td>
          <td>${t.credentials.passwords.map((p) => p.name).join(', ') || '–'}</td>
          <td>${when(t.creationDate)}</td>
        </tr>`,
    ),
  });
}

function mapsTable(reg: string, maps: ScopeMapView[]): Html {
  return dataTable({
    caption: `${maps.length} scope ${maps.length === 1 ? 'map' : 'maps'}`,
    empty: 'No scope maps.',
    columns: [{ label: 'Name' }, { label: 'Type' }, { label: 'Description' }, { label: 'Actions' }],
    rows: maps.map(
      (m) =>
        html`<tr>
          <td><a href="${accessPath.scopeMap(reg, m.name)}">${m.name}</a></td>
          <td>${m.type === 'SystemDefined' ? 'system' : 'custom'}</td>
          <td class="wrap">${m.description}</td>
          <td class="wrap">${m.actions.length} ${m.actions.length === 1 ? 'action' : 'actions'}</td>
        </tr>`,
    ),
  });
}

const mapOptions = (maps: ScopeMapView[]) => maps.map((m) => [m.name, m.name] as const);

export const registryAccessScreens = [
  route('GET /portal/registries/:reg/access', {
    handler: async (env) => {
      const reg = await registryName(env);
      const tokens = await list<TokenView>(env, tokenApi(reg));
      const maps = await list<ScopeMapView>(env, mapApi(reg));
      const roles = ofRegistry(await list<RoleAssignmentView>(env, '/api/role-assignments'), reg);
      const base = accessPath.registry(reg);
      registryScreen(env, reg, 'access', {
        title: 'Access',
        body: html`${notice(env, NOTICES)}
          <section aria-labelledby="tokens-h">
            <h2 id="tokens-h">Tokens</h2>
            <p class="muted">A token is a user name and two passwords for registry clients, limited to what its scope map allows.</p>
            ${tokensTable(env, reg, tokens)}
            <details class="access-more">
              <summary>Create a token</summary>
              ${postForm(
                env,
                `${base}/tokens`,
                html`${field({ label: 'Token name', name: 'name', required: true, hint: '5–50 letters, digits, "-" or "_".', attrs: html`autocomplete="off"` })}
                  ${select({ label: 'Scope map', name: 'scopeMap', options: mapOptions(maps), value: '_repositories_pull' })}
                  ${select({
                    label: 'Status',
                    name: 'status',
                    options: [
                      ['enabled', 'enabled'],
                      ['disabled', 'disabled'],
                    ],
                    value: 'enabled',
                  })} <button type="submit">Create token</button>`,
                { label: 'Create a token' },
              )}
            </details>
          </section>
          <section aria-labelledby="maps-h">
            <h2 id="maps-h">Scope maps</h2>
            ${mapsTable(reg, maps)}
            <details class="access-more">
              <summary>Create a scope map</summary>
              ${postForm(
                env,
                `${base}/scope-maps`,
                html`${field({ label: 'Scope map name', name: 'name', required: true, hint: '5–50 letters, digits, "-" or "_".', attrs: html`autocomplete="off"` })}
                  ${field({ label: 'Description', name: 'description', attrs: html`autocomplete="off"` })} ${scopeMapEditor()}
                  <button type="submit">Create scope map</button>`,
                { label: 'Create a scope map' },
              )}
            </details>
          </section>
          <section aria-labelledby="roles-h">
            <h2 id="roles-h">Role assignments</h2>
            ${roleAssignmentTable(env, roles, (id) => `${base}/role-assignments/${seg(id)}/delete`, `Roles at ${reg} and its repositories`)}
            <details class="access-more">
              <summary>Add a role assignment</summary>
              ${roleAssignmentForm(env, `${base}/role-assignments`, { registry: reg })}
            </details>
          </section>`,
      });
    },
  }),

  // ---------------------------------------------------------------- tokens
  route('POST /portal/registries/:reg/access/tokens', {
    handler: async (env) => {
      const reg = env.params.reg;
      const t = await one<TokenView>(env, 'POST', tokenApi(reg), {
        name: formValue(env, 'name').trim(),
        scopeMap: formValue(env, 'scopeMap'),
        status: formValue(env, 'status') || 'enabled',
      });
      passwordsScreen(env, t.registry, t.name, `Token ${t.name} created`, t.credentials.passwords);
    },
  }),
  route('GET /portal/registries/:reg/access/tokens/:name', {
    handler: async (env) => {
      const reg = await registryName(env);
      const t = await one<TokenView>(env, 'GET', tokenApi(reg, env.params.name));
      const maps = await list<ScopeMapView>(env, mapApi(reg));
      const self = accessPath.token(reg, t.name);
      const passwords = t.credentials.passwords;
      const enabled = t.status === 'enabled';
      registryScreen(env, reg, 'access', {
        title: `Token ${t.name}`,
        crumbs: html` / <a href="${accessPath.registry(reg)}">Access</a>`,
        body: html`${notice(env, NOTICES)}
          <dl class="facts">
            <dt>User name</dt>
            <dd><code>${t.credentials.username}</code></dd>
            <dt>Status</dt>
            <dd>
              ${statusBadge(t.status)}
              ${postButton(env, `${self}/status`, enabled ? 'Disable' : 'Enable', {
                fields: { status: enabled ? 'disabled' : 'enabled' },
                secondary: true,
              })}
            </dd>
            <dt>Scope map</dt>
            <dd><a href="${accessPath.scopeMap(reg, t.scopeMapName)}">${t.scopeMapName}</a></dd>
            <dt>Created</dt>
            <dd>${when(t.creationDate)}</dd>
          </dl>
          <h2>Passwords</h2>
          ${dataTable({
            caption: 'Passwords (their values are shown only when generated)',
            empty: 'No passwords: generate one to use the token.',
            columns: [{ label: 'Name' }, { label: 'Created' }, { label: 'Expires' }, { label: 'Action' }],
            rows: passwords.map(
              (p) =>
                html`<tr>
                  <td>${p.name}</td>
                  <td>${when(p.creationTime)}</td>
                  <td>${p.expiry ? when(p.expiry) : 'never'}</td>
                  <td>
                    ${postButton(env, `${self}/passwords/${seg(p.name)}/delete`, 'Delete', { danger: true, title: `Delete ${p.name}` })}
                  </td>
                </tr>`,
            ),
          })}
          <div class="actions">
            ${['password1', 'password2'].map((which) =>
              postButton(env, `${self}/passwords`, `Generate ${which}`, {
                fields: { which },
                title: `Generate ${which}: the old one stops working`,
              }),
            )}
          </div>
          <h2>Scope map</h2>
          ${postForm(
            env,
            `${self}/scope-map`,
            html`${select({ label: 'Scope map', name: 'scopeMap', options: mapOptions(maps), value: t.scopeMapName })}
              <button type="submit">Change scope map</button>`,
            { label: 'Change the scope map' },
          )}
          ${typedConfirm(env, { action: `${self}/delete`, name: t.name, what: 'this token', consequence: 'Its passwords stop working at once.' })}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/access/tokens/:name/status', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      const status = formValue(env, 'status');
      await api(env, 'PATCH', tokenApi(reg, name), { json: { status } });
      redirect(env, accessPath.token(reg, name), status === 'enabled' ? 'token-enabled' : 'token-disabled');
    },
  }),
  route('POST /portal/registries/:reg/access/tokens/:name/scope-map', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      await api(env, 'PATCH', tokenApi(reg, name), { json: { scopeMap: formValue(env, 'scopeMap') } });
      redirect(env, accessPath.token(reg, name), 'token-scope-map');
    },
  }),
  route('POST /portal/registries/:reg/access/tokens/:name/passwords', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      const which = formValue(env, 'which');
      // Only the password named is regenerated; an unknown name goes to the API, which refuses it.
      const r = await one<{ passwords: TokenPasswordView[] }>(env, 'POST', `${tokenApi(reg, name)}/credentials`, {
        [which || 'password1']: true,
      });
      passwordsScreen(env, reg, name, `New ${which || 'password1'} of ${name}`, r.passwords);
    },
  }),
  route('POST /portal/registries/:reg/access/tokens/:name/passwords/:password/delete', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      await api(env, 'DELETE', `${tokenApi(reg, name)}/credentials/${seg(env.params.password)}`);
      redirect(env, accessPath.token(reg, name), 'password-deleted');
    },
  }),
  route('POST /portal/registries/:reg/access/tokens/:name/delete', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      requireTyped(env, name);
      await api(env, 'DELETE', tokenApi(reg, name));
      redirect(env, accessPath.registry(reg), 'token-deleted');
    },
  }),

  // ---------------------------------------------------------------- scope maps
  route('POST /portal/registries/:reg/access/scope-maps', {
    handler: async (env) => {
      const reg = env.params.reg;
      const description = formValue(env, 'description');
      const m = await one<ScopeMapView>(env, 'POST', mapApi(reg), {
        name: formValue(env, 'name').trim(),
        actions: actionsFromForm(env),
        ...(description ? { description } : {}),
      });
      redirect(env, accessPath.scopeMap(m.registry, m.name), 'map-created');
    },
  }),
  route('GET /portal/registries/:reg/access/scope-maps/:name', {
    handler: async (env) => {
      const reg = await registryName(env);
      const m = await one<ScopeMapView>(env, 'GET', mapApi(reg, env.params.name));
      const users = (await list<TokenView>(env, tokenApi(reg))).filter((t) => t.scopeMapName === m.name);
      const self = accessPath.scopeMap(reg, m.name);
      const system = m.type === 'SystemDefined';
      registryScreen(env, reg, 'access', {
        title: `Scope map ${m.name}`,
        crumbs: html` / <a href="${accessPath.registry(reg)}">Access</a>`,
        body: html`${notice(env, NOTICES)} ${m.description ? html`<p>${m.description}</p>` : ''}
          <p>
            Used by:
            ${users.length ? users.map((t, i) => html`${i ? ', ' : ''}<a href="${accessPath.token(reg, t.name)}">${t.name}</a>`) : 'no token'}
          </p>
          ${
            system
              ? html`<h2>Actions</h2>
                  <p class="muted">A system scope map: Berth defines it, and it cannot be changed.</p>
                  <ul>
                    ${m.actions.map((a) => html`<li><code>${a}</code></li>`)}
                  </ul>`
              : html`<h2>Repository actions</h2>
                  ${postForm(
                    env,
                    self,
                    html`${field({ label: 'Description', name: 'description', value: m.description, attrs: html`autocomplete="off"` })}
                      ${scopeMapEditor(m.actions)} <button type="submit">Save scope map</button>`,
                    { label: 'Edit the scope map' },
                  )}
                  ${typedConfirm(env, {
                    action: `${self}/delete`,
                    name: m.name,
                    what: 'this scope map',
                    consequence: 'A scope map that tokens use cannot be deleted: give them another first.',
                  })}`
          }`,
      });
    },
  }),
  route('POST /portal/registries/:reg/access/scope-maps/:name', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      await api(env, 'PATCH', mapApi(reg, name), { json: { description: formValue(env, 'description'), actions: actionsFromForm(env) } });
      redirect(env, accessPath.scopeMap(reg, name), 'map-saved');
    },
  }),
  route('POST /portal/registries/:reg/access/scope-maps/:name/delete', {
    handler: async (env) => {
      const reg = env.params.reg;
      const name = env.params.name;
      requireTyped(env, name);
      await api(env, 'DELETE', mapApi(reg, name));
      redirect(env, accessPath.registry(reg), 'map-deleted');
    },
  }),

  // ---------------------------------------------------------------- role assignments
  route('POST /portal/registries/:reg/access/role-assignments', {
    handler: async (env) => {
      const reg = env.params.reg;
      await createRoleAssignment(env, reg);
      redirect(env, accessPath.registry(reg), 'role-added');
    },
  }),
  route('POST /portal/registries/:reg/access/role-assignments/:id/delete', {
    handler: async (env) => {
      const reg = env.params.reg;
      await api(env, 'DELETE', `/api/role-assignments/${seg(env.params.id)}`);
      redirect(env, accessPath.registry(reg), 'role-removed');
    },
  }),
];

/** A token's new passwords, shown once, with the user name and a login command. */
function passwordsScreen(env: PortalEnv, reg: string, token: string, title: string, passwords: TokenPasswordView[]): void {
  const server = loginServerOf(env, reg);
  secretScreen(env, {
    title,
    current: '/portal/registries',
    secret: html`<p>User name: <code>${token}</code></p>
      ${passwords.map((p) => (p.value ? secretOnce(`${p.name} of ${token}`, p.value) : ''))}
      <p>Sign in with: ${copyable(`docker login ${server} --username ${token} --password-stdin`)}</p>`,
    next: html`<a href="${accessPath.token(reg, token)}">Go to the token</a>`,
  });
}
