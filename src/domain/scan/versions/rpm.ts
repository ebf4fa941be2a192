// RPM version ordering as rpm 4.18 does it: [epoch:]version[-release]; each part split into
// alphanumeric segments (other characters only separate), digits beat letters, numbers compare
// as numbers, `~` sorts before everything and `^` after the end but before anything else.
import { compareDigits, VersionError } from './version-error.js';

export interface RpmVersion {
  /** Missing epoch counts as 0. */
  epoch: string;
  version: string;
  /** undefined when there is no `-release`: it then sorts below any release. */
  release?: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const isAlnum = (c: string | undefined): boolean => isDigit(c) || isAlpha(c);

/** Splits `E:V-R`: the epoch is a leading digit run ended by `:`, the release follows the last `-`. */
export function parseRpm(evr: string): RpmVersion {
  if (evr === '') throw new VersionError('rpm', evr, 'version string is empty');
  let s = 0;
  while (isDigit(evr[s])) s++;
  const hyphen = evr.lastIndexOf('-');
  const hasRelease = hyphen >= s;
  const end = hasRelease ? hyphen : evr.length;
  if (evr[s] === ':') {
    const epoch = evr.slice(0, s);
    return { epoch: epoch === '' ? '0' : epoch, version: evr.slice(s + 1, end), release: hasRelease ? evr.slice(hyphen + 1) : undefined };
  }
  return { epoch: '0', version: evr.slice(0, end), release: hasRelease ? evr.slice(hyphen + 1) : undefined };
}

/** rpmvercmp: orders one epoch, version or release string. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== '~' && b[j] !== '^') j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]);
    const inSegment = numeric ? isDigit : isAlpha;
    const si = i;
    const sj = j;
    while (inSegment(a[i])) i++;
    while (inSegment(b[j])) j++;
    // A digit segment against a letter segment: the digits are newer.
    if (j === sj) return numeric ? 1 : -1;
    const x = a.slice(si, i);
    const y = b.slice(sj, j);
    const d = numeric ? compareDigits(x, y) : x < y ? -1 : x > y ? 1 : 0;
    if (d !== 0) return d;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

export function compareRpm(a: string, b: string): number {
  const x = parseRpm(a);
  const y = parseRpm(b);
  const e = rpmvercmp(x.epoch, y.epoch) || rpmvercmp(x.version, y.version);
  if (e !== 0) return e;
  if (x.release !== undefined && y.release !== undefined) return rpmvercmp(x.release, y.release);
  if (x.release !== undefined) return 1;
  if (y.release !== undefined) return -1;
  return 0;
}
