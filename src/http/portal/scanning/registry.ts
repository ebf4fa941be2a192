import { RegistryError } from '../../../domain/errors.js';
import { SEVERITIES } from '../../../domain/scan/findings.js';
import { FAIL_ON, type AllowEntry, type ScanPolicy } from '../../../domain/scan/policy.js';
import type { Services } from '../../../services/index.js';
import type { ScanView } from '../../../services/scan/scanner.js';
import { acr, api, apiPath, repoSeg, seg } from '../api.js';
import { route, type PortalEnv } from '../common.js';
import { html, type Html } from '../html.js';
import { checkbox, checked, formValue, notice, pager, postForm, redirect, registryScreen, select, textarea, when } from '../ui.js';
import { scanBadges } from './badges.js';
import { scanningPath } from './paths.js';
import { scrollTable } from './table.js';

// A registry's scanning (GET /portal/registries/{r}/scanning): its scanned images newest first
// (GET /api/registries/{r}/scans, filtered by minimum severity) with their quarantine state, the
// scan policy with its edit form (PUT /api/registries/{r}/scanPolicy), and the vulnerability
// data's status (GET /api/vulndb, which only deployment-wide readers may see).

/** GET /api/vulndb's answer. */
type VulnDbStatus = Awaited<ReturnType<Services['vulndb']['status']>>;

const PAGE = 50;
const MESSAGES = { policy: 'Scan policy saved. It decides images scanned from now on; scan an image again to re-decide it.' };

const SEVERITY_OPTIONS: readonly (readonly [string, string])[] = [
  ['', 'Any (every scan)'],
  ...SEVERITIES.filter((s) => s !== 'none').map((s) => [s, `${s} or higher`] as const),
];

const FAIL_ON_LABELS: Record<string, string> = {
  critical: 'a critical finding',
  high: 'a high or critical finding',
  medium: 'a medium or higher finding',
  low: 'a low or higher finding',
  never: 'never (report only)',
};

/** What the screens read of ACR's manifest attributes (GET /acr/v1/{r}/{repo}/_manifests/{digest}). */
export interface ManifestAttributes {
  manifest?: { tags?: string[]; changeableAttributes?: { quarantineState?: string; quarantineDetails?: string } };
}

/** An image's quarantine state, read as the caller (ACR's manifest attributes); undefined when it has none or is not visible. */
async function quarantineOf(env: PortalEnv, reg: string, repo: string, digest: string): Promise<string | undefined> {
  try {
    const m = (await acr(env, 'GET', `/acr/v1/${seg(reg)}/${repoSeg(repo)}/_manifests/${seg(digest)}`)) as ManifestAttributes;
    return m.manifest?.changeableAttributes?.quarantineState;
  } catch (e) {
    if (e instanceof RegistryError && e.status < 500) return undefined;
    throw e;
  }
}

async function scannedImages(env: PortalEnv, reg: string): Promise<Html> {
  const q = env.ctx.url.searchParams;
  const minSeverity = q.get('minSeverity') ?? '';
  const before = q.get('before') ?? '';
  const page = (await api(env, 'GET', `${apiPath.registry(reg)}/scans`, { query: { n: PAGE, minSeverity, before } })) as {
    value: ScanView[];
    nextLink?: string;
  };
  const items = page.value;
  const states = await Promise.all(items.map((s) => quarantineOf(env, reg, s.repository, s.digest)));
  const next = page.nextLink ? new URLSearchParams(page.nextLink.replace(/^[^?]*\?/, '')).get('before') : null;
  const base = scanningPath.registry(reg);
  const filter = html`<form method="get" action="${base}" class="filters" aria-label="Filter scanned images">
    ${select({ label: 'Minimum severity', name: 'minSeverity', options: SEVERITY_OPTIONS, value: minSeverity })}
    <button type="submit">Filter</button>
  </form>`;
  const rows = items.map(
    (s, i) =>
      html`<tr>
        <td class="wrap">
          <a href="${scanningPath.scan(reg, s.repository, s.digest)}">${s.repository}@<code>${s.digest.slice(0, 19)}…</code></a>
        </td>
        <td>${s.status}</td>
        <td>${when(s.scannedAt)}</td>
        <td>${scanBadges(s.summary)}</td>
        <td>${states[i] ?? html`<span class="muted">–</span>`}</td>
      </tr>`,
  );
  const more = new URLSearchParams({ ...(minSeverity ? { minSeverity } : {}), ...(next ? { before: next } : {}) });
  return html`<h2 id="scans-h">Scanned images</h2>
    ${filter}
    ${scrollTable({
      caption: minSeverity ? `Scanned images with a ${minSeverity} or higher finding, newest first` : 'Scanned images, newest first',
      columns: ['Image', 'Status', 'Scanned', 'Findings', 'Quarantine'],
      rows,
      empty: minSeverity ? `No scanned image has a ${minSeverity} or higher finding.` : 'No image of this registry has been scanned yet.',
    })}
    ${pager({ next: next ? `${base}?${more.toString()}` : undefined, label: 'Scanned images pages' })}`;
}

const allowText = (allow: AllowEntry[]): string => allow.map((a) => (a.expires ? `${a.id} ${a.expires}` : a.id)).join('\n');

async function policySection(env: PortalEnv, reg: string): Promise<Html> {
  const policy = (await api(env, 'GET', `${apiPath.registry(reg)}/scanPolicy`)) as ScanPolicy;
  const allow = policy.allow;
  const failOn = policy.failOn;
  return html`<h2>Scan policy</h2>
    <p>
      Under the registry's quarantine policy, Berth's scanner marks a new image <strong>Failed</strong> when a finding reaches the policy's
      severity, and <strong>Passed</strong> otherwise. Images outside quarantine are only reported on.
    </p>
    <dl class="facts">
      <dt>Fails an image on</dt>
      <dd>${FAIL_ON_LABELS[failOn] ?? failOn}</dd>
      <dt>Findings without a fix</dt>
      <dd>${policy.ignoreUnfixed ? 'ignored' : 'counted'}</dd>
      <dt>Allowed advisories</dt>
      <dd>
        ${
          allow.length === 0
            ? html`<span class="muted">none</span>`
            : html`<ul>
                ${allow.map((a) => html`<li><code>${a.id}</code>${a.expires ? html` until ${a.expires}` : ''}</li>`)}
              </ul>`
        }
      </dd>
    </dl>
    ${postForm(
      env,
      scanningPath.registry(reg),
      html`<fieldset>
        <legend>Change the scan policy</legend>
        ${select({
          label: 'Fail an image on',
          name: 'failOn',
          options: FAIL_ON.map((f) => [f, FAIL_ON_LABELS[f] ?? f] as const),
          value: failOn,
        })}
        ${checkbox({ label: 'Ignore findings that have no fixed version', name: 'ignoreUnfixed', checked: policy.ignoreUnfixed })}
        ${textarea({
          label: 'Allowed advisories',
          name: 'allow',
          value: allowText(allow),
          hint: 'One a line: an advisory id or alias, optionally followed by the date it expires, e.g. CVE-2024-1234 2027-01-31. Allowed findings never fail an image.',
        })}
        <button type="submit">Save the scan policy</button>
      </fieldset>`,
      { label: 'Scan policy' },
    )}`;
}

async function vulnDataSection(env: PortalEnv): Promise<Html> {
  let status: VulnDbStatus;
  try {
    status = (await api(env, 'GET', '/api/vulndb')) as VulnDbStatus;
  } catch (e) {
    if (e instanceof RegistryError && e.status === 403)
      return html`<h2>Vulnerability data</h2>
        <p class="muted">Only deployment-wide readers (Reader, Contributor or Owner at scope /) see the vulnerability data's status.</p>`;
    throw e;
  }
  const sources = status.sources;
  const last = status.lastImport;
  return html`<h2>Vulnerability data</h2>
    ${
      Number(status?.records ?? 0) === 0
        ? html`<p>
            No vulnerability data has been imported, so nothing is matched yet. An operator imports OSV records with
            <code>berth vulndb import</code>.
          </p>`
        : ''
    }
    <dl class="facts">
      <dt>Records</dt>
      <dd>${status.records} (${status.withdrawn} withdrawn)</dd>
      <dt>Affected packages</dt>
      <dd>${status.affectedPackages}</dd>
      <dt>Data date</dt>
      <dd>${when(status.dataDate)}</dd>
      <dt>Last import</dt>
      <dd>${last ? html`${when(last.finishedAt ?? last.startedAt)} (${last.source}, ${last.status})` : '–'}</dd>
    </dl>
    ${scrollTable({
      caption: 'Vulnerability data by source',
      columns: ['Source', 'Records', 'Data date', 'Last import'],
      rows: sources.map(
        (s) =>
          html`<tr>
            <td>${s.source}</td>
            <td>${s.records}</td>
            <td>${when(s.dataDate)}</td>
            <td>
              ${
                s.lastImport
                  ? html`${when(s.lastImport.finishedAt ?? s.lastImport.startedAt)} ${String(s.lastImport.status ?? '')}
                    ${s.lastImport.identity ? html`by ${String(s.lastImport.identity)}` : ''}`
                  : '–'
              }
            </td>
          </tr>`,
      ),
      empty: 'No source has been imported.',
    })}`;
}

/** The allow list from the form: one entry a line, "ID" or "ID EXPIRES" ("ID=EXPIRES" too); the API checks each. */
export function parseAllowLines(text: string): { id: string; expires?: string }[] {
  const out: { id: string; expires?: string }[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const words = line
      .trim()
      .split(/[\s=]+/)
      .filter(Boolean);
    if (words.length === 0) continue;
    if (words.length > 2)
      throw new RegistryError(
        'REQUEST_INVALID',
        `allowed advisories, line ${i + 1}: write an id and at most an expiry date, e.g. CVE-2024-1234 2027-01-31; nothing was changed`,
      );
    out.push(words[1] ? { id: words[0]!, expires: words[1] } : { id: words[0]! });
  }
  return out;
}

export const registryScanning = [
  route('GET /portal/registries/:reg/scanning', {
    handler: async (env) => {
      const reg = env.params.reg;
      // The policy read is also the authorization check of the screen (registry read power).
      const policy = await policySection(env, reg);
      const [scans, data] = await Promise.all([scannedImages(env, reg), vulnDataSection(env)]);
      registryScreen(env, reg, 'scanning', {
        title: 'Scanning',
        body: html`${notice(env, MESSAGES)}${scans}${policy}${data}`,
      });
    },
  }),
  route('POST /portal/registries/:reg/scanning', {
    handler: async (env) => {
      const reg = env.params.reg;
      await api(env, 'PUT', `${apiPath.registry(reg)}/scanPolicy`, {
        json: {
          failOn: formValue(env, 'failOn'),
          ignoreUnfixed: checked(env, 'ignoreUnfixed'),
          allow: parseAllowLines(formValue(env, 'allow')),
        },
      });
      redirect(env, scanningPath.registry(reg), 'policy');
    },
  }),
];
