import { RegistryError } from '../../../domain/errors.js';
import { send } from '../../context.js';
import { api, apiPath, portalPath, seg } from '../api.js';
import { route } from '../common.js';
import { html, type Html } from '../html.js';
import { pager, registryScreen } from '../ui.js';
import { scanningPath } from './paths.js';
import { scrollTable } from './table.js';

// A manifest's SBOM (GET /portal/registries/{r}/repositories/{repo}/_manifests/{digest}/_sbom?format=):
// the document the scanner attached as a referrer (GET …/_sbom of /api, which takes pull), shown
// as a table of its packages, or with download=1 sent as the JSON file. The document is data from
// the image: every field is read as text, whatever its type.

const PACKAGES_PAGE = 200;
const FORMATS: Record<string, string> = { cyclonedx: 'CycloneDX 1.5', spdx: 'SPDX 2.3' };

interface SbomRow {
  name: string;
  version: string;
  ecosystem: string;
  licenses: string;
  purl: string;
  path: string;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);

/** The packages of a CycloneDX or SPDX document, as rows (anything else: none). */
export function sbomPackages(value: unknown): SbomRow[] {
  const doc = obj(value);
  if (doc.bomFormat === 'CycloneDX') {
    return list(doc.components).map((c) => {
      const prop = (name: string) => str(list(c.properties).find((p) => p.name === name)?.value);
      const licenses = list(c.licenses)
        .map((l) => str(l.expression) || str(obj(l.license).id) || str(obj(l.license).name))
        .filter(Boolean)
        .join(', ');
      return {
        name: str(c.name),
        version: str(c.version),
        ecosystem: prop('berth:ecosystem') || str(c.type),
        licenses,
        purl: str(c.purl),
        path: prop('berth:path'),
      };
    });
  }
  if (typeof doc.spdxVersion === 'string') {
    // The image itself is the package the document DESCRIBES: the table lists what it contains.
    const described = new Set([
      ...(Array.isArray(doc.documentDescribes) ? doc.documentDescribes : []).map(str),
      ...list(doc.relationships)
        .filter((r) => r.relationshipType === 'DESCRIBES' && r.spdxElementId === 'SPDXRef-DOCUMENT')
        .map((r) => str(r.relatedSpdxElement)),
    ]);
    return list(doc.packages)
      .filter((p) => !described.has(str(p.SPDXID)))
      .map((p) => {
        const purl = str(list(p.externalRefs).find((r) => r.referenceType === 'purl')?.referenceLocator);
        const license = str(p.licenseDeclared);
        // Berth writes where it found a package as annotation lines "berth:path=…".
        const facts = list(p.annotations).flatMap((a) => str(a.comment).split('\n'));
        const fact = (key: string) => facts.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
        return {
          name: str(p.name),
          version: str(p.versionInfo),
          ecosystem: fact('berth:ecosystem') || (purl.startsWith('pkg:') ? purl.slice(4).split('/')[0]! : str(p.primaryPackagePurpose)),
          licenses: license === 'NOASSERTION' || license === 'NONE' ? '' : license,
          purl,
          path: fact('berth:path'),
        };
      });
  }
  return [];
}

function packagesTable(rows: SbomRow[], from: number, link: (at: number) => string): Html {
  const pageRows = rows.slice(from, from + PACKAGES_PAGE);
  return html`${scrollTable({
    caption: `${rows.length} ${rows.length === 1 ? 'package' : 'packages'}${rows.length > PACKAGES_PAGE ? `, ${from + 1}–${from + pageRows.length} shown` : ''}`,
    columns: ['Package', 'Version', 'Type', 'Licenses', 'Package URL', 'Found in'],
    rows: pageRows.map(
      (r) =>
        html`<tr>
          <td>${r.name}</td>
          <td>${r.version}</td>
          <td>${r.ecosystem}</td>
          <td class="wrap">${r.licenses || html`<span class="muted">–</span>`}</td>
          <td class="wrap"><code>${r.purl}</code></td>
          <td class="wrap"><code>${r.path}</code></td>
        </tr>`,
    ),
    empty: 'The SBOM lists no packages.',
  })}
  ${pager({
    prev: from > 0 ? link(Math.max(0, from - PACKAGES_PAGE)) : undefined,
    next: from + PACKAGES_PAGE < rows.length ? link(from + PACKAGES_PAGE) : undefined,
    label: 'Package pages',
  })}`;
}

export const manifestSbom = [
  route('GET /portal/registries/:reg/repositories/*repo/_manifests/:digest/_sbom', {
    handler: async (env) => {
      const reg = env.params.reg;
      const repo = env.params.repo;
      const digest = env.params.digest;
      const q = env.ctx.url.searchParams;
      const format = q.get('format') ?? 'cyclonedx';
      if (!Object.hasOwn(FORMATS, format)) throw new RegistryError('REQUEST_INVALID', 'format must be cyclonedx or spdx');
      const doc: unknown = await api(env, 'GET', `${apiPath.repository(reg, repo)}/_manifests/${seg(digest)}/_sbom`, { query: { format } });
      if (q.get('download') === '1') {
        const name = `${repo.replaceAll('/', '_')}-${digest.replace(/^[^:]*:/, '').slice(0, 12)}.${format === 'cyclonedx' ? 'cdx' : 'spdx'}.json`;
        return send(
          env.ctx,
          200,
          {
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
            'Cache-Control': 'no-store',
          },
          JSON.stringify(doc, null, 2),
        );
      }
      const from = Math.max(0, Math.floor(Number(q.get('from') ?? 0)) || 0);
      const self = scanningPath.sbom(reg, repo, digest, format);
      const other = Object.keys(FORMATS).find((f) => f !== format)!;
      registryScreen(env, reg, 'repositories', {
        title: `SBOM of ${repo}@${digest.slice(0, 19)}…`,
        crumbs: html` / <a href="${portalPath.repository(reg, repo)}">${repo}</a> /
          <a href="${scanningPath.scan(reg, repo, digest)}">scan of <code>${digest.slice(0, 19)}…</code></a>`,
        body: html`<p>
            ${FORMATS[format]} document, made by Berth's scanner and attached to the image as a referrer.
            <a href="${scanningPath.sbom(reg, repo, digest, format, true)}" download>Download JSON</a> ·
            <a href="${scanningPath.sbom(reg, repo, digest, other)}">${FORMATS[other]} view</a>
          </p>
          ${packagesTable(sbomPackages(doc), from, (at) => `${self}&from=${at}`)}`,
      });
    },
  }),
];
