import { api, portalPath } from '../api.js';
import { route } from '../common.js';
import { html } from '../html.js';
import { checkbox, checked, field, formValue, postForm, redirect, screen, select, sendJsonSmall } from '../ui.js';
import { registriesPath, SKUS, type RegistryJson } from './common.js';

// Create a registry (GET|POST /portal/registries/new), as POST /api/registries: whoever lacks the
// create_registries power gets the API's 403, and a taken or invalid name the API's message. The
// name is checked as it is typed (GET /portal/registries/check-name, from portal.js).

export const createScreens = [
  route('GET /portal/registries/new', {
    handler: (env) => {
      screen(env, {
        title: 'Create registry',
        current: portalPath.registries,
        body: html`<p class="crumbs"><a href="${portalPath.registries}">Registries</a></p>
          <h1>Create registry</h1>
          ${postForm(
            env,
            registriesPath.new,
            html`${field({
                label: 'Registry name',
                name: 'name',
                required: true,
                hint: '5 to 50 letters and digits; unique in this deployment.',
                attrs: html`autocomplete="off" spellcheck="false" data-check="${registriesPath.checkName}"`,
              })}
              ${select({
                label: 'SKU',
                name: 'sku',
                options: SKUS,
                value: 'Basic',
                hint: 'Standard and Premium add storage, webhooks and anonymous pull; you can change it later.',
              })}
              ${checkbox({ label: 'Enable the admin user (a user name and two passwords for docker login)', name: 'adminUserEnabled' })}
              <button type="submit">Create registry</button>`,
            { label: 'Create registry' },
          )}`,
      });
      return Promise.resolve();
    },
  }),
  route('POST /portal/registries/new', {
    handler: async (env) => {
      const created = (await api(env, 'POST', '/api/registries', {
        json: { name: formValue(env, 'name'), sku: formValue(env, 'sku') || 'Basic', adminUserEnabled: checked(env, 'adminUserEnabled') },
      })) as RegistryJson;
      redirect(env, portalPath.registry(created.name), 'created');
    },
  }),
  // For portal.js: {available, message} about a name being typed.
  route('GET /portal/registries/check-name', {
    handler: async (env) => {
      const name = env.ctx.url.searchParams.get('name') ?? '';
      const r = (await api(env, 'GET', '/api/registries/check-name', { query: { name } })) as { nameAvailable: boolean; message?: string };
      sendJsonSmall(env, {
        available: r.nameAvailable === true,
        message: r.nameAvailable ? `${name} is available.` : (r.message ?? `${name} is not available.`),
      });
    },
  }),
];
