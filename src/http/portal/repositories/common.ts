import type { ScanAttribute } from '../../../domain/scan/findings.js';
import { RegistryError } from '../../../domain/errors.js';
import { acr, portalPath, repoSeg, seg } from '../api.js';
import { loginServerOf, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { scanBadges } from '../scanning/badges.js';
import { csrfField, formValue } from '../ui.js';
import type { Locks, ManifestAttributes, Platform } from './types.js';

// What the repository screens share: their addresses, the parameters of a request, the pull
// commands, the scan and lock cells, and the per-page read of manifest details for a page of tags.

export interface RepoParams {
  reg: string;
  repo: string;
}

/** The registry and repository a request names. */
export function repoParams(env: PortalEnv & { params: Record<string, string> }): RepoParams {
  return { reg: env.params.reg!, repo: env.params.repo! };
}

/** /acr/v1 paths (path-style) of a repository. */
export const acrPath = {
  repository: (p: RepoParams) => `/acr/v1/${seg(p.reg)}/${repoSeg(p.repo)}`,
  tags: (p: RepoParams) => `/acr/v1/${seg(p.reg)}/${repoSeg(p.repo)}/_tags`,
  tag: (p: RepoParams, tag: string) => `/acr/v1/${seg(p.reg)}/${repoSeg(p.repo)}/_tags/${seg(tag)}`,
  manifests: (p: RepoParams) => `/acr/v1/${seg(p.reg)}/${repoSeg(p.repo)}/_manifests`,
  manifest: (p: RepoParams, digest: string) => `/acr/v1/${seg(p.reg)}/${repoSeg(p.repo)}/_manifests/${seg(digest)}`,
};

/** Portal addresses below a repository. */
export const here = {
  tags: (p: RepoParams) => portalPath.repository(p.reg, p.repo),
  manifests: (p: RepoParams) => `${portalPath.repository(p.reg, p.repo)}/_manifests`,
  deleted: (p: RepoParams) => `${portalPath.repository(p.reg, p.repo)}/_deleted`,
  manifest: (p: RepoParams, digest: string) => portalPath.manifest(p.reg, p.repo, digest),
  tag: (p: RepoParams, tag: string) => `${portalPath.repository(p.reg, p.repo)}/_tags/${seg(tag)}`,
  blob: (p: RepoParams, digest: string) => `${portalPath.repository(p.reg, p.repo)}/_blobs/${seg(digest)}`,
};

/** The image name clients pull by: <login server>/<repository>. */
export function imageName(env: PortalEnv, p: RepoParams): string {
  return `${loginServerOf(env, p.reg)}/${p.repo}`;
}

export const shortDigest = (d: string): string => (d.length > 19 ? `${d.slice(0, 19)}…` : d);

/** A digest shown short, whole in its title and for machines. */
export const digestCell = (d: string): Html => html`<code title="${d}">${shortDigest(d)}</code>`;

/**
 * The scan's findings as severity badges (scanning/badges.ts), linked to the image's scan page;
 * "not scanned" when never, or the scan's state while it has no result.
 */
export function scanCell(scan: ScanAttribute | undefined, scanPage: string): Html {
  if (!scan) return html`<span class="muted">not scanned</span>`;
  if (scan.status !== 'succeeded' || !scan.summary) return html`<a href="${scanPage}">${scan.status}</a>`;
  return html`<a href="${scanPage}" class="badge-link">${scanBadges(scan.summary)}</a>`;
}

/** A platform: os/architecture ('' when not known). */
export const platform = (x: Platform): string => [x.os, x.architecture, x.variant].filter(Boolean).join('/');

/** The platforms of a manifest's attributes: its own, or an index's children's. */
export function platforms(m: ManifestAttributes | undefined): string {
  if (!m) return '';
  if (m.references) {
    const all = [...new Set(m.references.map(platform).filter(Boolean))];
    return all.length ? all.join(', ') : 'index';
  }
  return platform(m);
}

/**
 * The details (size, platform, media type) of the manifests a page of tags points to: one
 * /acr/v1 read per distinct digest of the page, never of the whole repository. A manifest the
 * caller may not see is left out.
 */
export async function manifestsOf(env: PortalEnv, p: RepoParams, digests: string[]): Promise<Map<string, ManifestAttributes>> {
  const out = new Map<string, ManifestAttributes>();
  await Promise.all(
    [...new Set(digests)].map(async (d) => {
      try {
        out.set(d, ((await acr(env, 'GET', acrPath.manifest(p, d))) as { manifest: ManifestAttributes }).manifest);
      } catch (e) {
        if (!(e instanceof RegistryError) || e.status >= 500) throw e;
      }
    }),
  );
  return out;
}

/** A post's `back` field when it is a page of this repository (never elsewhere: no open redirect). */
export function backTo(env: PortalEnv, p: RepoParams, fallback: string): string {
  const back = formValue(env, 'back');
  const base = portalPath.repository(p.reg, p.repo);
  const ok =
    (back === base || back.startsWith(`${base}/`) || back.startsWith(`${base}?`)) && /^[\x21-\x7e]+$/.test(back) && !back.includes('\\');
  return ok ? back : fallback;
}

/** The address of this request (path and query, without ?done=): where a form sends the browser back. */
export function thisPage(env: PortalEnv): string {
  const u = new URL(env.ctx.url.href);
  u.searchParams.delete('done');
  return u.pathname + u.search;
}

export type LockAttr = 'writeEnabled' | 'deleteEnabled';

/**
 * A lock's state and the button that flips it (PATCH of the changeable attribute). `what` names
 * the item for screen readers ("tag v1").
 */
export function lockToggle(env: PortalEnv, action: string, attr: LockAttr, enabled: boolean, what: string, back: string): Html {
  const noun = attr === 'writeEnabled' ? 'write' : 'delete';
  const label = enabled ? `Lock ${noun}` : `Unlock ${noun}`;
  return html`<form method="post" action="${action}" class="inline">
    ${csrfField(env)}<input type="hidden" name="attr" value="${attr}" /><input
      type="hidden"
      name="value"
      value="${enabled ? 'false' : 'true'}"
    /><input type="hidden" name="back" value="${back}" />
    <button type="submit" class="secondary small" aria-label="${`${label} of ${what}`}">${label}</button>
  </form>`;
}

/** The lock cell of an item: its write and delete locks, each with its toggle. */
export function lockCell(env: PortalEnv, action: string, attrs: Locks, what: string, back: string): Html {
  const w = attrs.writeEnabled !== false;
  const d = attrs.deleteEnabled !== false;
  return html`<div class="locks">
    <span>${w ? 'writable' : html`<strong>write-locked</strong>`}</span> ${lockToggle(env, action, 'writeEnabled', w, what, back)}
    <span>${d ? 'deletable' : html`<strong>delete-locked</strong>`}</span> ${lockToggle(env, action, 'deleteEnabled', d, what, back)}
  </div>`;
}

/** The posted lock change: {attr: boolean}. */
export function lockPatch(env: PortalEnv): Record<string, boolean> {
  const attr = formValue(env, 'attr');
  const value = formValue(env, 'value');
  if ((attr !== 'writeEnabled' && attr !== 'deleteEnabled') || (value !== 'true' && value !== 'false'))
    throw new RegistryError('REQUEST_INVALID', 'a lock change names writeEnabled or deleteEnabled and true or false');
  return { [attr]: value === 'true' };
}

/** Links to the first and the next page of a keyset-paged listing. */
export function pages(o: { first?: string; next?: string }): Html {
  if (!o.first && !o.next) return html``;
  return html`<nav class="actions" aria-label="Pages">
    ${o.first ? html`<a href="${o.first}">First page</a>` : ''} ${o.next ? html`<a href="${o.next}" rel="next">Next page</a>` : ''}
  </nav>`;
}
