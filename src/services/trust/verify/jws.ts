import {
  ALGS,
  ATTR,
  critProblem,
  EnvelopeError,
  parseTime,
  PAYLOAD_CTY,
  schemeProblem,
  type Alg,
  type NotaryEnvelope,
} from './envelope.js';
import { MAX_CHAIN } from './x509.js';

// Notary Project JWS envelopes (signature-envelope-jws.md): flattened JSON serialization with a
// protected header of Notary attributes and an unprotected header holding x5c and the optional
// RFC 3161 timestamp. base64url is decoded strictly (no padding, no other alphabet).

const B64URL = /^[A-Za-z0-9_-]*$/;
const B64STD = /^[A-Za-z0-9+/]*={0,2}$/;

function b64url(s: unknown, what: string): Buffer {
  if (typeof s !== 'string') throw new EnvelopeError(`the envelope's ${what} is missing or not a string`);
  if (!B64URL.test(s) || s.length % 4 === 1) {
    const bad = s.search(/[^A-Za-z0-9_-]/);
    throw new EnvelopeError(`the envelope's ${what} is not unpadded base64url${bad >= 0 ? ` (illegal character at byte ${bad})` : ''}`);
  }
  return Buffer.from(s, 'base64url');
}

function b64std(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !B64STD.test(s)) throw new EnvelopeError(`${what} is not base64`);
  return Buffer.from(s, 'base64');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseJws(bytes: Buffer): NotaryEnvelope {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new EnvelopeError(`the JWS envelope is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw new EnvelopeError('the JWS envelope is not a JSON object');
  if ('signatures' in doc) throw new EnvelopeError('the JWS envelope uses the general serialization; Notation uses the flattened one');
  const protectedRaw = doc.protected;
  const payloadRaw = doc.payload;
  const protectedBytes = b64url(protectedRaw, 'protected header');
  const payload = b64url(payloadRaw, 'payload');
  const signature = b64url(doc.signature, 'signature');

  let header: unknown;
  try {
    header = JSON.parse(protectedBytes.toString('utf8'));
  } catch {
    throw new EnvelopeError('the JWS protected header is not valid JSON');
  }
  if (!isObject(header)) throw new EnvelopeError('the JWS protected header is not a JSON object');
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ALGS as readonly string[]).includes(alg))
    throw new EnvelopeError(`the JWS algorithm ${JSON.stringify(alg)} is not allowed (only ${ALGS.join(', ')})`);
  if (signature.length === 0) throw new EnvelopeError('the JWS envelope has an empty signature');
  const crit = header.crit;
  if (!Array.isArray(crit) || crit.some((c) => typeof c !== 'string'))
    throw new EnvelopeError('the JWS protected header needs a "crit" list of attribute names');
  const cp = critProblem(crit as string[], (n) => typeof n === 'string' && n in header, header[ATTR.verificationPlugin]);
  if (cp) throw new EnvelopeError(cp);
  if (header.cty !== PAYLOAD_CTY) throw new EnvelopeError(`the JWS content type must be ${PAYLOAD_CTY}, not ${JSON.stringify(header.cty)}`);
  const scheme = header[ATTR.signingScheme];
  if (typeof scheme !== 'string') throw new EnvelopeError(`${ATTR.signingScheme} must be a string`);

  const unprotected = doc.header;
  if (!isObject(unprotected)) throw new EnvelopeError('the JWS envelope has no unprotected header with x5c');
  const x5c = unprotected.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0) throw new EnvelopeError('the JWS envelope has no certificate chain (x5c)');
  if (x5c.length > MAX_CHAIN) throw new EnvelopeError(`chain of ${x5c.length} certificates exceeds the limit of ${MAX_CHAIN}`);
  const chain = x5c.map((c, i) => b64std(c, `certificate ${i + 1} of x5c`));
  const ts = unprotected[ATTR.timestampSignature];

  const env: NotaryEnvelope = {
    format: 'notation-jws',
    alg: alg as Alg,
    payload,
    signedBytes: Buffer.from(`${protectedRaw as string}.${payloadRaw as string}`, 'ascii'),
    signature,
    chain,
    signingScheme: scheme,
    signingTime: header[ATTR.signingTime] === undefined ? undefined : parseTime(header[ATTR.signingTime], ATTR.signingTime),
    authenticSigningTime:
      header[ATTR.authenticSigningTime] === undefined ? undefined : parseTime(header[ATTR.authenticSigningTime], ATTR.authenticSigningTime),
    expiry: header[ATTR.expiry] === undefined ? undefined : parseTime(header[ATTR.expiry], ATTR.expiry),
    timestampToken: ts === undefined ? undefined : b64std(ts, 'the timestamp countersignature'),
  };
  const sp = schemeProblem(env);
  if (sp) throw new EnvelopeError(sp);
  return env;
}
