import type { VersionScheme } from '../types.js';

/**
 * A version string its scheme cannot order. compareVersions() throws it rather than guessing an
 * order, so a caller can tell "not affected" from "could not decide" (and report the package).
 */
export class VersionError extends Error {
  override readonly name = 'VersionError';

  constructor(
    readonly scheme: VersionScheme,
    readonly version: string,
    readonly reason: string,
  ) {
    super(`invalid ${scheme} version "${version}": ${reason}`);
  }
}

/** -1, 0 or 1 from any number's sign. */
export function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/** Compares two runs of ASCII digits as unbounded non-negative integers. */
export function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
