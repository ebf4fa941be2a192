import type { Services } from '../../services/index.js';
import { route, type PortalEnv } from './common.js';
import { html } from './html.js';
import { page, sendPage } from './layout.js';

type RegistryRow = Awaited<ReturnType<Services['registries']['list']>>[number];

// Registries (GET /portal/registries): the registries the caller may read, by the access policy
// /api uses (the owner and deployment readers see all, others what their roles allow).

function loginServer({ ctx, opts }: PortalEnv, name: string): string {
  if (opts.domain) return `${name.toLowerCase()}.${opts.domain}`;
  const host = opts.publicUrl ? new URL(opts.publicUrl).host : (ctx.req.headers.host ?? 'localhost');
  return `${host}/${name.toLowerCase()}`;
}

function table(env: PortalEnv, rows: RegistryRow[]) {
  if (rows.length === 0)
    return html`<p class="muted">There is no registry you may see. An owner can give you a role on one (Reader, AcrPull…).</p>`;
  return html`<div class="table-wrap">
    <table>
      <caption class="muted">
        ${rows.length} ${rows.length === 1 ? 'registry' : 'registries'}
      </caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">SKU</th>
          <th scope="col">Login server</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r) =>
            html`<tr>
              <td>${r.name}</td>
              <td>${r.sku}</td>
              <td><code>${loginServer(env, r.name)}</code></td>
              <td>${String(r.created_at).slice(0, 10)}</td>
            </tr> `,
        )}
      </tbody>
    </table>
  </div>`;
}

export const registryScreens = [
  route('GET /portal/registries', {
    handler: async (env) => {
      const { svc, session } = env;
      const rows = await svc.access.readable(session!.principal, await svc.registries.list());
      rows.sort((a, b) => a.name.localeCompare(b.name));
      sendPage(
        env.ctx,
        200,
        page({
          title: 'Registries',
          viewer: { name: session!.principal.name, csrf: session!.csrf },
          current: '/portal/registries',
          body: html`<h1>Registries</h1>
            ${table(env, rows)}`,
        }),
      );
    },
  }),
];
