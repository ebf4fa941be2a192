import type { Found } from './found.js';
import { readCentralDirectory, readEntry, ZipError } from './zip.js';

export const JAVA_ARCHIVE = /\.(?:jar|war|ear|jpi|hpi)$/i;
const POM_PROPERTIES = /^META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/;
const METADATA_MAX = 1024 * 1024;

export interface JarLimits {
  maxEntries: number;
  maxEntryBytes: number;
  maxTotalBytes: number;
  maxDepth: number;
}

/**
 * Maven coordinates in a jar and the jars nested in it. Every `pom.properties` names code that is
 * in the archive (shaded dependencies included), so each is reported; only when there is none does
 * MANIFEST.MF speak, and only when it names a group (Implementation-Vendor-Id) — a guessed group is
 * how scanners end up with wrong coordinates (trivy#1025, #4080). Nested archives are reported with
 * the chain `!/BOOT-INF/lib/inner.jar` as subpath. Problems become warnings, never a failed scan.
 */
export function analyzeJar(buf: Buffer, fileName: string, limits: JarLimits, warnings: string[]): Found[] {
  const state = { entries: 0, bytes: 0 };
  const out: Found[] = [];
  walk(buf, fileName, '', 0);
  return out;

  function walk(zip: Buffer, name: string, chain: string, depth: number): void {
    try {
      const entries = readCentralDirectory(zip, limits.maxEntries - state.entries);
      state.entries += entries.length;
      const read = (e: (typeof entries)[number], cap: number) => {
        const data = readEntry(zip, e, Math.min(cap, limits.maxTotalBytes - state.bytes));
        state.bytes += data?.length ?? 0;
        return data;
      };
      const own: Found[] = [];
      for (const e of entries.filter((x) => POM_PROPERTIES.test(x.name))) {
        const data = read(e, METADATA_MAX);
        const p = data && properties(data.toString('utf8'));
        const g = p?.get('groupId');
        const a = p?.get('artifactId');
        const v = p?.get('version');
        if (g && a && v && !/\s/.test(g + a + v)) own.push({ kind: 'maven', name: `${g}:${a}`, version: v });
      }
      if (!own.length) {
        const mf = entries.find((x) => x.name === 'META-INF/MANIFEST.MF');
        const data = mf && read(mf, METADATA_MAX);
        const found = data && fromManifest(manifest(data.toString('utf8')), name);
        if (found) own.push(found);
      }
      for (const f of own) out.push(chain ? { ...f, subpath: chain } : f);
      if (depth + 1 >= limits.maxDepth) return;
      for (const e of entries) {
        if (!JAVA_ARCHIVE.test(e.name) || e.name.endsWith('/')) continue;
        const inner = read(e, limits.maxEntryBytes);
        if (inner) walk(inner, e.name.slice(e.name.lastIndexOf('/') + 1), `${chain}!/${e.name}`, depth + 1);
      }
    } catch (err) {
      if (!(err instanceof ZipError) && !(err instanceof RangeError)) throw err;
      warnings.push(`${chain ? `nested archive ${chain}` : 'archive'} skipped: ${err.message}`);
    }
  }
}

function properties(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    const i = line.search(/[=:]/);
    if (i > 0 && !m.has(line.slice(0, i).trim())) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** The main section of a manifest; continuation lines start with one space. */
function manifest(text: string): Map<string, string> {
  const m = new Map<string, string>();
  let last: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') break;
    if (line.startsWith(' ') && last) {
      m.set(last, m.get(last)! + line.slice(1));
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim();
    if (!m.has(last)) m.set(last, line.slice(i + 1).trim());
  }
  return m;
}

function fromManifest(m: Map<string, string>, fileName: string): Found | undefined {
  const group = m.get('Implementation-Vendor-Id');
  const version = m.get('Implementation-Version') ?? m.get('Bundle-Version');
  if (!group || !version || /\s/.test(group + version)) return undefined;
  const base = fileName.replace(JAVA_ARCHIVE, '');
  const title = m.get('Implementation-Title');
  const artifact = base.endsWith(`-${version}`)
    ? base.slice(0, -(version.length + 1))
    : title && /^[\w.-]+$/.test(title)
      ? title
      : undefined;
  return artifact ? { kind: 'maven', name: `${group}:${artifact}`, version } : undefined;
}
