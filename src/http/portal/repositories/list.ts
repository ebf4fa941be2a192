import { RegistryError } from '../../../domain/errors.js';
import { acr, api, apiPath, portalPath, repoSeg, seg } from '../api.js';
import { route, type PortalEnv, loginServerOf } from '../common.js';
import { html } from '../html.js';
import { copyable, dataTable, field, notice, registryScreen, select, when } from '../ui.js';
import { pages } from './common.js';
import type { ApiPage, RepositoryAttributes } from './types.js';

// A registry's repositories tab (GET /portal/registries/{r}/repositories?prefix=&order=&last=):
// its repositories a page at a time (GET /api/registries/{r}/repositories, by name or by last
// update, filtered by a name prefix), each with its tag and manifest counts (one /acr/v1 read per
// repository of the page) and its pull command.

const PAGE = 50;
const ORDERS = [
  ['', 'Name'],
  ['newest', 'Recently updated first'],
  ['oldest', 'Least recently updated first'],
] as const;

export const listScreens = [
  route('GET /portal/registries/:reg/repositories', {
    handler: async (env: PortalEnv & { params: { reg: string } }) => {
      const reg = env.params.reg;
      const q = env.ctx.url.searchParams;
      const prefix = q.get('prefix') ?? '';
      const order = ORDERS.some(([v]) => v === q.get('order')) ? q.get('order')! : '';
      const last = q.get('last') ?? undefined;
      const page = (await api(env, 'GET', `${apiPath.registry(reg)}/repositories`, {
        query: {
          n: PAGE,
          last,
          orderby: order === 'newest' ? 'timedesc' : order === 'oldest' ? 'timeasc' : undefined,
          prefix: prefix || undefined,
        },
      })) as ApiPage<string>;
      const names = page.value;
      const attrs = await Promise.all(
        names.map((name) =>
          (acr(env, 'GET', `/acr/v1/${seg(reg)}/${repoSeg(name)}`) as Promise<RepositoryAttributes>).catch((e: unknown) => {
            if (e instanceof RegistryError && e.status < 500) return undefined;
            throw e;
          }),
        ),
      );
      const server = loginServerOf(env, reg);
      const base = portalPath.repositories(reg);
      const withQuery = (extra: Record<string, string | undefined>) => {
        const u = new URLSearchParams();
        for (const [k, v] of Object.entries({ prefix: prefix || undefined, order: order || undefined, ...extra })) if (v) u.set(k, v);
        const s = u.toString();
        return s ? `${base}?${s}` : base;
      };
      const nextLast = page.nextLink ? new URLSearchParams(page.nextLink.split('?')[1]).get('last') : null;
      const rows = names.map((name, i) => {
        const a = attrs[i];
        return html`<tr>
          <th scope="row"><a href="${portalPath.repository(reg, name)}">${name}</a></th>
          <td class="num">${a ? a.tagCount : '–'}</td>
          <td class="num">${a ? a.manifestCount : '–'}</td>
          <td>${when(a?.lastUpdateTime)}</td>
          <td>${copyable(`docker pull ${server}/${name}`)}</td>
        </tr>`;
      });
      const filters = html`<form method="get" action="${base}" class="filters" role="search" aria-label="Filter repositories">
        ${field({ label: 'Name starts with', name: 'prefix', type: 'search', value: prefix })}
        ${select({ label: 'Order', name: 'order', options: ORDERS, value: order })}
        <button type="submit">Show</button>
      </form>`;
      const empty = prefix
        ? 'No repository name starts with that.'
        : last
          ? 'No more repositories.'
          : `No repositories yet. Push an image to create one: docker push ${server}/REPOSITORY:TAG`;
      registryScreen(env, reg, 'repositories', {
        title: 'Repositories',
        body: html`${notice(env, { deleted: 'The repository was deleted.' })} ${filters}
        ${dataTable({
          caption: `Repositories${prefix ? ` starting with "${prefix}"` : ''}${last ? `, after ${last}` : ''}`,
          columns: [
            { label: 'Repository' },
            { label: 'Tags', num: true },
            { label: 'Manifests', num: true },
            { label: 'Last updated' },
            { label: 'Pull' },
          ],
          rows,
          empty,
        })}
        ${pages({ first: last ? withQuery({}) : undefined, next: nextLast ? withQuery({ last: nextLast }) : undefined })}`,
      });
    },
  }),
];
