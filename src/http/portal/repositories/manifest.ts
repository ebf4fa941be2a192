import { RegistryError } from '../../../domain/errors.js';
import { acr, api, apiPath, portalPath } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { replicationBadge, replicationPath } from '../replication/index.js';
import { bytes, copyable, dataTable, notice, registryScreen, when } from '../ui.js';
import { acrPath, digestCell, here, imageName, lockCell, platform, platforms, repoParams, scanCell, type RepoParams } from './common.js';
import { kindOf } from './repository.js';
import type { ImageConfig, ManifestAttributes, ManifestDocument, Referrers, SignatureAttribute } from './types.js';

// A manifest's page (GET /portal/registries/{r}/repositories/{repo}/_manifests/{digest}): what
// /acr/v1 says of it (tags, size, platform, pulls, scan, locks), its document as /api gives it
// (layers, config, platforms of an index, annotations, subject), the image config when the user
// may pull, and its referrers as a tree (signatures, SBOMs, any artifact), each downloadable.
// Downloads go through /api's own reads (the manifest as stored, a blob), so they are authorized
// as the API authorizes them. On a replicated registry, whether the image is complete in each
// region (/acr/v1's replicationStatus).

type Env = PortalEnv & { params: Record<string, string> };

/** Referrers shown at most, over the whole tree, and how deep it goes. */
const TREE_MAX = 200;
const TREE_DEPTH = 4;

interface Node {
  digest: string;
  artifactType?: string;
  mediaType?: string;
  size?: number;
  annotations?: Record<string, string>;
  children: Node[];
}

/** The referrers of `digest`, recursively (breadth-limited to TREE_MAX in all). */
async function referrerTree(env: PortalEnv, p: RepoParams, digest: string, depth: number, budget: { left: number }): Promise<Node[]> {
  if (depth > TREE_DEPTH || budget.left <= 0) return [];
  const out = (await api(env, 'GET', `${apiPath.repository(p.reg, p.repo)}/_referrers/${encodeURIComponent(digest)}`, {
    query: { n: Math.min(budget.left, 100) },
  })) as Referrers;
  const nodes: Node[] = [];
  for (const r of out.manifests ?? []) {
    if (typeof r.digest !== 'string') continue;
    if (budget.left-- <= 0) break;
    nodes.push({
      digest: r.digest,
      artifactType: r.artifactType,
      mediaType: r.mediaType,
      size: r.size,
      annotations: r.annotations,
      children: [],
    });
  }
  for (const n of nodes) n.children = await referrerTree(env, p, n.digest, depth + 1, budget);
  return nodes;
}

function treeList(p: RepoParams, nodes: Node[]): Html {
  return html`<ul class="tree">
    ${nodes.map(
      (n) =>
        html`<li>
          <a href="${here.manifest(p, n.digest)}">${digestCell(n.digest)}</a>
          <span>${n.artifactType ?? n.mediaType ?? ''}</span>
          <span class="muted">${bytes(n.size)}</span>
          <a href="${here.manifest(p, n.digest)}/_raw" aria-label="${`Download manifest ${n.digest}`}">download</a>
          ${
            n.annotations && Object.keys(n.annotations).length
              ? html`<div class="muted small">${Object.entries(n.annotations).map(([k, v]) => html`<span>${k}: ${v}</span> `)}</div>`
              : ''
          }
          ${n.children.length ? treeList(p, n.children) : ''}
        </li>`,
    )}
  </ul>`;
}

/** Key/value pairs (annotations, labels) as a table of text. */
function pairs(caption: string, obj: unknown, empty: string): Html {
  const entries = obj && typeof obj === 'object' ? Object.entries(obj as Record<string, unknown>) : [];
  return dataTable({
    caption,
    columns: [{ label: 'Key' }, { label: 'Value' }],
    rows: entries.map(
      ([k, v]) =>
        html`<tr>
          <th scope="row" class="wrap">${k}</th>
          <td class="wrap">${typeof v === 'string' ? v : (JSON.stringify(v) ?? '')}</td>
        </tr>`,
    ),
    empty,
  });
}

/** What an image config says, as text. */
function configFacts(cfg: ImageConfig): Html {
  const c = cfg.config ?? {};
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String).join(' ') : typeof v === 'string' ? v : '');
  const row = (label: string, value: string | Html) =>
    value === ''
      ? ''
      : html`<dt>${label}</dt>
          <dd>${value}</dd>`;
  return html`<dl class="facts">
      ${row('OS', cfg.os ?? '')} ${row('Architecture', [cfg.architecture, cfg.variant].filter(Boolean).join('/'))}
      ${row('Created', cfg.created ? when(cfg.created) : '')} ${row('Author', cfg.author ?? '')} ${row('User', c.User ?? '')}
      ${row('Working directory', c.WorkingDir ?? '')} ${row('Entrypoint', list(c.Entrypoint))} ${row('Command', list(c.Cmd))}
      ${row('Exposed ports', c.ExposedPorts ? Object.keys(c.ExposedPorts).join(', ') : '')}
    </dl>
    ${
      Array.isArray(c.Env) && c.Env.length
        ? html`<h3>Environment</h3>
            <pre class="body">${(c.Env as unknown[]).map(String).join('\n')}</pre>`
        : ''
    }
    ${
      c.Labels && Object.keys(c.Labels).length
        ? html`<h3>Labels</h3>
            ${pairs('Labels of the image config', c.Labels, '')}`
        : ''
    }`;
}

async function manifestPage(env: Env): Promise<void> {
  const p = repoParams(env);
  const digest = env.params.digest!;
  const [attrs, doc] = await Promise.all([
    (acr(env, 'GET', acrPath.manifest(p, digest)) as Promise<{ manifest: ManifestAttributes }>).then((r) => r.manifest),
    api(env, 'GET', `${apiPath.repository(p.reg, p.repo)}/_manifests/${encodeURIComponent(digest)}/_document`) as Promise<ManifestDocument>,
  ]);
  const d = doc.document;
  const tree = await referrerTree(env, p, digest, 1, { left: TREE_MAX });
  const image = imageName(env, p);
  const path = here.manifest(p, digest);
  const tags = attrs.tags;

  const children = Array.isArray(d.manifests) ? d.manifests : [];
  const layers = Array.isArray(d.layers) ? d.layers : [];
  const index = children.length > 0 || kindOf(attrs) === 'index';
  const cfg = d.config;

  const body = html`${notice(env, { locked: 'The lock was changed.' })}
    <dl class="facts">
      <dt>Digest</dt>
      <dd><code>${digest}</code></dd>
      <dt>Media type</dt>
      <dd>${doc.mediaType}</dd>
      ${
        d.artifactType
          ? html`<dt>Artifact type</dt>
              <dd>${String(d.artifactType)}</dd>`
          : ''
      }
      <dt>Manifest size</dt>
      <dd>${bytes(doc.size)}</dd>
      <dt>Image size</dt>
      <dd>${bytes(attrs.imageSize)}</dd>
      <dt>Platform</dt>
      <dd>${platforms(attrs) || '–'}</dd>
      <dt>Created</dt>
      <dd>${when(attrs.createdTime)}</dd>
      <dt>Last pulled</dt>
      <dd>${when(attrs.lastPulledTime)}</dd>
      <dt>Pulls</dt>
      <dd>${attrs.pullCount}</dd>
      <dt>Vulnerabilities</dt>
      <dd>${scanCell(attrs.scan, `${portalPath.manifest(p.reg, p.repo, digest)}/_scan`)}</dd>
      <dt>Tags</dt>
      <dd>
        ${tags.length ? tags.map((t) => html`<span class="copyable-row">${copyable(`docker pull ${image}:${t}`)}</span> `) : html`<span class="muted">untagged</span>`}
      </dd>
      <dt>Pull by digest</dt>
      <dd>${copyable(`docker pull ${image}@${digest}`)}</dd>
      ${
        d.subject?.digest
          ? html`<dt>Refers to</dt>
              <dd><a href="${here.manifest(p, String(d.subject.digest))}">${digestCell(String(d.subject.digest))}</a></dd>`
          : ''
      }
      <dt>Locks</dt>
      <dd>${lockCell(env, `${path}/_lock`, attrs.changeableAttributes, 'this manifest', path)}</dd>
      ${attrs.signature ? signatureFacts(attrs.signature, (d) => here.manifest(p, d)) : ''}
      ${
        attrs.replicationStatus?.length
          ? html`<dt>Replication</dt>
              <dd>
                <ul class="badges" aria-label="Replication status per region">
                  ${attrs.replicationStatus.map((r) => html`<li>${r.location}: ${replicationBadge(r.status)}</li>`)}
                </ul>
                <a href="${replicationPath(p.reg)}">Replicas of the registry</a>
              </dd>`
          : ''
      }
    </dl>
    <p class="actions">
      <a href="${path}/_raw">Download the manifest</a>
      <a href="${path}/_scan">Vulnerabilities</a>
      <a href="${path}/_delete">Delete this manifest…</a>
    </p>
    ${
      index
        ? html`<h2>Platforms</h2>
            ${dataTable({
              caption: 'The manifests of this index',
              columns: [{ label: 'Manifest' }, { label: 'Platform' }, { label: 'Media type' }, { label: 'Size', num: true }],
              rows: children.map(
                (c) =>
                  html`<tr>
                    <th scope="row"><a href="${here.manifest(p, String(c.digest))}">${digestCell(String(c.digest))}</a></th>
                    <td>${c.platform ? platform(c.platform) : '–'}</td>
                    <td>${String(c.mediaType ?? '')}</td>
                    <td class="num">${bytes(Number(c.size))}</td>
                  </tr>`,
              ),
              empty: 'This index lists no manifests.',
            })}`
        : html`<h2>Layers</h2>
            ${dataTable({
              caption: `${layers.length} ${layers.length === 1 ? 'layer' : 'layers'}`,
              columns: [
                { label: '#', num: true },
                { label: 'Digest' },
                { label: 'Media type' },
                { label: 'Size', num: true },
                { label: 'Download' },
              ],
              rows: layers.map(
                (l, i) =>
                  html`<tr>
                    <td class="num">${i + 1}</td>
                    <th scope="row">${digestCell(String(l.digest))}</th>
                    <td>${String(l.mediaType ?? '')}</td>
                    <td class="num">${bytes(Number(l.size))}</td>
                    <td><a href="${here.blob(p, String(l.digest))}" aria-label="${`Download layer ${i + 1}`}">download</a></td>
                  </tr>`,
              ),
              empty: 'No layers.',
            })}
            <h2>Config</h2>
            ${
              cfg?.digest
                ? html`<p>
                    ${digestCell(String(cfg.digest))} ${String(cfg.mediaType ?? '')} · ${bytes(Number(cfg.size))} ·
                    <a href="${here.blob(p, String(cfg.digest))}">download the config</a>
                  </p>`
                : ''
            }
            ${
              doc.config
                ? configFacts(doc.config)
                : doc.configHidden
                  ? html`<p class="muted">Reading the config needs the right to pull.</p>`
                  : html`<p class="muted">Not an image config.</p>`
            }`
    }
    <h2>Annotations</h2>
    ${pairs('Annotations of the manifest', d.annotations, 'No annotations.')}
    <h2>Referrers</h2>
    ${tree.length ? treeList(p, tree) : html`<p class="muted">Nothing refers to this manifest (no signatures, SBOMs or other artifacts).</p>`}`;

  registryScreen(env, p.reg, 'repositories', {
    title: `Manifest ${digest.slice(0, 19)}…`,
    crumbs: html` / <a href="${portalPath.repositories(p.reg)}">Repositories</a> / <a href="${here.tags(p)}">${p.repo}</a> /
      <a href="${here.manifests(p)}">Manifests</a>`,
    body,
  });
}

/**
 * A download: /api's read answers the request itself (its bytes and content type). The portal
 * adds only that it is an attachment, so a browser saves it rather than showing it.
 */
async function download(env: PortalEnv, apiRoute: string, filename: string): Promise<void> {
  env.ctx.res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  try {
    await api(env, 'GET', apiRoute);
  } catch (e) {
    if (!env.ctx.res.headersSent) env.ctx.res.removeHeader('Content-Disposition');
    throw e;
  }
}

/** A file name from a digest: sha256-abc… (letters, digits and "-" only). */
const fileName = (digest: string, ext: string) => `${digest.replace(/[^a-zA-Z0-9]/g, '-').slice(0, 80)}${ext}`;

export const manifestScreens = [
  route('GET /portal/registries/:reg/repositories/*repo/_manifests/:digest', { handler: manifestPage }),
  route('GET /portal/registries/:reg/repositories/*repo/_manifests/:digest/_raw', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      const digest = env.params.digest!;
      if (!digest.includes(':')) throw new RegistryError('DIGEST_INVALID', 'name the manifest by its digest');
      await download(env, `${apiPath.repository(p.reg, p.repo)}/_manifests/${encodeURIComponent(digest)}`, fileName(digest, '.json'));
    },
  }),
  route('GET /portal/registries/:reg/repositories/*repo/_blobs/:digest', {
    handler: async (env: Env) => {
      const p = repoParams(env);
      const digest = env.params.digest!;
      await download(env, `${apiPath.repository(p.reg, p.repo)}/_blobs/${encodeURIComponent(digest)}`, fileName(digest, ''));
    },
  }),
];

const TRUST_BADGE: Record<string, [string, string]> = {
  verified: ['badge ok', 'Verified'],
  unsigned: ['badge high', 'Not signed'],
  failed: ['badge critical', 'No signature verified'],
  skipped: ['badge', 'Not verified (level skip)'],
};

/** Content trust: the verdict under the registry's trust policy, who signed, and why each signature failed. */
function signatureFacts(sig: SignatureAttribute, link: (digest: string) => string): Html {
  const [cls, label] = TRUST_BADGE[sig.status] ?? ['badge', sig.status];
  return html`<dt>Signatures</dt>
    <dd>
      <span class="${cls}">${label}</span>
      ${sig.policy ? html` <span class="muted">trust policy ${sig.policy} (${sig.level ?? ''})</span>` : ''}
      ${
        sig.signatures.length
          ? html`<ul aria-label="Signatures of this image">
              ${sig.signatures.map(
                (s) =>
                  html`<li>
                    <a href="${link(s.digest)}">${digestCell(s.digest)}</a> ${s.format}:
                    <span class="${s.outcome === 'verified' ? 'badge ok' : 'badge critical'}">${s.outcome}</span>
                    ${s.signer ? html` signed by <code>${s.signer}</code>` : ''}${s.signingTime ? html` on ${when(s.signingTime)}` : ''}
                    ${s.reason ? html`<div class="muted wrap">${s.reason}</div>` : ''}
                  </li>`,
              )}
            </ul>`
          : ''
      }
    </dd>`;
}
