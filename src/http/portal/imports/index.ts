import { RegistryError } from '../../../domain/errors.js';
import { api, apiPath } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  dataTable,
  field,
  formValue,
  live,
  notice,
  postForm,
  redirect,
  registryScreen,
  select,
  sendFragment,
  wantsFragment,
  when,
} from '../ui.js';
import { bytesProgress, importBadge, importEnded, importFacts, importPath, importsPath, type ImportView } from './view.js';

// A registry's imports (the Imports tab, /portal/registries/{r}/imports): a form that starts an
// import as `az acr import` does (POST /api/registries/{r}/importImage: push on every target), the
// recent imports (GET …/imports: the registry's read power), and an import's screen that follows
// its progress live until it ends. Source credentials go to the API and are never shown again.

const MODES = [
  ['NoForce', 'Keep existing tags (fail if a target tag exists)'],
  ['Force', 'Overwrite existing target tags'],
] as const;

/** "a:1, b:2 c:3" -> ["a:1", "b:2", "c:3"]. */
const list = (s: string): string[] => s.split(/[\s,]+/).filter(Boolean);

function startForm(env: PortalEnv, reg: string): Html {
  return postForm(
    env,
    importsPath(reg),
    html`${field({
        label: 'Source registry',
        name: 'registryUri',
        hint: 'host or host:port, e.g. registry.example.com or localhost:5000; leave empty when the image below names its registry',
      })}
      ${field({
        label: 'Source image',
        name: 'sourceImage',
        required: true,
        hint: 'repository:tag or repository@digest, e.g. library/nginx:1.27 (or registry.example.com/library/nginx:1.27 without a source registry)',
      })}
      ${field({
        label: 'Target tags',
        name: 'targetTags',
        hint: 'repository:tag, several separated by commas or spaces; empty: the source repository and tag',
      })}
      ${field({
        label: 'Untagged target repositories',
        name: 'untaggedTargetRepositories',
        hint: 'repositories to import into by digest only (optional)',
      })}
      ${select({ label: 'Mode', name: 'mode', options: MODES, value: 'NoForce' })}
      <fieldset>
        <legend>Source credentials (optional)</legend>
        ${field({ label: 'Source user name', name: 'username', attrs: html`autocomplete="off"` })}
        ${field({
          label: 'Source password',
          name: 'password',
          type: 'password',
          hint: "the source registry's own credentials, never this Berth's",
          attrs: html`autocomplete="new-password"`,
        })}
      </fieldset>
      <button type="submit">Start import</button>`,
    { label: 'Start an import' },
  );
}

function importRows(reg: string, items: ImportView[]): Html[] {
  return items.map(
    (v) =>
      html`<tr>
        <td><a href="${importPath(reg, v.id)}">Import ${v.id}</a></td>
        <td>${importBadge(v.status)}</td>
        <td><code>${v.source}</code></td>
        <td class="wrap">${[...v.targetTags, ...v.untaggedTargetRepositories].join(', ') || '–'}</td>
        <td>${bytesProgress(v)}</td>
        <td>${when(v.createdAt)}</td>
        <td class="wrap">${v.error ? `${v.error.code}: ${v.error.message}` : ''}</td>
      </tr>`,
  );
}

const NOTICES = { started: 'The import is queued. This screen follows it until it ends.' };

export const importScreens = [
  route('GET /portal/registries/:reg/imports', {
    handler: async (env) => {
      const reg = env.params.reg;
      // Listing needs the registry's read power; a user who may only push still gets the form.
      let listing: Html;
      let status = 200;
      try {
        const { value: items } = (await api(env, 'GET', `${apiPath.registry(reg)}/imports`, { query: { n: 50 } })) as {
          value: ImportView[];
        };
        listing = dataTable({
          caption: 'Recent imports, newest first',
          columns: [
            { label: 'Import' },
            { label: 'Status' },
            { label: 'Source' },
            { label: 'Targets' },
            { label: 'Copied' },
            { label: 'Started' },
            { label: 'Error' },
          ],
          rows: importRows(reg, items),
          empty: 'No imports yet.',
        });
      } catch (e) {
        if (!(e instanceof RegistryError) || e.status !== 403) throw e;
        status = 403;
        listing = html`<p class="error" role="alert">${e.message}</p>`;
      }
      registryScreen(env, reg, 'imports', {
        title: 'Imports',
        status,
        body: html`${notice(env, NOTICES)}
          <section aria-labelledby="start-h">
            <h2 id="start-h">Import an image</h2>
            <p class="muted">Copies an image (with its referrers) from another registry into this one, as az acr import does.</p>
            ${startForm(env, reg)}
          </section>
          <section aria-labelledby="recent-h">
            <h2 id="recent-h">Recent imports</h2>
            ${listing}
          </section>`,
      });
    },
  }),
  route('POST /portal/registries/:reg/imports', {
    handler: async (env) => {
      const reg = env.params.reg;
      const registryUri = formValue(env, 'registryUri').trim();
      const username = formValue(env, 'username');
      const password = formValue(env, 'password');
      const targetTags = list(formValue(env, 'targetTags'));
      const untagged = list(formValue(env, 'untaggedTargetRepositories'));
      const v = (await api(env, 'POST', `${apiPath.registry(reg)}/importImage`, {
        json: {
          source: {
            ...(registryUri ? { registryUri } : {}),
            sourceImage: formValue(env, 'sourceImage').trim(),
            ...(username || password ? { credentials: { username, password } } : {}),
          },
          ...(targetTags.length ? { targetTags } : {}),
          ...(untagged.length ? { untaggedTargetRepositories: untagged } : {}),
          mode: formValue(env, 'mode') || 'NoForce',
        },
      })) as ImportView;
      redirect(env, importPath(reg, v.id), 'started');
    },
  }),
  route('GET /portal/registries/:reg/imports/:id', {
    handler: async (env) => {
      const { reg, id } = env.params;
      const v = (await api(env, 'GET', `${apiPath.registry(reg)}/imports/${encodeURIComponent(id)}`)) as ImportView;
      const facts = importFacts(v);
      if (wantsFragment(env)) return sendFragment(env, facts, importEnded(v));
      registryScreen(env, reg, 'imports', {
        title: `Import ${v.id}`,
        crumbs: html` / <a href="${importsPath(reg)}">Imports</a>`,
        body: html`${notice(env, NOTICES)}${live(importPath(reg, v.id), facts)}`,
      });
    },
  }),
];
