import type { RoleAssignmentView, ServicePrincipalView, UserView } from '../../../services/identity/views.js';
import { api, seg } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  checkbox,
  checked,
  dataTable,
  field,
  formValue,
  notice,
  postButton,
  postForm,
  redirect,
  requireTyped,
  screen,
  secretOnce,
  select,
  typedConfirm,
  when,
} from '../ui.js';
import { secretScreen } from './secret.js';
import {
  accessPath,
  createRoleAssignment,
  list,
  one,
  ROLE_OPTIONS,
  roleAssignmentForm,
  roleAssignmentTable,
  scopeFromForm,
} from './forms.js';

// Access across the deployment (/portal/access): users, service principals and every role
// assignment. The screen is for those GET /api/users admits (deployment-wide readers); creating
// and changing needs what the API asks for each (manage_users, assign_roles). Generated secrets
// are shown once, in the answer to the POST that made them, and nowhere else.

const NOTICES = {
  'user-created': 'User created.',
  'user-enabled': 'User enabled.',
  'user-disabled': 'User disabled: its sessions and tokens stop working.',
  'user-deleted': 'User deleted, with its role assignments.',
  'password-set': 'Password changed.',
  'sp-deleted': 'Service principal deleted, with its secrets and role assignments.',
  'role-added': 'Role assignment added.',
  'role-removed': 'Role assignment removed.',
};

const DEPLOYMENT = accessPath.deployment;

function usersTable(env: PortalEnv, users: UserView[]): Html {
  return dataTable({
    caption: `${users.length} ${users.length === 1 ? 'user' : 'users'}`,
    empty: 'No users.',
    columns: [{ label: 'Name' }, { label: 'Status' }, { label: 'Created' }, { label: 'Action' }],
    rows: users.map(
      (u) =>
        html`<tr>
          <td><a href="${accessPath.user(u.name)}">${u.name}</a></td>
          <td>${u.enabled ? 'enabled' : html`<span class="badge bad">disabled</span>`}</td>
          <td>${when(u.createdAt)}</td>
          <td>${enableButton(env, u)}</td>
        </tr>`,
    ),
  });
}

const enableButton = (env: PortalEnv, u: UserView): Html =>
  postButton(env, `${accessPath.user(u.name)}/enabled`, u.enabled ? 'Disable' : 'Enable', {
    fields: { enabled: u.enabled ? 'false' : 'true' },
    secondary: true,
    title: `${u.enabled ? 'Disable' : 'Enable'} ${u.name}`,
  });

function spTable(sps: ServicePrincipalView[]): Html {
  return dataTable({
    caption: `${sps.length} service ${sps.length === 1 ? 'principal' : 'principals'}`,
    empty: 'No service principals.',
    columns: [{ label: 'Display name' }, { label: 'App id (user name)' }, { label: 'Secrets', num: true }, { label: 'Created' }],
    rows: sps.map(
      (s) =>
        html`<tr>
          <td class="wrap"><a href="${accessPath.sp(s.appId)}">${s.displayName}</a></td>
          <td><code>${s.appId}</code></td>
          <td class="num">${s.passwordCredentials.length}</td>
          <td>${when(s.createdDateTime)}</td>
        </tr>`,
    ),
  });
}

function createUserForm(env: PortalEnv): Html {
  return postForm(
    env,
    `${DEPLOYMENT}/users`,
    html`${field({ label: 'User name', name: 'name', required: true, hint: '3–64 letters, digits, ".", "_", "@" or "-".', attrs: html`autocomplete="off"` })}
      ${field({
        label: 'Password',
        name: 'password',
        type: 'password',
        hint: 'At least 12 characters. Leave empty and Berth generates one, shown once.',
        attrs: html`autocomplete="new-password"`,
      })} <button type="submit">Create user</button>`,
    { label: 'Create a user' },
  );
}

function createSpForm(env: PortalEnv): Html {
  return postForm(
    env,
    `${DEPLOYMENT}/service-principals`,
    html`${field({ label: 'Display name', name: 'displayName', required: true, attrs: html`autocomplete="off"` })}
      ${select({ label: 'Role (optional)', name: 'role', options: [['', 'No role'], ...ROLE_OPTIONS], value: '' })}
      ${field({ label: 'Registry', name: 'registry', hint: 'Where the role applies; empty for the whole deployment.', attrs: html`autocomplete="off"` })}
      ${field({ label: 'Repository', name: 'repository', hint: 'Optional: a repository or prefix/* in that registry.', attrs: html`autocomplete="off"` })}
      <button type="submit">Create service principal</button>`,
    { label: 'Create a service principal' },
  );
}

async function deploymentScreen(env: PortalEnv): Promise<void> {
  // Users first: GET /api/users needs read at the deployment, and refuses (403) everyone else.
  const users = await list<UserView>(env, '/api/users');
  const sps = await list<ServicePrincipalView>(env, '/api/service-principals');
  const assignments = await list<RoleAssignmentView>(env, '/api/role-assignments');
  screen(env, {
    title: 'Access',
    current: DEPLOYMENT,
    body: html`<h1>Access</h1>
      ${notice(env, NOTICES)}
      <section aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        ${usersTable(env, users)}
        <details class="access-more">
          <summary>Create a user</summary>
          ${createUserForm(env)}
        </details>
      </section>
      <section aria-labelledby="sps-h">
        <h2 id="sps-h">Service principals</h2>
        ${spTable(sps)}
        <details class="access-more">
          <summary>Create a service principal</summary>
          ${createSpForm(env)}
        </details>
      </section>
      <section aria-labelledby="roles-h">
        <h2 id="roles-h">Role assignments</h2>
        ${roleAssignmentTable(
          env,
          assignments,
          (id) => `${DEPLOYMENT}/role-assignments/${seg(id)}/delete`,
          `${assignments.length} role ${assignments.length === 1 ? 'assignment' : 'assignments'}`,
        )}
        <details class="access-more">
          <summary>Add a role assignment</summary>
          ${roleAssignmentForm(env, `${DEPLOYMENT}/role-assignments`)}
        </details>
      </section>`,
  });
}

export const deploymentAccessScreens = [
  route('GET /portal/access', { handler: (env) => deploymentScreen(env) }),

  // ---------------------------------------------------------------- users
  route('POST /portal/access/users', {
    handler: async (env) => {
      const password = formValue(env, 'password');
      const user = await one<UserView & { password?: string }>(env, 'POST', '/api/users', {
        name: formValue(env, 'name').trim(),
        ...(password ? { password } : {}),
      });
      if (!user.password) return redirect(env, accessPath.user(user.name), 'user-created');
      secretScreen(env, {
        title: `User ${user.name} created`,
        secret: secretOnce(`Password of ${user.name}`, user.password),
        next: html`<a href="${accessPath.user(user.name)}">Go to ${user.name}</a>`,
      });
    },
  }),
  route('GET /portal/access/users/:name', {
    handler: async (env) => {
      const name = env.params.name;
      const u = await one<UserView>(env, 'GET', `/api/users/${seg(name)}`);
      const assignments = await list<RoleAssignmentView>(env, '/api/role-assignments', { assignee: u.name });
      const self = accessPath.user(u.name);
      screen(env, {
        title: `User ${u.name}`,
        current: DEPLOYMENT,
        body: html`<p class="crumbs"><a href="${DEPLOYMENT}">Access</a> / Users</p>
          <h1>${u.name}</h1>
          ${notice(env, NOTICES)}
          <dl class="facts">
            <dt>Status</dt>
            <dd>${u.enabled ? 'enabled' : 'disabled'} ${enableButton(env, u)}</dd>
            <dt>Created</dt>
            <dd>${when(u.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>${when(u.updatedAt)}</dd>
          </dl>
          <h2>Role assignments</h2>
          ${roleAssignmentTable(env, assignments, (id) => `${DEPLOYMENT}/role-assignments/${seg(id)}/delete`, `Roles of ${u.name}`, self)}
          <h2>Reset the password</h2>
          ${postForm(
            env,
            `${self}/password`,
            html`${field({
                label: 'New password',
                name: 'password',
                type: 'password',
                required: true,
                hint: 'At least 12 characters. The user’s sessions end.',
                attrs: html`autocomplete="new-password"`,
              })} <button type="submit">Set password</button>`,
            { label: 'Reset the password' },
          )}
          ${typedConfirm(env, {
            action: `${self}/delete`,
            name: u.name,
            what: 'this user',
            consequence: 'Its role assignments are deleted too, and it can no longer sign in.',
          })}`,
      });
    },
  }),
  route('POST /portal/access/users/:name/enabled', {
    handler: async (env) => {
      const name = env.params.name;
      const enabled = formValue(env, 'enabled') === 'true';
      await api(env, 'PATCH', `/api/users/${seg(name)}`, { json: { enabled } });
      redirect(env, accessPath.user(name), enabled ? 'user-enabled' : 'user-disabled');
    },
  }),
  route('POST /portal/access/users/:name/password', {
    handler: async (env) => {
      const name = env.params.name;
      await api(env, 'PATCH', `/api/users/${seg(name)}`, { json: { password: formValue(env, 'password') } });
      redirect(env, accessPath.user(name), 'password-set');
    },
  }),
  route('POST /portal/access/users/:name/delete', {
    handler: async (env) => {
      const name = env.params.name;
      requireTyped(env, name);
      await api(env, 'DELETE', `/api/users/${seg(name)}`);
      redirect(env, DEPLOYMENT, 'user-deleted');
    },
  }),

  // ---------------------------------------------------------------- service principals
  route('POST /portal/access/service-principals', {
    handler: async (env) => {
      const role = formValue(env, 'role');
      const sp = await one<{ appId: string; displayName: string; password: string; roleAssignment?: RoleAssignmentView }>(
        env,
        'POST',
        '/api/service-principals',
        { displayName: formValue(env, 'displayName'), ...(role ? { role, scopes: scopeFromForm(env) } : {}) },
      );
      secretScreen(env, {
        title: 'Service principal created',
        secret: html`<p>
            ${sp.displayName}: app id <code>${sp.appId}</code>${
              sp.roleAssignment ? ` with ${sp.roleAssignment.roleDefinitionName} at ${sp.roleAssignment.scope}` : ''
            }.
          </p>
          ${secretOnce(`Secret of ${sp.appId} (its password)`, sp.password)}`,
        next: html`<a href="${accessPath.sp(sp.appId)}">Go to the service principal</a>`,
      });
    },
  }),
  route('GET /portal/access/service-principals/:appId', {
    handler: async (env) => spScreen(env, env.params.appId),
  }),
  route('POST /portal/access/service-principals/:appId/credentials', {
    handler: async (env) => {
      const appId = env.params.appId;
      const r = await one<{ appId: string; password: string }>(env, 'POST', `/api/service-principals/${seg(appId)}/credentials`, {
        append: checked(env, 'append'),
      });
      secretScreen(env, {
        title: 'New secret',
        secret: secretOnce(`New secret of ${r.appId}`, r.password),
        next: html`<a href="${accessPath.sp(r.appId)}">Back to the service principal</a>`,
      });
    },
  }),
  route('POST /portal/access/service-principals/:appId/delete', {
    handler: async (env) => {
      const appId = env.params.appId;
      requireTyped(env, appId);
      await api(env, 'DELETE', `/api/service-principals/${seg(appId)}`);
      redirect(env, DEPLOYMENT, 'sp-deleted');
    },
  }),

  // ---------------------------------------------------------------- role assignments
  route('POST /portal/access/role-assignments', {
    handler: async (env) => {
      await createRoleAssignment(env);
      redirect(env, DEPLOYMENT, 'role-added');
    },
  }),
  route('POST /portal/access/role-assignments/:id/delete', {
    handler: async (env) => {
      await api(env, 'DELETE', `/api/role-assignments/${seg(env.params.id)}`);
      // Back to the user's or service principal's screen it was removed from; only those shapes, so
      // the form cannot send the browser anywhere else.
      const back = formValue(env, 'back');
      redirect(env, /^\/portal\/access\/(users|service-principals)\/[A-Za-z0-9._%-]+$/.test(back) ? back : DEPLOYMENT, 'role-removed');
    },
  }),
];

async function spScreen(env: PortalEnv, appId: string): Promise<void> {
  const sp = await one<ServicePrincipalView>(env, 'GET', `/api/service-principals/${seg(appId)}`);
  const assignments = await list<RoleAssignmentView>(env, '/api/role-assignments', { assignee: sp.appId });
  const self = accessPath.sp(sp.appId);
  // The secrets table's cells wrap: a table with nothing focusable must not scroll sideways on a
  // phone, where keyboard users could not scroll it.
  const creds = sp.passwordCredentials;
  screen(env, {
    title: `Service principal ${sp.displayName}`,
    current: DEPLOYMENT,
    body: html`<p class="crumbs"><a href="${DEPLOYMENT}">Access</a> / Service principals</p>
      <h1>${sp.displayName}</h1>
      ${notice(env, NOTICES)}
      <dl class="facts">
        <dt>App id (user name)</dt>
        <dd><code>${sp.appId}</code></dd>
        <dt>Created</dt>
        <dd>${when(sp.createdDateTime)}</dd>
      </dl>
      <h2>Secrets</h2>
      ${dataTable({
        caption: `${creds.length} ${creds.length === 1 ? 'secret' : 'secrets'}`,
        empty: 'No secrets: it cannot sign in.',
        columns: [{ label: 'Key id' }, { label: 'Hint' }, { label: 'Valid from' }, { label: 'Expires' }],
        rows: creds.map(
          (c) =>
            html`<tr>
              <td class="wrap"><code>${c.keyId}</code></td>
              <td class="wrap"><code>${c.hint}</code>…</td>
              <td class="wrap">${when(c.startDateTime)}</td>
              <td class="wrap">${when(c.endDateTime)}</td>
            </tr>`,
        ),
      })}
      ${postForm(
        env,
        `${self}/credentials`,
        html`${checkbox({ label: 'Keep the existing secrets (append)', name: 'append' })} <button type="submit">New secret</button>`,
        { label: 'New secret' },
      )}
      <h2>Role assignments</h2>
      ${roleAssignmentTable(
        env,
        assignments,
        (id) => `${DEPLOYMENT}/role-assignments/${seg(id)}/delete`,
        `Roles of ${sp.displayName}`,
        self,
      )}
      ${typedConfirm(env, {
        action: `${self}/delete`,
        name: sp.appId,
        what: 'this service principal',
        consequence: 'Its secrets and role assignments are deleted too. Type its app id.',
      })}`,
  });
}
