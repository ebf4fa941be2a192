import type { Finding } from '../../domain/scan/findings.js';
import { lookupKeysFor, type LookupKey } from '../../domain/scan/lookup.js';
import { matchRecord } from '../../domain/scan/match.js';
import type { ImageInventory, InstalledPackage } from '../../domain/scan/types.js';
import { VersionError } from '../../domain/scan/versions/index.js';
import type { VulnDbStore, VulnKey } from '../../meta/vulndb.js';
import type { Matcher } from './scanner.js';

// An inventory against the imported vulnerability data: each installed package's lookup keys
// (distro packages by source name and version, language packages by name), the advisories filed
// under exactly those keys, and the OSV range verdict. No CPEs, no fuzzy names.

/** Keys asked of the store per query. */
const KEYS_PER_QUERY = 500;

const keyText = (k: VulnKey) => `${k.ecosystem}\u0000${k.name}`;

export class VulnMatcher implements Matcher {
  private dataDate: { value: string | null; at: number } | undefined;

  constructor(private readonly store: Pick<VulnDbStore, 'affectedFor' | 'vulnDbStatus'>) {}

  async match(inventory: ImageInventory): Promise<{ findings: Finding[]; dataDate: string | null }> {
    const wanted: { pkg: InstalledPackage; key: LookupKey }[] = [];
    const keys = new Map<string, VulnKey>();
    for (const pkg of inventory.packages) {
      for (const key of lookupKeysFor(pkg, inventory.os)) {
        wanted.push({ pkg, key });
        keys.set(keyText(key), { ecosystem: key.ecosystem, name: key.name });
      }
    }
    const candidates = new Map<string, Awaited<ReturnType<VulnDbStore['affectedFor']>>>();
    const all = [...keys.values()];
    for (let i = 0; i < all.length; i += KEYS_PER_QUERY) {
      for (const c of await this.store.affectedFor(all.slice(i, i + KEYS_PER_QUERY))) {
        const k = keyText(c.key);
        const list = candidates.get(k);
        if (list) list.push(c);
        else candidates.set(k, [c]);
      }
    }
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const { pkg, key } of wanted) {
      for (const c of candidates.get(keyText(key)) ?? []) {
        let m;
        try {
          m = matchRecord(key, { ...c.record, affected: [c.affected] });
        } catch (e) {
          // A version the scheme cannot order (a garbage database entry): no verdict, not a crash.
          if (e instanceof VersionError) continue;
          throw e;
        }
        if (!m) continue;
        // One finding per advisory, package and place, however many keys led to it.
        const id = `${m.id}\u0000${pkg.purl}\u0000${pkg.path}`;
        if (seen.has(id)) continue;
        seen.add(id);
        findings.push({
          id: m.id,
          aliases: m.aliases,
          ...(c.record.summary ? { summary: c.record.summary } : {}),
          package: pkg.name,
          ecosystem: key.ecosystem,
          installedVersion: pkg.version,
          ...(pkg.source && (key.name !== pkg.name || key.version !== pkg.version)
            ? { source: { name: key.name, version: key.version } }
            : {}),
          ...(m.fixed !== undefined ? { fixedVersion: m.fixed } : {}),
          severity: m.severity.severity,
          purl: pkg.purl,
          layer: pkg.layer,
          path: pkg.path,
        });
      }
    }
    findings.sort((a, b) => a.package.localeCompare(b.package) || a.id.localeCompare(b.id) || a.path.localeCompare(b.path));
    return { findings, dataDate: await this.currentDataDate() };
  }

  /** The data's date, looked up at most every few seconds (a re-match of many SBOMs asks once per SBOM). */
  private async currentDataDate(): Promise<string | null> {
    const now = Date.now();
    if (!this.dataDate || now - this.dataDate.at > 5000) this.dataDate = { value: (await this.store.vulnDbStatus()).dataDate, at: now };
    return this.dataDate.value;
  }

  /** Forgets the cached data date (after an import). */
  refresh(): void {
    this.dataDate = undefined;
  }
}
