import { loginServer } from '../../../domain/registry.js';
import type { Services } from '../../../services/index.js';
import { route, type PortalEnv } from '../common.js';
import { html } from '../html.js';
import { page, sendPage } from '../layout.js';

type RegistryRow = Awaited<ReturnType<Services['registries']['list']>>[number];

// Registries (GET /portal/registries): the registries the caller may read, by the access policy
// /api uses (the owner and deployment readers see all, others what their roles allow).

/** The login server of a registry, as this request addresses the deployment. */
export function loginServerOf({ ctx, opts }: PortalEnv, name: string): string {
  return loginServer(name, opts, ctx.req.headers.host ?? 'localhost');
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
              <td><a href="/portal/registries/${encodeURIComponent(r.name)}">${r.name}</a></td>
              <td>${r.sku}</td>
              <td><code>${loginServerOf(env, r.name)}</code></td>
              <td>${String(r.created_at).slice(0, 10)}</td>
            </tr> `,
        )}
      </tbody>
    </table>
  </div>`;
}

/** Repositories shown per page of a registry's screen. */
const PAGE = 100;

export const registryScreens = [
  // One registry (GET /portal/registries/{name}?last=): its login server and its repositories,
  // paged by name, for callers who may list them (as GET /api/registries/{r}/repositories).
  route('GET /portal/registries/:reg', {
    handler: async (env) => {
      const { svc, session, ctx } = env;
      const reg = await svc.access.catalog(session!.principal, env.params.reg, 'the repositories of');
      const last = ctx.url.searchParams.get('last') ?? undefined;
      const repos = await svc.repositories.catalog(reg, PAGE, last);
      const server = loginServerOf(env, reg.name);
      const list =
        repos.items.length === 0
          ? html`<p class="muted">${last ? 'No more repositories.' : 'No repositories yet. Push an image to create one:'}</p>
              ${last ? html`` : html`<pre><code>docker push ${server}/REPOSITORY:TAG</code></pre>`}`
          : html`<div class="table-wrap">
                <table>
                  <caption class="muted">
                    Repositories${last ? html` after ${last}` : html``}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Repository</th>
                      <th scope="col">Pull</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${repos.items.map(
                      (name) =>
                        html`<tr>
                          <td>
                            <a
                              href="/portal/registries/${encodeURIComponent(reg.name)}/repositories/${name.split('/').map(encodeURIComponent).join('/')}"
                              >${name}</a
                            >
                          </td>
                          <td><code>docker pull ${server}/${name}</code></td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>
              ${
                repos.next
                  ? html`<p>
                      <a href="/portal/registries/${encodeURIComponent(reg.name)}?last=${encodeURIComponent(repos.next)}"
                        >Next repositories</a
                      >
                    </p>`
                  : html``
              }`;
      sendPage(
        ctx,
        200,
        page({
          title: reg.name,
          viewer: { name: session!.principal.name, csrf: session!.csrf },
          current: '/portal/registries',
          body: html`<p><a href="/portal/registries">Registries</a></p>
            <h1>${reg.name}</h1>
            <dl class="facts">
              <dt>Login server</dt>
              <dd><code>${server}</code></dd>
              <dt>SKU</dt>
              <dd>${reg.sku}</dd>
            </dl>
            <h2>Repositories</h2>
            ${list}`,
        }),
      );
    },
  }),
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
