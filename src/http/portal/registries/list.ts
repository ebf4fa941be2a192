import { api, portalPath } from '../api.js';
import { route, loginServerOf } from '../common.js';
import { html } from '../html.js';
import { dataTable, notice, screen, usageBar } from '../ui.js';
import { registriesPath } from './common.js';

// Registries (GET /portal/registries): the registries the caller may read (GET /api/registries,
// with ?include=usage so a deployment of many registries costs a few queries, not one per row).

interface Listed {
  name: string;
  sku: string;
  usage: { storageBytes: number; storageLimitBytes: number; repositoryCount: number };
}

export const listScreens = [
  route('GET /portal/registries', {
    handler: async (env) => {
      const [list, me] = (await Promise.all([
        api(env, 'GET', '/api/registries', { query: { include: 'usage' } }),
        api(env, 'GET', '/api/me'),
      ])) as [{ value: Listed[] }, { deploymentPowers: string[] }];
      const rows = list.value.map(
        (r) =>
          html`<tr>
            <td><a href="${portalPath.registry(r.name)}">${r.name}</a></td>
            <td>${r.sku}</td>
            <td>${usageBar(r.usage.storageBytes, r.usage.storageLimitBytes)}</td>
            <td class="num">${r.usage.repositoryCount}</td>
            <td><code>${loginServerOf(env, r.name)}</code></td>
          </tr>`,
      );
      const mayCreate = me.deploymentPowers.includes('create_registries');
      screen(env, {
        title: 'Registries',
        current: portalPath.registries,
        body: html`<h1>Registries</h1>
          ${notice(env, { deleted: 'The registry was deleted.' })}
          ${mayCreate ? html`<p class="actions"><a class="button" href="${registriesPath.new}">Create registry</a></p>` : ''}
          ${dataTable({
            caption: `${rows.length} ${rows.length === 1 ? 'registry' : 'registries'}`,
            columns: [
              { label: 'Name' },
              { label: 'SKU' },
              { label: 'Storage used' },
              { label: 'Repositories', num: true },
              { label: 'Login server' },
            ],
            rows,
            empty: 'There is no registry you may see. An owner can give you a role on one (Reader, AcrPull…).',
          })}`,
      });
    },
  }),
];
