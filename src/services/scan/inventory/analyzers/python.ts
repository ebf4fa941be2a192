import { type Found, paragraphs, parseStanza } from './found.js';

/** Installed distributions: wheel installs (`*.dist-info/METADATA`) and setuptools ones (`*.egg-info/PKG-INFO`, or an `*.egg-info` file). */
export const PYTHON_METADATA = /(?:\.dist-info\/METADATA|\.egg-info\/PKG-INFO|\.egg-info)$/;

/** PEP 503: names compare case-insensitively with runs of `-`, `_` and `.` equal. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export function parsePythonMetadata(text: string): Found[] {
  const head = paragraphs(text)[0];
  if (!head) return [];
  const f = parseStanza(head);
  const name = f.get('name');
  const version = f.get('version');
  if (!name || !version || /\s/.test(name) || /\s/.test(version)) return [];
  const found: Found = { kind: 'pypi', name: normalizePypiName(name), version };
  const license = f.get('license-expression') ?? f.get('license');
  if (license && license !== 'UNKNOWN' && license.length <= 200 && !license.includes('\n')) found.licenses = [license];
  return [found];
}
