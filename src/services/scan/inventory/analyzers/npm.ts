import type { Found } from './found.js';

/**
 * A package installed under node_modules: `.../node_modules/<name>/package.json` or
 * `.../node_modules/@scope/<name>/package.json`. Lockfiles (package-lock.json, the hidden
 * `node_modules/.package-lock.json`) list what might be installed, not what is (trivy#4948), and a
 * package.json deeper inside a package (fixtures, examples) is not a package either.
 */
export const NPM_MANIFEST = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/.@][^/]*\/package\.json$/;

export function parsePackageJson(text: string): Found[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const { name, version, license, licenses } = doc as Record<string, unknown>;
  if (typeof name !== 'string' || typeof version !== 'string' || !name || !version || /\s/.test(name + version)) return [];
  const found: Found = { kind: 'npm', name, version };
  const names = licenseNames(license ?? licenses);
  if (names.length) found.licenses = names;
  return [found];
}

function licenseNames(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(licenseNames).slice(0, 16);
  if (typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string') return [(v as { type: string }).type];
  return [];
}
