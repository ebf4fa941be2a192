import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { keyKind } from './x509.js';

// What the JWS and COSE parsers both produce: a Notary Project envelope's signed content, its
// signer's chain and attributes, ready for the checks in verify.ts. Parse errors are
// EnvelopeError: the envelope is not intact (integrity).

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

export const PAYLOAD_CTY = 'application/vnd.cncf.notary.payload.v1+json';
export const SCHEME_X509 = 'notary.x509';
export const SCHEME_SIGNING_AUTHORITY = 'notary.x509.signingAuthority';
export const ATTR = {
  signingScheme: 'io.cncf.notary.signingScheme',
  signingTime: 'io.cncf.notary.signingTime',
  authenticSigningTime: 'io.cncf.notary.authenticSigningTime',
  expiry: 'io.cncf.notary.expiry',
  signingAgent: 'io.cncf.notary.signingAgent',
  timestampSignature: 'io.cncf.notary.timestampSignature',
  verificationPlugin: 'io.cncf.notary.verificationPlugin',
  verificationPluginMinVersion: 'io.cncf.notary.verificationPluginMinVersion',
} as const;

/** Critical attributes Berth understands; anything else marked critical fails. */
export const KNOWN_CRIT: readonly string[] = [ATTR.signingScheme, ATTR.expiry, ATTR.authenticSigningTime];

export type Alg = 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';
export const ALGS: readonly Alg[] = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const ALG_KEY: Record<Alg, string> = {
  PS256: 'RSA-2048',
  PS384: 'RSA-3072',
  PS512: 'RSA-4096',
  ES256: 'EC-P-256',
  ES384: 'EC-P-384',
  ES512: 'EC-P-521',
};
const ALG_HASH: Record<Alg, string> = {
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
};

export interface NotaryEnvelope {
  format: 'notation-jws' | 'notation-cose';
  alg: Alg;
  /** The payload bytes (JSON). */
  payload: Buffer;
  /** The bytes the signature covers. */
  signedBytes: Buffer;
  signature: Buffer;
  chain: Buffer[];
  signingScheme: string;
  signingTime?: Date;
  authenticSigningTime?: Date;
  expiry?: Date;
  timestampToken?: Buffer;
}

/** The alg a key must sign with (Notation: RSA size or curve picks the hash). */
export const algForKey = (key: KeyObject): Alg | undefined => (Object.keys(ALG_KEY) as Alg[]).find((a) => ALG_KEY[a] === keyKind(key));

/** Checks the alg suits the leaf key and the signature verifies. Returns a problem or undefined. */
export function signatureProblem(env: NotaryEnvelope, leafKey: KeyObject): string | undefined {
  const expected = algForKey(leafKey);
  if (expected !== env.alg)
    return `the envelope's algorithm ${env.alg} does not match the signing certificate's key (${keyKind(leafKey)}${expected ? `, which signs with ${expected}` : ''})`;
  const hash = ALG_HASH[env.alg];
  let ok: boolean;
  try {
    ok = env.alg.startsWith('PS')
      ? cryptoVerify(
          hash,
          env.signedBytes,
          { key: leafKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          env.signature,
        )
      : cryptoVerify(hash, env.signedBytes, { key: leafKey, dsaEncoding: 'ieee-p1363' }, env.signature);
  } catch {
    ok = false;
  }
  return ok
    ? undefined
    : "the signature does not verify with the signing certificate's key: the envelope was altered or signed by another key";
}

/** Checks the critical list: every entry known and present, and the attributes that must be critical are. */
export function critProblem(
  crit: readonly (string | number)[],
  present: (name: string | number) => boolean,
  pluginName?: unknown,
): string | undefined {
  if (crit.length === 0) return 'the envelope\'s "crit" list is empty';
  if (new Set(crit).size !== crit.length) return 'the envelope\'s "crit" list repeats an entry';
  for (const c of crit)
    if (c === ATTR.verificationPlugin || c === ATTR.verificationPluginMinVersion)
      return `the signature requires verification plugin ${JSON.stringify(typeof pluginName === 'string' ? pluginName : String(c))}, which Berth does not support`;
  for (const c of crit) {
    if (!KNOWN_CRIT.includes(c as string))
      return `the envelope marks ${JSON.stringify(c)} critical, an attribute Berth does not understand`;
    if (!present(c)) return `the envelope marks ${JSON.stringify(c)} critical but does not have it`;
  }
  if (!crit.includes(ATTR.signingScheme)) return `${ATTR.signingScheme} must be marked critical`;
  for (const a of [ATTR.expiry, ATTR.authenticSigningTime])
    if (present(a) && !crit.includes(a)) return `${a} is present but not marked critical`;
  return undefined;
}

/** The scheme-specific required attributes. */
export function schemeProblem(env: Pick<NotaryEnvelope, 'signingScheme' | 'signingTime' | 'authenticSigningTime'>): string | undefined {
  if (env.signingScheme === SCHEME_X509) {
    if (!env.signingTime) return `a ${SCHEME_X509} signature must have ${ATTR.signingTime}`;
  } else if (env.signingScheme === SCHEME_SIGNING_AUTHORITY) {
    if (!env.authenticSigningTime) return `a ${SCHEME_SIGNING_AUTHORITY} signature must have ${ATTR.authenticSigningTime}`;
  } else return `unknown signing scheme ${JSON.stringify(env.signingScheme)}`;
  return undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 time, or EnvelopeError. */
export function parseTime(v: unknown, name: string): Date {
  if (typeof v !== 'string' || !RFC3339.test(v)) throw new EnvelopeError(`${name} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new EnvelopeError(`${name} is not a valid time: ${JSON.stringify(v)}`);
  return d;
}

/** Parses and checks the payload against the signed subject. Returns a problem or undefined. */
export function payloadProblem(payload: Buffer, subject: { mediaType: string; digest: string; size: number }): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'the signed payload is not valid JSON';
  }
  const t = (doc as { targetArtifact?: unknown } | null)?.targetArtifact as Record<string, unknown> | undefined;
  if (!t || typeof t !== 'object') return 'the signed payload has no targetArtifact';
  if (t.digest !== subject.digest)
    return `the signature is for ${String(t.digest)}, not for the manifest it is attached to (${subject.digest})`;
  if (t.size !== subject.size) return `the signed size ${String(t.size)} does not match the manifest's size ${subject.size}`;
  if (t.mediaType !== subject.mediaType)
    return `the signed media type ${String(t.mediaType)} does not match the manifest's media type ${subject.mediaType}`;
  return undefined;
}
