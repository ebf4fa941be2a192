import { type Found, paragraphs } from './found.js';

/** Packages of Alpine's `lib/apk/db/installed`: one `X:value` line per field, blank lines between packages. */
export function parseApkInstalled(text: string): Found[] {
  const out: Found[] = [];
  for (const para of paragraphs(text)) {
    const f = new Map<string, string>();
    for (const line of para) {
      if (line.length >= 2 && line[1] === ':' && !f.has(line[0]!)) f.set(line[0]!, line.slice(2));
    }
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version || /\s/.test(name) || /\s/.test(version)) continue;
    // The origin is the aport the package was built from; secdb and OSV key Alpine advisories by it.
    const found: Found = { kind: 'apk', name, version, source: { name: f.get('o') || name, version } };
    const arch = f.get('A');
    if (arch) found.arch = arch;
    const license = f.get('L');
    if (license) found.licenses = [license];
    out.push(found);
  }
  return out;
}
