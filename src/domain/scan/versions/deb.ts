// Debian version ordering (Debian Policy 5.6.12, as dpkg implements it): [epoch:]upstream[-revision],
// compared part by part; inside a part, non-digit runs compare with letters before other
// characters and `~` before everything (even the end), digit runs compare as numbers.
import { compareDigits, sign, VersionError } from './version-error.js';

export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Splits a version the way dpkg does; throws VersionError where dpkg reports an error (not a warning). */
export function parseDeb(version: string): DebVersion {
  const fail = (reason: string): never => {
    throw new VersionError('deb', version, reason);
  };
  const v = version.trim();
  if (v === '') fail('version string is empty');
  if (/\s/.test(v)) fail('version string has embedded spaces');
  let epoch = 0;
  let rest = v;
  const colon = v.indexOf(':');
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^[0-9]+$/.test(e)) fail('epoch in version is not a number');
    epoch = Number(e);
    if (epoch > 2147483647) fail('epoch in version is too big');
    rest = v.slice(colon + 1);
    if (rest === '') fail('nothing after colon in version number');
  }
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen >= 0 ? rest.slice(0, hyphen) : rest;
  const revision = hyphen >= 0 ? rest.slice(hyphen + 1) : '';
  if (hyphen >= 0 && revision === '') fail('revision number is empty');
  if (upstream === '') fail('version number is empty');
  return { epoch, upstream, revision };
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLetter = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

/** Weight of one character in a non-digit run; `undefined` is the end of the string. */
function weight(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (c === '~') return -1;
  if (isLetter(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** Orders one upstream or revision part. */
export function compareDebPart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const d = weight(a[i]) - weight(b[j]);
      if (d !== 0) return sign(d);
      i++;
      j++;
    }
    const si = i;
    const sj = j;
    while (isDigit(a[i])) i++;
    while (isDigit(b[j])) j++;
    const d = compareDigits(a.slice(si, i), b.slice(sj, j));
    if (d !== 0) return d;
  }
  return 0;
}

export function compareDeb(a: string, b: string): number {
  const x = parseDeb(a);
  const y = parseDeb(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  return compareDebPart(x.upstream, y.upstream) || compareDebPart(x.revision, y.revision);
}
