import { RegistryError } from '../../../domain/errors.js';
import { severityRank, SEVERITIES, type Finding } from '../../../domain/scan/findings.js';
import type { ScanView } from '../../../services/scan/scanner.js';
import { acr, api, apiPath, portalPath, repoSeg, seg } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, formValue, notice, pager, postButton, redirect, registryScreen, select, when } from '../ui.js';
import { scanBadges, severityBadge } from './badges.js';
import { scanningPath } from './paths.js';
import { scrollTable } from './table.js';
import type { ManifestAttributes } from './registry.js';

// A manifest's scan (GET /portal/registries/{r}/repositories/{repo}/_manifests/{digest}/_scan):
// status and summary, the findings with severity filters, the SBOMs the scanner attached and the
// image's quarantine state. POST on the same address scans again (POST …/_scan of /api, push) or,
// with action=quarantine, sets the quarantine state (ACR's manifest PATCH, AcrQuarantineWriter or
// Owner). Everything is read and changed as the signed-in user through /api and /acr/v1.

const FINDINGS_PAGE = 100;
const QUARANTINE_STATES = ['Passed', 'Failed', 'Quarantined'] as const;
const MESSAGES: Record<string, string> = {
  scan: 'Scan queued: the findings below update once it has run (reload the page).',
  'quarantine-Passed': 'Quarantine state set to Passed: the image can be pulled.',
  'quarantine-Failed': 'Quarantine state set to Failed: the image stays hidden.',
  'quarantine-Quarantined': 'The image is quarantined again: the next scan decides it.',
};

interface Target {
  reg: string;
  repo: string;
  digest: string;
}

/** The decoded registry, repository and digest of the address. */
function targetOf(env: PortalEnv & { params: { reg: string; repo: string; digest: string } }): Target {
  const digest = env.params.digest;
  if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest))
    throw new RegistryError('DIGEST_INVALID', `"${digest.slice(0, 80)}" is not a digest`);
  return { reg: env.params.reg, repo: env.params.repo, digest };
}

const scanApi = (t: Target) => `${apiPath.repository(t.reg, t.repo)}/_manifests/${seg(t.digest)}`;
const acrManifest = (t: Target) => `/acr/v1/${seg(t.reg)}/${repoSeg(t.repo)}/_manifests/${seg(t.digest)}`;
const shortDigest = (d: string) => `${d.slice(0, 19)}…`;

function crumbs(t: Target): Html {
  return html` / <a href="${portalPath.repositories(t.reg)}">Repositories</a> /
    <a href="${portalPath.repository(t.reg, t.repo)}">${t.repo}</a> /
    <a href="${portalPath.manifest(t.reg, t.repo, t.digest)}"><code>${shortDigest(t.digest)}</code></a>`;
}

/** An advisory id, a link only when the data itself gives an https URL (never javascript:, data: or http:). */
export function advisory(id: string): Html {
  try {
    const u = new URL(id);
    if (u.protocol === 'https:') return html`<a href="${u.href}" rel="noopener noreferrer">${id}</a>`;
  } catch {
    // Not a URL: an id such as CVE-2024-1234, shown as text.
  }
  return html`<code>${id}</code>`;
}

function findingsSection(env: PortalEnv, t: Target, scan: ScanView): Html {
  const q = env.ctx.url.searchParams;
  const min = q.get('minSeverity') ?? '';
  const fixable = q.get('fixable') === 'on';
  const from = Math.max(0, Math.floor(Number(q.get('from') ?? 0)) || 0);
  const all: Finding[] = scan.findings ?? [];
  const minRank = (SEVERITIES as readonly string[]).includes(min) ? severityRank(min as Finding['severity']) : -1;
  const shown = all.filter((f) => (minRank < 0 || severityRank(f.severity) >= minRank) && (!fixable || f.fixedVersion));
  const pageRows = shown.slice(from, from + FINDINGS_PAGE);
  const base = scanningPath.scan(t.reg, t.repo, t.digest);
  const link = (at: number) => {
    const p = new URLSearchParams({ ...(min ? { minSeverity: min } : {}), ...(fixable ? { fixable: 'on' } : {}), from: String(at) });
    return `${base}?${p.toString()}#findings-h`;
  };
  const filter = html`<form method="get" action="${base}#findings-h" class="filters" aria-label="Filter findings">
    ${select({
      label: 'Minimum severity',
      name: 'minSeverity',
      options: [['', 'Any'], ...SEVERITIES.filter((s) => s !== 'none').map((s) => [s, `${s} or higher`] as const)],
      value: min,
    })}
    ${checkbox({ label: 'Only findings with a fix', name: 'fixable', checked: fixable })}
    <button type="submit">Filter</button>
  </form>`;
  const rows = pageRows.map((f) => {
    const aliases = f.aliases ?? [];
    return html`<tr>
      <td>${severityBadge(f.severity)}</td>
      <td>
        ${advisory(f.id)}${
          aliases.length ? html`<br /><span class="muted">${aliases.slice(0, 5).join(', ')}${aliases.length > 5 ? ', …' : ''}</span>` : ''
        }
      </td>
      <td>${f.package}<br /><span class="muted">${f.ecosystem}</span></td>
      <td>${f.installedVersion}${f.source ? html`<br /><span class="muted">source ${f.source.name} ${f.source.version}</span>` : ''}</td>
      <td>${f.fixedVersion ? f.fixedVersion : html`<span class="muted">no fix</span>`}</td>
      <td class="wrap description">${f.summary}</td>
      <td class="wrap"><code>${f.path}</code></td>
    </tr>`;
  });
  const caption =
    shown.length === all.length
      ? `${all.length} ${all.length === 1 ? 'finding' : 'findings'}`
      : `${shown.length} of ${all.length} findings (${min ? `${min} or higher` : 'any severity'}${fixable ? ', with a fix' : ''})`;
  return html`<h2 id="findings-h">Findings</h2>
    ${filter}
    ${scrollTable({
      caption: shown.length > FINDINGS_PAGE ? `${caption}, ${from + 1}–${from + pageRows.length} shown` : caption,
      columns: ['Severity', 'Advisory', 'Package', 'Installed', 'Fixed in', 'Description', 'Found in'],
      rows,
      empty:
        all.length > 0
          ? 'No finding matches the filter.'
          : scan.status === 'succeeded'
            ? 'No findings.'
            : `No findings: the scan is ${scan.status}.`,
    })}
    ${pager({
      prev: from > 0 ? link(Math.max(0, from - FINDINGS_PAGE)) : undefined,
      next: from + FINDINGS_PAGE < shown.length ? link(from + FINDINGS_PAGE) : undefined,
      label: 'Findings pages',
    })}`;
}

const FORMAT_LABEL = { cyclonedx: 'CycloneDX 1.5', spdx: 'SPDX 2.3' };

function sbomSection(t: Target, scan: ScanView): Html {
  const formats = (['cyclonedx', 'spdx'] as const).filter((f) => scan.sbom[f]);
  return html`<h2>SBOM</h2>
    ${
      formats.length === 0
        ? html`<p class="muted">No SBOM yet: the scanner attaches one to the image (as a referrer) when it scans it.</p>`
        : html`<ul>
            ${formats.map(
              (f) =>
                html`<li>
                  ${FORMAT_LABEL[f]}: <a href="${scanningPath.sbom(t.reg, t.repo, t.digest, f)}">packages</a> ·
                  <a href="${scanningPath.sbom(t.reg, t.repo, t.digest, f, true)}" download>download JSON</a>
                  <span class="muted">(referrer <code>${shortDigest(scan.sbom[f]!)}</code>)</span>
                </li>`,
            )}
          </ul>`
    }`;
}

function quarantineSection(env: PortalEnv, t: Target, attrs: ManifestAttributes): Html {
  const ca = attrs.manifest?.changeableAttributes ?? {};
  const state = ca.quarantineState;
  const details = ca.quarantineDetails;
  const action = scanningPath.scan(t.reg, t.repo, t.digest);
  return html`<h2>Quarantine</h2>
    ${
      state
        ? html`<dl class="facts">
              <dt>State</dt>
              <dd>
                <span class="${state === 'Passed' ? 'badge ok' : state === 'Failed' ? 'badge critical' : 'badge high'}">${state}</span>
              </dd>
              ${
                details
                  ? html`<dt>Details</dt>
                      <dd class="wrap">${details}</dd>`
                  : ''
              }
            </dl>
            <div class="actions">
              ${QUARANTINE_STATES.filter((s) => s !== state).map((s) =>
                postButton(env, action, s === 'Quarantined' ? 'Quarantine again' : `Mark ${s}`, {
                  fields: { action: 'quarantine', state: s },
                  danger: s === 'Failed',
                  secondary: s === 'Quarantined',
                }),
              )}
            </div>
            <p class="muted">Changing the state needs the AcrQuarantineWriter or Owner role.</p>`
        : html`<p class="muted">
            This image has no quarantine state: the registry's quarantine policy was off when it was pushed, so it is pullable.
          </p>`
    }`;
}

function facts(t: Target, scan: ScanView): Html {
  const platforms = scan.platforms ?? [];
  return html`<dl class="facts">
    <dt>Status</dt>
    <dd>${scan.status}</dd>
    ${
      scan.message
        ? html`<dt>Message</dt>
            <dd class="wrap">${scan.message}</dd>`
        : ''
    }
    <dt>Scanned</dt>
    <dd>${when(scan.scannedAt)}</dd>
    <dt>Matched against data of</dt>
    <dd>${when(scan.dataDate)}</dd>
    <dt>Findings</dt>
    <dd>
      ${scan.status === 'succeeded' ? scanBadges(scan.summary) : html`<span class="muted">–</span>`}
      ${scan.summary?.fixable ? html` <span class="muted">${scan.summary.fixable} with a fix</span>` : ''}
    </dd>
    ${
      scan.os
        ? html`<dt>Operating system</dt>
            <dd>${scan.os.prettyName ?? `${scan.os.id} ${scan.os.versionId ?? ''}`}</dd>`
        : ''
    }
    ${
      scan.packages !== undefined
        ? html`<dt>Packages</dt>
            <dd>${Number(scan.packages)}</dd>`
        : ''
    }
    ${
      platforms.length
        ? html`<dt>Platforms</dt>
            <dd>
              <ul>
                ${platforms.map(
                  (p) =>
                    html`<li>
                      ${p.platform}:
                      <a href="${scanningPath.scan(t.reg, t.repo, p.digest)}"><code>${shortDigest(p.digest)}</code></a>
                      ${p.status}
                    </li>`,
                )}
              </ul>
            </dd>`
        : ''
    }
  </dl>`;
}

export const manifestScan = [
  route('GET /portal/registries/:reg/repositories/*repo/_manifests/:digest/_scan', {
    handler: async (env) => {
      const t = targetOf(env);
      const scan = (await api(env, 'GET', `${scanApi(t)}/_scan`)) as ScanView;
      const attrs = (await acr(env, 'GET', acrManifest(t))) as ManifestAttributes;
      const tags = attrs.manifest?.tags ?? [];
      registryScreen(env, t.reg, 'repositories', {
        title: `Scan of ${t.repo}@${shortDigest(t.digest)}`,
        crumbs: crumbs(t),
        body: html`${notice(env, MESSAGES)}
          <p><code class="digest">${t.digest}</code>${tags.length ? html` · tags ${tags.join(', ')}` : ''}</p>
          ${facts(t, scan)}
          <div class="actions">
            ${postButton(env, scanningPath.scan(t.reg, t.repo, t.digest), 'Scan now', { fields: { action: 'scan' } })}
            <span class="muted">Reads the image's layers again (needs push).</span>
          </div>
          ${findingsSection(env, t, scan)} ${sbomSection(t, scan)} ${quarantineSection(env, t, attrs)}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/repositories/*repo/_manifests/:digest/_scan', {
    handler: async (env) => {
      const t = targetOf(env);
      const to = scanningPath.scan(t.reg, t.repo, t.digest);
      const action = formValue(env, 'action');
      if (action === 'scan') {
        await api(env, 'POST', `${scanApi(t)}/_scan`);
        return redirect(env, to, 'scan');
      }
      if (action === 'quarantine') {
        const state = formValue(env, 'state');
        if (!(QUARANTINE_STATES as readonly string[]).includes(state))
          throw new RegistryError('REQUEST_INVALID', `the quarantine state must be one of ${QUARANTINE_STATES.join(', ')}`);
        await acr(env, 'PATCH', acrManifest(t), {
          json: { quarantineState: state, quarantineDetails: `set in the portal by ${env.session!.principal.name}` },
        });
        return redirect(env, to, `quarantine-${state}`);
      }
      throw new RegistryError('REQUEST_INVALID', 'the form names no action (scan or quarantine)');
    },
  }),
];
