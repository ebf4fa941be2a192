import { RegistryError } from '../../../domain/errors.js';
import { api, apiPath, portalPath } from '../api.js';
import { route, type PortalEnv, loginServerOf } from '../common.js';
import { html, type Html } from '../html.js';
import {
  checkbox,
  checked,
  copyable,
  copyButton,
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
} from '../ui.js';
import { registriesPath, SKUS, type RegistryJson } from './common.js';

// A registry's settings (/portal/registries/{r}/settings): SKU, admin user, anonymous pull and the
// quarantine policy (PATCH /api/registries/{r}); the admin user's name and two passwords, each
// regenerated on its own (GET …/credentials, POST …/credentials/renew: ACR's Access keys); and
// deleting the registry, with its name typed (DELETE /api/registries/{r}). Every change needs the
// registry's write power, which the API checks: readers see the settings and get its 403.

interface Credentials {
  username: string;
  passwords: { name: string; value: string }[];
}

const MESSAGES = { saved: 'The settings were saved.', unchanged: 'Nothing was changed.' };

/** The admin credentials, or why they are not shown. */
async function credentials(env: PortalEnv, reg: RegistryJson): Promise<Credentials | string> {
  if (!reg.adminUserEnabled) return 'The admin user is disabled. Enable it above to get a user name and two passwords for docker login.';
  try {
    return (await api(env, 'GET', `${apiPath.registry(reg.name)}/credentials`)) as Credentials;
  } catch (e) {
    if (e instanceof RegistryError && e.status === 403)
      return 'Only those who may change the registry (Contributor, Owner) see its admin passwords.';
    throw e;
  }
}

function adminSection(env: PortalEnv, reg: RegistryJson, creds: Credentials | string): Html {
  if (typeof creds === 'string') return html`<p class="muted">${creds}</p>`;
  const server = loginServerOf(env, reg.name);
  return html`<dl class="facts">
      <dt>Login server</dt>
      <dd>${copyable(server)}</dd>
      <dt>User name</dt>
      <dd>${copyable(creds.username)}</dd>
    </dl>
    <div class="table-wrap">
      <table>
        <caption class="muted">
          Admin passwords: either one signs in; regenerating one stops the old value at once.
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Password</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${creds.passwords.map(
            (p) =>
              html`<tr>
                <td>${p.name}</td>
                <td>
                  <details>
                    <summary>Show ${p.name}</summary>
                    <code>${p.value}</code> ${copyButton(p.value)}
                  </details>
                </td>
                <td>
                  ${postButton(env, registriesPath.renew(reg.name), `Regenerate ${p.name}`, { fields: { name: p.name }, secondary: true })}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
}

async function settingsScreen(env: PortalEnv, name: string, top: Html = html``): Promise<void> {
  const reg = (await api(env, 'GET', apiPath.registry(name))) as RegistryJson;
  const creds = await credentials(env, reg);
  registryScreen(env, reg.name, 'settings', {
    title: 'Settings',
    crumbs: html` / Settings`,
    body: html`${notice(env, MESSAGES)}${top}
      <h2>Registry</h2>
      ${postForm(
        env,
        registriesPath.settings(reg.name),
        html`${select({
            label: 'SKU',
            name: 'sku',
            options: SKUS,
            value: reg.sku,
            hint: 'A lower tier is refused while the registry uses what that tier lacks.',
          })}
          ${checkbox({ label: 'Admin user enabled', name: 'adminUserEnabled', checked: reg.adminUserEnabled })}
          ${checkbox({ label: 'Anonymous pull enabled (Standard and Premium)', name: 'anonymousPullEnabled', checked: reg.anonymousPullEnabled })}
          ${checkbox({
            label: 'Quarantine policy: hold new images until a scanner passes them',
            name: 'quarantine',
            checked: reg.policies?.quarantinePolicy?.status === 'enabled',
          })} <button type="submit">Save settings</button>`,
        { label: 'Registry settings' },
      )}
      <h2>Admin user</h2>
      ${adminSection(env, reg, creds)}
      ${typedConfirm(env, {
        action: registriesPath.delete(reg.name),
        name: reg.name,
        what: 'registry',
        consequence: 'Every repository, image, token, webhook and setting of this registry goes, and its name becomes free.',
      })}`,
  });
}

export const settingsScreens = [
  route('GET /portal/registries/:reg/settings', {
    handler: (env) => settingsScreen(env, env.params.reg),
  }),
  route('POST /portal/registries/:reg/settings', {
    handler: async (env) => {
      const reg = (await api(env, 'GET', apiPath.registry(env.params.reg))) as RegistryJson;
      const wanted = {
        sku: formValue(env, 'sku'),
        adminUserEnabled: checked(env, 'adminUserEnabled'),
        anonymousPullEnabled: checked(env, 'anonymousPullEnabled'),
        quarantine: checked(env, 'quarantine'),
      };
      // Only what changed, so the activity log and the tier checks see the change asked for.
      const patch: Record<string, unknown> = {};
      if (wanted.sku && wanted.sku !== reg.sku) patch.sku = wanted.sku;
      if (wanted.adminUserEnabled !== reg.adminUserEnabled) patch.adminUserEnabled = wanted.adminUserEnabled;
      if (wanted.anonymousPullEnabled !== reg.anonymousPullEnabled) patch.anonymousPullEnabled = wanted.anonymousPullEnabled;
      if (wanted.quarantine !== (reg.policies?.quarantinePolicy?.status === 'enabled'))
        patch.policies = { quarantinePolicy: { status: wanted.quarantine ? 'enabled' : 'disabled' } };
      if (Object.keys(patch).length === 0) {
        // Still only for those who may change it: a reader's empty save is refused as a real one is.
        await api(env, 'PATCH', apiPath.registry(reg.name), { json: {} });
        return redirect(env, registriesPath.settings(reg.name), 'unchanged');
      }
      await api(env, 'PATCH', apiPath.registry(reg.name), { json: patch });
      redirect(env, registriesPath.settings(reg.name), 'saved');
    },
  }),
  // The new password is shown in the answer itself (never in a URL); the API shows both again later.
  route('POST /portal/registries/:reg/settings/credentials/renew', {
    handler: async (env) => {
      const which = formValue(env, 'name');
      const r = (await api(env, 'POST', `${apiPath.registry(env.params.reg)}/credentials/renew`, { json: { name: which } })) as Credentials;
      const value = r.passwords.find((p) => p.name === which)?.value ?? '';
      await settingsScreen(
        env,
        env.params.reg,
        secretOnce(`New ${which} for ${r.username}`, value, 'The old value no longer signs in. Use this one with docker login now.'),
      );
    },
  }),
  route('POST /portal/registries/:reg/delete', {
    handler: async (env) => {
      const reg = (await api(env, 'GET', apiPath.registry(env.params.reg))) as RegistryJson;
      requireTyped(env, reg.name);
      await api(env, 'DELETE', apiPath.registry(reg.name));
      redirect(env, portalPath.registries, 'deleted');
    },
  }),
];
