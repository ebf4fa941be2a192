import type { Finding } from '../../domain/scan/findings.js';
import { lookupKeysFor, type LookupKey } from '../../domain/scan/lookup.js';
import { matchRecord, type RecordMatch } from '../../domain/scan/match.js';
import type { ImageInventory, InstalledPackage } from '../../domain/scan/types.js';
import { VersionError } from '../../domain/scan/versions/index.js';
import type { VulnCandidate, VulnDbStore, VulnKey } from '../../meta/vulndb.js';
import type { Matcher } from './scanner.js';

// An inventory against the imported vulnerability data: each installed package's lookup keys
// (distro packages by source name and version, language packages by name), the advisories filed
// under exactly those keys, and the OSV range verdict. No CPEs, no fuzzy names.

/** Keys asked of the store per query. */
const KEYS_PER_QUERY = 500;
/**
 * Looked-up advisories are reused for this long at most. The cache is also dropped as soon as the
 * data's stamp changes (an import started or ended, on any node); the age limit covers an import
 * that died midway and so never changed the stamp again.
 */
const CACHE_MAX_AGE_MS = 60_000;
/** Advisory rows the cache holds at most; past it, it starts over. */
const CACHE_MAX_ROWS = 100_000;

const keyText = (k: VulnKey) => `${k.ecosystem}\u0000${k.name}`;
// The same order as localeCompare without arguments, without building a collator per comparison.
const collate = new Intl.Collator().compare;

type Verdict = RecordMatch | undefined | 'unorderable';

/**
 * Advisories by lookup key, and each advisory's verdict per installed version. A re-match of many
 * SBOMs after an import asks for the same base-image packages again and again: with the cache it
 * reads each from the store once and decides each (advisory, version) once.
 */
interface CandidateCache {
  stamp: string;
  at: number;
  rows: number;
  byKey: Map<string, VulnCandidate[]>;
  verdicts: Map<VulnCandidate, Map<string, Verdict>>;
}

export class VulnMatcher implements Matcher {
  private dataDate: { value: string | null; at: number } | undefined;
  private cache: CandidateCache | undefined;

  constructor(private readonly store: Pick<VulnDbStore, 'affectedFor' | 'vulnDbStatus' | 'vulnDataStamp'>) {}

  /** The cache for the data as it is now: the current one, or a new empty one. */
  private async currentCache(): Promise<CandidateCache> {
    const stamp = await this.store.vulnDataStamp();
    const now = Date.now();
    const c = this.cache;
    if (c && c.stamp === stamp && now - c.at <= CACHE_MAX_AGE_MS && c.rows <= CACHE_MAX_ROWS) return c;
    this.cache = { stamp, at: now, rows: 0, byKey: new Map(), verdicts: new Map() };
    return this.cache;
  }

  private static verdict(cache: CandidateCache, key: LookupKey, c: VulnCandidate): Verdict {
    let byVersion = cache.verdicts.get(c);
    if (!byVersion) cache.verdicts.set(c, (byVersion = new Map<string, Verdict>()));
    const v = `${key.scheme}\u0000${key.version}`;
    if (byVersion.has(v)) return byVersion.get(v);
    let m: Verdict;
    try {
      m = matchRecord(key, { ...c.record, affected: [c.affected] });
    } catch (e) {
      // A version the scheme cannot order (a garbage database entry): no verdict, not a crash.
      if (!(e instanceof VersionError)) throw e;
      m = 'unorderable';
    }
    byVersion.set(v, m);
    return m;
  }

  async match(inventory: ImageInventory): Promise<{ findings: Finding[]; dataDate: string | null }> {
    const wanted: { pkg: InstalledPackage; key: LookupKey }[] = [];
    const keys = new Map<string, VulnKey>();
    for (const pkg of inventory.packages) {
      for (const key of lookupKeysFor(pkg, inventory.os)) {
        wanted.push({ pkg, key });
        keys.set(keyText(key), { ecosystem: key.ecosystem, name: key.name });
      }
    }
    const cache = await this.currentCache();
    const missing = [...keys].filter(([k]) => !cache.byKey.has(k));
    for (let i = 0; i < missing.length; i += KEYS_PER_QUERY) {
      const part = missing.slice(i, i + KEYS_PER_QUERY);
      const found = await this.store.affectedFor(part.map(([, key]) => key));
      // Filled in only once the answer is here, so a match running meanwhile never sees a key half
      // read. Keys without advisories are remembered too (most packages have none).
      const got = new Map<string, VulnCandidate[]>(part.map(([k]) => [k, []]));
      for (const c of found) got.get(keyText(c.key))?.push(c);
      for (const [k, list] of got) cache.byKey.set(k, list);
      cache.rows += found.length;
    }
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const { pkg, key } of wanted) {
      for (const c of cache.byKey.get(keyText(key)) ?? []) {
        const m = VulnMatcher.verdict(cache, key, c);
        if (!m || m === 'unorderable') continue;
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
    findings.sort((a, b) => collate(a.package, b.package) || collate(a.id, b.id) || collate(a.path, b.path));
    return { findings, dataDate: await this.currentDataDate() };
  }

  /** The data's date, looked up at most every few seconds (a re-match of many SBOMs asks once per SBOM). */
  private async currentDataDate(): Promise<string | null> {
    const now = Date.now();
    if (!this.dataDate || now - this.dataDate.at > 5000) this.dataDate = { value: (await this.store.vulnDbStatus()).dataDate, at: now };
    return this.dataDate.value;
  }

  /** Forgets the cached data date and advisories (after an import). */
  refresh(): void {
    this.dataDate = undefined;
    this.cache = undefined;
  }
}
