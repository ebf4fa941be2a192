import type { OsRelease } from '../../../../domain/scan/types.js';

/** `KEY=value` lines with optional shell quoting (os-release(5)). */
export function parseOsRelease(text: string): OsRelease | undefined {
  const f = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(raw.trim());
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) v = v.slice(1, -1);
    v = v.replace(/\\([\\$"`])/g, '$1');
    if (!f.has(m[1]!)) f.set(m[1]!, v);
  }
  const id = f.get('ID')?.toLowerCase();
  if (!id) return undefined;
  const os: OsRelease = { id };
  const versionId = f.get('VERSION_ID');
  if (versionId) os.versionId = versionId;
  const codename = f.get('VERSION_CODENAME');
  if (codename) os.versionCodename = codename;
  const pretty = f.get('PRETTY_NAME');
  if (pretty) os.prettyName = pretty;
  return os;
}
