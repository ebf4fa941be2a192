// What an analyzer reports for one file, before the image-wide facts (the layer, the OS for the
// ecosystem name and purl) are known.

export type PackageKind = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven';

export interface Found {
  kind: PackageKind;
  name: string;
  version: string;
  source?: { name: string; version: string };
  arch?: string;
  licenses?: string[];
  /** rpm's parts, for the purl (the version above is `[epoch:]version-release`). */
  rpm?: { epoch?: number; version: string; release: string };
  /** Appended to the file's path: a nested jar's `!/BOOT-INF/lib/inner.jar` chain. */
  subpath?: string;
}

/** Splits RFC 822-like `Key: value` stanzas (dpkg, PKG-INFO); continuation lines start with a space or tab. */
export function parseStanza(lines: string[]): Map<string, string> {
  const fields = new Map<string, string>();
  let key: string | undefined;
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && key !== undefined) {
      fields.set(key, `${fields.get(key)}\n${line.trim()}`);
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) {
      key = undefined;
      continue;
    }
    key = line.slice(0, i).trim().toLowerCase();
    // The first occurrence wins: later duplicates in a hostile file must not override it.
    if (!fields.has(key)) fields.set(key, line.slice(i + 1).trim());
    else key = undefined;
  }
  return fields;
}

/** Splits text into blank-line-separated paragraphs of lines. */
export function paragraphs(text: string): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push(line);
  }
  if (cur.length) out.push(cur);
  return out;
}
