import { RegistryError } from '../../../domain/errors.js';
import { acr, api, apiPath, portalPath } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import {
  bytes,
  copyable,
  dataTable,
  field,
  notice,
  postButton,
  redirect,
  registryScreen,
  requireTyped,
  select,
  typedConfirm,
  when,
  type Column,
} from '../ui.js';
import {
  acrPath,
  backTo,
  digestCell,
  here,
  imageName,
  lockCell,
  lockPatch,
  manifestsOf,
  pages,
  platforms,
  repoParams,
  scanCell,
  thisPage,
  type RepoParams,
} from './common.js';
import type {
  AcrPage,
  ApiPage,
  DeletedManifest,
  DeletedTag,
  ManifestAttributes,
  ManifestPage,
  RepositoryAttributes,
  TagAttributes,
  TagPage,
} from './types.js';

// A repository's screens, each a view of /acr/v1 and /api read as the signed-in user:
//   {repo}             its tags: paged (n/last), sorted by name or last update (orderby), filtered
//                      by a name prefix; per tag its manifest's size and platform (one read per
//                      distinct digest of the page), pulls, scan, locks, pull commands, delete
//   {repo}/_manifests  its manifests, by digest or creation time
//   {repo}/_deleted    the recycle bin (soft delete): deleted manifests and tags, with restore
//   {repo}/_settings   the repository's locks and its deletion (typed confirmation)
// Changes are posts that call the API and come back here (Post/Redirect/Get).

const PAGE = 50;
type Env = PortalEnv & { params: Record<string, string> };

const MESSAGES = {
  locked: 'The lock was changed.',
  'tag-deleted': 'The tag was deleted.',
  'manifest-deleted': 'The manifest and its tags were deleted.',
  restored: 'Restored.',
};

/** The soft delete policy, when the caller may read it (it needs the registry's Reader role). */
async function softDeleteOn(env: PortalEnv, p: RepoParams): Promise<boolean | undefined> {
  try {
    return ((await api(env, 'GET', `${apiPath.registry(p.reg)}/softDeletePolicy`)) as { status: string }).status === 'enabled';
  } catch (e) {
    if (e instanceof RegistryError && e.status < 500) return undefined;
    throw e;
  }
}

/** The frame of every view of a repository: its facts and pull command, and its views as tabs. */
async function repositoryFrame(env: PortalEnv, p: RepoParams, view: string, body: Html, o: { title?: string } = {}): Promise<void> {
  const [attrs, softDelete] = await Promise.all([
    acr(env, 'GET', acrPath.repository(p)) as Promise<RepositoryAttributes>,
    softDeleteOn(env, p),
  ]);
  const views: [string, string, string][] = [
    ['tags', 'Tags', here.tags(p)],
    ['manifests', 'Manifests', here.manifests(p)],
    ...(softDelete !== false ? [['deleted', 'Deleted', here.deleted(p)] as [string, string, string]] : []),
    ['settings', 'Settings', `${here.tags(p)}/_settings`],
  ];
  const locks = attrs.changeableAttributes;
  registryScreen(env, p.reg, 'repositories', {
    title: o.title ?? p.repo,
    crumbs: html` / <a href="${portalPath.repositories(p.reg)}">Repositories</a>${
        o.title ? html` / <a href="${here.tags(p)}">${p.repo}</a>` : ''
      }`,
    body: html`<dl class="facts">
        <dt>Pull</dt>
        <dd>${copyable(`docker pull ${imageName(env, p)}:TAG`)}</dd>
        <dt>Tags</dt>
        <dd>${attrs.tagCount}</dd>
        <dt>Manifests</dt>
        <dd>${attrs.manifestCount}</dd>
        <dt>Created</dt>
        <dd>${when(attrs.createdTime)}</dd>
        <dt>Last updated</dt>
        <dd>${when(attrs.lastUpdateTime)}</dd>
        ${
          locks.writeEnabled === false || locks.deleteEnabled === false
            ? html`<dt>Locks</dt>
                <dd>
                  ${[locks.writeEnabled === false ? 'write-locked' : '', locks.deleteEnabled === false ? 'delete-locked' : ''].filter(Boolean).join(', ')}
                </dd>`
            : ''
        }
      </dl>
      <nav aria-label="Repository">
        <ul class="tabs">
          ${views.map(
            ([key, label, href]) => html`<li><a href="${href}" ${key === view ? html`aria-current="page"` : ''}>${label}</a></li>`,
          )}
        </ul>
      </nav>
      ${notice(env, MESSAGES)} ${body}`,
  });
}

/** A query string for a view, keeping its filters. */
function linkWith(base: string, params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
  const s = u.toString();
  return s ? `${base}?${s}` : base;
}

const nextOf = (page: AcrPage & { nextLink?: string }): string | undefined => {
  const link = page.link ?? page.nextLink;
  if (!link) return undefined;
  const q = link.replace(/^<|>;.*$/g, '').split('?')[1] ?? '';
  return new URLSearchParams(q).get('last') ?? undefined;
};

// ------------------------------------------------------------------ tags

/** The tag orders a page offers (?order=): names in byte order, or the last update either way. */
const TAG_ORDERS = [
  ['', 'Name'],
  ['newest', 'Recently updated first'],
  ['oldest', 'Least recently updated first'],
] as const;

async function tagsView(env: Env): Promise<void> {
  const p = repoParams(env);
  const q = env.ctx.url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const order = q.get('order') === 'newest' || q.get('order') === 'oldest' ? q.get('order')! : '';
  const sort = order ? 'updated' : 'name';
  const dir = order === 'newest' ? 'desc' : 'asc';
  const last = q.get('last') ?? undefined;
  const page = (await acr(env, 'GET', acrPath.tags(p), {
    query: {
      n: PAGE,
      last,
      orderby: order === 'newest' ? 'timedesc' : order === 'oldest' ? 'timeasc' : undefined,
      prefix: prefix || undefined,
    },
  })) as TagPage;
  const tags = page.tags;
  const details = await manifestsOf(
    env,
    p,
    tags.map((t) => t.digest),
  );
  const base = here.tags(p);
  const keep = { prefix: prefix || undefined, order: order || undefined };
  const back = thisPage(env);
  const image = imageName(env, p);
  const rows = tags.map((t) => {
    const m = details.get(t.digest);
    return html`<tr>
      <td class="name">${t.name}</td>
      <td><a href="${here.manifest(p, t.digest)}">${digestCell(t.digest)}</a></td>
      <td class="num">${bytes(m?.imageSize)}</td>
      <td>${platforms(m) || html`<span class="muted">–</span>`}</td>
      <td>${when(t.createdTime)}</td>
      <td>${when(t.lastUpdateTime)}</td>
      <td>${when(t.lastPulledTime)}</td>
      <td class="num">${t.pullCount}</td>
      <td>${scanCell(t.scan, `${portalPath.manifest(p.reg, p.repo, t.digest)}/_scan`)}</td>
      <td>${lockCell(env, `${here.tag(p, t.name)}/_lock`, t.changeableAttributes, `tag ${t.name}`, back)}</td>
      <td class="pulls">${copyable(`docker pull ${image}:${t.name}`)} ${copyable(`docker pull ${image}@${t.digest}`)}</td>
      <td><a href="${here.tag(p, t.name)}/_delete" aria-label="${`Delete tag ${t.name}`}">Delete…</a></td>
    </tr>`;
  });
  const columns: Column[] = [
    { label: 'Tag', sort: 'name' },
    { label: 'Digest' },
    { label: 'Size', num: true },
    { label: 'Platform' },
    { label: 'Created' },
    { label: 'Last updated', sort: 'updated' },
    { label: 'Last pulled' },
    { label: 'Pulls', num: true },
    { label: 'Vulnerabilities' },
    { label: 'Locks' },
    { label: 'Pull by tag, by digest' },
    { label: 'Delete' },
  ];
  const filters = html`<form method="get" action="${base}" class="filters" role="search" aria-label="Filter tags">
    ${field({ label: 'Tag starts with', name: 'prefix', type: 'search', value: prefix })}
    ${select({ label: 'Order', name: 'order', options: TAG_ORDERS, value: order })}
    <button type="submit">Show</button>
  </form>`;
  const next = nextOf(page);
  await repositoryFrame(
    env,
    p,
    'tags',
    html`${filters}
    ${dataTable({
      caption: `Tags${prefix ? ` starting with "${prefix}"` : ''}, by ${sort === 'name' ? 'name' : `last update (${dir === 'desc' ? 'newest' : 'oldest'} first)`}${last ? `, after ${last}` : ''}`,
      columns,
      rows,
      sorted: { key: sort, dir },
      // Names page in byte order only: the name column always sorts ascending.
      sortHref: (key, d) =>
        linkWith(base, { prefix: prefix || undefined, order: key === 'updated' ? (d === 'desc' ? 'newest' : 'oldest') : undefined }),
      empty: prefix ? 'No tag starts with that.' : last ? 'No more tags.' : 'No tags.',
    })}
    ${pages({ first: last ? linkWith(base, keep) : undefined, next: next ? linkWith(base, { ...keep, last: next }) : undefined })}`,
  );
}

// ------------------------------------------------------------------ manifests

/** A manifest's kind in a few words: image, index, or its artifact's config type. */
export function kindOf(m: ManifestAttributes): string {
  if (m.references) return 'index';
  const cfg = m.configMediaType;
  if (!cfg || cfg === 'application/vnd.oci.image.config.v1+json' || cfg === 'application/vnd.docker.container.image.v1+json')
    return 'image';
  return cfg;
}

async function manifestsView(env: Env): Promise<void> {
  const p = repoParams(env);
  const q = env.ctx.url.searchParams;
  const order = q.get('order') === 'newest' || q.get('order') === 'oldest' ? q.get('order')! : '';
  const sort = order ? 'created' : 'digest';
  const dir = order === 'newest' ? 'desc' : 'asc';
  const last = q.get('last') ?? undefined;
  const page = (await acr(env, 'GET', acrPath.manifests(p), {
    query: { n: PAGE, last, orderby: order === 'newest' ? 'timedesc' : order === 'oldest' ? 'timeasc' : undefined },
  })) as ManifestPage;
  const base = here.manifests(p);
  const keep = { order: order || undefined };
  const back = thisPage(env);
  const image = imageName(env, p);
  const rows = page.manifests.map(
    (m) =>
      html`<tr>
        <th scope="row"><a href="${here.manifest(p, m.digest)}">${digestCell(m.digest)}</a></th>
        <td class="wrap">${m.tags.join(', ') || html`<span class="muted">untagged</span>`}</td>
        <td>${kindOf(m)}</td>
        <td class="num">${bytes(m.imageSize)}</td>
        <td>${platforms(m) || html`<span class="muted">–</span>`}</td>
        <td>${when(m.createdTime)}</td>
        <td>${when(m.lastPulledTime)}</td>
        <td class="num">${m.pullCount}</td>
        <td>${scanCell(m.scan, `${portalPath.manifest(p.reg, p.repo, m.digest)}/_scan`)}</td>
        <td>${lockCell(env, `${here.manifest(p, m.digest)}/_lock`, m.changeableAttributes, `manifest ${m.digest}`, back)}</td>
        <td>${copyable(`docker pull ${image}@${m.digest}`)}</td>
        <td><a href="${here.manifest(p, m.digest)}/_delete" aria-label="${`Delete manifest ${m.digest}`}">Delete…</a></td>
      </tr>`,
  );
  const next = nextOf(page);
  await repositoryFrame(
    env,
    p,
    'manifests',
    html`${dataTable({
      caption: `Manifests, by ${sort === 'digest' ? 'digest' : `creation (${dir === 'desc' ? 'newest' : 'oldest'} first)`}${last ? `, after ${last}` : ''}`,
      columns: [
        { label: 'Digest', sort: 'digest' },
        { label: 'Tags' },
        { label: 'Kind' },
        { label: 'Size', num: true },
        { label: 'Platform' },
        { label: 'Created', sort: 'created' },
        { label: 'Last pulled' },
        { label: 'Pulls', num: true },
        { label: 'Vulnerabilities' },
        { label: 'Locks' },
        { label: 'Pull by digest' },
        { label: 'Delete' },
      ],
      rows,
      sorted: { key: sort, dir },
      sortHref: (key, d) => linkWith(base, { order: key === 'created' ? (d === 'desc' ? 'newest' : 'oldest') : undefined }),
      empty: last ? 'No more manifests.' : 'No manifests.',
    })}
    ${pages({ first: last ? linkWith(base, keep) : undefined, next: next ? linkWith(base, { ...keep, last: next }) : undefined })}`,
  );
}

// ------------------------------------------------------------------ recycle bin

async function deletedView(env: Env): Promise<void> {
  const p = repoParams(env);
  const q = env.ctx.url.searchParams;
  const repo = apiPath.repository(p.reg, p.repo);
  const [manifests, tags] = await Promise.all([
    api(env, 'GET', `${repo}/_deleted`, { query: { n: PAGE, last: q.get('last') ?? undefined } }) as Promise<ApiPage<DeletedManifest>>,
    api(env, 'GET', `${repo}/_deletedTags`, { query: { n: PAGE, last: q.get('tagsLast') ?? undefined } }) as Promise<ApiPage<DeletedTag>>,
  ]);
  const action = `${here.tags(p)}/_restore`;
  const mRows = manifests.value.map(
    (m) =>
      html`<tr>
        <th scope="row">${digestCell(m.digest)}</th>
        <td class="wrap">${m.tags.join(', ') || html`<span class="muted">untagged</span>`}</td>
        <td>${m.artifactType ?? m.mediaType}</td>
        <td class="num">${bytes(m.imageSize)}</td>
        <td>${when(m.deletedTime)}</td>
        <td>${when(m.purgeTime)}</td>
        <td>${m.deletedBy ?? ''}</td>
        <td>${postButton(env, action, 'Restore', { fields: { digest: m.digest }, secondary: true, title: `Restore ${m.digest}` })}</td>
      </tr>`,
  );
  const tRows = tags.value.map(
    (t) =>
      html`<tr>
        <th scope="row">${t.tag}</th>
        <td>${digestCell(t.digest)}</td>
        <td>${when(t.deletedTime)}</td>
        <td>${when(t.purgeTime)}</td>
        <td>${t.deletedBy ?? ''}</td>
        <td>
          ${postButton(env, action, 'Restore', { fields: { tag: t.tag, digest: t.digest }, secondary: true, title: `Restore tag ${t.tag}` })}
        </td>
      </tr>`,
  );
  const base = here.deleted(p);
  const mNext = nextOf(manifests);
  const tNext = nextOf(tags);
  await repositoryFrame(
    env,
    p,
    'deleted',
    html`<p class="muted">
        With soft delete on, deleted manifests and tags stay here until their purge time. Restoring one brings back the tags it had (a tag
        that now points elsewhere is refused).
      </p>
      <h2>Deleted manifests</h2>
      ${dataTable({
        caption: 'Deleted manifests, newest deletion first',
        columns: [
          { label: 'Digest' },
          { label: 'Tags' },
          { label: 'Type' },
          { label: 'Size', num: true },
          { label: 'Deleted' },
          { label: 'Purged after' },
          { label: 'Deleted by' },
          { label: 'Restore' },
        ],
        rows: mRows,
        empty: 'No deleted manifests.',
      })}
      ${mNext ? html`<p><a href="${linkWith(base, { last: mNext })}">More deleted manifests</a></p>` : ''}
      <h2>Deleted tags</h2>
      ${dataTable({
        caption: 'Deleted tags, newest deletion first',
        columns: [
          { label: 'Tag' },
          { label: 'Digest' },
          { label: 'Deleted' },
          { label: 'Purged after' },
          { label: 'Deleted by' },
          { label: 'Restore' },
        ],
        rows: tRows,
        empty: 'No deleted tags.',
      })}
      ${tNext ? html`<p><a href="${linkWith(base, { tagsLast: tNext })}">More deleted tags</a></p>` : ''}`,
  );
}

// ------------------------------------------------------------------ settings

async function settingsView(env: Env): Promise<void> {
  const p = repoParams(env);
  const attrs = (await acr(env, 'GET', acrPath.repository(p))) as RepositoryAttributes;
  const settings = `${here.tags(p)}/_settings`;
  await repositoryFrame(
    env,
    p,
    'settings',
    html`<h2>Locks</h2>
      <p class="muted">
        A write lock stops pushes, tag moves and deletions in the repository; a delete lock stops deletions only. Tags and manifests have
        locks of their own.
      </p>
      ${lockCell(env, `${here.tags(p)}/_lock`, attrs.changeableAttributes, `repository ${p.repo}`, settings)}
      ${typedConfirm(env, {
        action: `${here.tags(p)}/_delete`,
        name: p.repo,
        what: 'this repository',
        button: 'Delete repository',
        consequence: 'Every tag and manifest of the repository is deleted (into the recycle bin when soft delete is on).',
      })}`,
  );
}

// ------------------------------------------------------------------ confirmations and posts

async function confirmTagDelete(env: Env): Promise<void> {
  const p = repoParams(env);
  const tag = env.params.tag!;
  const t = ((await acr(env, 'GET', acrPath.tag(p, tag))) as { tag: TagAttributes }).tag;
  await repositoryFrame(
    env,
    p,
    'tags',
    html`<p>Tag <strong>${tag}</strong> points to ${digestCell(t.digest)}. Deleting it leaves the manifest and its other tags.</p>
      ${typedConfirm(env, { action: `${here.tag(p, tag)}/_delete`, name: tag, what: `tag ${tag}`, button: 'Delete tag' })}`,
    { title: `Delete tag ${tag}` },
  );
}

/** What to type to delete a manifest: the first 12 characters of its hash. */
export const manifestConfirmName = (digest: string): string => (digest.split(':')[1] ?? digest).slice(0, 12);

async function confirmManifestDelete(env: Env): Promise<void> {
  const p = repoParams(env);
  const digest = env.params.digest!;
  const m = ((await acr(env, 'GET', acrPath.manifest(p, digest))) as { manifest: ManifestAttributes }).manifest;
  const tags = m.tags;
  await repositoryFrame(
    env,
    p,
    'manifests',
    html`<p>Manifest <code>${digest}</code>${tags.length ? html` and its tags: ${tags.join(', ')}` : ' (untagged)'}.</p>
      ${typedConfirm(env, {
        action: `${here.manifest(p, digest)}/_delete`,
        name: manifestConfirmName(digest),
        what: 'manifest',
        button: 'Delete manifest',
        consequence: 'The manifest and every tag pointing to it are deleted.',
      })}`,
    { title: 'Delete a manifest' },
  );
}

export const repositoryViews = [
  route('GET /portal/registries/:reg/repositories/*repo', { handler: tagsView }),
  route('GET /portal/registries/:reg/repositories/*repo/_manifests', { handler: manifestsView }),
  route('GET /portal/registries/:reg/repositories/*repo/_deleted', { handler: deletedView }),
  route('GET /portal/registries/:reg/repositories/*repo/_settings', { handler: settingsView }),
  route('GET /portal/registries/:reg/repositories/*repo/_tags/:tag/_delete', { handler: confirmTagDelete }),
  route('GET /portal/registries/:reg/repositories/*repo/_manifests/:digest/_delete', { handler: confirmManifestDelete }),

  route('POST /portal/registries/:reg/repositories/*repo/_tags/:tag/_lock', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      await acr(env, 'PATCH', acrPath.tag(p, env.params.tag!), { json: lockPatch(env) });
      redirect(env, backTo(env, p, here.tags(p)), 'locked');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_manifests/:digest/_lock', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      await acr(env, 'PATCH', acrPath.manifest(p, env.params.digest!), { json: lockPatch(env) });
      redirect(env, backTo(env, p, here.manifests(p)), 'locked');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_lock', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      await acr(env, 'PATCH', acrPath.repository(p), { json: lockPatch(env) });
      redirect(env, backTo(env, p, `${here.tags(p)}/_settings`), 'locked');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_tags/:tag/_delete', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      const tag = env.params.tag!;
      requireTyped(env, tag);
      await api(env, 'DELETE', `${apiPath.repository(p.reg, p.repo)}/_tags/${encodeURIComponent(tag)}`);
      redirect(env, here.tags(p), 'tag-deleted');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_manifests/:digest/_delete', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      const digest = env.params.digest!;
      requireTyped(env, manifestConfirmName(digest));
      await acr(env, 'DELETE', acrPath.manifest(p, digest));
      redirect(env, here.manifests(p), 'manifest-deleted');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_restore', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      const tag = env.form?.get('tag') || undefined;
      const digest = env.form?.get('digest') || undefined;
      await api(env, 'POST', `${apiPath.repository(p.reg, p.repo)}/_restore`, { json: { tag, digest } });
      redirect(env, here.deleted(p), 'restored');
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_delete', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      requireTyped(env, p.repo);
      await api(env, 'DELETE', apiPath.repository(p.reg, p.repo));
      redirect(env, portalPath.repositories(p.reg), 'deleted');
    },
  }),
];
