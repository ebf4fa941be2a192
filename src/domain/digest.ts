import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

// OCI image-spec descriptor.md: digest ::= algorithm ":" encoded. We accept the two registered
// algorithms and insist on lowercase hex of the exact length, so a digest is also a safe path part.
export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical "algorithm:hex" form. */
  readonly value: string;
}

export function isSupportedAlgorithm(a: string): a is DigestAlgorithm {
  return a === 'sha256' || a === 'sha512';
}

/** Parses a digest, throwing DIGEST_INVALID (400) with a message that says what is wrong. */
export function parseDigest(input: string): Digest {
  if (typeof input !== 'string' || input.length === 0) {
    throw new RegistryError('DIGEST_INVALID', 'a digest is required, in the form sha256:<64 hex characters>');
  }
  if (input.length > 200 || !GRAMMAR.test(input)) {
    throw new RegistryError(
      'DIGEST_INVALID',
      `"${clip(input)}" is not a digest: expected algorithm:hex, such as sha256:<64 hex characters>`,
    );
  }
  const colon = input.indexOf(':');
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!isSupportedAlgorithm(algorithm)) {
    throw new RegistryError('DIGEST_INVALID', `digest algorithm "${clip(algorithm)}" is not supported: use sha256 or sha512`);
  }
  const want = ENCODED_LENGTH[algorithm];
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `a ${algorithm} digest must be ${want} lowercase hex characters, got "${clip(hex)}"`);
  }
  return { algorithm, hex, value: input };
}

export function isDigest(s: string): boolean {
  return s.includes(':');
}

export function newHasher(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
