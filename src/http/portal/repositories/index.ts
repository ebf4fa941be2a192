import type { ScanAttribute } from '../../../domain/scan/findings.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { page, sendPage } from '../layout.js';
import { loginServerOf } from '../registries/index.js';

// A repository (GET /portal/registries/{name}/repositories/{repo}?last=): its tags, 100 a page by
// name, with digest, last update, pulls and the scan's findings. Authorized as the /api and
// /acr/v1 reads of a repository are (pull or metadata read, or the registry's read power), and
// quarantined images are hidden from whoever may not see them.

const PAGE = 100;

function scanCell(scan: ScanAttribute | undefined): Html {
  if (!scan) return html`<span class="muted">not scanned</span>`;
  const s = scan.summary;
  if (scan.status !== 'succeeded' || !s) return html`${scan.status}`;
  if (s.total === 0) return html`no findings`;
  const parts = (['critical', 'high', 'medium', 'low', 'unknown'] as const).filter((k) => s[k] > 0).map((k) => `${s[k]} ${k}`);
  return html`${parts.join(', ')}`;
}

export const repositoryScreens = [
  route('GET /portal/registries/:reg/repositories/*repo', {
    handler: async (env: PortalEnv & { params: { reg: string; repo: string } }) => {
      const { svc, session, ctx, params } = env;
      const p = session!.principal;
      const reg = await svc.access.repository(p, params.reg, params.repo, ['metadata_read', 'pull']);
      const last = ctx.url.searchParams.get('last') ?? undefined;
      const tags = await svc.acr.tags(reg, params.repo, { n: PAGE, last, order: 'none' }, svc.access.quarantineViewer(p, reg, params.repo));
      const image = `${loginServerOf(env, reg.name)}/${params.repo}`;
      const base = `/portal/registries/${encodeURIComponent(reg.name)}/repositories/${params.repo.split('/').map(encodeURIComponent).join('/')}`;
      const list =
        tags.items.length === 0
          ? html`<p class="muted">${last ? 'No more tags.' : 'No tags.'}</p>`
          : html`<div class="table-wrap">
                <table>
                  <caption class="muted">
                    Tags${last ? html` after ${last}` : html``}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Tag</th>
                      <th scope="col">Digest</th>
                      <th scope="col">Updated</th>
                      <th scope="col">Last pulled</th>
                      <th scope="col">Pulls</th>
                      <th scope="col">Vulnerabilities</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${tags.items.map(
                      (t) =>
                        html`<tr>
                          <td>${t.name}</td>
                          <td><code title="${t.digest}">${t.digest.slice(0, 19)}…</code></td>
                          <td>${t.lastUpdateTime.slice(0, 16).replace('T', ' ')}</td>
                          <td>${t.lastPulledTime ? t.lastPulledTime.slice(0, 16).replace('T', ' ') : '–'}</td>
                          <td>${t.pullCount}</td>
                          <td>${scanCell(t.scan)}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>
              ${tags.next ? html`<p><a href="${base}?last=${encodeURIComponent(tags.next)}">Next tags</a></p>` : html``}`;
      sendPage(
        ctx,
        200,
        page({
          title: `${params.repo} – ${reg.name}`,
          viewer: { name: p.name, csrf: session!.csrf },
          current: '/portal/registries',
          body: html`<p>
              <a href="/portal/registries">Registries</a> / <a href="/portal/registries/${encodeURIComponent(reg.name)}">${reg.name}</a>
            </p>
            <h1>${params.repo}</h1>
            <pre><code>docker pull ${image}:TAG</code></pre>
            <h2>Tags</h2>
            ${list}`,
        }),
      );
    },
  }),
];
