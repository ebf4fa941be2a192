import { type CborError, decodeCbor, encodeCbor, Tagged, type CborKey, type CborValue } from './cbor.js';
import { ATTR, critProblem, EnvelopeError, PAYLOAD_CTY, schemeProblem, type Alg, type NotaryEnvelope } from './envelope.js';
import { MAX_CHAIN } from './x509.js';

// Notary Project COSE envelopes (signature-envelope-cose.md): COSE_Sign1_Tagged (tag 18) with
// alg (1), crit (2) and content type (3) protected, Notary attributes as text labels (times as
// tag-1 epoch seconds) and x5chain (33) and the timestamp unprotected. The signature covers the
// Sig_structure ["Signature1", protected bytes, h'', payload].

const COSE_ALGS: Record<number, Alg> = { [-37]: 'PS256', [-38]: 'PS384', [-39]: 'PS512', [-7]: 'ES256', [-35]: 'ES384', [-36]: 'ES512' };
const LABEL_ALG = 1;
const LABEL_CRIT = 2;
const LABEL_CTY = 3;
const LABEL_X5CHAIN = 33;

function time(v: CborValue, name: string): Date | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof Tagged) || v.tag !== 1 || typeof v.value !== 'number' || !Number.isFinite(v.value))
    throw new EnvelopeError(`${name} must be an epoch time (CBOR tag 1)`);
  const d = new Date(v.value * 1000);
  if (Number.isNaN(d.getTime())) throw new EnvelopeError(`${name} is out of range`);
  return d;
}

export function parseCose(bytes: Buffer): NotaryEnvelope {
  let top: CborValue;
  try {
    top = decodeCbor(bytes);
  } catch (e) {
    throw new EnvelopeError(`the COSE envelope is not valid CBOR: ${(e as CborError).message}`);
  }
  if (!(top instanceof Tagged) || top.tag !== 18) throw new EnvelopeError('the COSE envelope is not a tagged COSE_Sign1 (tag 18)');
  const arr = top.value;
  if (!Array.isArray(arr) || arr.length !== 4) throw new EnvelopeError('COSE_Sign1 must be an array of 4 items');
  const [protectedBytes, unprotected, payload, signature] = arr;
  if (!(protectedBytes instanceof Uint8Array) || protectedBytes.length === 0)
    throw new EnvelopeError('the COSE protected header must be a non-empty byte string');
  if (!(unprotected instanceof Map)) throw new EnvelopeError('the COSE unprotected header must be a map');
  if (!(payload instanceof Uint8Array)) throw new EnvelopeError('the COSE payload must be attached (a byte string)');
  if (!(signature instanceof Uint8Array) || signature.length === 0) throw new EnvelopeError('the COSE signature must be a byte string');

  let prot: CborValue;
  try {
    prot = decodeCbor(protectedBytes);
  } catch (e) {
    throw new EnvelopeError(`the COSE protected header is not valid CBOR: ${(e as CborError).message}`);
  }
  if (!(prot instanceof Map)) throw new EnvelopeError('the COSE protected header must be a map');
  const get = (k: CborKey): CborValue => prot.get(k);
  const algLabel = get(LABEL_ALG);
  const alg = typeof algLabel === 'number' ? COSE_ALGS[algLabel] : undefined;
  if (!alg)
    throw new EnvelopeError(
      `the COSE algorithm ${JSON.stringify(typeof algLabel === 'number' || typeof algLabel === 'string' ? algLabel : typeof algLabel)} is not allowed (only PS256/384/512, ES256/384/512)`,
    );
  const crit = get(LABEL_CRIT);
  if (!Array.isArray(crit) || crit.some((c) => typeof c !== 'string' && typeof c !== 'number'))
    throw new EnvelopeError('the COSE protected header needs a crit list (label 2)');
  const cp = critProblem(crit as (string | number)[], (n) => prot.has(n), get(ATTR.verificationPlugin));
  if (cp) throw new EnvelopeError(cp);
  if (get(LABEL_CTY) !== PAYLOAD_CTY)
    throw new EnvelopeError(
      `the COSE content type must be ${PAYLOAD_CTY}, not ${JSON.stringify(typeof get(LABEL_CTY) === 'string' ? get(LABEL_CTY) : typeof get(LABEL_CTY))}`,
    );
  const scheme = get(ATTR.signingScheme);
  if (typeof scheme !== 'string') throw new EnvelopeError(`${ATTR.signingScheme} must be text`);

  let x5 = unprotected.get(LABEL_X5CHAIN);
  if (x5 instanceof Uint8Array) x5 = [x5];
  if (!Array.isArray(x5) || x5.length === 0) throw new EnvelopeError('the COSE envelope has no certificate chain (x5chain, label 33)');
  if (x5.length > MAX_CHAIN) throw new EnvelopeError(`chain of ${x5.length} certificates exceeds the limit of ${MAX_CHAIN}`);
  if (x5.some((c) => !(c instanceof Uint8Array))) throw new EnvelopeError('every x5chain entry must be a byte string');
  const ts = unprotected.get(ATTR.timestampSignature);
  if (ts !== undefined && !(ts instanceof Uint8Array)) throw new EnvelopeError('the COSE timestamp countersignature must be a byte string');

  const env: NotaryEnvelope = {
    format: 'notation-cose',
    alg,
    payload: Buffer.from(payload),
    signedBytes: encodeCbor(['Signature1', protectedBytes, new Uint8Array(0), payload]),
    signature: Buffer.from(signature),
    chain: (x5 as Uint8Array[]).map((c) => Buffer.from(c)),
    signingScheme: scheme,
    signingTime: time(get(ATTR.signingTime), ATTR.signingTime),
    authenticSigningTime: time(get(ATTR.authenticSigningTime), ATTR.authenticSigningTime),
    expiry: time(get(ATTR.expiry), ATTR.expiry),
    timestampToken: ts === undefined ? undefined : Buffer.from(ts),
  };
  const sp = schemeProblem(env);
  if (sp) throw new EnvelopeError(sp);
  return env;
}
