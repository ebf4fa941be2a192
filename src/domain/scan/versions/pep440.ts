// Python versions: PEP 440 ordering via @renovatebot/pep440 (epochs, pre/post/dev releases,
// local versions, normalisation such as `1.0RC1` == `1.0rc1`).
import { compare, valid } from '@renovatebot/pep440';
import { sign, VersionError } from './version-error.js';

export function comparePep440(a: string, b: string): number {
  if (valid(a) === null) throw new VersionError('pep440', a, 'not a PEP 440 version');
  if (valid(b) === null) throw new VersionError('pep440', b, 'not a PEP 440 version');
  return sign(compare(a, b));
}
